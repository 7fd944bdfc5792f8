#!/usr/bin/env bash
# serve_hard_reasons.sh - [inbound] hard_reasons (docs/bounces.md): an
# operator's choice to count some refusals that herald takes as soft
# (here a block list's, "blocked") as hard, so the address is suppressed
# and the bounce is Permanent, as Amazon SES does when so configured:
#   - at RCPT TO, a 550 5.7.1 naming a block list: hard, Permanent,
#     suppressed; a 550 "local policy" refusal (policyviolation, not in the
#     list) stays soft, Transient, not suppressed; a 450 4.7.1 block-list
#     deferral is not a bounce at all;
#   - a DSN that comes back with 5.7.1 blocked: hard, suppressed;
#   - an unknown reason in the setting: exit 78 with FILE:LINE.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
PY=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; tail -n 30 "$T/herald.log" >&2 || true; exit 1; }
pass() { echo "ok: $*"; }

rxport=$(hl_free_port 127.0.0.2)
cat > "$T/behaviour.json" <<'J'
{"listed@rx.test": "rcpt-reply 550 5.7.1 Service unavailable; client host [127.0.0.1] blocked using zen.spamhaus.org",
 "policy@rx.test": "rcpt-reply 550 5.7.1 Message rejected due to local policy",
 "later@rx.test": "rcpt-reply 450 4.7.1 Service unavailable; client host [127.0.0.1] blocked using zen.spamhaus.org"}
J
hl_receiver_start 127.0.0.2 "$rxport" "$T/rx" "$T/behaviour.json"
smtp=$(hl_free_port); inbound=$(hl_free_port)
echo 'unused.test. IN A 127.0.0.9' > "$T/zone"
conf() {  # FILE HARD_REASONS
  cat > "$1" <<C
hostname = mail.herald.test
data_dir = $T/data
[smtp]
trusted_networks = 127.0.0.0/8
listen = 127.0.0.1:$smtp
[status]
listen = 127.0.0.1:$(hl_free_port)
[api]
listen = 127.0.0.1:$(hl_free_port)
[inbound]
listen = 127.0.0.1:$inbound
hard_reasons = $2
[queue]
retry_min = 60s
[delivery]
mode = real
[dns]
zone_file = $T/zone
[route *]
next_hop = 127.0.0.2:$rxport
C
}
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null

# ---- an unknown reason: a configuration error with its line ----
conf "$T/bad.conf" "blocked nosuchreason"
rc=0; "$HERALD" serve --config "$T/bad.conf" --check > "$T/bad.out" 2>&1 || rc=$?
[ "$rc" = 78 ] || fail "hard_reasons = nosuchreason: exit $rc, want 78: $(cat "$T/bad.out")"
grep -q "$T/bad.conf:12: \[inbound\] hard_reasons: \"nosuchreason\" is not a bounce reason" "$T/bad.out" ||
  fail "no FILE:LINE for the unknown reason: $(cat "$T/bad.out")"
pass "an unknown reason in hard_reasons: exit 78, $(head -c 120 "$T/bad.out")"

conf "$T/herald.conf" "blocked"
hl_herald_start "$T/herald.conf" "$smtp"
hl_wait_port 127.0.0.1 "$inbound" 10 tcp "$(hl_pid herald)"

# ---- at RCPT TO ----
for a in listed policy later; do hl_smtp_send "$smtp" app@example.com "$a@rx.test" "to $a" > /dev/null; done
ev_has() { hl_event_has "$T/data" "$1" "$2"; }
hl_wait_for 20 ev_has bounced listed@rx.test || fail "listed@ did not bounce"
hl_wait_for 20 ev_has bounced policy@rx.test || fail "policy@ did not bounce"
hl_wait_for 20 ev_has deferred later@rx.test || fail "later@ was not deferred"
"$HERALD" events --json --data-dir "$T/data" > "$T/ev.json"
"$PY" - "$T/ev.json" "$T/data/herald.db" <<'P' || fail "hard_reasons at RCPT"
import json, sqlite3, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
db = sqlite3.connect(sys.argv[2])
def bounce(a):
    ev = [e for e in events if e["type"] == "bounced" and e["recipient"] == a]
    return ev[0]["detail"] if ev else None
def suppressed(a):
    return db.execute("select count(*) from suppressions where address=?", (a,)).fetchone()[0] == 1
d = bounce("listed@rx.test")
assert (d["reason"], d["kind"], d["bounce_type"]) == ("blocked", "hard", "Permanent"), d
assert suppressed("listed@rx.test")
d = bounce("policy@rx.test")
assert d["kind"] == "soft" and d["bounce_type"] == "Transient", d
assert d["reason"] != "blocked", d
assert not suppressed("policy@rx.test")
assert bounce("later@rx.test") is None and not suppressed("later@rx.test")
print("listed@: blocked hard Permanent, suppressed; policy@: %s soft Transient; later@: deferred" % bounce("policy@rx.test")["reason"])
P
pass "at RCPT TO: a 5xx block-list refusal is hard and suppresses; a policy refusal stays soft; a 4xx one is a deferral"

# ---- a DSN that comes back: 5.7.1 blocked ----
hl_smtp_send "$smtp" app@example.com "dsn@rx.test" "for a DSN" > /dev/null
has_rx() { grep -lq "^Subject: for a DSN" "$T"/rx/*.eml 2> /dev/null; }
hl_wait_for 20 has_rx || fail "the message for the DSN did not arrive"
eml=$(grep -l "^Subject: for a DSN" "$T"/rx/*.eml | head -1)
verp=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["mail_from"])' "${eml%.eml}.json")
"$PY" - "$inbound" "$verp" <<'P' || fail "sending the DSN"
import smtplib, sys
port, verp = int(sys.argv[1]), sys.argv[2]
dsn = ("From: MAILER-DAEMON@mx.rx.test\r\nTo: %s\r\nSubject: Undelivered Mail Returned to Sender\r\n"
       "MIME-Version: 1.0\r\n"
       "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n"
       "--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
       "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
       "Reporting-MTA: dns; mx.rx.test\r\n\r\n"
       "Final-Recipient: rfc822; dsn@rx.test\r\nAction: failed\r\nStatus: 5.7.1\r\n"
       "Diagnostic-Code: smtp; 550 5.7.1 client host [127.0.0.1] blocked using zen.spamhaus.org\r\n"
       "\r\n--b1--\r\n") % verp
s = smtplib.SMTP("127.0.0.1", port, timeout=20)
s.sendmail("", [verp], dsn.encode())
s.quit()
P
hl_wait_for 20 ev_has bounced dsn@rx.test || fail "the DSN did not make a bounced event"
"$HERALD" events --json --data-dir "$T/data" > "$T/ev2.json"
"$PY" - "$T/ev2.json" "$T/data/herald.db" <<'P' || fail "hard_reasons for a DSN"
import json, sqlite3, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
d = [e for e in ev if e["type"] == "bounced" and e["recipient"] == "dsn@rx.test"][0]["detail"]
assert (d["reason"], d["kind"], d["bounce_type"], d["async"]) == ("blocked", "hard", "Permanent", True), d
db = sqlite3.connect(sys.argv[2])
assert db.execute("select count(*) from suppressions where address='dsn@rx.test'").fetchone()[0] == 1
P
pass "a DSN with 5.7.1 blocked: hard, Permanent, suppressed"
