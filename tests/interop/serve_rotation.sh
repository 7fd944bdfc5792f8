#!/usr/bin/env bash
# serve_rotation.sh - staged DKIM key rotation with a running server
# (issue 13 item 3), against unbound serving the domain's records:
#   - after `domain rotate-key` the new keys are pending: the old keys
#     still sign (dkimpy verifies a delivered message with the OLD
#     selectors), also after a reload while the new records are wrong;
#   - once the new records are published, a reload (SIGHUP, or POST /reload
#     on the control socket) makes herald find them, activate the new keys
#     and sign with them; the old keys are retiring and mail they signed
#     still verifies against the published records;
#   - a record with another key (a mismatch) keeps the key pending; the
#     log says what differs, once, not at every check;
#   - `domain show` through the same DNS says which records match.
# Every wait is bounded.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
PY=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; tail -n 40 "$T/herald.log" >&2 || true; exit 1; }
pass() { echo "ok: $*"; }
passed=0
ok() { passed=$((passed + 1)); pass "$@"; }
D=$T/data

# ---- the sending domains, made before the server starts ----
"$HERALD" domain add example.com --data-dir "$D" --hostname mail.herald.test --selector old1 > "$T/example.zone"
"$HERALD" domain add other.example --data-dir "$D" --hostname mail.herald.test --selector old1 --rsa-only > "$T/other.zone"
# TXT records of a zone file: "NAME VALUE-IN-QUOTES" with a 1 s TTL, so
# herald's resolver does not keep an answer across the changes below
dkim_records() { grep '._domainkey.' "$1" | grep -v '^;' | sed 's/ 3600 IN TXT / 1 IN TXT /'; }
record_of() { grep "^$1._domainkey" "$2" | sed 's/.* IN TXT //'; }   # SELECTOR ZONE

# ---- the world: a receiver for rx.test, unbound with the records ----
rxport=$(hl_free_port 127.0.0.2)
dns=$(hl_free_port)
hl_receiver_start 127.0.0.2 "$rxport" "$T/rx" ""
base_zone() {
  echo "rx.test. 1 IN MX 10 mx.rx.test."
  echo "mx.rx.test. 1 IN A 127.0.0.2"
  dkim_records "$T/example.zone"
  dkim_records "$T/other.zone"
}
# the records herald will look for once it knows the new selectors are
# there from the start, but hold the OLD keys' p= (a mismatch): the new
# keys must not sign with them
{
  base_zone
  echo "new1-rsa._domainkey.example.com. 1 IN TXT $(record_of old1-rsa "$T/example.zone")"
  echo "new1-ed._domainkey.example.com. 1 IN TXT $(record_of old1-ed "$T/example.zone")"
  echo "bad1-rsa._domainkey.other.example. 1 IN TXT $(record_of old1-rsa "$T/other.zone")"
} > "$T/zone1"
hl_unbound_start "$T/zone1" "$dns"

