#!/usr/bin/env bash
# bench/dkim.sh - DKIM sign/verify throughput of herald beside the machine's
# limit (openssl speed) and the peers (dkimpy, OpenDKIM), in one run.
#
# usage: bench/dkim.sh [SECONDS]      (default 3: seconds per figure)
# Needs: a build in build/ (scripts/build.sh), openssl, /usr/bin/python3
# with dkimpy, opendkim (optional). Corpus: 1000 messages, 500 x ~2 KB and
# 500 x ~50 KB bodies (bench/corpus/gen-corpus.py, seed 7208),
# relaxed/relaxed, one core; dkimpy is driven by bench/dkim/dkim_py_bench.py.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-3}
herald=$root/build/herald
bench=$root/build/bench/bench_dkim
[ -x "$bench" ] || { echo "bench/dkim.sh: build first (scripts/build.sh build -DHERALD_BENCH=ON)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rate() { sed -n 's/.*= \([0-9.]*\) msg\/s.*/\1/p' | tail -1; }

echo "# $(date -u +%FT%TZ) $(openssl version); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); $(nproc) cores"
/usr/bin/python3 "$root/bench/corpus/gen-corpus.py" -n 1000 "$work/corpus" >/dev/null
"$herald" dkim keygen -d example.org -s rsa2048 -a rsa2048 -o "$work/keys" --zone > "$work/zone"
"$herald" dkim keygen -d example.org -s ed25519 -a ed25519 -o "$work/keys" --zone >> "$work/zone"
# the same keys in the forms the peers want: the raw Ed25519 seed for dkimpy,
# "name value" lines for dkim_py_bench.py's fake DNS, opendkim's TestPublicKeys
k=$work/keys
openssl pkey -in "$k/ed25519.private" -outform DER 2>/dev/null | tail -c 32 | base64 -w0 > "$k/ed25519.seed.b64"
awk '{ name=$1; sub(/\.$/, "", name); v=""; for (i=4; i<=NF; i++) v = v $i; gsub(/"/, "", v); print name " " v }' \
    "$work/zone" | sed 's/;/; /g; s/;  /; /g' > "$k/dns.txt"
printf 'rsa2048._domainkey.example.org\t%s\ned25519._domainkey.example.org\t%s\n' \
    "$(sed -n 's/^rsa2048[^ ]* //p' "$k/dns.txt")" "$(sed -n 's/^ed25519[^ ]* //p' "$k/dns.txt")" > "$k/opendkim-testkeys"

echo "## machine limit: openssl speed, one process, ${secs}s each"
ossl() { openssl speed -mr -seconds "$secs" "$@" 2>/dev/null; }
rsa=$(ossl rsa2048 | grep '^+F2:' | tail -1)
ed=$(ossl ed25519 | grep '^+F6:' | tail -1)
sha16=$(ossl -bytes 16384 -evp sha256 | grep '^+F:' | tail -1 | cut -d: -f4)
o_rsa_sign=$(echo "$rsa" | cut -d: -f4 | cut -d. -f1); o_rsa_verify=$(echo "$rsa" | cut -d: -f5 | cut -d. -f1)
o_ed_sign=$(echo "$ed" | cut -d: -f5 | cut -d. -f1);   o_ed_verify=$(echo "$ed" | cut -d: -f6 | cut -d. -f1)
o_sha=$(awk -v b="$sha16" 'BEGIN{printf "%.1f", b/1e6}')

echo "## herald (bench_dkim, in memory, key cache warm for verification)"
"$bench" "$work/corpus" "$k/rsa2048.private" "$k/ed25519.private" "$work/zone" "$secs" | tee "$work/herald.txt"
h() { grep "^RESULT herald $1 " "$work/herald.txt" | awk '{print $(NF-1)}'; }

echo "## peers"
pyb="/usr/bin/python3 $root/bench/dkim/dkim_py_bench.py"
peer() { local line; line=$("$@"); echo "$line" >&2; echo "$line" | rate; }
py_rsa_sign=$(peer $pyb sign --alg rsa --keys "$k" --in "$work/corpus" --out "$work/py-rsa")
py_ed_sign=$(peer $pyb sign --alg ed --keys "$k" --in "$work/corpus" --out "$work/py-ed")
py_rsa_verify=$(peer $pyb verify --keys "$k" --in "$work/py-rsa" --label rsa-sha256)
py_ed_verify=$(peer $pyb verify --keys "$k" --in "$work/py-ed" --label ed25519-sha256)
odk_rsa_sign=NA
if [ -x /usr/sbin/opendkim ]; then
  printf 'Mode s\nDomain example.org\nSelector rsa2048\nKeyFile %s\nSignatureAlgorithm rsa-sha256\nCanonicalization relaxed/relaxed\nSyslog no\nRequireSafeKeys false\n' \
    "$k/rsa2048.private" > "$work/odk.conf"
  list=$(cd "$work/corpus" && ls msg-*.eml | paste -sd,)
  t0=$(date +%s.%N); (cd "$work/corpus" && /usr/sbin/opendkim -x "$work/odk.conf" -t "$list" >/dev/null 2>&1); t1=$(date +%s.%N)
  odk_rsa_sign=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", 1000/(b-a)}')
  echo "opendkim -t sign rsa-sha256: 1000 msgs = $odk_rsa_sign msg/s (one process, incl. file I/O)"
fi

# herald's rate over the mixed corpus (500 small + 500 big), to compare with the peers
mixed() { awk -v s="$1" -v b="$2" 'BEGIN{printf "%.1f", 1000/(500/s + 500/b)}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b=="NA"||b==0) print "-"; else printf "%.0f%%", 100*a/b }'; }
x() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b=="NA"||b==0) print "-"; else printf "%.1fx", a/b }'; }

