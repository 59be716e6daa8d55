#!/bin/sh
# Sets up (with the test-only packages) and builds (scripts/setup.sh --test), runs the test suite in build/, then
# again in build-asan/ under AddressSanitizer, UBSan and LeakSanitizer
# (skipped with DNN_SKIP_ASAN=1). Exits non-zero if any test failed.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/setup.sh --test

# One test per core, one thread per test: a test's second OpenMP thread on a
# core another test holds waits at every barrier (many times slower). Tests
# of thread counts set their own.
jobs=$(nproc)
export DNN_NUM_THREADS="${DNN_NUM_THREADS:-1}"

failed=0
echo "== tests (build/, Release)"
(cd build && ctest -j"$jobs" --output-on-failure) || failed=1

if [ "${DNN_SKIP_ASAN:-0}" != 1 ]; then
  echo "== tests under AddressSanitizer and UBSan (build-asan/, Debug)"
  mkdir -p build-asan
  (cd build-asan && cmake "$root" -DDNN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug && make -j"$(nproc)") || exit 1
  (cd build-asan && ctest -j"$jobs" --output-on-failure) || failed=1
fi

if [ "$failed" -ne 0 ]; then
  echo "test: some tests FAILED" >&2
  exit 1
fi
echo "test: all tests passed"
