#!/usr/bin/env bash
# serve_bounce_postfix.sh - a real DSN from a real Postfix, consumed by
# herald's bounce intake.
#
# A throwaway Postfix (its own config_directory, queue_directory and log
# under the test's temp dir) listens on 127.0.0.3 as the recipient's MX
# for remote.test. It accepts any recipient at RCPT (local_recipient_maps
# empty), takes the message, and then its local(8) delivery fails: there
# is no such user. Postfix's bounce(8) writes the DSN and its smtp(8)
# client sends it to the VERP envelope sender through relayhost = herald's
# inbound port. herald must record a bounced event with the status Postfix
# wrote, mark the recipient bounced and suppress the address.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
PY=/usr/bin/python3
fail() {
  echo "FAIL: $*" >&2
  tail -n 30 "$T/herald.log" >&2 || true
  tail -n 30 "$T/pf/log/postfix.log" >&2 || true
  exit 1
}
pass() { echo "ok: $*"; }
[ -x /usr/sbin/postfix ] || fail "Postfix is not installed (apt-get install postfix)"

smtp=$(hl_free_port); inbound=$(hl_free_port); pfport=$(hl_free_port 127.0.0.3)

# ---- Postfix: MX for remote.test on 127.0.0.3, its DSNs relayed to herald ----
P=$T/pf
hl_postfix_dirs "$P"
cat > "$P/etc/main.cf" <<MAIN
# throwaway instance for serve_bounce_postfix.sh, loopback only
compatibility_level = 3.6
queue_directory = $P/spool
data_directory = $P/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.remote.test
mydomain = remote.test
myorigin = \$mydomain
mydestination = remote.test
# every recipient is taken at RCPT; local(8) finds no such user later
local_recipient_maps =
alias_maps =
alias_database =
# the smtpd in master.cf binds 127.0.0.3 itself; this must name an interface address
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:$inbound
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtp_tls_security_level = none
smtpd_tls_security_level = none
maillog_file_prefixes = $P/log
maillog_file = $P/log/postfix.log
biff = no
append_dot_mydomain = no
MAIN
hl_postfix_start postfix "$P" 127.0.0.3 "$pfport" || fail "Postfix did not come up"

# ---- herald: delivers remote.test to Postfix, takes bounces on $inbound ----
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $T/data
[smtp]
trusted_networks = 127.0.0.0/8
listen = 127.0.0.1:$smtp
[status]
listen = 127.0.0.1:$(hl_free_port)
[api]
listen = 127.0.0.1:$(hl_free_port)
[delivery]
mode = real
tls = none
[route remote.test]
next_hop = 127.0.0.3:$pfport
[inbound]
listen = 127.0.0.1:$inbound
C
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null
hl_herald_start "$T/herald.conf" "$smtp"
hl_wait_port 127.0.0.1 "$inbound" 10 tcp "$(hl_pid herald)"

id=$(hl_smtp_send "$smtp" news@example.com nosuchuser@remote.test "to a user Postfix does not have") ||
  fail "submission"
hl_wait_for 20 hl_event_has "$T/data" delivered nosuchuser@remote.test ||
  fail "Postfix did not take the message"
pass "Postfix accepted the message (250 at end of DATA)"

# Postfix finds no such user, bounces, and sends the DSN to herald
hl_wait_for 60 hl_event_has "$T/data" bounced nosuchuser@remote.test ||
  fail "no bounced event: Postfix's DSN did not reach herald or was not matched"
grep 'status=bounced' "$P/log/postfix.log" > /dev/null || fail "Postfix did not bounce the message itself"
dsn=$(grep 'nosuchuser@remote.test' "$P/log/postfix.log" | grep 'status=bounced' | grep -o 'dsn=[0-9.]*' | head -1)
dsn=${dsn#dsn=}
[[ "$dsn" == 5.* ]] || fail "Postfix's status for the recipient: '$dsn'"
hl_events "$T/data" > "$T/events.json"
"$PY" - "$id" "$dsn" "$T/events.json" <<'P' || fail "the bounced event"
import json, sys
uuid, status = sys.argv[1], sys.argv[2]
evs = [json.loads(l) for l in open(sys.argv[3])]
b = [e for e in evs if e["type"] == "bounced" and e["recipient"] == "nosuchuser@remote.test"]
assert len(b) == 1, b
e, d = b[0], b[0]["detail"]
assert e["message"] == uuid, e
assert d["kind"] == "hard" and d["status"] == status and d["async"] is True, d
assert (d["bounce_type"], d["bounce_subtype"]) == ("Permanent", "NoEmail"), d   # as SES names it
assert d["reporting_mta"] == "mx.remote.test" and d["matched_by"] == "verp", d
assert d["state_changed"] is True, d
P
pass "herald consumed Postfix's DSN: bounced event for the message, hard, status $dsn from mx.remote.test"
"$PY" - "$T/data/herald.db" <<'P' || fail "suppression or recipient state"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
assert db.execute("select source from suppressions where address='nosuchuser@remote.test'").fetchone() == ("bounce",)
assert db.execute("select state from recipients where address='nosuchuser@remote.test'").fetchone() == ("bounced",)
row = db.execute("select kind, outcome, mail_from from inbound").fetchall()
assert row == [("dsn", "matched", "")], row
P
grep -E "relay=127.0.0.1\[127.0.0.1\]:$inbound.*status=sent" "$P/log/postfix.log" > /dev/null ||
  fail "Postfix's log does not show the DSN sent to herald"
pass "the address is suppressed (bounce), the recipient marked bounced; Postfix logged its DSN as sent to herald"
