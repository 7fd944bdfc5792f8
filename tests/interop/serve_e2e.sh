#!/usr/bin/env bash
# serve_e2e.sh - herald serve end to end, against real peers on loopback:
# unbound serves the MX records, aiosmtpd receivers (tests/lib/receiver.py)
# play the remote MX hosts, swaks and Python's smtplib submit.
#
#   - STARTTLS + AUTH submission reaches three domains; each copy verifies
#     with dkimpy for both signatures (RSA and Ed25519); the envelope
#     sender is the VERP address at the bounce domain;
#   - a 4xx-then-accept recipient is retried and delivered;
#   - a 5xx recipient bounces and is suppressed; the next message to it is
#     not sent (suppressed);
#   - a null MX bounces at once; a dead first MX falls through to the next;
#   - events and `herald queue` show it all.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
PY=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; tail -n 40 "$T/herald.log" >&2 || true; exit 1; }
pass() { echo "ok: $*"; }
# ev_has TYPE RECIPIENT: an event of that type for that recipient exists
# (no grep -q at the end of a pipe: with pipefail its early exit fails the pipe)
ev_has() {
  local ev
  ev=$("$HERALD" events --json --data-dir "$T/data" | grep "\"recipient\":\"$2\"" || true)
  [[ "$ev" == *"\"type\":\"$1\""* ]]
}

# ---- the remote world: DNS and three receivers on 127.0.0.2-4 ----
port=$(hl_free_port 127.0.0.2)
dns=$(hl_free_port)
cat > "$T/zone" <<Z
one.test.        IN MX 10 mx.one.test.
mx.one.test.     IN A  127.0.0.2
two.test.        IN MX 10 mx.two.test.
mx.two.test.     IN A  127.0.0.3
three.test.      IN MX 10 mx.three.test.
mx.three.test.   IN A  127.0.0.4
nullmx.test.     IN MX 0 .
fallback.test.   IN MX 10 dead.fallback.test.
fallback.test.   IN MX 20 mx.one.test.
dead.fallback.test. IN A 127.0.0.5
Z
hl_unbound_start "$T/zone" "$dns"
hl_self_signed_cert "$T/rxtls" mx.test
cat > "$T/behaviour.json" <<'J'
{"later@two.test": "tempfail 1", "gone@three.test": "reject",
 "blocked@three.test": "rcpt-reply 550 5.7.1 Service unavailable; client host [127.0.0.1] blocked using zen.spamhaus.org",
 "disabled@three.test": "rcpt-reply 550 5.2.1 The email account that you tried to reach is disabled",
 "nouser@three.test": "rcpt-reply 550 No such user here",
 "denied@three.test": "rcpt-reply 550 Denied",
 "filtered@three.test": "data-reply 550 5.1.1 user unknown"}
J
for ip in 127.0.0.2 127.0.0.3 127.0.0.4; do
  hl_receiver_start $ip "$port" "$T/rx-$ip" "$T/behaviour.json" --tls-cert "$HL_CERT" --tls-key "$HL_KEY"
done

# ---- herald ----
smtp=$(hl_free_port); status=$(hl_free_port)
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $T/data
log_level = debug
[smtp]
trusted_networks = 127.0.0.0/8
listen = 127.0.0.1:$smtp
[status]
listen = 127.0.0.1:$status
[api]
listen = 127.0.0.1:$(hl_free_port)
[queue]
retry_min = 1s
retry_max = 2s
[delivery]
mode = real
remote_port = $port
[dns]
resolver = 127.0.0.1@$dns
timeout_ms = 2000
C
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > "$T/records.zone"
echo 's3cret-passw0rd' | "$HERALD" user add alice --domains example.com --password-stdin --data-dir "$T/data" >/dev/null
hl_spawn herald "$T/herald.log" "$HERALD" serve --config "$T/herald.conf"
hl_wait_port 127.0.0.1 "$smtp" 15 tcp "$(hl_pid herald)"

