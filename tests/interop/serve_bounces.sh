#!/usr/bin/env bash
# serve_bounces.sh - the bounce intake of herald serve ([inbound] listener,
# docs/bounces.md). Messages are first sent through herald (delivery real,
# to an aiosmtpd receiver) so that real VERP envelope senders exist; then
# the inbound port is fed what comes back:
#   - DSNs as Postfix, Exim, Exchange/Office 365 and Gmail write them
#     (tests/data/bounces, hand-made), to the VERP address: bounced events
#     with the status, hard ones suppress and mark the recipient bounced,
#     Gmail's delay (4.2.2) is recorded only; a qmail plain-text bounce
#     read by the rule set;
#   - a DSN sent to postmaster@ (matched by the returned Return-Path), an
#     ARF abuse complaint to the VERP address and one to abuse@ (matched by
#     Message-ID, recorded without suppressing: a Message-ID is no secret):
#     complained events, suppressed as complaints when matched through VERP,
#     complained_unverified by Message-ID;
#   - a DSN naming an address the message never had, a complaint about an
#     unknown message: stored, unmatched, nothing suppressed;
#   - refused at RCPT: a forged VERP token, an unknown mailbox, a foreign
#     domain (no relay), and a flood of bad recipients (cut off);
#   - a DMARC aggregate report to dmarc@ (stored raw, byte for byte), a
#     MIME bomb (stored unparsed, the server lives), a DSN with a 2 MB
#     part (stored whole, read as far as the limits allow), an over-size
#     message (552), AUTH never offered; the counters in /metrics;
#   - each bounce's reason (userunknown, mailboxfull, notaccept) in the
#     event, its reply, the log line, the API and a webhook; [inbound]
#     soft_bounce_limit: two soft failures of different messages suppress
#     an address until soft_bounce_suppress_for runs out, then it gets mail;
#   - the inbound address taken: fatal when configured, not for the default.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
PY=/usr/bin/python3
S=$HERALD_SOURCE_DIR/tests/data/bounces
INJ=$HERALD_SOURCE_DIR/tests/interop/serve/inject.py
fail() { echo "FAIL: $*" >&2; tail -n 40 "$T/herald.log" >&2 || true; exit 1; }
pass() { echo "ok: $*"; }
D=(--data-dir "$T/data")

# ---- a receiver for herald's mail, and herald ----
rxport=$(hl_free_port 127.0.0.2)
hl_receiver_start 127.0.0.2 "$rxport" "$T/rx"
smtp=$(hl_free_port); inbound=$(hl_free_port); status=$(hl_free_port); api=$(hl_free_port)
# an application's endpoint for bounced events (tests/lib/webhook_receiver.py)
HOOK_SECRET=bounces-webhook-secret-0123456789abcdef
hookport=$(hl_free_port)
hl_spawn hook "$T/hook.log" "$PY" "$HERALD_SOURCE_DIR/tests/lib/webhook_receiver.py" \
  --port "$hookport" --secret "$HOOK_SECRET" --out "$T/hook.jsonl"
hl_wait_port 127.0.0.1 "$hookport" 10 tcp "$(hl_pid hook)"
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $T/data
[smtp]
trusted_networks = 127.0.0.0/8
listen = 127.0.0.1:$smtp
[status]
listen = 127.0.0.1:$status
[api]
listen = 127.0.0.1:$api
[delivery]
mode = real
[route *]
next_hop = 127.0.0.2:$rxport
[inbound]
listen = 127.0.0.1:$inbound
max_message_size = 3M
soft_bounce_limit = 2
soft_bounce_suppress_for = 8s
[webhook app]
url = http://127.0.0.1:$hookport/hooks
secret = $HOOK_SECRET
events = bounced
C
chmod 600 "$T/herald.conf"     # it holds a webhook secret
"$HERALD" domain add --dns-zone /dev/null example.com "${D[@]}" --hostname mail.herald.test > /dev/null
hl_herald_start "$T/herald.conf" "$smtp"
hl_wait_port 127.0.0.1 "$inbound" 10 tcp "$(hl_pid herald)"

