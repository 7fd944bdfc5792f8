#!/usr/bin/env bash
# serve_forged_reports.sh - issue 14 item 9: a bounce or a complaint that
# names a sent message only by its Message-ID (which every recipient of
# the message knows) must not pass for a verified one.
#   - three messages are sent through herald (to an aiosmtpd receiver);
#   - a forged DSN (to postmaster@, the Return-Path not a VERP address,
#     the Message-ID of message 1, its recipient named) and a forged ARF
#     abuse complaint (to abuse@, the Message-ID of message 2) are fed to
#     the inbound listener; a genuine DSN comes back to message 3's VERP
#     address;
#   - events: bounced_unverified and complained_unverified for the forged
#     ones (no bounced or complained event about those recipients), bounced
#     for the genuine one;
#   - metrics: herald_bounced_total, herald_async_bounces_total,
#     herald_complaints_total and the per-domain outcomes count only the
#     genuine bounce; herald_inbound_reports_unverified_total counts the
#     forged two by type;
#   - suppression: only the genuine hard bounce suppresses;
#   - webhooks (tests/lib/webhook_receiver.py): an endpoint without an
#     events list and one for "bounced complained" never get the
#     unverified events; one that names them gets exactly those two.
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

rxport=$(hl_free_port 127.0.0.2)
hl_receiver_start 127.0.0.2 "$rxport" "$T/rx"
smtp=$(hl_free_port); inbound=$(hl_free_port); status=$(hl_free_port)
SECRET=forged-reports-webhook-secret-0123456789abcdef
for h in all verified unverified; do
  port=$(hl_free_port)
  printf -v "HOOK_$h" '%s' "$port"
  hl_spawn "hook-$h" "$T/hook-$h.log" "$PY" "$HERALD_SOURCE_DIR/tests/lib/webhook_receiver.py" \
    --port "$port" --secret "$SECRET" --out "$T/hook-$h.jsonl"
  hl_wait_port 127.0.0.1 "$port" 10 tcp "$(hl_pid "hook-$h")"
done
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $T/data
[smtp]
listen = 127.0.0.1:$smtp
trusted_networks = 127.0.0.0/8
[status]
listen = 127.0.0.1:$status
[api]
listen = 127.0.0.1:$(hl_free_port)
[delivery]
mode = real
[route *]
next_hop = 127.0.0.2:$rxport
[inbound]
listen = 127.0.0.1:$inbound
[webhook all]
url = http://127.0.0.1:$HOOK_all/hooks
secret = $SECRET
[webhook verified]
url = http://127.0.0.1:$HOOK_verified/hooks
secret = $SECRET
events = bounced complained
[webhook unverified]
url = http://127.0.0.1:$HOOK_unverified/hooks
secret = $SECRET
events = bounced_unverified complained_unverified
C
chmod 600 "$T/herald.conf"
"$HERALD" domain add --dns-zone /dev/null example.com "${D[@]}" --hostname mail.herald.test > /dev/null
hl_herald_start "$T/herald.conf" "$smtp"
hl_wait_port 127.0.0.1 "$inbound" 10 tcp "$(hl_pid herald)"

# ---- three messages, delivered with VERP envelope senders ----
n=0
for r in victim1@example.net victim2@example.net real@example.org; do
  hl_smtp_send "$smtp" news@example.com "$r" "to $r" > /dev/null || fail "sending to $r"
  n=$((n + 1))
  hl_wait_spool "$T/rx" "$n" 20 || fail "the message to $r was not delivered"
done
hl_wait_for 10 hl_event_has "$T/data" delivered real@example.org || fail "deliveries not recorded"
msgid_of() {
  "$PY" - "$T/data/herald.db" "$1" <<'P'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute(
    "select m.message_id from messages m join recipients r on r.message = m.id"
    " where r.address = ?", (sys.argv[2],)).fetchone()[0])