# ---- 1. STARTTLS + AUTH, three domains ----
swaks --server 127.0.0.1:$smtp --tls --auth PLAIN --auth-user alice --auth-password 's3cret-passw0rd' \
  --from alice@example.com --to a@one.test,b@two.test,c@three.test \
  --header 'Subject: end to end' --body 'Hello from herald.' > "$T/swaks1.log" 2>&1 ||
  { cat "$T/swaks1.log"; fail "submission over STARTTLS+AUTH"; }
grep -Eq '<~ +250 2.0.0 Ok: queued as' "$T/swaks1.log" || fail "no 250 queued reply"
for ip in 127.0.0.2 127.0.0.3 127.0.0.4; do hl_wait_spool "$T/rx-$ip" 1 20; done
pass "a message to three domains reached three receivers"
"$PY" "$HERALD_SOURCE_DIR/tests/interop/serve/dkim_check.py" "$T/records.zone" "$T"/rx-127.0.0.*/*.eml > "$T/dkim.out" ||
  { cat "$T/dkim.out"; fail "dkimpy rejected a signature"; }
[ "$(grep -c ': pass' "$T/dkim.out")" -eq 6 ] || { cat "$T/dkim.out"; fail "want 6 passing signatures (2 per copy)"; }
grep -q 'rsa-sha256' "$T/dkim.out" && grep -q 'ed25519-sha256' "$T/dkim.out" || fail "both algorithms"
pass "dkimpy verifies both signatures (RSA, Ed25519) on every copy"
"$PY" - "$T" <<'P' || fail "envelope sender is not the VERP address"
import json, glob, re, sys
for f in glob.glob(sys.argv[1] + "/rx-*/*.json"):
    j = json.load(open(f))
    # one envelope sender per recipient: b-r<recipient id, base 36>-<mac>
    assert re.fullmatch(r"b-r[0-9a-z]{1,13}-[a-z2-7]{16}@bounce\.example\.com", j["mail_from"]), j["mail_from"]
    assert len(j["rcpts"]) == 1, j["rcpts"]
    assert j["tls"] and j["tls"].startswith("TLSv1."), j["tls"]
P
pass "envelope sender b-<id>-<mac>@bounce.example.com, delivered over TLS"

# ---- 1b. blind copies stay blind (RFC 5322 §3.6.3): Bcc, Resent-Bcc,
# Return-Path and Content-Length are taken out before signing ----
swaks --server 127.0.0.1:$smtp --tls --auth PLAIN --auth-user alice --auth-password 's3cret-passw0rd' \
  --from alice@example.com --to seen@one.test,hidden@two.test \
  --header 'To: seen@one.test' --add-header 'Bcc: hidden@two.test' \
  --add-header 'Resent-Bcc: also-hidden@two.test' --add-header 'Return-Path: <forged@example.org>' \
  --add-header 'Content-Length: 3' --header 'Subject: blind copy' --body 'Bcc: stays in the body.' \
  > "$T/swaks-bcc.log" 2>&1 || { cat "$T/swaks-bcc.log"; fail "submission with Bcc"; }
