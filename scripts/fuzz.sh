#!/usr/bin/env bash
# fuzz.sh BUILD_DIR SECONDS - run every libFuzzer target for SECONDS on a
# copy of its seed corpus (new inputs stay out of the repository).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/${1:-build-fuzz}
secs=${2:-10}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ran=0
for bin in "$dir"/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  surface=$(basename "$bin"); surface=${surface#fuzz_}
  mkdir -p "$work/$surface"
  cp -r "$root/fuzz/corpus/$surface/." "$work/$surface/" 2>/dev/null || true
  echo "-- fuzz_$surface: ${secs}s"
  (cd "$work" && "$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
     -print_final_stats=0 "$work/$surface" 2>&1 | tail -n 3)
  ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || { echo "fuzz.sh: no fuzz targets in $dir/fuzz" >&2; exit 1; }
echo "fuzz.sh: $ran targets ran without a finding"
