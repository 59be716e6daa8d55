#!/bin/sh
# Runs the fuzz targets (tests/fuzz) long, one after the other:
#   scripts/fuzz.sh [seconds] [reader ...]     e.g. scripts/fuzz.sh 600 image_jpeg csv
# seconds: per target (default 600); readers: the names after fuzz_ (default
# all). Builds them first with clang, libFuzzer, ASan and UBSan into
# build/fuzz. Each keeps its growing corpus in build/fuzz/work/<reader>,
# seeded from tests/fuzz/corpus/<reader>; a crash leaves its input in
# build/fuzz/work/ and stops the script with libFuzzer's report. The last
# line of each run (executions, cov:, ft:) goes to build/fuzz/summary.txt.
# ASan's allocator returns NULL for a huge request (as malloc does) instead of
# aborting, so a file that asks for terabytes tests our out-of-memory error.
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-600}
[ $# -gt 0 ] && shift
out=build/fuzz
cmake -S tests/fuzz -B "$out" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$out" -j2 >/dev/null
readers=${*:-$(for f in tests/fuzz/fuzz_*.c; do basename "$f" .c | sed 's/^fuzz_//'; done)}
for r in $readers; do
  mkdir -p "$out/work/$r"
  echo "fuzz_$r: $seconds s ($(uptime | sed 's/.*load/load/'))"
  DNN_NUM_THREADS=1 ASAN_OPTIONS=allocator_may_return_null=1 "$out/fuzz_$r" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/work/fuzz_$r-" "$out/work/$r" "tests/fuzz/corpus/$r" >"$out/work/$r.log" 2>&1 || {
    tail -60 "$out/work/$r.log"
    exit 1
  }
  line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$out/work/$r.log" | tail -1)
  echo "fuzz_$r $seconds s: $line" | tee -a "$out/summary.txt"
done