hl_wait_spool "$T/rx-127.0.0.2" 2 20
hl_wait_spool "$T/rx-127.0.0.3" 2 20
bcc_copies=$(grep -l '^Subject: blind copy' "$T"/rx-127.0.0.[23]/*.eml)
[ "$(echo "$bcc_copies" | wc -l)" -eq 2 ] || fail "want the Bcc message at both receivers, got: $bcc_copies"
for f in $bcc_copies; do
  # the header section: up to the first empty line
  if sed -n '/^\r\{0,1\}$/q;p' "$f" | grep -iqE '^(bcc|resent-bcc|return-path|content-length):'; then
    cat "$f"; fail "a Bcc, Resent-Bcc, Return-Path or Content-Length field reached a recipient ($f)"
  fi
  grep -q '^Bcc: stays in the body' "$f" || fail "the body was changed ($f)"
  if grep -q 'hidden@' "$f"; then cat "$f"; fail "the blind address shows in the copy ($f)"; fi
done
"$PY" "$HERALD_SOURCE_DIR/tests/interop/serve/dkim_check.py" "$T/records.zone" $bcc_copies > "$T/dkim-bcc.out" ||
  { cat "$T/dkim-bcc.out"; fail "dkimpy rejected a signature of the Bcc message"; }
pass "Bcc, Resent-Bcc, Return-Path and Content-Length taken out before signing; both copies (the blind one too) arrive and verify"

# ---- 2. 4xx then accept; 3. 5xx bounces and suppresses ----
"$PY" - "$smtp" <<'P' || fail "smtplib submission"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
s.ehlo("client.test")
msg = b"From: Alice <alice@example.com>\r\nTo: x\r\nSubject: retry and bounce\r\n\r\nbody\r\n"
r = s.sendmail("alice@example.com", ["later@two.test", "gone@three.test"], msg)
assert r == {}, r
s.quit()
P
hl_wait_for 20 ev_has delivered later@two.test || fail "later@two.test not delivered"
ev=$("$HERALD" events --json --data-dir "$T/data")
echo "$ev" | grep '"later@two.test"' | grep '"type":"deferred"' >/dev/null || fail "no deferred event for later@two.test"
echo "$ev" | grep '"later@two.test"' | grep '"type":"delivered"' >/dev/null || fail "later@two.test not delivered after the retry"
pass "451 then accept: deferred, retried, delivered"
echo "$ev" | grep '"gone@three.test"' | grep '"type":"bounced"' | grep '550' >/dev/null || fail "gone@three.test did not bounce with the 550"
"$PY" - "$T/data/herald.db" <<'P' || fail "gone@three.test not on the suppression list"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
assert db.execute("select count(*) from suppressions where address='gone@three.test'").fetchone()[0] == 1
P
pass "550 bounces at once and suppresses the address"

# ---- 3b. a reply is read as a bounce's diagnostic is: only a bad mailbox,
# said at RCPT TO, suppresses (docs/bounces.md) ----
"$PY" - "$smtp" <<'P' || fail "smtplib submission (classified replies)"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
msg = b"From: alice@example.com\r\nSubject: replies\r\n\r\nbody\r\n"
r = s.sendmail("alice@example.com", ["blocked@three.test", "disabled@three.test",
               "nouser@three.test", "denied@three.test", "filtered@three.test"], msg)
assert r == {}, r
s.quit()
P
for a in blocked disabled nouser denied filtered; do
  hl_wait_for 20 ev_has bounced $a@three.test || fail "$a@three.test did not bounce"
done
"$HERALD" events --json --data-dir "$T/data" > "$T/ev-replies.json"
"$PY" - "$T/ev-replies.json" "$T/data/herald.db" <<'P' || fail "SMTP-time bounces classified"
import json, sqlite3, sys
want = {  # address: (reason, kind, suppressed)
    "gone@three.test": ("userunknown", "hard", True),         # 550 5.1.1 at RCPT
    "nouser@three.test": ("userunknown", "hard", True),       # no enhanced code: the phrase
    "blocked@three.test": ("blocked", "soft", False),         # our IP on a block list
    "disabled@three.test": ("suspend", "soft", False),        # 5.2.1: the mailbox exists
    "denied@three.test": ("undefined", "soft", False),        # nothing said about the address
    "filtered@three.test": ("filtered", "soft", False),       # user unknown only after DATA
}
ses = {  # Amazon SES's bounce type and subtype (docs/bounces.md)
    "gone@three.test": ("Permanent", "NoEmail"), "nouser@three.test": ("Permanent", "NoEmail"),
    "blocked@three.test": ("Transient", "General"), "disabled@three.test": ("Transient", "General"),
    "denied@three.test": ("Undetermined", "Undetermined"),
    "filtered@three.test": ("Transient", "ContentRejected"),
}
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
db = sqlite3.connect(sys.argv[2])
bad = []
for addr, (reason, kind, supp) in want.items():
    ev = [e for e in events if e.get("type") == "bounced" and e.get("recipient") == addr]
    d = (ev[0].get("detail") or {}) if ev else {}
    got_s = db.execute("select count(*) from suppressions where address=?", (addr,)).fetchone()[0] == 1
    got = (d.get("reason"), d.get("kind"), got_s)
    print("%-22s %-12s %-5s suppressed=%s  (%s)" % (addr, got[0], got[1], got[2],
          ev[0]["reply"] if ev else "no event"))
    if got != (reason, kind, supp) or d.get("acted") is not supp or d.get("async") is not False:
        bad.append((addr, got, (reason, kind, supp), d))
    if (d.get("bounce_type"), d.get("bounce_subtype")) != ses[addr]:
        bad.append((addr, "SES class", d.get("bounce_type"), d.get("bounce_subtype"), "want", ses[addr]))
assert not bad, bad
P
pass "SMTP-time replies classified by reason: 5.1.1 and 'No such user' at RCPT suppress; a block list, 5.2.1, a bare 550 and 'user unknown' after DATA bounce softly and suppress nothing"
"$PY" - "$smtp" <<'P' || fail "second submission"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
s.sendmail("alice@example.com", ["gone@three.test"], b"From: alice@example.com\r\nSubject: again\r\n\r\nx\r\n")
s.quit()
P
hl_wait_for 15 ev_has suppressed gone@three.test ||
  fail "a suppressed address was not recorded as suppressed"
[ "$(grep -l 'gone@three.test' "$T"/rx-127.0.0.4/*.json 2>/dev/null | wc -l)" -eq 0 ] || fail "the suppressed address reached the receiver"
pass "a later message to a suppressed address is not sent"

# ---- 4. null MX; 5. dead MX falls through ----
before=$(hl_spool_count "$T/rx-127.0.0.2")
swaks --server 127.0.0.1:$smtp --from alice@example.com --to nobody@nullmx.test,x@fallback.test \
  --header 'Subject: null mx and fallback' > "$T/swaks2.log" 2>&1 || { cat "$T/swaks2.log"; fail "submission 2"; }
hl_wait_spool "$T/rx-127.0.0.2" $((before + 1)) 30 || fail "fallback.test did not reach the second MX"
pass "a dead first MX falls through to the next"
hl_wait_for 10 ev_has bounced nobody@nullmx.test ||
  fail "null MX did not bounce"
"$HERALD" events --json --data-dir "$T/data" | grep '"nobody@nullmx.test"' | grep '5.1.10' >/dev/null || fail "null MX bounce without 5.1.10"
att=$("$HERALD" events --json --data-dir "$T/data" | grep '"nobody@nullmx.test"' | grep -c '"type":"deferred"' || true)
[ "$att" -eq 0 ] || fail "null MX was deferred before bouncing"
pass "null MX (RFC 7505) bounces at once with 5.1.10"

# ---- queue and status ----
"$HERALD" queue list --data-dir "$T/data" | grep 'the queue is empty' >/dev/null || fail "queue not empty at the end"
id=$(grep -o 'queued as [0-9a-f]*' "$T/swaks1.log" | head -1 | awk '{print $3}')
"$HERALD" queue show "$id" --data-dir "$T/data" > "$T/show.txt" || fail "queue show"
grep -q 'delivered' "$T/show.txt" && grep -q 'c@three.test' "$T/show.txt" || { cat "$T/show.txt"; fail "queue show content"; }
curl -sf "http://127.0.0.1:$status/health" | grep '"status":"ok"' >/dev/null || fail "health endpoint"
curl -sf "http://127.0.0.1:$status/metrics" | grep '^herald_delivered_total [1-9]' >/dev/null || fail "metrics"
"$HERALD" queue flush --json --data-dir "$T/data" | grep retried >/dev/null || fail "queue flush over the control socket"
pass "queue show, flush, health and metrics"
stat -c %a "$T/data/herald.db" | grep -x 600 >/dev/null || fail "database mode is not 0600"
stat -c %a "$T/data/verp.key" | grep -x 600 >/dev/null || fail "verp.key mode is not 0600"
grep -q 's3cret-passw0rd' "$T/herald.log" "$T/data/herald.db" && fail "the password appears in the log or the database"
pass "secrets: 0600 files, password neither logged nor stored"
echo "serve_e2e: all passed"