# send NAME RCPTS: one message through herald; waits for its delivery and
# sets ID_<NAME> (queue id), VERP_<NAME> (the envelope sender its first
# recipient's copy came with) and VERP2_<NAME> (its second recipient's):
# one envelope sender per recipient ([delivery] verp_per_recipient)
send() {
  local n=$1 id before first=${2%%,*} second="" copies=1
  if [[ "$2" == *,* ]]; then second=${2#*,}; copies=2; fi
  before=$(hl_spool_count "$T/rx")
  id=$(hl_smtp_send "$smtp" news@example.com "$2" "message $n") || fail "sending $n"
  hl_wait_spool "$T/rx" $((before + copies)) 20 || fail "$n was not delivered"
  printf -v "ID_$n" '%s' "$id"
  sender_of() {
    "$PY" - "$T/rx" "$1" <<'P'
import glob, json, sys
got = [json.load(open(f)) for f in glob.glob(sys.argv[1] + "/*.json")]
got = [j for j in got if sys.argv[2] in j["rcpts"]]    # the newest copy: bob gets several
print(max(got, key=lambda j: j["received_at_ms"])["mail_from"] if got else "")
P
  }
  printf -v "VERP_$n" '%s' "$(sender_of "$first")"
  [ -z "$second" ] || printf -v "VERP2_$n" '%s' "$(sender_of "$second")"
  local v="VERP_$n"
  [[ "${!v}" =~ ^b-r[0-9a-z]+-[a-z2-7]{16}@bounce\.example\.com$ ]] || fail "$n: envelope sender ${!v} is not a per-recipient VERP address"
}
send PF nosuchuser@example.net
send EX alice@example.org,bob@example.org
send MS carol@contoso.example
send GM dave@example.org
send AR erin@mailbox.example.net
send PM frank@example.net
send AB grace@example.net
send QM frank@example.org
hl_wait_for 10 hl_event_has "$T/data" delivered grace@example.net || fail "deliveries not recorded"
pass "8 messages delivered with VERP envelope senders"

# inject NAME MAIL_FROM RCPTS FILE [OLD=NEW...]: feed the inbound port;
# the answers go to $T/inj-NAME
inject() {
  local n=$1; shift
  "$PY" "$INJ" "$inbound" "$@" > "$T/inj-$n" 2>&1 || { cat "$T/inj-$n"; fail "inject $n"; }
}
data_ok() { grep -E '^data 250 2.0.0 Ok: stored as inbound [0-9]+' "$T/inj-$1" > /dev/null || { cat "$T/inj-$1"; fail "$1: no 250 at end of DATA"; }; }
inbound_id() { sed -n 's/^data 250 2.0.0 Ok: stored as inbound \([0-9]*\).*/\1/p' "$T/inj-$1"; }
# the event of TYPE for RCPT, as one JSON line (the last one)
event() { hl_events "$T/data" | grep "\"type\":\"$1\"" | grep "\"recipient\":\"$2\"" | tail -1 || true; }
suppressed() {
  "$PY" - "$T/data/herald.db" "$1" <<'P'
import sqlite3, sys
r = sqlite3.connect(sys.argv[1]).execute("select source from suppressions where address=?", (sys.argv[2],)).fetchone()
print(r[0] if r else "none")
P
}
rcpt_state() {
  "$PY" - "$T/data/herald.db" "$1" <<'P'
import sqlite3, sys
r = sqlite3.connect(sys.argv[1]).execute("select state from recipients where address=?", (sys.argv[2],)).fetchone()
print(r[0] if r else "none")
P
}
# check_bounce RCPT KIND STATUS SUPPRESSED STATE REASON: the event names the
# reason (Sisimai's word) in its detail and its reply, after the status
check_bounce() {
  local ev; ev=$(event bounced "$1")
  [ -n "$ev" ] || fail "no bounced event for $1"
  "$PY" - "$ev" "$2" "$3" "$6" <<'P' || fail "bounced event for $1: $ev"
import json, sys
e = json.loads(sys.argv[1]); d = json.loads(e["detail"]) if isinstance(e["detail"], str) else e["detail"]
assert d["kind"] == sys.argv[2] and d["status"] == sys.argv[3] and d["async"] is True, d
assert d["reason"] == sys.argv[4], d
assert e["reply"].startswith(sys.argv[3] + " " + sys.argv[4]), e
P
  [ "$(suppressed "$1")" = "$4" ] || fail "$1: suppression $(suppressed "$1"), want $4"
  [ "$(rcpt_state "$1")" = "$5" ] || fail "$1: recipient state $(rcpt_state "$1"), want $5"
}

# ---- 1. DSNs to the VERP address, as four MTAs write them ----
inject pf "" "$VERP_PF" "$S/postfix.eml" "b-m7k2p9q4-4bzv2k3qc6mdjxy7@bounce.example.com=$VERP_PF"
data_ok pf
check_bounce nosuchuser@example.net hard 5.1.1 bounce bounced userunknown
pass "Postfix DSN: bounced (hard, 5.1.1), suppressed, recipient delivered -> bounced"
[ "$VERP_EX" != "$VERP2_EX" ] || fail "two recipients of one message got one envelope sender"
# the Exim DSN names both recipients; sent to alice's address it can only
# speak for alice: a recipient cannot bounce a co-recipient
inject ex "" "$VERP_EX" "$S/exim.eml" "b-a1b2c3d4-q7zk3m9w2x4v6ntr@bounce.example.com=$VERP_EX"
data_ok ex
check_bounce alice@example.org hard 5.0.0 bounce bounced userunknown
[ -z "$(event bounced bob@example.org)" ] || fail "a DSN to alice's address bounced bob"
[ "$(suppressed bob@example.org)" = none ] && [ "$(rcpt_state bob@example.org)" = delivered ] ||
  fail "a DSN to alice's address changed bob"
inject ex2 "" "$VERP2_EX" "$S/exim.eml" "b-a1b2c3d4-q7zk3m9w2x4v6ntr@bounce.example.com=$VERP2_EX"
data_ok ex2
check_bounce bob@example.org soft 5.0.0 none delivered mailboxfull
pass "Exim DSN naming two recipients, through each one's own address: alice (5.0.0 with 550 5.1.1 in the diagnostic) bounced and suppressed, bob (552 5.2.2 mailbox full) a soft event only; never the other"
inject ms "" "$VERP_MS" "$S/exchange.eml" "b-x9y8z7w6-mn3k2j1h0g9f8e7d@bounce.example.com=$VERP_MS"
data_ok ms
check_bounce carol@contoso.example hard 5.1.10 bounce bounced notaccept
pass "Exchange/Office 365 NDR (base64 delivery-status): bounced 5.1.10, suppressed"
inject gm "" "$VERP_GM" "$S/gmail.eml" "b-q1w2e3r4-zz9yy8xx7ww6vv5u@bounce.example.com=$VERP_GM"
data_ok gm
check_bounce dave@example.org soft 4.2.2 none delivered mailboxfull
pass "Gmail delay (4.2.2): a soft bounce event only: not suppressed, still delivered"

inject qm "" "$VERP_QM" "$S/qmail.eml" "b-p0o9i8u7-rr1tt2yy3uu4ii5o@bounce.example.com=$VERP_QM"
data_ok qm
check_bounce frank@example.org hard 5.1.1 bounce bounced userunknown
[[ "$(event bounced frank@example.org)" == *'"nonstandard":true'* ]] || fail "qmail bounce not read by the rules"
pass "qmail plain-text bounce, read by the rule set (data/bounce-rules.txt): bounced 5.1.1, suppressed"
"$HERALD" inbound show "$(inbound_id qm)" --json "${D[@]}" > "$T/show-qm.json" || fail "inbound show --json"
"$PY" - "$T/show-qm.json" <<'P' || fail "inbound show --json lacks the recipients read from the stored bounce"
import json, sys
j = json.load(open(sys.argv[1]))
r = j["recipients"]
assert [x["address"] for x in r] == ["frank@example.org"], r
assert (r[0]["status"], r[0]["reason"], r[0]["kind"]) == ("5.1.1", "userunknown", "hard"), r
assert j["report"]["type"] == "nonstandard" and "nonstandard" in j["report"]["flags"], j["report"]
P
pass "herald inbound show --json: the recipients read again from the stored qmail bounce with the server's rules"

# ---- 2. a DSN to postmaster@, matched by the returned Return-Path ----
inject pm "" postmaster@example.com "$S/postfix.eml" \
  "To: b-m7k2p9q4-4bzv2k3qc6mdjxy7@bounce.example.com=To: postmaster@example.com" \
  "b-m7k2p9q4-4bzv2k3qc6mdjxy7@bounce.example.com=$VERP_PM" "nosuchuser@example.net=frank@example.net"
data_ok pm
check_bounce frank@example.net hard 5.1.1 bounce bounced userunknown
ev=$(event bounced frank@example.net)
[[ "$ev" == *return-path* ]] || fail "postmaster DSN not matched by the Return-Path: $ev"
pass "DSN to postmaster@ matched through the returned Return-Path"

# ---- 3. complaints ----
inject ar "" "$VERP_AR" "$S/arf.eml" "b-k5j4h3g2-aa1bb2cc3dd4ee5f@bounce.example.com=$VERP_AR"
data_ok ar
ev=$(event complained erin@mailbox.example.net)
[[ "$ev" == *'feedback_type\":\"abuse'* || "$ev" == *'"feedback_type":"abuse"'* ]] || fail "no complained event for erin: $ev"
[ "$(suppressed erin@mailbox.example.net)" = complaint ] || fail "erin not suppressed as a complaint"
pass "ARF abuse complaint: complained event, suppressed (source complaint)"
msgid=$("$PY" - "$T/data/herald.db" "$ID_AB" <<'P'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("select message_id from messages where uuid=?", (sys.argv[2],)).fetchone()[0])
P
)
inject ab "" abuse@example.com "$S/arf.eml" \
  "Original-Mail-From: <b-k5j4h3g2-aa1bb2cc3dd4ee5f@bounce.example.com>=X-Removed: 1" \
  "Return-Path: <b-k5j4h3g2-aa1bb2cc3dd4ee5f@bounce.example.com>=X-Removed: 2" \
  "<k5j4h3g2@example.com>=$msgid" "erin@mailbox.example.net=grace@example.net"