P
}
verp_of() {
  "$PY" - "$T/rx" "$1" <<'P'
import glob, json, sys
got = [json.load(open(f)) for f in glob.glob(sys.argv[1] + "/*.json")]
print([j for j in got if sys.argv[2] in j["rcpts"]][0]["mail_from"])
P
}
MID1=$(msgid_of victim1@example.net); MID2=$(msgid_of victim2@example.net)
VERP3=$(verp_of real@example.org)
[[ "$VERP3" == b-*@bounce.example.com ]] || fail "no VERP envelope sender: $VERP3"
pass "3 messages delivered; Message-IDs $MID1 $MID2, VERP $VERP3"

inject() {
  local n=$1; shift
  "$PY" "$INJ" "$inbound" "$@" > "$T/inj-$n" 2>&1 || { cat "$T/inj-$n"; fail "inject $n"; }
  grep -Eq '^data 250 ' "$T/inj-$n" || { cat "$T/inj-$n"; fail "$n: no 250 at end of DATA"; }
}
# ---- the forged reports: no VERP address anywhere, the Message-ID known ----
inject dsn forger@attacker.test postmaster@example.com "$S/postfix.eml" \
  "To: b-m7k2p9q4-4bzv2k3qc6mdjxy7@bounce.example.com=To: postmaster@example.com" \
  "b-m7k2p9q4-4bzv2k3qc6mdjxy7@bounce.example.com=forger@attacker.test" \
  "<m7k2p9q4@example.com>=$MID1" "nosuchuser@example.net=victim1@example.net"
inject arf forger@attacker.test abuse@example.com "$S/arf.eml" \
  "b-k5j4h3g2-aa1bb2cc3dd4ee5f@bounce.example.com=forger@attacker.test" \
  "<k5j4h3g2@example.com>=$MID2" "erin@mailbox.example.net=victim2@example.net"
# ---- the genuine one: to the VERP address herald sent from ----
inject verp "" "$VERP3" "$S/postfix.eml" \
  "b-m7k2p9q4-4bzv2k3qc6mdjxy7@bounce.example.com=$VERP3" "nosuchuser@example.net=real@example.org"

hl_events "$T/data" > "$T/events.jsonl"
"$PY" - "$T/events.jsonl" <<'P' || fail "events"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
def of(t, r):
    return [e for e in ev if e["type"] == t and e.get("recipient") == r]
def detail(e):
    return json.loads(e["detail"]) if isinstance(e["detail"], str) else e["detail"]
bad = []
for t, r in (("bounced_unverified", "victim1@example.net"), ("complained_unverified", "victim2@example.net"),
             ("bounced", "real@example.org")):
    got = of(t, r)
    print("%-22s %-20s %d event(s)%s" % (t, r, len(got), " matched_by %s, acted %s" % (
        detail(got[0])["matched_by"], detail(got[0])["acted"]) if got else ""))
    if len(got) != 1:
        bad.append("want one %s event for %s, got %d" % (t, r, len(got)))
for t, r in (("bounced", "victim1@example.net"), ("complained", "victim2@example.net")):
    if of(t, r):
        bad.append("a forged report made a %s event for %s: %s" % (t, r, of(t, r)))
if of("bounced_unverified", "victim1@example.net"):
    d = detail(of("bounced_unverified", "victim1@example.net")[0])
    if d["matched_by"] != "message-id" or d["acted"] is not False:
        bad.append("bounced_unverified detail: %s" % d)
if of("bounced", "real@example.org") and detail(of("bounced", "real@example.org")[0])["matched_by"] != "verp":
    bad.append("the genuine bounce was not matched by VERP")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
P
pass "events: bounced_unverified and complained_unverified for the forged reports, bounced for the genuine one"

sup() {
  "$PY" - "$T/data/herald.db" "$1" <<'P'
import sqlite3, sys
r = sqlite3.connect(sys.argv[1]).execute("select source from suppressions where address=?", (sys.argv[2],)).fetchone()
print(r[0] if r else "none")
P
}
[ "$(sup victim1@example.net)" = none ] || fail "victim1 suppressed by a forged DSN"
[ "$(sup victim2@example.net)" = none ] || fail "victim2 suppressed by a forged complaint"
[ "$(sup real@example.org)" = bounce ] || fail "the genuine hard bounce did not suppress real@example.org"
pass "suppression: only the genuine hard bounce"

