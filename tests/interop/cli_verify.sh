#!/usr/bin/env bash
# cli_verify.sh - `herald verify` on the situations a mail admin meets:
# direct delivery, auto-forwarding (SPF fails, DKIM survives), a list
# that adds a footer and a [tag], an unaligned MAIL FROM, a provider's
# unaligned signature, a revoked key, no signature, facts from Received;
# checks that failed temporarily (dmarc=temperror, exit 75, no policy
# applied; also through `dmarc evaluate`); ARC seals whose AAR records an
# aligned pass, and one that records only an unaligned pass.
set -euo pipefail
herald=${HERALD:?HERALD must name the herald binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
run() { # run WANT_EXIT NAME -- verify args...
  local want=$1 what=$2; shift 3
  local got=0
  "$herald" verify --dns-zone "$work/zone" --authserv-id mx.receiver.test "$@" > "$work/out" 2> "$work/err" || got=$?
  [ "$got" = "$want" ] && ok || bad "$what: exit $got, want $want: $(cat "$work/out" "$work/err" | head -c 600)"
}
has() { grep -q -- "$1" "$work/out" && ok || bad "$2: output lacks \"$1\": $(head -c 800 "$work/out")"; }
cd "$work"

"$herald" dkim keygen -d example.com -s s1 -o keys --zone > zone
"$herald" dkim keygen -d esp.test -s esp -o keys --zone >> zone
"$herald" dkim keygen -d example.com -s old -o keys --zone > /dev/null   # never published
cat >> zone <<'ZONE'
example.com. IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
bounces.esp.test. IN TXT "v=spf1 ip4:198.51.100.0/24 -all"
_dmarc.example.com. IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.com"
ZONE
cat > msg.eml <<'MSG'
From: Billing <billing@example.com>
To: customer@example.net
Subject: Your invoice
Date: Fri, 27 Nov 2026 09:00:00 +0000
Message-ID: <inv-1@example.com>

Your invoice is attached.
MSG
"$herald" dkim sign -d example.com -s s1 -k keys/s1.private msg.eml > signed.eml

run 0 "direct" -- --ip 192.0.2.10 --helo mail.example.com --mail-from billing@example.com --explain signed.eml
has "dmarc=pass" "direct: dmarc pass"
has "spf=pass" "direct: spf pass"
has "Authentication-Results: mx.receiver.test;" "direct: AR header"

run 0 "forwarded" -- --ip 203.0.113.50 --helo fwd.example.org --mail-from billing@example.com --explain signed.eml
has "spf=fail" "forwarded: spf fails"
has "probably forwarded" "forwarded: explained as forwarding"
has "dmarc=pass" "forwarded: DKIM carries DMARC"

sed -e 's/^Subject: Your invoice/Subject: [customers] Your invoice/' signed.eml > list.eml
printf 'List-Id: <customers.lists.example.org>\n' | cat - list.eml > list2.eml
printf -- '-- \nYou are subscribed to customers@lists.example.org\n' >> list2.eml
run 1 "mailing list" -- --ip 203.0.113.60 --helo lists.example.org --mail-from owner@lists.example.org --explain list2.eml
has "mailing list" "list: says mailing list"
has "dmarc=fail" "list: dmarc fails"
has "reject" "list: says the policy"

# A list behind a quoted-printable gateway (issue 12): 8bit UTF-8 text
# signed by herald and by dkimpy; the list tags the Subject and adds a
# footer, a gateway re-encodes the body as quoted-printable and rewrites
# Content-Transfer-Encoding. The body hash is what fails (RFC 6376
# §6.1.3; dkimpy says so too), and the explanation names every change.
cat > mime.eml <<'MSG'
From: Billing <billing@example.com>
To: customer@example.net
Subject: Your invoice
Date: Fri, 27 Nov 2026 09:00:00 +0000
Message-ID: <inv-2@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Grüße from the billing team.
Your invoice of 12,50 € is attached.
MSG
"$herald" dkim sign -d example.com -s s1 -k keys/s1.private mime.eml > qp-herald-signed.eml
/usr/bin/python3 - keys/s1.private mime.eml qp-dkimpy-signed.eml <<'PY'
import sys, dkim
key = open(sys.argv[1], 'rb').read()
msg = open(sys.argv[2], 'rb').read().replace(b'\n', b'\r\n')
sig = dkim.sign(msg, b's1', b'example.com', key, canonicalize=(b'relaxed', b'relaxed'),
                include_headers=[b'from', b'to', b'subject', b'date', b'message-id', b'mime-version',
                                 b'content-type', b'content-transfer-encoding'])
open(sys.argv[3], 'wb').write(sig + msg)
PY
gateway() { # gateway IN OUT [list]: re-encode as quoted-printable; with list, tag and footer first
  /usr/bin/python3 - "$@" <<'PY'
import sys, quopri
data = open(sys.argv[1], 'rb').read().replace(b'\r\n', b'\n')
head, body = data.split(b'\n\n', 1)
lst = len(sys.argv) > 3
if lst:
    head = b'List-Id: <customers.lists.example.org>\n' + head.replace(b'\nSubject: ', b'\nSubject: [customers] ')
    body += b'-- \nYou are subscribed to customers@lists.example.org\n'
head = head.replace(b'Content-Transfer-Encoding: 8bit', b'Content-Transfer-Encoding: quoted-printable')
open(sys.argv[2], 'wb').write(head + b'\n\n' + quopri.encodestring(body))
PY
}
dkimpy_says() { # dkimpy_says FILE: dkimpy's verdict on the first signature, with its error
  /usr/bin/python3 - zone "$1" <<'PY'
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
try:
    print('pass' if dkim.DKIM(msg).verify(dnsfunc=dnsfunc) else 'fail')
except dkim.ValidationError as e:
    print('fail: %s' % str(e).split(' (')[0])
PY
}
for signer in herald dkimpy; do
  [ "$(dkimpy_says qp-$signer-signed.eml)" = pass ] && ok || bad "qp $signer: dkimpy does not pass the signed message"
  gateway qp-$signer-signed.eml qp-$signer.eml
  gateway qp-$signer-signed.eml qp-list-$signer.eml list
  grep -q '^Gr=C3=BC=C3=9Fe' qp-list-$signer.eml && ok || bad "qp $signer: the gateway did not re-encode"
  for m in qp-$signer qp-list-$signer; do
    [ "$(dkimpy_says $m.eml)" = "fail: body hash mismatch" ] && ok || bad "$m: dkimpy says $(dkimpy_says $m.eml)"
    "$herald" dkim verify --dns-zone zone --json $m.eml > dv.json || true
    grep -q '"reason_code": *"body_hash_mismatch"' dv.json && ok || bad "$m: dkim verify: $(head -c 600 dv.json)"
    run 1 "$m" -- --ip 203.0.113.70 --helo gw.example.org --mail-from billing@example.com --explain $m.eml
    has "dkim=fail (body hash did not verify: the body was re-encoded as" "$m: AR reason"
    has "no longer matches (body_hash_mismatch)" "$m: explained as a body hash failure"
    has "the body was re-encoded as quoted-printable (decoded, it is the signed body" "$m: body change"
    has "Content-Transfer-Encoding field was rewritten from 8bit to quoted-printable" "$m: CTE"
    has "carries no ARC seal" "$m: ARC advice"
    grep -q "^- .*signature_mismatch" out && bad "$m: still blames the signature: $(cat out)" || ok
  done
  has 'the Subject was tagged "\[customers\]"' "qp-list-$signer: Subject tag"
  has "with a footer of 55 bytes after it" "qp-list-$signer: footer"
  has "mailing lists add (List-Id: <customers.lists.example.org>), and a gateway" "qp-list-$signer: List-Id"
done

run 1 "unaligned MAIL FROM, no DKIM" -- --ip 198.51.100.7 --helo out.esp.test --mail-from b@bounces.esp.test --explain msg.eml
has "not aligned with the From domain" "unaligned: explained"
has "bounce" "unaligned: advises a bounce domain"
has "no DKIM signature" "unsigned: explained"

"$herald" dkim sign -d esp.test -s esp -k keys/esp.private msg.eml > esp.eml
run 1 "provider signature" -- --ip 198.51.100.7 --helo out.esp.test --mail-from b@bounces.esp.test --explain esp.eml
has "not aligned with the From" "provider: explained"

"$herald" dkim sign -d example.com -s old -k keys/old.private msg.eml > old.eml
run 1 "rotated key" -- --ip 203.0.113.50 --helo fwd.example.org --mail-from billing@example.com --explain old.eml
has "rotated" "rotated key: explained"

run 0 "json" -- --ip 192.0.2.10 --helo mail.example.com --mail-from billing@example.com --json signed.eml
for f in '"spf"' '"dkim"' '"dmarc"' '"authentication_results"' '"record_domain": "example.com"' '"dkim_aligned": true'; do has "$f" "json: $f"; done

printf 'Return-Path: <billing@example.com>\nReceived: from mail.example.com (mail.example.com [192.0.2.10]) by mx.receiver.test; Fri, 27 Nov 2026 09:00:01 +0000\n' | cat - signed.eml > received.eml
run 0 "facts from the message" -- --explain received.eml
has "taken from the message" "facts: said so"
has "spf=pass" "facts: spf used them"

# bad input: a megabyte header field, thousands of fields: refused with the limit named
/usr/bin/python3 -c "import sys; sys.stdout.write('From: a@example.com\nX-Big: ' + 'a'*1048576 + '\n\nbody\n')" > big.eml
run 65 "megabyte header field" -- --ip 192.0.2.10 --helo h.example --mail-from a@example.com big.eml
grep -q "longer than" err && ok || bad "megabyte header: reason not given: $(cat err)"
/usr/bin/python3 -c "import sys; sys.stdout.write('From: a@example.com\n' + ''.join('X-H%d: v\n' % i for i in range(5000)) + '\nbody\n')" > many.eml
run 65 "5000 header fields" -- --ip 192.0.2.10 --helo h.example --mail-from a@example.com many.eml
grep -q "more than 1000 header fields" err && ok || bad "many fields: reason not given: $(cat err)"

# SPF and the DKIM key lookup time out while the DMARC record is there:
# the message cannot be judged (RFC 9989 §5.3.6): temperror, exit 75, and
# p=reject is not applied
"$herald" dkim keygen -d slow.test -s s1 -o slowkeys > /dev/null   # its key record times out
cat >> zone <<'ZONE'
slow.test. TIMEOUT
s1._domainkey.slow.test. TIMEOUT
_dmarc.slow.test. IN TXT "v=DMARC1; p=reject"
ZONE
printf 'From: a@slow.test\nTo: b@example.net\nSubject: hi\n\nbody\n' > slow.eml
"$herald" dkim sign -d slow.test -s s1 -k slowkeys/s1.private slow.eml > slow-signed.eml
run 75 "temperror of SPF and DKIM" -- --ip 192.0.2.10 --helo mail.slow.test --mail-from a@slow.test --explain slow-signed.eml
has "spf=temperror" "temperror: spf"
has "dkim=temperror" "temperror: dkim"
has "dmarc=temperror (p=reject dis=none)" "temperror: dmarc"
has "p=reject is not applied" "temperror: explained"
grep -q "dmarc=fail\|policy.dmarc=reject" out && bad "temperror: still says fail: $(cat out)" || ok
run 75 "temperror, JSON" -- --ip 192.0.2.10 --helo mail.slow.test --mail-from a@slow.test --json slow-signed.eml
has '"disposition": "none"' "temperror json: no disposition"
# the only temperror is an unaligned provider's signature: fail stands
"$herald" dkim sign -d slow.test -s s1 -k slowkeys/s1.private msg.eml > slow-esp.eml
run 1 "unaligned temperror" -- --ip 203.0.113.50 --helo fwd.example.org --mail-from billing@example.com slow-esp.eml
has "dkim=temperror" "unaligned temperror: dkim"
has "dmarc=fail" "unaligned temperror: dmarc still fails"

# the same through `dmarc evaluate` (no message)
ev() { # ev WANT_EXIT NAME -- evaluate args...
  local want=$1 what=$2; shift 3
  local got=0
  "$herald" dmarc evaluate --dns-zone "$work/zone" "$@" > "$work/out" 2> "$work/err" || got=$?
  [ "$got" = "$want" ] && ok || bad "$what: exit $got, want $want: $(cat "$work/out" "$work/err" | head -c 600)"
}
ev 75 "evaluate: temperrors" -- --from example.com --spf-domain example.com --spf temperror --dkim example.com:temperror
has "dmarc=temperror" "evaluate temperror: result"
has "not applied" "evaluate temperror: reason"
ev 75 "evaluate: aligned DKIM temperror, SPF fails" -- --from example.com --spf-domain example.com --spf fail --dkim mail.example.com:temperror
ev 0 "evaluate: aligned pass beside temperror" -- --from example.com --spf-domain example.com --spf temperror --dkim example.com:pass
has "dmarc=pass" "evaluate pass beside temperror"
ev 1 "evaluate: unaligned temperrors" -- --from example.com --spf-domain bounces.esp.test --spf temperror --dkim esp.test:temperror --dkim example.com:fail
has "dmarc=fail" "evaluate unaligned: fail"
ev 1 "evaluate: look-alike temperror" -- --from example.com --dkim example.com.attacker.net:temperror
ev 75 "evaluate: temperror, JSON" -- --from example.com --spf-domain example.com --spf temperror --json
has '"result": "temperror"' "evaluate json: result"
has '"disposition": "none"' "evaluate json: no disposition"
ev 64 "evaluate: a result that is none" -- --from example.com --dkim example.com:passed
grep -q "is not a result" err && ok || bad "evaluate: bad result not named: $(cat err)"

# ARC: a list changes the message and seals it with what it recorded on
# arrival. Only an aligned pass in that AAR vouches for the author (RFC
# 8617 §7.2.1); an unaligned ESP pass beside the author's failure, or a
# look-alike domain, vouches for nothing.
"$herald" dkim keygen -d lists.example.org -s arc -o keys --zone >> zone
sed -e 's/^Subject: Your invoice/Subject: [customers] Your invoice/' signed.eml > tagged.eml
printf -- '-- \nlist footer\n' >> tagged.eml
seal() { # seal AAR OUT
  "$herald" arc seal -d lists.example.org -s arc -k keys/arc.private --authres "$1" --dns-zone zone tagged.eml > "$2"
}
seal "lists.example.org; dkim=pass header.d=example.com; spf=pass smtp.mailfrom=billing@example.com" arc-aligned.eml
run 1 "ARC, aligned pass recorded" -- --ip 198.51.100.9 --helo lists.example.org --mail-from owner@lists.example.org --explain arc-aligned.eml
has "arc=pass" "ARC aligned: chain passes"
has "vouches that when lists.example.org received the message, a DKIM signature by example.com, aligned with example.com, passed" "ARC aligned: vouches"
seal "lists.example.org; dkim=fail header.d=example.com; dkim=pass header.d=esp.test" arc-unaligned.eml
run 1 "ARC, only an unaligned pass recorded" -- --ip 198.51.100.9 --helo lists.example.org --mail-from owner@lists.example.org --explain arc-unaligned.eml
has "arc=pass" "ARC unaligned: chain passes"
has "does not vouch for the author" "ARC unaligned: says it vouches for nothing"
grep -q "vouches that" out && bad "ARC unaligned: claims a vouch: $(cat out)" || ok
seal "lists.example.org; dkim=pass header.d=example.com.attacker.net" arc-lookalike.eml
run 1 "ARC, a look-alike recorded" -- --ip 198.51.100.9 --helo lists.example.org --mail-from owner@lists.example.org --json arc-lookalike.eml
has '"vouches": null' "ARC look-alike: vouches for nothing"

echo "cli_verify: $passed passed, $failed failed"
[ "$failed" = 0 ]
