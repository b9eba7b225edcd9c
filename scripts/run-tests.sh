#!/bin/sh
# Runs test programs, several at a time, and sums up cmocka's counts.
#   scripts/run-tests.sh LABEL PROGRAM...
# Up to GROMO_TEST_JOBS programs run at once (default: the number of cores;
# 1 runs them one after another). Most end-to-end programs spend their time
# waiting on a server, so running them side by side shortens the run.
# The programs named in SLOW start first (slowest first), so that the run
# does not end waiting on one long program started last; the others follow
# in the order given. Those named in ALONE run after all others, with
# nothing beside them: test_e2e_pgfaults stops and restarts the PostgreSQL
# server that other programs use. A name may carry a suffix after '@'
# (scripts/check-clock.sh names its runs test_ml@DATE); the lists match the
# part before it.
#
# Each program's output is shown whole when it ends, followed by its wall
# time; at the end, the passed and failed counts of all its cmocka groups,
# summed over all programs. Exits non-zero if any program fails. Program
# paths must not contain white space.
set -u

SLOW="test_e2e_faults test_e2e_models test_ml test_cluster test_e2e_staging test_consistency
      test_insights test_forest test_e2e_hostile test_e2e_api test_store"
ALONE="test_e2e_pgfaults"

label=$1
shift
jobs=${GROMO_TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
case $jobs in
  '' | *[!0-9]* | 0)
    echo "run-tests: GROMO_TEST_JOBS must be a whole number above 0, not '$jobs'" >&2
    exit 2 ;;
esac

# XGBoost trains with OpenMP, whose idle workers spin by default: with two
# training programs side by side (or a test server training beside a test)
# they starve each other and training takes many times longer. Passive
# workers sleep instead; the programs and the servers they start inherit it.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"

base() { # base PATH -> the program's name without folder and '@' suffix
  _b=${1##*/}
  echo "${_b%%@*}"
}
listed() { # listed NAME LIST
  for x in $2; do [ "$x" = "$1" ] && return 0; done
  return 1
}

# The order: the slow ones in the order of SLOW, then the rest, then ALONE.
queue=""
for s in $SLOW; do
  for t in "$@"; do [ "$(base "$t")" = "$s" ] && queue="$queue $t"; done
done
for t in "$@"; do
  b=$(base "$t")
  listed "$b" "$SLOW" || listed "$b" "$ALONE" || queue="$queue $t"
done
for t in "$@"; do listed "$(base "$t")" "$ALONE" && queue="$queue $t"; done

tmp=$(mktemp -d /tmp/gromo-tests-XXXXXX) || exit 2
cleanup() {
  for f in "$tmp"/*.pid; do
    [ -f "$f" ] && [ ! -f "${f%.pid}.done" ] && kill "$(cat "$f")" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NUMBER PROGRAM: runs it in the background; NUMBER.done appears
# when it has ended, holding its exit status and seconds.
start() {
  (
    t0=$(date +%s)
    "$2" >"$tmp/$1.out" 2>&1 </dev/null &
    echo $! >"$tmp/$1.pid"
    wait $!
    rc=$?
    echo "$rc $(($(date +%s) - t0))" >"$tmp/$1.tmp"
    mv "$tmp/$1.tmp" "$tmp/$1.done"
  ) &
}

passed=0
failed=0
bad=""
# report NUMBER PROGRAM: its output, its time and its counts.
report() {
  name=${2##*/}
  read -r rc secs <"$tmp/$1.done"
  cat "$tmp/$1.out"
  echo "-- $name: $secs s"
  # Every group's closing lines: "[  PASSED  ] 4 test(s)." and
  # "[  FAILED  ] 1 test(s), listed below:". A group's fixture that fails
  # prints "[  FAILED  ] GROUP SETUP" (or TEARDOWN) and "[  ERROR   ] name";
  # cmocka 1.1.5 still returns 0 after a failed group teardown, so such a
  # line fails the program whatever its exit status.
  set -- $(awk '/^\[  PASSED  \] [0-9]+ test/ { p += $4 }
                /^\[  FAILED  \] [0-9]+ test/ { f += $4; seen = 1 }
                /^\[  FAILED  \] GROUP / { g++ }
                END { print p + 0, f + 0, seen + 0, g + 0 }' "$tmp/$1.out")
  passed=$((passed + $1))
  failed=$((failed + $2 + $4))
  if [ "$rc" != 0 ] || [ "$4" != 0 ]; then
    bad="$bad $name"
    [ "$3" = 0 ] && [ "$4" = 0 ] && failed=$((failed + 1)) # it ended before reporting
  fi
}

n=0        # programs started
running="" # entries NUMBER:PROGRAM
count=0
alone=0    # an ALONE program is running
while [ -n "$queue" ] || [ "$count" -gt 0 ]; do
  # Report every program that has ended.
  still=""
  ended=0
  for r in $running; do
    i=${r%%:*}
    if [ -f "$tmp/$i.done" ]; then
      report "$i" "${r#*:}"
      count=$((count - 1))
      ended=1
    else
      still="$still $r"
    fi
  done
  running=$still
  [ "$count" = 0 ] && alone=0
  # Start what may start.
  while [ -n "$queue" ] && [ "$count" -lt "$jobs" ] && [ "$alone" = 0 ]; do
    set -- $queue
    t=$1
    if listed "$(base "$t")" "$ALONE"; then
      [ "$count" = 0 ] || break
      alone=1
    fi
    shift
    queue="$*"
    n=$((n + 1))
    start "$n" "$t"
    running="$running $n:$t"
    count=$((count + 1))
  done
  [ "$ended" = 1 ] || sleep 0.2
done
wait

echo
echo "== $label: $n test programs, up to $jobs at a time${bad:+; failing:$bad}"
echo "$label: $passed passed, $failed failed"
[ -z "$bad" ]
