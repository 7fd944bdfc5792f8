#!/usr/bin/env bash
# serve_live_changes.sh - changes made with the CLI reach a running server
# at once, and each command says so (docs/cli.md "herald domain", "herald
# user", "herald apikey"):
#   - `domain add` while herald runs: it reloads (the output says so, JSON
#     too) and mail from the new domain is taken and signed with its key at
#     once (dkimpy verifies), on SMTP and the API;
#   - `domain rotate-key --activate-now`: the new keys sign the next
#     message (dkimpy); a staged rotation says how to make the server look;
#   - `domain remove`: mail from it is refused at once;
#   - `user add|passwd|remove` and `apikey revoke`: a new user logs in, an
#     old password and a removed user are refused, a revoked key is 401,
#     all without a reload;
#   - no server running: the command works and says so; a server that
#     answers the reload with an error: the change stays, a warning says
#     how to reload it.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
PY=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; tail -n 30 "$T/herald.log" >&2 || true; exit 1; }
pass() { echo "ok: $*"; }

rxport=$(hl_free_port 127.0.0.2)
hl_receiver_start 127.0.0.2 "$rxport" "$T/rx" ""
smtp=$(hl_free_port); status=$(hl_free_port); api=$(hl_free_port)
echo 'unused.test. IN A 127.0.0.9' > "$T/zone"
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
[dns]
zone_file = $T/zone
[route *]
next_hop = 127.0.0.2:$rxport
C
D=(--data-dir "$T/data")
"$HERALD" domain add --dns-zone /dev/null a.test "${D[@]}" --hostname mail.herald.test > "$T/a.zone"
echo 'alice-passw0rd' | "$HERALD" user add alice --domains '*' --password-stdin "${D[@]}" 2>/dev/null
KEY=$("$HERALD" apikey create --name app --all-domains "${D[@]}" 2>/dev/null)
hl_herald_start "$T/herald.conf" "$smtp"
hl_wait_port 127.0.0.1 "$api" 10 tcp "$(hl_pid herald)"

# swaks_auth USER PASSWORD FROM LOG: submit over STARTTLS+AUTH; swaks's status
swaks_auth() {
  swaks --server 127.0.0.1:$smtp --tls --auth PLAIN --auth-user "$1" --auth-password "$2" \
    --from "$3" --to "x@rx.test" --header "Subject: from $3" --body 'Hello.' > "$4" 2>&1
}
# api_send FROM TOKEN: the HTTP status of POST /v1/messages
api_send() {
  curl -s -o "$T/api.json" -w '%{http_code}' -X POST "http://127.0.0.1:$api/v1/messages" \
    -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
    --data-binary "{\"from\":\"$1\",\"to\":\"api@rx.test\",\"subject\":\"api\",\"text\":\"hi\\n\"}"
}

# ---- 1. domain add while the server runs ----
"$HERALD" domain add --dns-zone /dev/null b.test "${D[@]}" --hostname mail.herald.test > "$T/b.zone"
grep -q '^; herald: the running server has reloaded its sending domains and keys$' "$T/b.zone" ||
  { cat "$T/b.zone"; fail "domain add does not say the server reloaded"; }
swaks_auth alice alice-passw0rd alice@b.test "$T/s1.log" ||
  { cat "$T/s1.log"; fail "mail from a domain added while the server runs is refused"; }
