#!/usr/bin/env bash
# serve_rotation.sh - staged DKIM key rotation with a running server
# (issue 13 item 3), against unbound serving the domains' records:
#   - keys pending at start whose record holds another key (other.example)
#     or is missing (third.example) stay pending; the log says what
#     differs, once, not at every check; the old key signs their mail
#     (dkimpy verifies it with the OLD selector);
#   - example.com rotated while herald runs: the old keys sign on (dkimpy:
#     OLD selectors); once the new records are published, a reload (POST
#     /reload on the control socket) makes herald find them, activate the
#     new keys and sign with them (dkimpy: NEW selectors); the old keys are
#     retiring, still in the records, and mail they signed still verifies;
#   - `domain show` through the same DNS says which records match.
# Every wait is bounded.
#
# Records are looked up for the first time only once they are what the
# test wants herald to see: herald's resolver (libunbound) keeps answers
# for their TTL, negative ones too, so a record is not changed after
# herald has asked for it (with unbound's whole seconds even a 1 s TTL
# can last almost 2 s, which made an earlier form of this test flaky).
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
PY=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; tail -n 40 "$T/herald.log" >&2 || true; exit 1; }
passed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
D=$T/data

# ---- the sending domains; two rotated before the server starts ----
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$D" --hostname mail.herald.test --selector old1 > "$T/example.zone"
"$HERALD" domain add --dns-zone /dev/null other.example --data-dir "$D" --hostname mail.herald.test --selector old1 --rsa-only > "$T/other.zone"
"$HERALD" domain add --dns-zone /dev/null third.example --data-dir "$D" --hostname mail.herald.test --selector old1 --rsa-only > "$T/third.zone"
"$HERALD" domain rotate-key other.example --data-dir "$D" --selector bad1 --grace 1d > /dev/null
"$HERALD" domain rotate-key third.example --data-dir "$D" --selector new1 --grace 1d > /dev/null
# the DKIM TXT records of a zone file, as zone lines
dkim_records() { grep '._domainkey.' "$1" | grep -v '^;'; }
record_of() { grep "^$1._domainkey" "$2" | sed 's/.* IN TXT //'; }   # SELECTOR ZONE

# ---- the world: a receiver for rx.test, unbound with the records ----
rxport=$(hl_free_port 127.0.0.2)
dns=$(hl_free_port)
hl_receiver_start 127.0.0.2 "$rxport" "$T/rx" ""
{
  echo "rx.test. 3600 IN MX 10 mx.rx.test."
  echo "mx.rx.test. 3600 IN A 127.0.0.2"
  dkim_records "$T/example.zone"
  dkim_records "$T/other.zone"
  dkim_records "$T/third.zone"
  # other.example's pending key: a record with the OLD key's p= (someone
  # pasted the wrong line); third.example's: not published at all
  echo "bad1-rsa._domainkey.other.example. 3600 IN TXT $(record_of old1-rsa "$T/other.zone")"
} > "$T/zone1"
hl_unbound_start "$T/zone1" "$dns"

smtp=$(hl_free_port)
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $D
log_level = debug
[smtp]
trusted_networks = 127.0.0.0/8
listen = 127.0.0.1:$smtp
[status]
listen = 127.0.0.1:$(hl_free_port)
[api]
listen = 127.0.0.1:$(hl_free_port)
[inbound]
listen =
[queue]
retry_min = 1s
retry_max = 2s
[delivery]
mode = real
remote_port = $rxport
[dns]
resolver = 127.0.0.1@$dns
timeout_ms = 2000
C
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald.log"
pid=$(hl_pid herald)

# dkimpy's verdicts for one message against a zone: "SELECTOR pass|fail" lines
verify() {   # ZONE MESSAGE
  "$PY" - "$1" "$2" <<'P'
import dkim, re, sys
recs = {}
for line in open(sys.argv[1]):
    m = re.match(r'^(\S+)\s+\d+\s+IN\s+TXT\s+(.*)$', line.strip())
    if m:
        recs[m.group(1).rstrip('.').lower()] = ''.join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))).encode()