smtp=$(hl_free_port)
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $D
log_level = info
[smtp]
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
# send SUBJECT: one message from example.com; waits until the receiver has
# it and prints its file (run in $(...): nothing here may rely on state
# kept in the parent shell)
has_subject() { grep -lq "^Subject: $1" "$T"/rx/*.eml 2> /dev/null; }
send() {
  hl_smtp_send "$smtp" billing@example.com "to@rx.test" "$1" > /dev/null || fail "submission of \"$1\""
  hl_wait_for 20 has_subject "$1" || fail "\"$1\" did not arrive"
  grep -l "^Subject: $1" "$T"/rx/*.eml | head -1
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

# ---- 1. rotate: the new keys are pending, the old ones sign ----
"$HERALD" domain rotate-key example.com --data-dir "$D" --selector new1 --grace 1d > "$T/rotate.out" ||
  fail "rotate-key example.com"
"$HERALD" domain rotate-key other.example --data-dir "$D" --selector bad1 --grace 1d > /dev/null ||
  fail "rotate-key other.example"
grep -q 'new1-rsa  *rsa  *pending' "$T/rotate.out" || fail "rotate-key does not say pending: $(cat "$T/rotate.out")"
# a reload while the records hold other keys: still pending
kill -HUP "$pid"
hl_wait_for 10 grep -q 'DKIM key new1-rsa stays pending: .*another key' "$T/herald.log" ||
  fail "the mismatch of new1-rsa is not logged"
hl_wait_for 10 grep -q 'DKIM key bad1-rsa stays pending: .*another key' "$T/herald.log" ||
  fail "the mismatch of bad1-rsa is not logged"
is_state example.com new1-rsa pending || fail "new1-rsa is $(state_of example.com new1-rsa) after a mismatching record"
is_state example.com old1-rsa active || fail "old1-rsa is $(state_of example.com old1-rsa), want active"
ok "after rotate-key and a reload with mismatching records: new keys pending, the mismatch logged"
m1=$(send "before publishing")
verify "$T/zone1" "$m1" > "$T/v1" || fail "dkimpy on message 1"
[ "$(sort "$T/v1" | tr '\n' ' ')" = "old1-ed pass old1-rsa pass " ] ||
  fail "message 1 is not signed by the old keys only: $(cat "$T/v1")"
ok "while the new keys are pending, the OLD selectors sign (dkimpy: $(tr '\n' ' ' < "$T/v1"))"

# ---- 2. publish the new records: a reload finds them and activates ----
"$HERALD" domain show example.com --data-dir "$D" --no-dns > "$T/published.zone"
{
  base_zone
  dkim_records "$T/published.zone" | grep '^new1-'
  echo "bad1-rsa._domainkey.other.example. 1 IN TXT $(record_of old1-rsa "$T/other.zone")"
} > "$T/zone2"
hl_stop "$(hl_pid unbound)"
hl_unbound_start "$T/zone2" "$dns"
sleep 1.2   # the 1 s TTL of what herald's resolver saw before
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
grep -q 'domain example.com: DKIM keys new1-rsa, new1-ed published and matching: signing with them' "$T/herald.log" ||
  fail "the activation is not logged"
ok "after publishing and POST /reload: new keys active, old keys retiring"
m2=$(send "after publishing")
verify "$T/zone2" "$m2" > "$T/v2" || fail "dkimpy on message 2"
[ "$(sort "$T/v2" | tr '\n' ' ')" = "new1-ed pass new1-rsa pass " ] ||
  fail "message 2 is not signed by the new keys only: $(cat "$T/v2")"
ok "the NEW selectors sign now (dkimpy: $(tr '\n' ' ' < "$T/v2"))"
# the old keys are retiring, still published: mail they signed verifies
"$HERALD" domain show example.com --data-dir "$D" --no-dns > "$T/grace.zone"
grep -q '^old1-rsa._domainkey.example.com.* IN TXT' "$T/grace.zone" || fail "the retiring key left the records to publish"
verify "$T/zone2" "$m1" > "$T/v1b" || fail "dkimpy on message 1, after the rotation"
[ "$(sort "$T/v1b" | tr '\n' ' ')" = "old1-ed pass old1-rsa pass " ] || fail "message 1 after the rotation: $(cat "$T/v1b")"
ok "the retiring keys stay in the records and message 1 still verifies"

# ---- 3. the mismatch stays pending, logged once ----
is_state other.example bad1-rsa pending || fail "bad1-rsa is $(state_of other.example bad1-rsa), want pending"
is_state other.example old1-rsa active || fail "other.example's old key is $(state_of other.example old1-rsa)"
kill -HUP "$pid"
two_reloads() { [ "$(grep -c 'reload: sending domains and keys reloaded' "$T/herald.log")" -ge 2 ]; }
hl_wait_for 10 two_reloads || fail "the second SIGHUP is not logged"
sleep 1   # the check the reload started: answers from unbound on loopback
n=$(grep -c 'DKIM key bad1-rsa stays pending' "$T/herald.log" || true)
[ "$n" = 1 ] || fail "the unchanged mismatch of bad1-rsa was logged $n times over four checks, want once"
"$HERALD" domain show other.example --data-dir "$D" --dns-server "127.0.0.1@$dns" > "$T/other-show.txt"
grep -q 'DNS: does not match: the record at bad1-rsa._domainkey.other.example has another key' "$T/other-show.txt" ||
  fail "domain show does not explain the mismatch: $(cat "$T/other-show.txt")"
ok "a record with another key keeps bad1-rsa pending; logged once; domain show names the difference"

kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 0 ] || fail "herald exited $rc on SIGTERM"
echo "serve_rotation: $passed passed"
