#!/usr/bin/env bash
# bench/mime7.sh - 8-bit parts re-encoded to 7 bits before signing (hd_mime7_convert), MB/s
# on 100 KB bodies beside memcpy and the 8-bit scan, one core.
#
# usage: bench/mime7.sh [SECONDS] [REPS]   (default 2 s per figure, 5 rounds; the median is shown)
# Needs: a build in build/ with -DHERALD_BENCH=ON. Workload (bench/mime7.c, seed 6152): German
# text, a few 8-bit bytes a line (quoted-printable); Russian text (base64); an English 7-bit
# message (scanned, copied unchanged); memcpy and the scan of the same 100 KB for scale.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-2}
reps=${2:-5}
bench=$root/build/bench/bench_mime7
[ -x "$bench" ] || { echo "bench/mime7.sh: build $bench first (-DHERALD_BENCH=ON)" >&2; exit 1; }
out=$(for ((r = 0; r < reps; r++)); do "$bench" "$secs"; done)
echo "$out"
echo "median of $reps rounds:"
echo "$out" | awk '/^RESULT/ { v[$4] = v[$4] " " $5 } END {
  for (k in v) { n = split(substr(v[k], 2), a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    printf "  %-16s %6d MB/s\n", k, a[int((n + 1) / 2)] } }' | sort
