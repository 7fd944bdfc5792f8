#!/usr/bin/env bash
# cli_arc.sh - end to end: messages signed by herald and by dkimpy pass a
# mailing list that tags the Subject and adds a footer and then seals
# with `herald arc seal` (the AAR recording the verdict taken on arrival);
# `herald arc verify` and `herald verify --json --explain` must then say:
# DKIM broken by the list, ARC cv=pass vouching for the original pass.
# Also: a second seal on top, and a tampered seal.
set -euo pipefail
herald=${HERALD:?HERALD must name the herald binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { # check DESC EXPR-output-file PATTERN
  if grep -q -- "$3" "$2"; then ok; else bad "$1: lacks \"$3\": $(head -c 700 "$2")"; fi
}
cd "$work"
H=$herald
$H dkim keygen -d example.com -s s1 -o k --zone > zone
$H dkim keygen -d lists.example.org -s arc -a ed25519 -o k --zone >> zone
$H dkim keygen -d relay.example.net -s arc2 -o k --zone >> zone
cat >> zone <<'ZONE'
example.com. IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
_dmarc.example.com. IN TXT "v=DMARC1; p=reject"
lists.example.org. IN TXT "v=spf1 ip4:198.51.100.0/24 -all"
ZONE
printf 'From: Alice <alice@example.com>\r\nTo: list@lists.example.org\r\nSubject: hello\r\nDate: Fri, 27 Nov 2026 09:00:00 +0000\r\nMessage-ID: <a1@example.com>\r\n\r\nHi all.\r\n' > m.eml

# two signers: herald and dkimpy (same key)
$H dkim sign -d example.com -s s1 -k k/s1.private m.eml > signed-herald.eml
/usr/bin/python3 - k/s1.private m.eml signed-dkimpy.eml <<'PY'
import sys, dkim
key = open(sys.argv[1], 'rb').read(); msg = open(sys.argv[2], 'rb').read()
sig = dkim.sign(msg, b's1', b'example.com', key, canonicalize=(b'relaxed', b'relaxed'),
                include_headers=[b'from', b'to', b'subject', b'date', b'message-id'])
open(sys.argv[3], 'wb').write(sig + msg)
PY

for signer in herald dkimpy; do
  in=signed-$signer.eml
  # the list verifies on arrival...
  $H verify --ip 192.0.2.5 --helo mail.example.com --mail-from alice@example.com --dns-zone zone \
     --now 1800000000 --authserv-id lists.example.org --json "$in" > arrival.json
  check "$signer: passes on arrival" arrival.json '"result": "pass"'
  ar=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["authentication_results"].split(":",1)[1].strip())' arrival.json)
  # ...tags the Subject, adds a footer, and seals with the arrival verdict
  sed -e 's/^Subject: hello/Subject: [list] hello/' "$in" > mod.eml
  printf -- '-- \r\nlist footer\r\n' >> mod.eml
  $H arc seal -d lists.example.org -s arc -k k/arc.private --authres "$ar" --dns-zone zone \
     --timestamp 1800000050 mod.eml > sealed-$signer.eml
  $H arc verify --dns-zone zone --now 1800000100 --json sealed-$signer.eml > arc.json && ok || bad "$signer: arc verify exit $?"
  check "$signer: cv=pass" arc.json '"cv": "pass"'
  # the receiver
  rc=0
  $H verify --ip 198.51.100.9 --helo lists.example.org --mail-from bounces@lists.example.org \
     --dns-zone zone --now 1800000100 --json --explain --authserv-id mx.test sealed-$signer.eml > final.json || rc=$?
  [ "$rc" = 1 ] && ok || bad "$signer: verify exit $rc, want 1 (DMARC fails after the list)"
  check "$signer: dkim broken" final.json '"result": "fail"'
  check "$signer: arc pass in the verdict" final.json 'arc=pass'
  check "$signer: explanation vouches" final.json "vouches that when lists.example.org received the message, a DKIM signature by example.com, aligned with example.com, passed"
  check "$signer: JSON says what the seal vouches for" final.json "\"method\": \"dkim\""
  check "$signer: explanation names the list change" final.json 'mailing lists add'
done

# a second intermediary seals on top: the chain still passes, with 2 sets
$H arc seal -d relay.example.net -s arc2 -k k/arc2.private --authserv-id relay.example.net \
   --dns-zone zone --timestamp 1800000060 sealed-herald.eml > sealed2.eml
$H arc verify --dns-zone zone --now 1800000100 --json sealed2.eml > arc2.json && ok || bad "double seal: exit $?"
check "double seal: cv=pass" arc2.json '"cv": "pass"'
check "double seal: two instances" arc2.json '"instance": 2'

# a seal tampered with: cv=fail, and who failed
sed -e 's/cv=none;/cv=pass;/' sealed-herald.eml > tampered.eml   # only the AS has cv=
rc=0; $H arc verify --dns-zone zone --now 1800000100 --json tampered.eml > bad.json || rc=$?
[ "$rc" = 1 ] && ok || bad "tampered seal: exit $rc, want 1"
check "tampered seal: cv=fail" bad.json '"cv": "fail"'

# an independent judge: dkimpy validates herald's RSA seal (dkimpy 1.1.4 has
# no Ed25519 in ARC, and refuses t= in the future, hence "now")
$H dkim keygen -d lists.example.org -s arcrsa -o k --zone >> zone
$H arc seal -d lists.example.org -s arcrsa -k k/arcrsa.private --authserv-id lists.example.org \
   --dns-zone zone --timestamp now signed-herald.eml > sealed-rsa.eml
cv=$(/usr/bin/python3 - zone sealed-rsa.eml <<'PY'
import dkim, re, sys
recs = {}
for line in open(sys.argv[1]):
    parts = line.split(' IN TXT ', 1)
    if len(parts) == 2:
        recs[parts[0].rstrip('.')] = ''.join(re.findall(r'"([^"]*)"', parts[1])).encode()
def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    return recs.get(name.rstrip('.'))
msg = open(sys.argv[2], 'rb').read().replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
print(dkim.arc_verify(msg, dnsfunc=dnsfunc)[0].decode())
PY
)
[ "$cv" = pass ] && ok || bad "dkimpy arc_verify of herald's seal: $cv"

echo "cli_arc: $passed passed, $failed failed"
[ "$failed" = 0 ]