data_ok ab
[ -n "$(event complained_unverified grace@example.net)" ] || fail "complaint to abuse@ not matched by Message-ID"
[[ "$(event complained_unverified grace@example.net)" == *message-id* ]] || fail "not matched by message-id"
[ -z "$(event complained grace@example.net)" ] || fail "a Message-ID match made a complained event"
# anyone who got the message knows its Message-ID: recorded, not acted on
[[ "$(event complained_unverified grace@example.net)" == *'"acted":false'* ]] || fail "a Message-ID match was acted on"
[ "$(suppressed grace@example.net)" = none ] || fail "grace suppressed on a Message-ID match alone"
pass "ARF to abuse@ without a VERP address: matched by Message-ID, recorded as complained_unverified, not acted on (no suppression)"

# ---- 4. reports that must change nothing ----
inject stranger "" "$VERP_GM" "$S/postfix.eml" \
  "b-m7k2p9q4-4bzv2k3qc6mdjxy7@bounce.example.com=$VERP_GM" "nosuchuser@example.net=stranger@example.net"
data_ok stranger
[ -z "$(event bounced stranger@example.net)" ] || fail "a bounce for an address the message never had was believed"
[ "$(suppressed stranger@example.net)" = none ] || fail "stranger@example.net suppressed"
"$HERALD" inbound show "$(inbound_id stranger)" "${D[@]}" > "$T/show-stranger" || fail "inbound show"
grep -E '^outcome: +unmatched' "$T/show-stranger" > /dev/null || { cat "$T/show-stranger"; fail "not unmatched"; }
grep 'stranger@example.net is not one of its recipients' "$T/show-stranger" > /dev/null || fail "summary does not say why"
pass "a DSN naming a recipient the message never had: stored, unmatched, nothing suppressed"
inject unknown "" abuse@example.com "$S/arf.eml" \
  "Original-Mail-From: <b-k5j4h3g2-aa1bb2cc3dd4ee5f@bounce.example.com>=X-Removed: 1" \
  "Return-Path: <b-k5j4h3g2-aa1bb2cc3dd4ee5f@bounce.example.com>=X-Removed: 2" \
  "erin@mailbox.example.net=henry@example.net"
