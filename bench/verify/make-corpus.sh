#!/usr/bin/env bash
# bench/verify/make-corpus.sh HERALD WORK [N] - the full-verification corpus, zone and facts.
#
# WORK/corpus/msg-*.eml: N (1000) bench/corpus/gen-corpus.py messages (seed 7208; half ~2 KB, half ~50 KB
# bodies) from example.org, each signed by `herald dkim sign` (RSA-2048, s=rsa2048, relaxed/
# relaxed). Every other pair (i/2 odd: half the small and half the big messages) went through a
# forwarder, fwd.example.net: a Received field on top (not signed, so DKIM still passes), then
# `herald arc seal` (RSA-2048, s=arc) with --authres recording the verdict on arrival.
# WORK/corpus/facts.txt: "FILE IP HELO MAIL-FROM" per message: direct mail from 192.0.2.0/24 or
# (through the include) 203.0.113.0/24 with MAIL FROM bounce@example.org; forwarded mail from
# 198.51.100.7 with an SRS MAIL FROM at fwd.example.net (SPF passes, unaligned: DMARC passes by DKIM).
# WORK/zone: herald's zone fixture (DKIM keys, SPF, DMARC, A/MX); WORK/dns.json: the same
# records for the peers' fake DNS; WORK/keys: the private keys.
set -euo pipefail
herald=$1 work=$2 n=${3:-1000}
gen_corpus=$(cd "$(dirname "$0")/.." && pwd)/corpus/gen-corpus.py
mkdir -p "$work/keys" "$work/plain" "$work/corpus"
"$herald" dkim keygen -d example.org -s rsa2048 -a rsa2048 -o "$work/keys" --zone > "$work/zone"
"$herald" dkim keygen -d fwd.example.net -s arc -a rsa2048 -o "$work/keys" --zone >> "$work/zone"
cat >> "$work/zone" <<'ZONE'
example.org. 3600 IN TXT "v=spf1 ip4:192.0.2.0/24 include:_spf.example.net -all"
_spf.example.net. 3600 IN TXT "v=spf1 ip4:203.0.113.0/24 ip6:2001:db8:25::/48 -all"
_dmarc.example.org. 3600 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc-reports@example.org"
example.org. 3600 IN A 192.0.2.1
example.org. 3600 IN MX 10 mail.example.org.
fwd.example.net. 3600 IN TXT "v=spf1 ip4:198.51.100.0/24 -all"
_dmarc.fwd.example.net. 3600 IN TXT "v=DMARC1; p=none"
ZONE
/usr/bin/python3 "$gen_corpus" -n "$n" "$work/plain" >/dev/null
now=$(date +%s)
authres="fwd.example.net; dkim=pass header.d=example.org header.s=rsa2048 header.a=rsa-sha256; spf=pass smtp.mailfrom=example.org; dmarc=pass header.from=example.org"
: > "$work/corpus/facts.txt"
one() { # one message: sign, maybe forward + seal
  local f=$1 i=$2 out=$work/corpus/$1
  "$herald" dkim sign -d example.org -s rsa2048 -k "$work/keys/rsa2048.private" "$work/plain/$f" > "$out.signed"
  if [ $(( (i / 2) % 2 )) = 1 ]; then
    { printf 'Received: from mail.example.org (mail.example.org [192.0.2.25])\r\n\tby mx.fwd.example.net with ESMTPS id f%05d; Mon, 01 Jan 2024 00:00:01 +0000\r\n' "$i"
      cat "$out.signed"; } > "$out.fwd"
    "$herald" arc seal -d fwd.example.net -s arc -k "$work/keys/arc.private" --authres "$authres" \
      --timestamp "$now" --dns-zone "$work/zone" "$out.fwd" > "$out"
    rm -f "$out.fwd"
  else
    mv "$out.signed" "$out"
  fi
  rm -f "$out.signed"
}
i=0
for p in "$work"/plain/msg-*.eml; do
  f=$(basename "$p")
  one "$f" "$i" &
  if [ $(( (i / 2) % 2 )) = 1 ]; then
    echo "$f 198.51.100.7 mx.fwd.example.net SRS0=h$i=TT=example.org=sender$((i % 50))@fwd.example.net"
  elif [ $((i % 4)) = 0 ]; then
    echo "$f 192.0.2.$(( i % 200 + 10 )) mail.example.org bounce@example.org"
  else
    echo "$f 203.0.113.$(( i % 200 + 10 )) out.example.net bounce@example.org"
  fi >> "$work/corpus/facts.txt"
  i=$((i + 1))
  [ $((i % 2)) = 0 ] && wait
done
wait
# the same records as JSON ({name: {type: [values]}}) for the peers' fake DNS
/usr/bin/python3 - "$work/zone" "$work/dns.json" <<'PY'
import json, re, sys
recs = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if not line or line.startswith(";"):
        continue
    m = re.match(r'(\S+)\s+(?:(\d+)\s+)?IN\s+(\S+)\s+(.*)$', line)
    if not m:
        sys.exit("zone line not understood: " + line)
    name, rtype, rdata = m.group(1).rstrip(".").lower(), m.group(3).upper(), m.group(4)
    if rtype == "TXT":
        rdata = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', rdata))
    elif rtype == "MX":
        pref, host = rdata.split()
        rdata = [int(pref), host.rstrip(".")]
    recs.setdefault(name, {}).setdefault(rtype, []).append(rdata)
json.dump(recs, open(sys.argv[2], "w"), indent=1)
PY
