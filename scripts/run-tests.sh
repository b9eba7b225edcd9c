#!/bin/sh
# Runs test binaries one after another and sums up cmocka's counts.
#   scripts/run-tests.sh VARIANT BIN...
# Exits non-zero if any binary fails. Each binary's output is shown.
set -u
variant=$1
shift
passed=0
failed=0
bad=""
for t in "$@"; do
  name=$(basename "$t")
  out=$(mktemp)
  t0=$(date +%s)
  "$t" >"$out" 2>&1
  rc=$?
  cat "$out"
  echo "-- $name: $(( $(date +%s) - t0 )) s"
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
  rm -f "$out"
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  if [ "$rc" != 0 ]; then
    bad="$bad $name"
    [ -z "$f" ] && failed=$((failed + 1))
  fi
done
echo
echo "== $variant: $# test programs${bad:+; failing:$bad}"
echo "$variant: $passed passed, $failed failed"
[ -z "$bad" ]