data_ok unknown
[ "$(suppressed henry@example.net)" = none ] || fail "complaint about an unknown message suppressed"
"$HERALD" inbound show "$(inbound_id unknown)" "${D[@]}" | grep -E '^outcome: +unmatched' > /dev/null || fail "unknown complaint not unmatched"
pass "a complaint about an unknown message: stored, unmatched"

# ---- 5. refused at RCPT ----
forged="b-$ID_PF-aaaaaaaaaaaaaaaa@bounce.example.com"
inject forged "" "$forged,nobody@example.com,x@elsewhere.test,dmarc@nowhere.test,root@bounce.example.com" -
grep -F "rcpt $forged 550 5.1.1" "$T/inj-forged" > /dev/null || { cat "$T/inj-forged"; fail "forged token not refused 550 5.1.1"; }
grep -F "rcpt nobody@example.com 550 5.1.1" "$T/inj-forged" > /dev/null || fail "unknown mailbox not refused"
grep -F "rcpt root@bounce.example.com 550 5.1.1" "$T/inj-forged" > /dev/null || fail "unknown mailbox at the bounce domain not refused"
grep -F "rcpt x@elsewhere.test 550 5.7.1" "$T/inj-forged" > /dev/null || fail "foreign domain not refused 5.7.1"
grep -F "rcpt dmarc@nowhere.test 550 5.7.1" "$T/inj-forged" > /dev/null || fail "dmarc@ of a foreign domain not refused"
grep -F "ehlo-auth no" "$T/inj-forged" > /dev/null || fail "AUTH offered on the inbound listener"
pass "refused at RCPT: forged VERP token and unknown mailboxes 5.1.1, foreign domains 5.7.1 (no relay); no AUTH"
flood=$(for i in $(seq 1 30); do printf 'guess%d@example.com,' "$i"; done)
inject flood "" "${flood%,}" -
[ "$(grep -c ' 550 5.1.1' "$T/inj-flood")" -eq 20 ] || { cat "$T/inj-flood"; fail "want 20 refusals before the cut"; }
grep -E ' (closed|421) ' "$T/inj-flood" > /dev/null || fail "a flood of bad recipients was not cut off"
pass "a flood of bad recipients: 20 refusals, then the session is closed"
# the client repeats it: one log line a minute for it (LOG_WARN_LIMITED)
for k in 2 3 4; do inject "flood$k" "" "${flood%,}" -; done
lines=$(grep -c 'recipients refused on the inbound listener' "$T/herald.log" || true)
echo "log lines for 4 floods of bad recipients from one client: $lines"
[ "$lines" -eq 1 ] || fail "4 floods of bad recipients from one client logged $lines lines, want 1 a minute"

