#!/bin/sh
# Run the cmocka unit-test binaries given as arguments, show their output,
# and end with one summary line: "unit: N passed, N failed" (individual
# tests, from cmocka's own PASSED/FAILED lines). A binary that crashes or
# exits non-zero without a FAILED line counts as one failure.
# Exit status: 0 when nothing failed.

passed=0
failed=0
crashed=0
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT

for t in "$@"; do
	echo "== $t"
	"$t" >"$out" 2>&1
	rc=$?
	cat "$out"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ "$rc" -ne 0 ] && [ -z "$f" ]; then
		echo "!! $t exited with status $rc"
		crashed=$((crashed + 1))
	fi
done

failed=$((failed + crashed))
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