echo
echo "## summary (one core). raw = the same EVP primitive in herald's process, no DKIM work"
r() { grep "^RESULT raw $1 " "$work/herald.txt" | awk '{print $(NF-1)}'; }
printf '%-30s %10s %10s %10s  %s\n' "figure" "herald" "raw" "openssl" "herald/raw, herald/openssl"
row() { printf '%-30s %10s %10s %10s  %s / %s\n' "$1" "$2" "$3" "$4" "$(pct "$2" "$3")" "$(pct "$2" "$4")"; }
row "rsa2048 sign 2KB msg/s" "$(h 'sign rsa2048 2KB')" "$(r 'sign rsa2048')" "$o_rsa_sign"
row "ed25519 sign 2KB msg/s" "$(h 'sign ed25519 2KB')" "$(r 'sign ed25519')" "$o_ed_sign"
row "rsa2048 verify 2KB msg/s" "$(h 'verify rsa2048 2KB')" "$(r 'verify rsa2048')" "$o_rsa_verify"
row "ed25519 verify 2KB msg/s" "$(h 'verify ed25519 2KB')" "$(r 'verify ed25519')" "$o_ed_verify"
row "body hash 50KB MB/s" "$(h 'body-hash relaxed 50KB')" "$(r 'sha256 50KB')" "$o_sha"
# verifying a message also hashes it: the limit for one of the small
# messages is one RSA verification plus SHA-256 over its bytes
small=$(find "$work/corpus" -name 'msg-*.eml' -size -10k -printf '%s\n' | awk '{s+=$1; n++} END{printf "%d", s/n}')
lim_v=$(awk -v v="$(r 'verify rsa2048')" -v b="$small" -v h="$(r 'sha256 50KB')" 'BEGIN{printf "%.0f", 1/(1/v + b/(h*1e6))}')
echo "rsa2048 verify 2KB: limit with SHA-256 of the ${small}-byte message = $lim_v msg/s; herald = $(pct "$(h 'verify rsa2048 2KB')" "$lim_v") of it"
echo
printf '%-30s %10s %10s  %s\n' "whole corpus (500 + 500)" "herald" "peer" "herald/peer"
prow() { printf '%-30s %10s %10s  %s\n' "$1" "$2" "$3" "$(x "$2" "$3") $4"; }
hrs=$(mixed "$(h 'sign rsa2048 2KB')" "$(h 'sign rsa2048 50KB')")
hes=$(mixed "$(h 'sign ed25519 2KB')" "$(h 'sign ed25519 50KB')")
hrv=$(mixed "$(h 'verify rsa2048 2KB')" "$(h 'verify rsa2048 50KB')")
hev=$(mixed "$(h 'verify ed25519 2KB')" "$(h 'verify ed25519 50KB')")
prow "rsa sign msg/s" "$hrs" "$py_rsa_sign" "dkimpy"
prow "rsa sign msg/s" "$hrs" "$odk_rsa_sign" "opendkim -t"
prow "ed25519 sign msg/s" "$hes" "$py_ed_sign" "dkimpy"
prow "rsa verify msg/s" "$hrv" "$py_rsa_verify" "dkimpy"
prow "ed25519 verify msg/s" "$hev" "$py_ed_verify" "dkimpy"
