#!/bin/sh
# Checks scripts/run-tests.sh on programs whose outcome is known: a group
# that passes, one whose setup fails and one whose teardown fails (cmocka
# 1.1.5 exits 0 after that one). The harness must fail on either fixture
# and count it.
#   tests/harness/check-run-tests.sh
set -u
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d /tmp/gromo-harness-XXXXXX) || exit 2
trap 'rm -rf "$tmp"' EXIT
CC=${CC:-cc}
for v in PASS FAIL_SETUP FAIL_TEARDOWN; do
  $CC -std=c11 -Wall -Wextra -D$v -o "$tmp/group_$v" tests/harness/group.c -lcmocka || exit 2
done
fails=0
expect() { # expect STATUS WANTED_STATUS LAST_LINE WANTED_LAST_LINE WHAT
  if [ "$1" != "$2" ] || [ "$3" != "$4" ]; then
    echo "check-run-tests: $5: exit $1, '$3'; wanted exit $2, '$4'" >&2
    fails=$((fails + 1))
  fi
}
run() { # run PROGRAM... -> $status, $last
  scripts/run-tests.sh harness "$@" >"$tmp/out" 2>&1
  status=$?
  last=$(tail -n 1 "$tmp/out")
}
run "$tmp/group_PASS"
expect "$status" 0 "$last" "harness: 1 passed, 0 failed" "a passing group"
run "$tmp/group_PASS" "$tmp/group_FAIL_TEARDOWN"
expect "$status" 1 "$last" "harness: 2 passed, 1 failed" "a group teardown that fails"
run "$tmp/group_FAIL_SETUP"
expect "$status" 1 "$last" "harness: 0 passed, 1 failed" "a group setup that fails"
[ "$fails" = 0 ] || exit 1
echo "check-run-tests: 3 cases passed"
