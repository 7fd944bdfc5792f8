#!/usr/bin/env bash
# test.sh - install what is missing, build, and run the whole test suite:
#   1. the banned-function check and the layer rule (check-layers.sh)
#   2. unit, fuzz-corpus replay and interop tests (ctest, build/), among them
#      the Debian package, the systemd unit and the man pages
#   3. the unit tests and corpus replays again under ASan + UBSan (build-asan/),
#      and the server's integration tests with that herald
#   4. every libFuzzer target for a few seconds (clang, build-fuzz/)
#   5. every other build type the project claims, compiled warning-free:
#      Debug and Release with gcc, RelWithDebInfo with clang
# Warnings are errors in every build here (HERALD_WERROR); a user's build
# (scripts/run.sh, cmake without it) only warns.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh --test
strict=(-DHERALD_TESTS=ON -DHERALD_BENCH=ON -DHERALD_WERROR=ON)

echo "== banned functions"
scripts/check-banned.sh
echo "== layers"
scripts/check-layers.sh

echo "== build and test"
scripts/build.sh build "${strict[@]}"
(cd build && ctest --output-on-failure -j2)

echo "== unit tests under ASan + UBSan"
scripts/build.sh build-asan "${strict[@]}" -DHERALD_SANITIZE=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure -j2 -L unit)

echo "== the server's tests again with herald built with ASan + UBSan"
# a memory error in the server aborts it and fails the test; leak reports
# are off: a SIGTERM mid-delivery leaves connections unfreed on purpose
(cd build-asan && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j2 -R 'interop\.serve_')

echo "== fuzz smoke (${FUZZ_SECONDS:-10} s per target)"
scripts/build.sh build-fuzz -DCMAKE_C_COMPILER=clang -DHERALD_FUZZ=ON -DHERALD_TESTS=OFF \
  -DHERALD_WERROR=ON
scripts/fuzz.sh build-fuzz "${FUZZ_SECONDS:-10}"

echo "== the other build types, warning-free (compiled, not run again)"
for spec in "build-debug gcc Debug" "build-release gcc Release" "build-clang clang RelWithDebInfo"; do
  read -r dir cc type <<< "$spec"
  echo "-- $type with $cc ($dir/)"
  scripts/build.sh "$dir" "${strict[@]}" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE="$type" >/dev/null
done
echo "test.sh: all passed"
