#!/usr/bin/env bash
# build.sh [DIR] [cmake options...] - configure and build herald (default DIR:
# build; default build type RelWithDebInfo, which later options may change).
# Without options it builds only the program (no tests: they need cmocka);
# scripts/test.sh adds -DHERALD_TESTS=ON -DHERALD_WERROR=ON.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
shift || true
cmake -S "$root" -B "$root/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$root/$dir" -j"$(nproc)"