msg = open(sys.argv[2], 'rb').read()
d = dkim.DKIM(msg)
sigs = [v for k, v in d.headers if k.lower() == b'dkim-signature']
for i, v in enumerate(sigs):
    sel = re.search(rb's=([^;\s]+)', v).group(1).decode()
    good = d.verify(idx=i, dnsfunc=lambda n, timeout=5: recs.get(n.decode().rstrip('.').lower()))
    print(sel, 'pass' if good else 'fail')
P
}
verdicts() { verify "$1" "$2" | sort | tr '\n' ' '; }   # ZONE MESSAGE: one line
# send FROM SUBJECT: one message; waits until the receiver has it and
# prints its file (run in $(...): nothing here may rely on state kept in
# the parent shell)
has_subject() { grep -lq "^Subject: $1" "$T"/rx/*.eml 2> /dev/null; }
send() {
  hl_smtp_send "$smtp" "$1" "to@rx.test" "$2" > /dev/null || fail "submission of \"$2\""
  hl_wait_for 20 has_subject "$2" || fail "\"$2\" did not arrive"
  grep -l "^Subject: $2" "$T"/rx/*.eml | head -1
}
state_of() {   # DOMAIN SELECTOR: the key's state in `domain list --json`
  "$HERALD" domain list --data-dir "$D" --json |
    "$PY" -c 'import json,sys; [print(k["state"]) for d in json.load(sys.stdin) if d["domain"] == sys.argv[1] for k in d["keys"] if k["selector"] == sys.argv[2]]' "$1" "$2"
}
is_state() { [ "$(state_of "$1" "$2")" = "$3" ]; }
reload_socket() {
  "$PY" - "$D/control.sock" <<'P'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"POST /reload HTTP/1.0\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
r = s.recv(4096)
assert b" 200 " in r.split(b"\r\n")[0], r
P
}
logged() { grep -q -- "$1" "$T/herald.log"; }

# ---- 1. keys pending at start: checked, kept pending, the old key signs ----
hl_wait_for 10 logged 'DKIM key bad1-rsa stays pending: .*has another key: its p= differs' ||
  fail "the mismatch of bad1-rsa is not logged"
hl_wait_for 10 logged 'DKIM key new1-rsa stays pending: no TXT record at new1-rsa._domainkey.third.example' ||
  fail "the missing record of third.example's new1-rsa is not logged"
is_state other.example bad1-rsa pending || fail "bad1-rsa is $(state_of other.example bad1-rsa), want pending"
is_state third.example new1-rsa pending || fail "third.example new1-rsa is $(state_of third.example new1-rsa)"
m0=$(send billing@other.example "pending at start")
[ "$(verdicts "$T/zone1" "$m0")" = "old1-rsa pass " ] ||
  fail "other.example's mail is not signed by its old key only: $(verdicts "$T/zone1" "$m0")"
ok "keys pending at start with a wrong or no record stay pending, logged with the reason; the OLD key signs (dkimpy: old1-rsa pass)"

# ---- 2. rotate example.com while herald runs: the old keys sign on ----
"$HERALD" domain rotate-key example.com --data-dir "$D" --selector new1 --grace 1d > "$T/rotate.out" ||
  fail "rotate-key example.com"
grep -q 'new1-rsa  *rsa  *pending' "$T/rotate.out" || fail "rotate-key does not say pending: $(cat "$T/rotate.out")"
m1=$(send billing@example.com "before publishing")
[ "$(verdicts "$T/zone1" "$m1")" = "old1-ed pass old1-rsa pass " ] ||
  fail "message 1 is not signed by the old keys only: $(verdicts "$T/zone1" "$m1")"
ok "after rotate-key the OLD selectors sign (dkimpy: old1-ed pass old1-rsa pass)"

# ---- 3. publish the new records: a reload finds them and activates ----
"$HERALD" domain show example.com --data-dir "$D" --no-dns > "$T/published.zone"
{ cat "$T/zone1"; dkim_records "$T/published.zone" | grep '^new1-'; } > "$T/zone2"
hl_stop "$(hl_pid unbound)"
hl_unbound_start "$T/zone2" "$dns"
"$HERALD" domain show example.com --data-dir "$D" --dns-server "127.0.0.1@$dns" --json > "$T/show.json" ||
  fail "domain show through the test DNS"
"$PY" - "$T/show.json" <<'P' || fail "domain show: $(cat "$T/show.json")"
import json, sys
keys = {k["selector"]: (k["state"], k["dns"]) for k in json.load(open(sys.argv[1]))["keys"]}
assert keys["new1-rsa"] == ("pending", "matches"), keys
assert keys["new1-ed"] == ("pending", "matches"), keys
assert keys["old1-rsa"] == ("active", "matches"), keys
P
ok "domain show (--dns-server) sees the new records published and matching"
reload_socket || fail "POST /reload on the control socket"
hl_wait_for 15 is_state example.com new1-rsa active || fail "new1-rsa is $(state_of example.com new1-rsa) after publishing"
is_state example.com new1-ed active || fail "new1-ed is $(state_of example.com new1-ed)"
is_state example.com old1-rsa retiring || fail "old1-rsa is $(state_of example.com old1-rsa), want retiring"
is_state example.com old1-ed retiring || fail "old1-ed is $(state_of example.com old1-ed), want retiring"
logged 'domain example.com: DKIM keys new1-rsa, new1-ed published and matching: signing with them' ||
  fail "the activation is not logged"
ok "after publishing and POST /reload: new keys active, old keys retiring"
m2=$(send billing@example.com "after publishing")
[ "$(verdicts "$T/zone2" "$m2")" = "new1-ed pass new1-rsa pass " ] ||
  fail "message 2 is not signed by the new keys only: $(verdicts "$T/zone2" "$m2")"
ok "the NEW selectors sign now (dkimpy: new1-ed pass new1-rsa pass)"
# the old keys are retiring, still published: mail they signed verifies
"$HERALD" domain show example.com --data-dir "$D" --no-dns > "$T/grace.zone"
grep -q '^old1-rsa._domainkey.example.com.* IN TXT' "$T/grace.zone" || fail "the retiring key left the records to publish"
[ "$(verdicts "$T/grace.zone" "$m1")" = "old1-ed pass old1-rsa pass " ] ||
  fail "message 1 after the rotation: $(verdicts "$T/grace.zone" "$m1")"
ok "the retiring keys stay in the records and message 1 still verifies against them"

# ---- 4. the mismatch stays pending, logged once over several checks ----
kill -HUP "$pid"
hl_wait_for 10 logged 'reload (SIGHUP): sending domains and keys reloaded' || fail "the SIGHUP is not logged"
checks() { [ "$(grep -c 'checking the DNS records of' "$T/herald.log")" -ge 4 ]; }
hl_wait_for 10 checks || fail "fewer checks than expected: $(grep -c 'checking the DNS records of' "$T/herald.log")"
sleep 0.5   # the answers to the last check: unbound on loopback
is_state other.example bad1-rsa pending || fail "bad1-rsa is $(state_of other.example bad1-rsa), want pending"
n=$(grep -c 'DKIM key bad1-rsa stays pending' "$T/herald.log" || true)
[ "$n" = 1 ] || fail "the unchanged mismatch of bad1-rsa was logged $n times over $(grep -c 'checking the DNS records of' "$T/herald.log") checks, want once"
"$HERALD" domain show other.example --data-dir "$D" --dns-server "127.0.0.1@$dns" > "$T/other-show.txt"
grep -q 'DNS: does not match: the record at bad1-rsa._domainkey.other.example has another key' "$T/other-show.txt" ||
  fail "domain show does not explain the mismatch: $(cat "$T/other-show.txt")"
ok "bad1-rsa stays pending over $(grep -c 'checking the DNS records of' "$T/herald.log") checks, its mismatch logged once; domain show names the difference"

kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 0 ] || fail "herald exited $rc on SIGTERM"
echo "serve_rotation: $passed passed"