curl -sf "http://127.0.0.1:$status/metrics" > "$T/metrics" || fail "metrics"
m() { sed -n "s/^$1 //p" "$T/metrics"; }
per() { awk -v o="outcome=\"$1\"" 'index($0, "herald_domain_recipients_total{") == 1 && index($0, o) {s += $NF} END {print s + 0}' "$T/metrics"; }
echo "metrics: bounced $(m herald_bounced_total), async $(m herald_async_bounces_total), complaints $(m herald_complaints_total)," \
  "per domain bounced $(per bounced) complained $(per complained)," \
  "unverified bounce $(m 'herald_inbound_reports_unverified_total{type="bounce"}')" \
  "complaint $(m 'herald_inbound_reports_unverified_total{type="complaint"}')"
[ "$(m herald_bounced_total)" = 1 ] || fail "herald_bounced_total $(m herald_bounced_total), want 1"
[ "$(m herald_async_bounces_total)" = 1 ] || fail "herald_async_bounces_total, want 1"
[ "$(m herald_complaints_total)" = 0 ] || fail "herald_complaints_total $(m herald_complaints_total), want 0"
[ "$(per bounced)" = 1 ] || fail "per-domain bounced $(per bounced), want 1"
[ "$(per complained)" = 0 ] || fail "per-domain complained $(per complained), want 0"
[ "$(m 'herald_inbound_reports_unverified_total{type="bounce"}')" = 1 ] || fail "unverified bounces, want 1"
[ "$(m 'herald_inbound_reports_unverified_total{type="complaint"}')" = 1 ] || fail "unverified complaints, want 1"
pass "metrics: only the genuine bounce counts; the forged two in herald_inbound_reports_unverified_total"

# ---- webhooks: wait until every endpoint has nothing pending, then read ----
hooks_idle() {
  curl -sf "http://127.0.0.1:$status/metrics" > "$T/metrics2" || return 1
  [ -s "$T/hook-verified.jsonl" ] && [ "$(grep -c '' "$T/hook-unverified.jsonl" 2>/dev/null || echo 0)" -ge 2 ] &&
    ! grep -E '^herald_webhook_pending\{' "$T/metrics2" | grep -vq ' 0$'
}
hl_wait_for 30 hooks_idle || { grep webhook "$T/metrics2" >&2; fail "the webhooks did not all arrive"; }
"$PY" - "$T" <<'P' || fail "webhook deliveries"
import json, sys
bad = []
def types(h):
    rows = [json.loads(l) for l in open("%s/hook-%s.jsonl" % (sys.argv[1], h))]
    assert all(r["sig_ok"] for r in rows), rows
    return [(r["body"]["type"], r["body"].get("recipient")) for r in rows]
got = {h: types(h) for h in ("all", "verified", "unverified")}
for h, g in got.items():
    print("%-10s %d request(s): %s" % (h, len(g), sorted(set(t for t, _ in g))))
for h in ("all", "verified"):
    if any(t.endswith("_unverified") for t, _ in got[h]):
        bad.append("endpoint %s (events %s) got unverified events" % (h, "all" if h == "all" else "bounced complained"))
    if ("bounced", "real@example.org") not in got[h]:
        bad.append("endpoint %s did not get the genuine bounce" % h)
    if any(r in ("victim1@example.net", "victim2@example.net") and t in ("bounced", "complained")
           for t, r in got[h]):
        bad.append("endpoint %s got a forged report as a bounce or complaint" % h)
if sorted(got["unverified"]) != [("bounced_unverified", "victim1@example.net"),
                                 ("complained_unverified", "victim2@example.net")]:
    bad.append("endpoint unverified got %s" % got["unverified"])
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
P
pass "webhooks: unverified events only to the endpoint that names them"
kill -0 "$(hl_pid herald)" || fail "the server died"
echo "serve_forged_reports: passed"
