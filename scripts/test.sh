#!/usr/bin/env bash
# test.sh - install what is missing, build, and run the whole test suite:
#   1. unit, fuzz-corpus replay and interop tests (ctest, build/)
#   2. the unit tests and corpus replays again under ASan + UBSan (build-asan/),
#      and the server's integration tests with that herald
#   3. every libFuzzer target for a few seconds (clang, build-fuzz/)
#   4. the banned-function check
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh --test

echo "== banned functions"
scripts/check-banned.sh

echo "== build and test"
scripts/build.sh build
(cd build && ctest --output-on-failure -j2)

echo "== unit tests under ASan + UBSan"
scripts/build.sh build-asan -DHERALD_SANITIZE=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure -j2 -L unit)

echo "== the server's tests again with herald built with ASan + UBSan"
# a memory error in the server aborts it and fails the test; leak reports
# are off: a SIGTERM mid-delivery leaves connections unfreed on purpose
(cd build-asan && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j2 -R 'interop\.serve_')

echo "== fuzz smoke (${FUZZ_SECONDS:-10} s per target)"
scripts/build.sh build-fuzz -DCMAKE_C_COMPILER=clang -DHERALD_FUZZ=ON -DHERALD_TESTS=OFF
scripts/fuzz.sh build-fuzz "${FUZZ_SECONDS:-10}"
echo "test.sh: all passed"
