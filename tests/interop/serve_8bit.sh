#!/usr/bin/env bash
# serve_8bit.sh - 8-bit mail and hops without 8BITMIME (RFC 6152 §3,
# RFC 6376 §5.3), for both DKIM canonicalizations (relaxed/relaxed and
# simple/simple, dkim_canonicalization):
#
#   - an 8-bit UTF-8 text body (no MIME fields) and a multipart with an
#     8-bit part reach a receiver that does not offer 8BITMIME 7-bit:
#     re-encoded before signing, they decode back to the original text
#     (Python's email package) and dkimpy verifies both signatures;
#   - a message that cannot be made 7-bit (raw UTF-8 in the Subject)
#     bounces for that receiver with 554 5.6.3 and is delivered with
#     BODY=8BITMIME, signatures intact, to a receiver that offers it;
#   - a 7-bit message goes without BODY=8BITMIME, byte for byte as
#     submitted (below herald's Received and DKIM-Signature fields);
#   - a raw message through the HTTP API (LF line ends) is re-encoded the
#     same way.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
PY=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; tail -n 30 "$T"/herald-*.log >&2 || true; exit 1; }
pass() { echo "ok: $*"; }

# the hops: one without 8BITMIME, one with
rx7=$(hl_free_port); rx8=$(hl_free_port)
hl_receiver_start 127.0.0.1 "$rx7" "$T/rx7" "" --no-8bitmime
hl_receiver_start 127.0.0.1 "$rx8" "$T/rx8" ""

# submit.py PORT OUT TAG: the four messages, over SMTP with BODY=8BITMIME
# where the body is 8-bit, TAG in each Subject; the originals go to
# OUT-N for the checks
cat > "$T/submit.py" <<'P'
import smtplib, sys
port, out, tag = int(sys.argv[1]), sys.argv[2], sys.argv[3]
# mostly ASCII (quoted-printable: a long line, a trailing space) and mostly not (base64)
text = ("Grüße aus Köln! Ihr Termin am 12. März um 9:30 Uhr in der Praxis Dr. Müller, Hauptstraße 5, "
        "bitte bestätigen Sie ihn bis Freitag.\r\nA line with a trailing space \r\n-- \r\nPraxis Müller\r\n")
wide = "Здравствуйте! Ваша запись на 12 марта, 9:30. 東京 ✓\r\n"
m1 = ("From: alice@example.com\r\nTo: u1@seven.test\r\nSubject: [" + tag + "] plain 8-bit text\r\n\r\n" + text).encode()
m2 = ("From: alice@example.com\r\nTo: u2@seven.test\r\nSubject: [" + tag + "] multipart\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"
      "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + text +
      "\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>" + wide + "</p>\r\n"
      "--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nseven-bit part\r\n--b1--\r\n").encode()
m3 = ("From: alice@example.com\r\nTo: u3@seven.test, u3@eight.test\r\nSubject: [" + tag + "] Caf\u00e9 au lait\r\n\r\n" + text).encode()
m4 = ("From: alice@example.com\r\nTo: u4@eight.test\r\nSubject: [" + tag + "] seven-bit\r\n\r\nplain ASCII body\r\n").encode()
for n, (m, rcpts) in enumerate([(m1, ["u1@seven.test"]), (m2, ["u2@seven.test"]),
                                (m3, ["u3@seven.test", "u3@eight.test"]), (m4, ["u4@eight.test"])], 1):
    open("%s-%d" % (out, n), "wb").write(m)
    s = smtplib.SMTP("127.0.0.1", port, timeout=20)
    s.ehlo("client.test")
    opts = ["BODY=8BITMIME"] if any(b > 127 for b in m) else []
    refused = s.sendmail("alice@example.com", rcpts, m, mail_options=opts)
    if refused:
        sys.exit("refused: %r" % refused)
    s.quit()
