#!/bin/sh
# Run each libFuzzer harness given for RUNS executions, from a copy of its
# seed corpus (tests/fuzz/corpus/NAME/) so the tree is never written.
# Any crash, leak, timeout or sanitizer report fails the run; the input
# that did it is kept as build/fuzz/NAME-crash-*. Used by `make fuzz-run`.
# usage: run.sh RUNS build/fuzz/fuzz_x ...
runs=$1
shift
here=$(dirname "$0")
fail=0
for bin in "$@"; do
	name=$(basename "$bin")
	dir=$(dirname "$bin")
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX") || exit 1
	if [ -d "$here/corpus/$name" ]; then
		cp -R "$here/corpus/$name/." "$tmp/"
	fi
	start=$(date +%s)
	"$bin" -runs="$runs" -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix="$dir/$name-" "$tmp" >"$dir/$name.log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	done_line=$(grep -E '^Done [0-9]+ runs' "$dir/$name.log" | tail -n 1)
	rm -rf "$tmp"
	if [ $rc -ne 0 ]; then
		echo "fuzz-run: $name FAILED (exit $rc, ${secs}s; see $dir/$name.log)"
		fail=1
	else
		echo "fuzz-run: $name ok: ${done_line:-no summary} (${secs}s)"
	fi
done
exit $fail