# ---- 6. DMARC report to dmarc@, stored raw ----
R=$HERALD_SOURCE_DIR/tests/data/reports/dmarc-aggregate-google.eml
inject dmarc "noreply-dmarc-support@google.com" dmarc@example.com "$R"
data_ok dmarc
id=$(inbound_id dmarc)
"$HERALD" inbound show "$id" --raw "${D[@]}" > "$T/dmarc.raw" || fail "inbound show --raw"
cmp -s "$T/dmarc.raw" <(sed 's/\r*$/\r/' "$R") || fail "the stored DMARC report differs from what was sent"
"$HERALD" inbound list --kind dmarc --json "${D[@]}" > "$T/list-dmarc.json"
"$PY" - "$T/list-dmarc.json" "$id" <<'P' || fail "inbound list --kind dmarc"
import json, sys
rows = json.load(open(sys.argv[1]))
assert [r["id"] for r in rows] == [int(sys.argv[2])], rows
assert rows[0]["outcome"] == "stored" and "Report domain: borschow.com" in rows[0]["summary"], rows
import time   # times: RFC 3339 UTC, the Unix seconds beside (docs/cli.md)
assert rows[0]["at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(rows[0]["at_unix"])), rows
P
pass "DMARC aggregate report to dmarc@: stored raw, byte for byte"

# ---- 7. bad input ----
"$PY" - "$T/bomb.eml" <<'P'
import sys
depth = 200
out = ["From: x@bomb.test", "Subject: bomb", "MIME-Version: 1.0"]
for i in range(depth):
    out += ['Content-Type: multipart/mixed; boundary="b%d"' % i, "", "--b%d" % i]
out += ["Content-Type: text/plain", "", "deep"]
for i in reversed(range(depth)):
    out += ["--b%d--" % i]
open(sys.argv[1], "w").write("\r\n".join(out) + "\r\n")
P
inject bomb "" "$VERP_PF" "$T/bomb.eml"
data_ok bomb
"$HERALD" inbound show "$(inbound_id bomb)" "${D[@]}" > "$T/show-bomb"
grep -E '^outcome: +unparsed' "$T/show-bomb" > /dev/null || { cat "$T/show-bomb"; fail "MIME bomb not recorded as unparsed"; }
pass "a MIME bomb (200 levels): stored unparsed, answered 250"
"$PY" - "$T/huge.eml" <<'P'
import base64, sys
# a DSN whose delivery-status part decodes to 2 MB: past the parser's 1 MB per part
junk = base64.encodebytes(b"X-Filler: " + b"y" * (2 << 20)).decode().replace("\n", "\r\n")
open(sys.argv[1], "w").write(
    "Subject: huge\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
    "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    "--b\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + junk + "--b--\r\n")
P
inject huge "" "$VERP_PF" "$T/huge.eml"
data_ok huge
"$HERALD" inbound show "$(inbound_id huge)" "${D[@]}" > "$T/show-huge"
grep -E '^size: +[0-9]{7}' "$T/show-huge" > /dev/null || { cat "$T/show-huge"; fail "the huge DSN was not stored whole"; }
grep 'partly unreadable or cut' "$T/show-huge" > /dev/null || { cat "$T/show-huge"; fail "the summary does not say the report was cut"; }
pass "a DSN with a 2 MB part: stored ($(sed -n 's/^outcome: *//p' "$T/show-huge")), answered 250"
"$PY" -c 'import sys; sys.stdout.write("Subject: big\r\n\r\n" + ("x" * 998 + "\r\n") * 3200)' > "$T/big.eml"
inject big "" postmaster@example.com "$T/big.eml"
grep -E '^data 552 ' "$T/inj-big" > /dev/null || { cat "$T/inj-big"; fail "over-size message not refused 552"; }
pass "an over-size message: 552"
kill -0 "$(hl_pid herald)" || fail "herald died"

# ---- 8. what the operator sees ----
"$HERALD" inbound list "${D[@]}" > "$T/list.txt"
[ "$(grep -c '' "$T/list.txt")" -eq 14 ] || { cat "$T/list.txt"; fail "want 14 stored inbound messages"; }
curl -sf "http://127.0.0.1:$status/metrics" > "$T/metrics" || fail "metrics"
m() { sed -n "s/^$1 //p" "$T/metrics"; }
[ "$(m 'herald_inbound_messages_total{kind="dsn"}')" = 9 ] || { grep inbound "$T/metrics"; fail "dsn count"; }
[ "$(m 'herald_inbound_messages_total{kind="arf"}')" = 3 ] || fail "arf count"
[ "$(m 'herald_inbound_messages_total{kind="dmarc"}')" = 1 ] || fail "dmarc count"
[ "$(m 'herald_inbound_messages_total{kind="other"}')" = 1 ] || fail "other count"
[ "$(m herald_async_bounces_total)" = 7 ] || fail "async bounces $(m herald_async_bounces_total), want 7"
[ "$(m herald_complaints_total)" = 1 ] || fail "complaints $(m herald_complaints_total), want 1 (the Message-ID match is not one)"
[ "$(m 'herald_inbound_reports_unverified_total{type="complaint"}')" = 1 ] || fail "unverified complaints"
# per sending domain and pool too
per() { awk -v o="outcome=\"$1\"" 'index($0, "herald_domain_recipients_total{") == 1 && index($0, o) {s += $NF} END {print s + 0}' "$T/metrics"; }
[ "$(per complained)" = 1 ] || { grep 'outcome="complained"' "$T/metrics"; fail "complaints per domain: $(per complained)"; }
[ "$(per bounced)" -ge 7 ] || fail "bounces per domain: $(per bounced), want at least 7"
pass "herald inbound list shows 14 messages; /metrics counts them by kind (9 dsn, 3 arf, 1 dmarc, 1 other), 7 bounces, 1 complaint and 1 unverified complaint"

# ---- 8b. one client may not flood the listener ----
# [inbound] max_messages_per_minute (default 60) per client address: from a
# fresh address, 60 messages are taken and the 61st is refused at MAIL
"$PY" - "$inbound" <<'P' || fail "inbound rate limit"
import smtplib, sys
taken, refused = 0, None
for i in range(61):
    s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20, source_address=("127.0.0.6", 0))
    s.ehlo("flood.test")
    code, text = s.mail("someone@flood.test")
    if code != 250:
        refused = (i, code, text.decode())
        s.quit()
        break
    s.rcpt("postmaster@example.com")
    s.data(b"From: someone@flood.test\r\nSubject: %d\r\n\r\nhello\r\n" % i)
    taken += 1
    s.quit()
