#!/bin/sh
# Runs libFuzzer harnesses, each for a bounded time, from the seed corpus in
# tests/fuzz/corpus/NAME (read only) and a working corpus in the build
# directory (new inputs go there, not into the tree).
#   tests/fuzz/run.sh BUILD_DIR NAME...     (make fuzz calls it)
# FUZZ_SECONDS (default 60) is the time per harness; FUZZ_RSS_MB (default
# 2048) the memory one may use. Exits non-zero when any harness reports a
# crash, a leak, a sanitizer error, a timeout or too much memory; the input
# that did it is kept as BUILD_DIR/artifacts/NAME-crash-... (or -leak-,
# -timeout-, -oom-) and its log as BUILD_DIR/NAME.log.
set -u
cd "$(dirname "$0")/../.."
b=$1
shift
seconds=${FUZZ_SECONDS:-60}
rss=${FUZZ_RSS_MB:-2048}
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=""
for name in "$@"; do
  # Largest input and slowest allowed input, per reader. XLS inputs may
  # legitimately take the reader's child limit of 30 s.
  case "$name" in
    xlsx) max_len=65536 timeout=20 ;;
    xls) max_len=32768 timeout=90 ;;
    *) max_len=16384 timeout=20 ;;
  esac
  mkdir -p "$b/corpus/$name" "$b/artifacts"
  log="$b/$name.log"
  printf '%-8s %ss ... ' "$name" "$seconds"
  "$b/fuzz_$name" -max_total_time="$seconds" -rss_limit_mb="$rss" \
    -max_len="$max_len" -timeout="$timeout" -print_final_stats=1 \
    -artifact_prefix="$b/artifacts/$name-" \
    "$b/corpus/$name" "tests/fuzz/corpus/$name" > "$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(sed -n 's/.*#[0-9]*.*DONE *cov: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
  if [ "$rc" = 0 ]; then
    echo "ok: ${runs:-?} inputs, coverage ${cov:-?}"
  else
    echo "FAILED (exit $rc), see $log"
    grep -E 'ERROR: |SUMMARY: |runtime error|Test unit written' "$log" | head -n 8 | sed 's/^/    /'
    failed="$failed $name"
  fi
done
if [ -n "$failed" ]; then
  echo "fuzz: failing:$failed"
  exit 1
fi
echo "fuzz: $# harnesses, no findings"
