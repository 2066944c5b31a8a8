#!/bin/sh
# Golden tests for `postern check`: every NAME.conf here is checked with
# the given postern binary, and its output (stdout and stderr) followed by
# "exit N" must equal NAME.out byte for byte. With -u the .out files are
# written instead (review the diff before committing them).
# Usage: run.sh [-u] PATH/TO/postern        Exit status: 0 when all match.

update=0
if [ "$1" = "-u" ]; then
	update=1
	shift
fi
[ $# -eq 1 ] || { echo "usage: $0 [-u] postern" >&2; exit 2; }
case "$1" in
/*)	bin=$1 ;;
*)	bin=$PWD/$1 ;;
esac
cd "$(dirname "$0")" || exit 2
# postern exits without freeing what it loaded; leaks are not the point here
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export ASAN_OPTIONS
unset POSTERN_CONF

passed=0
failed=0
got=$(mktemp) || exit 2
trap 'rm -f "$got"' EXIT
for conf in *.conf; do
	name=${conf%.conf}
	"$bin" -c "$conf" check >"$got" 2>&1
	echo "exit $?" >>"$got"
	if [ "$update" -eq 1 ]; then
		cp "$got" "$name.out"
	elif diff -u "$name.out" "$got"; then
		passed=$((passed + 1))
	else
		echo "!! golden check $name: output differs (above)"
		failed=$((failed + 1))
	fi
done
echo "golden check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