assert taken == 60 and refused and refused[1] == 450 and refused[2].startswith("4.7.1"), (taken, refused)
print("ok: 60 messages taken from 127.0.0.6, then", refused[1], refused[2])
P
pass "one client address: 60 messages a minute taken, then 450 4.7.1 at MAIL"

# ---- 8c. reasons where an application meets them; repeated soft bounces ----
grep -E "inbound [0-9]+ .*nosuchuser@example.net 5.1.1 userunknown hard" "$T/herald.log" > /dev/null ||
  fail "the log line does not name the reason"
KEY=$("$HERALD" apikey create --name bounces --domains '*' "${D[@]}" | grep -o 'hk_[A-Za-z0-9_]*' | head -n 1)
[ -n "$KEY" ] || fail "apikey create"
apiget() { curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$api$1"; }
apiget "/v1/events?type=bounced&limit=1000" > "$T/api-bounced.json"
apiget "/v1/messages/$ID_EX" > "$T/api-ex.json"
"$PY" - "$T/api-bounced.json" "$T/api-ex.json" <<'P' || fail "the API's bounce events"
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
want = {"nosuchuser@example.net": ("userunknown", "hard", "Permanent", "NoEmail"),
        "bob@example.org": ("mailboxfull", "soft", "Transient", "MailboxFull"),
        "carol@contoso.example": ("notaccept", "hard", "Permanent", "General"),
        "dave@example.org": ("mailboxfull", "soft", "Transient", "MailboxFull"),
        "frank@example.org": ("userunknown", "hard", "Permanent", "NoEmail")}
got = {e["recipient"]: tuple(e["detail"][k] for k in ("reason", "kind", "bounce_type", "bounce_subtype"))
       for e in ev if e["recipient"] in want}
assert got == want, got
m = json.load(open(sys.argv[2]))
alice = [r for r in m["recipients"] if r["address"] == "alice@example.org"][0]
assert alice["state"] == "bounced" and "userunknown" in alice["last_reply"], alice
assert any(e["type"] == "bounced" and e["detail"]["reason"] == "userunknown" for e in m["events"]), m["events"]
P
pass "the reason in the log line, in GET /v1/events (detail.reason, kind) and in a message's recipient state"
hook_has() { [ -f "$T/hook.jsonl" ] && grep -q '"recipient": "frank@example.org"' "$T/hook.jsonl"; }
hl_wait_for 20 hook_has || fail "no bounced webhook for frank@example.org"
"$PY" - "$T/hook.jsonl" <<'P' || fail "the bounced webhooks"
import json, sys
got = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["sig_ok"], r
    b = r["body"]
    assert b["type"] == "bounced", b
    got[b["recipient"]] = (b["detail"]["reason"], b["detail"]["kind"], b["reply"].split(":")[0],
                           b["detail"]["bounce_type"], b["detail"]["bounce_subtype"])
assert got.get("nosuchuser@example.net") == ("userunknown", "hard", "5.1.1 userunknown", "Permanent", "NoEmail"), got
assert got.get("carol@contoso.example") == ("notaccept", "hard", "5.1.10 notaccept", "Permanent", "General"), got
assert got.get("bob@example.org") == ("mailboxfull", "soft", "5.0.0 mailboxfull", "Transient", "MailboxFull"), got
assert got.get("dave@example.org") == ("mailboxfull", "soft", "4.2.2 mailboxfull", "Transient", "MailboxFull"), got
print("ok: %d bounced webhooks, signed, each with detail.reason" % len(got))
P
pass "webhooks: each bounced event's payload carries detail.reason, detail.kind and SES's bounce_type and bounce_subtype"

# [inbound] soft_bounce_limit = 2: bob's mailbox-full failure above counted
# once; the same report again (the same message) does not count twice; a
# failure of another message suppresses bob for soft_bounce_suppress_for
inject ex2b "" "$VERP2_EX" "$S/exim.eml" "b-a1b2c3d4-q7zk3m9w2x4v6ntr@bounce.example.com=$VERP2_EX"
data_ok ex2b
[[ "$(event bounced bob@example.org)" == *'"soft_bounces":1'* ]] || fail "a repeated report counted twice: $(event bounced bob@example.org)"
[ "$(suppressed bob@example.org)" = none ] || fail "bob suppressed after one soft bounce"
send B2 bob@example.org
inject b2 "" "$VERP_B2" "$S/exim.eml" "b-a1b2c3d4-q7zk3m9w2x4v6ntr@bounce.example.com=$VERP_B2"
data_ok b2
ev=$(event bounced bob@example.org)
[[ "$ev" == *'"soft_bounces":2'* && "$ev" == *'"acted":true'* && "$ev" == *suppressed_until* ]] ||
  fail "the second soft bounce did not suppress: $ev"
[ "$(suppressed bob@example.org)" = soft-bounce ] || fail "bob: suppression $(suppressed bob@example.org), want soft-bounce"
[ "$(rcpt_state bob@example.org)" = delivered ] || fail "a soft bounce changed bob's recipient state"
grep -E "inbound [0-9]+: bob@example.org suppressed for 8 s: 2 soft bounces within 604800 s" "$T/herald.log" > /dev/null ||
  fail "the soft-bounce suppression is not logged"
apiget /v1/suppressions/bob@example.org > "$T/api-bob.json"
"$PY" - "$T/api-bob.json" <<'P' || fail "GET /v1/suppressions/bob: $(cat "$T/api-bob.json")"
import datetime, json, sys
s = json.load(open(sys.argv[1]))
assert s["source"] == "soft-bounce" and "mailboxfull" in s["reason"] and s["expires_at"], s
left = datetime.datetime.fromisoformat(s["expires_at"].replace("Z", "+00:00")) - datetime.datetime.now(datetime.timezone.utc)
assert 0 < left.total_seconds() <= 8, left
P
hl_smtp_send "$smtp" news@example.com bob@example.org "to a suppressed bob" > /dev/null || fail "sending to bob"
hl_wait_for 10 hl_event_has "$T/data" suppressed bob@example.org || fail "bob's next message was not suppressed"
pass "two soft failures of different messages within the window: bob suppressed (source soft-bounce, expires_at in the API), his next message not sent"
# once it runs out the address gets mail again (and the API no longer lists it)
until_s=$("$PY" - "$T/data/herald.db" <<'P'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("select expires from suppressions where address='bob@example.org'").fetchone()[0])
P
)
while [ "$(date +%s)" -le "$until_s" ]; do sleep 0.5; done
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" "http://127.0.0.1:$api/v1/suppressions/bob@example.org")" = 404 ] ||
  fail "an expired suppression is still served"