# the API's raw message: LF line ends, an 8-bit body
m5 = "From: alice@example.com\nTo: u5@seven.test\nSubject: [" + tag + "] by the API\n\n" + text.replace("\r\n", "\n")
open("%s-5" % out, "wb").write(m5.encode())
import json, urllib.request
req = urllib.request.Request("http://127.0.0.1:%s/v1/messages" % sys.argv[4],
                             data=json.dumps({"raw": m5, "to": ["u5@seven.test"]}).encode(),
                             headers={"Authorization": "Bearer " + sys.argv[5],
                                      "Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=20) as r:
    if r.status != 202:
        sys.exit("API: HTTP %d" % r.status)
P

# check.py T CANON: what arrived
cat > "$T/check.py" <<'P'
import email, email.policy, glob, json, re, sys
T, canon, tag = sys.argv[1], sys.argv[2], sys.argv[3]
def arrived(rx):
    out = {}
    for eml in sorted(glob.glob("%s/%s/*.eml" % (T, rx))):
        side = json.load(open(eml[:-4] + ".json"))
        data = open(eml, "rb").read()
        if ("[%s]" % tag).encode() in data:
            for r in side["rcpts"]:
                out[r] = (data, side)
    return out
seven, eight = arrived("rx7"), arrived("rx8")
orig = [open("%s/orig-%s-%d" % (T, tag, n), "rb").read() for n in range(1, 6)]
def fail(why):
    sys.exit("check.py (%s): %s" % (canon, why))
def parts(raw):
    m = email.message_from_bytes(raw, policy=email.policy.default)
    # CRLF and LF alike: the unit tests check line ends byte for byte
    return [p.get_payload(decode=True).replace(b"\r\n", b"\n") for p in m.walk() if not p.is_multipart()]
for rcpt, n in (("u1@seven.test", 0), ("u2@seven.test", 1), ("u5@seven.test", 4)):
    if rcpt not in seven:
        fail("%s: nothing arrived" % rcpt)
    data, side = seven[rcpt]
    if any(b > 127 for b in data):
        fail("%s: 8-bit bytes reached a hop without 8BITMIME" % rcpt)
    if any(o.upper().startswith("BODY=") for o in side["mail_options"]):
        fail("%s: BODY= sent to a hop without 8BITMIME: %r" % (rcpt, side["mail_options"]))
    if max(len(l) for l in data.split(b"\r\n")) > 998:
        fail("%s: a line over 998 octets" % rcpt)
    if parts(data) != parts(orig[n]):
        fail("%s: decodes to %r, want %r" % (rcpt, parts(data), parts(orig[n])))
    ctes = re.findall(rb"(?im)^Content-Transfer-Encoding: *(\S+)", data)
    want = [b"quoted-printable", b"base64"] if n == 1 else [b"quoted-printable"]
    if ctes != want:
        fail("%s: transfer encodings %r, want %r" % (rcpt, ctes, want))
    for c in re.findall(rb"(?m)^DKIM-Signature:.*?\bc=([a-z/]+)", data, re.S):
        if c.decode() != canon:
            fail("%s: c=%s, want %s" % (rcpt, c.decode(), canon))
if "u3@seven.test" in seven:
    fail("the 8-bit-header message reached the hop without 8BITMIME")
data, side = eight.get("u3@eight.test", (None, None))
if data is None or "BODY=8BITMIME" not in side["mail_options"] or b"Caf\xc3\xa9" not in data:
    fail("u3@eight.test: want the 8-bit message with BODY=8BITMIME, got %r" % (side,))
data, side = eight.get("u4@eight.test", (None, None))
if data is None or any(o.upper().startswith("BODY=") for o in side["mail_options"]) or not data.endswith(orig[3]):
    fail("u4@eight.test: want the 7-bit message as submitted, without BODY=")
print("%s: 3 messages (2 by SMTP, 1 by the API) arrived 7-bit and decode to the originals; 8-bit only with BODY=8BITMIME; 7-bit unchanged" % canon)
P

run() {   # CANON
  local canon=$1 tag=${1//\//-} smtp api data key
  smtp=$(hl_free_port); api=$(hl_free_port); data=$T/data-$tag
  cat > "$T/$tag.conf" <<C
hostname = mail.herald.test
data_dir = $data
log_level = debug
dkim_canonicalization = $canon
[smtp]
trusted_networks = 127.0.0.0/8
listen = 127.0.0.1:$smtp
[status]
listen = 127.0.0.1:$(hl_free_port)
[api]
listen = 127.0.0.1:$api
[queue]
retry_min = 1h
retry_max = 1h
[delivery]
mode = real
tls = none
[route seven.test]
next_hop = 127.0.0.1:$rx7
[route eight.test]
next_hop = 127.0.0.1:$rx8
C
  "$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$data" --hostname mail.herald.test > "$T/records-$tag.zone"
  key=$("$HERALD" apikey create --name app --domains example.com --data-dir "$data" | grep -o 'hk_[A-Za-z0-9_]*' | head -n 1)
  [ -n "$key" ] || fail "apikey create gave no token"
  hl_herald_start "$T/$tag.conf" "$smtp" "herald-$tag"
  hl_wait_port 127.0.0.1 "$api" 15 tcp "$(hl_pid "herald-$tag")"
  "$PY" "$T/submit.py" "$smtp" "$T/orig-$tag" "$tag" "$api" "$key" || fail "$canon: submission"
  local f
  f() { [ "$(hl_event_count "$data" delivered u1@seven.test)" -ge 1 ] &&
        [ "$(hl_event_count "$data" delivered u2@seven.test)" -ge 1 ] &&
        [ "$(hl_event_count "$data" delivered u3@eight.test)" -ge 1 ] &&
        [ "$(hl_event_count "$data" delivered u4@eight.test)" -ge 1 ] &&
        [ "$(hl_event_count "$data" delivered u5@seven.test)" -ge 1 ] &&
        [ "$(hl_event_count "$data" bounced u3@seven.test)" -ge 1 ]; }
  hl_wait_for 30 f || { hl_events "$data" >&2; fail "$canon: not every recipient ended delivered or bounced"; }
  "$PY" "$T/check.py" "$T" "$canon" "$tag" || fail "$canon: what arrived"
  local msgs
  msgs=$(grep -l "\[$tag\]" "$T"/rx7/*.eml "$T"/rx8/*.eml)
  # shellcheck disable=SC2086
  "$PY" "$HERALD_SOURCE_DIR/tests/interop/serve/dkim_check.py" "$T/records-$tag.zone" $msgs > "$T/dkim-$tag.out" ||
    { cat "$T/dkim-$tag.out"; fail "$canon: dkimpy rejected a signature"; }
  [ "$(grep -c ': pass' "$T/dkim-$tag.out")" -eq 10 ] ||
    { cat "$T/dkim-$tag.out"; fail "$canon: want 10 passing signatures (RSA and Ed25519 on 5 copies)"; }
  pass "$canon: dkimpy verifies both signatures of every copy ($(grep -c ': pass' "$T/dkim-$tag.out") passed)"
  # the bounce says what and why
  local ev
  ev=$(hl_events "$data" | grep '"recipient":"u3@seven.test"' | grep '"type":"bounced"' || true)
  [[ "$ev" == *"5.6.3"* && "$ev" == *"8BITMIME"* ]] || fail "$canon: the bounce does not say 5.6.3 / 8BITMIME: $ev"
  grep -q 'stays 8-bit.*the Subject field' "$T/herald-$tag.log" ||
    fail "$canon: no log line saying why the message stays 8-bit"
  pass "$canon: the unconvertible message bounced 5.6.3 for the hop without 8BITMIME, and the log says why"
}

run relaxed/relaxed
run simple/simple
echo "serve_8bit: passed"