hl_wait_spool "$T/rx" 1 20
"$PY" "$HERALD_SOURCE_DIR/tests/interop/serve/dkim_check.py" "$T/b.zone" "$T"/rx/*.eml > "$T/dkim.out" ||
  { cat "$T/dkim.out"; fail "dkimpy rejects the new domain's signatures"; }
[ "$(grep -c ': pass' "$T/dkim.out")" -eq 2 ] || { cat "$T/dkim.out"; fail "want 2 passing signatures"; }
[ "$(grep -c '^DKIM-Signature: .*d=b\.test;' "$T"/rx/*.eml)" -eq 2 ] || fail "not signed twice as b.test"
code=$(api_send app@b.test "$KEY")
[ "$code" = 202 ] || fail "API send from the new domain: HTTP $code $(cat "$T/api.json")"
pass "domain add reloads the running server: b.test is signed at once (dkimpy: 2 pass), API 202"

"$HERALD" domain add --dns-zone /dev/null c.test "${D[@]}" --hostname mail.herald.test --json > "$T/c.json"
"$PY" -c 'import json,sys; s=json.load(open(sys.argv[1]))["server"]; sys.exit(s != "reloaded")' "$T/c.json" ||
  fail "domain add --json: no \"server\": \"reloaded\" ($(cat "$T/c.json" | head -c 300))"
pass "domain add --json says \"server\": \"reloaded\""

# ---- 1b. rotate-key --activate-now while the server runs: the new keys sign at once ----
"$HERALD" domain rotate-key a.test "${D[@]}" --selector rot2 --grace 1d --activate-now > "$T/rot.zone"
grep -q '^; herald: the running server has reloaded its sending domains and keys$' "$T/rot.zone" ||
  { cat "$T/rot.zone"; fail "rotate-key --activate-now does not say the server reloaded"; }
n0=$(ls "$T"/rx/*.eml | wc -l)
swaks_auth alice alice-passw0rd alice@a.test "$T/s1b.log" || { cat "$T/s1b.log"; fail "submission after rotate-key"; }
hl_wait_spool "$T/rx" $((n0 + 1)) 20
last=$(ls -t "$T"/rx/*.eml | head -1)
sels=$("$PY" -c '
import email, re, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
print(" ".join(sorted("s=" + re.search(r"\bs=([^;\s]+)", re.sub(r"\s+", "", v)).group(1)
                      for v in m.get_all("DKIM-Signature", []))) + " ")' "$last")
[ "$sels" = "s=rot2-ed s=rot2-rsa " ] || fail "after rotate-key --activate-now the message is signed with: $sels"
"$HERALD" domain show a.test "${D[@]}" --no-dns > "$T/rot-show.zone"
"$PY" "$HERALD_SOURCE_DIR/tests/interop/serve/dkim_check.py" "$T/rot-show.zone" "$last" > "$T/dkim2.out" ||
  { cat "$T/dkim2.out"; fail "dkimpy rejects the rotated keys' signatures"; }
# a staged rotation changes nothing the server signs with: it says how to
# make the server look once the records are published
"$HERALD" domain rotate-key a.test "${D[@]}" --selector rot3 > "$T/rot3.zone"
grep -q 'systemctl reload herald' "$T/rot3.zone" || { cat "$T/rot3.zone"; fail "a staged rotate-key does not say how to make the server look"; }
pass "rotate-key --activate-now: the running server signs with the new keys at once (dkimpy); a staged one says how to reload"

# ---- 2. domain remove while the server runs ----
"$HERALD" domain remove b.test "${D[@]}" > "$T/rm.out"
grep -q 'the running server has reloaded' "$T/rm.out" || { cat "$T/rm.out"; fail "domain remove is silent about the server"; }
if swaks_auth alice alice-passw0rd alice@b.test "$T/s2.log"; then
  fail "mail from a removed domain is still taken"
fi
grep -Eq '<~?\*+ +5[0-9][0-9] ' "$T/s2.log" || { cat "$T/s2.log"; fail "removed domain: no 5xx refusal"; }
code=$(api_send app@b.test "$KEY")
[ "$code" = 403 ] || fail "API send from a removed domain: HTTP $code, want 403"
pass "domain remove: the running server refuses b.test at once (SMTP 5xx, API 403)"

# ---- 3. users and API keys: read at each login and request ----
echo 'bob-passw0rd-1' | "$HERALD" user add bob --domains '*' --password-stdin "${D[@]}" 2> "$T/u.err"
grep -q 'at once' "$T/u.err" || { cat "$T/u.err"; fail "user add does not say when it takes effect"; }
swaks_auth bob bob-passw0rd-1 bob@a.test "$T/s3.log" || { cat "$T/s3.log"; fail "a user added while the server runs cannot log in"; }
echo 'bob-passw0rd-2' | "$HERALD" user passwd bob --password-stdin "${D[@]}" 2>/dev/null
if swaks_auth bob bob-passw0rd-1 bob@a.test "$T/s4.log"; then fail "the old password still works"; fi
grep -Eq '<~?\*+ +535 ' "$T/s4.log" || { cat "$T/s4.log"; fail "old password: no 535"; }
swaks_auth bob bob-passw0rd-2 bob@a.test "$T/s5.log" || { cat "$T/s5.log"; fail "the new password does not work"; }
"$HERALD" user remove bob "${D[@]}" > "$T/urm.out"
grep -q 'at once' "$T/urm.out" || { cat "$T/urm.out"; fail "user remove does not say when it takes effect"; }
if swaks_auth bob bob-passw0rd-2 bob@a.test "$T/s6.log"; then fail "a removed user still logs in"; fi
pass "users: added, new password and removal take effect at once on the running server"

K2=$("$HERALD" apikey create --name short --domains a.test "${D[@]}" 2>/dev/null)
code=$(api_send app@a.test "$K2"); [ "$code" = 202 ] || fail "new key: HTTP $code"
"$HERALD" apikey revoke short "${D[@]}" > "$T/rev.out"
grep -q 'stops working at once' "$T/rev.out" || { cat "$T/rev.out"; fail "apikey revoke says nothing"; }
code=$(api_send app@a.test "$K2"); [ "$code" = 401 ] || fail "a revoked key: HTTP $code, want 401"
pass "apikey revoke: the next request with the key is 401"

# ---- 4. no server, and a server that cannot reload ----
hl_stop "$(hl_pid herald)"
"$HERALD" domain add --dns-zone /dev/null d.test "${D[@]}" --hostname mail.herald.test > "$T/d.zone"
grep -q "^; herald: no server is running on $T/data; it reads this when it starts$" "$T/d.zone" ||
  { head -5 "$T/d.zone"; fail "domain add without a server does not say so"; }
"$HERALD" domain list "${D[@]}" | grep -q '^d.test ' || fail "d.test not added without a server"
# a control socket that answers every request with 500
rm -f "$T/data/control.sock"
"$PY" - "$T/data/control.sock" > "$T/fake.log" 2>&1 <<'P' &
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4); s.settimeout(30)
c, _ = s.accept(); c.recv(4096)
c.sendall(b'HTTP/1.0 500 Error\r\nContent-Type: application/json\r\n\r\n{"error":"reload failed"}\n')
c.close()
P
fake=$!
hl_wait_for 10 test -S "$T/data/control.sock"
rc=0; "$HERALD" domain add --dns-zone /dev/null e.test "${D[@]}" --hostname mail.herald.test > "$T/e.zone" 2> "$T/e.err" || rc=$?
wait "$fake" || true
[ "$rc" = 0 ] || fail "domain add with a failing reload: exit $rc, want 0 (the domain is added)"
grep -q 'warning: the running server was not told (the server answered 500' "$T/e.err" ||
  { cat "$T/e.err"; fail "no warning when the reload fails"; }
grep -q 'systemctl reload herald' "$T/e.err" || fail "the warning does not say how to reload"
pass "no server: the change is made and said; a failed reload: exit 0 with a warning naming the fix"