send B3 bob@example.org
pass "the soft-bounce suppression expired: GET /v1/suppressions/bob is 404, and bob's next message was delivered"

# ---- 9. the listener's address taken ----
# given in the file, it must bind: a second server with the first one's
# inbound address refuses to start; the embedded default (127.0.0.1:2526,
# here held by a placeholder socket of our own) is best-effort: the server
# runs without it and says so
conf2() {
  cat > "$T/h2.conf" <<C
data_dir = $T/data2
[smtp]
trusted_networks = 127.0.0.0/8
listen = 127.0.0.1:$smtp2
[status]
listen = 127.0.0.1:$(hl_free_port)
[api]
listen = 127.0.0.1:$(hl_free_port)
$1
C
}
smtp2=$(hl_free_port)
conf2 "[inbound]
listen = 127.0.0.1:$inbound"
if timeout 20 "$HERALD" serve --config "$T/h2.conf" > "$T/h2.log" 2>&1; then fail "a server started without its configured inbound listener"; fi
grep -F "$T/h2.conf:10: [inbound] listen: 127.0.0.1:$inbound: " "$T/h2.log" > /dev/null || { cat "$T/h2.log"; fail "no reason given with its file and line"; }
# Other server tests, running at the same time, may hold the default port
# for a while (their herald takes it, best-effort) and let it go at any
# moment: the placeholder waits until it holds the port itself.
hl_spawn holder "$T/holder.log" "$PY" -c '
import socket, sys, time
s = socket.socket()
for _ in range(1200):
    try:
        s.bind(("127.0.0.1", 2526))
        break
    except OSError:
        time.sleep(0.05)
else:
    sys.exit("127.0.0.1:2526 stayed taken for 60 s")
s.listen(1)
open(sys.argv[1], "w").close()
time.sleep(120)' "$T/holder.ready"
hl_wait_for 65 test -e "$T/holder.ready" || fail "could not hold 127.0.0.1:2526: $(cat "$T/holder.log")"
conf2 ""
hl_herald_start "$T/h2.conf" "$smtp2" herald2 "$T/h2.log"
grep "no inbound listener" "$T/h2.log" > /dev/null || { cat "$T/h2.log"; fail "the default listener's failure is not logged"; }
pass "a configured inbound address that cannot be bound stops the server; the default one is best-effort"
