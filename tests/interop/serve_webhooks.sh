#!/usr/bin/env bash
# serve_webhooks.sh - webhooks (docs/webhooks.md) against Python receivers
# (tests/lib/webhook_receiver.py) that check every Herald-Signature with the
# shared secret themselves.
#   - every event of sandbox-delivered messages arrives, signed, with the
#     headers and the JSON body of docs/webhooks.md;
#   - the receiver answers 500 first: the event is retried and delivered,
#     and a message's events keep their order (accepted before captured);
#   - domain and event-type filters;
#   - an endpoint that is down past max_retry_time (5 s here): the event is
#     dead, `herald webhooks failed` shows it, `herald webhooks retry` sends
#     it once the endpoint is up;
#   - https: verified against ca_file; refused (and dead) without it;
#   - the receiver down while herald restarts: delivered after the restart;
#   - metrics; the secrets never appear in the log or in `webhooks list`.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 40 "$T/herald.log" >&2 || true; exit 1; }
pass() { echo "ok: $*"; }
RX=$HERALD_SOURCE_DIR/tests/lib/webhook_receiver.py
S_ALL=all-endpoint-secret-0123456789abcdef0123
S_FILT=filtered-secret-abcdefabcdefabcdefabcdef
S_SHORT=short-window-secret-99887766554433221100
W() { "$HERALD" webhooks "$@" --config "$T/herald.conf"; }

p_all=$(hl_free_port); p_filt=$(hl_free_port); p_short=$(hl_free_port); p_tls=$(hl_free_port)
S_TLS=tls-endpoint-secret-0123456789abcdef01234
hl_self_signed_cert "$T/tls" localhost
smtp=$(hl_free_port); status=$(hl_free_port); api=$(hl_free_port)
rx_start() { # NAME PORT SECRET [ARGS...]
  local name=$1 port=$2 secret=$3; shift 3
  hl_spawn "rx-$name" "$T/rx-$name.log" "$HL_PY" "$RX" --port "$port" --secret "$secret" \
    --out "$T/rx-$name.jsonl" "$@"
  hl_wait_port 127.0.0.1 "$port" 10 tcp "$(hl_pid "rx-$name")"
}
echo 'unused.test. IN A 127.0.0.9' > "$T/zone"
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
listen = 127.0.0.1:$api
[dns]
zone_file = $T/zone
[webhook all]
url = http://127.0.0.1:$p_all/hooks/herald?app=1
secret = $S_ALL
[webhook filtered]
url = http://127.0.0.1:$p_filt/f
secret = $S_FILT
domains = other.example
events = captured
[webhook short]
url = http://127.0.0.1:$p_short/
secret = $S_SHORT
domains = example.com
events = accepted
max_retry_time = 5s
[webhook tls]
url = https://127.0.0.1:$p_tls/t
secret = $S_TLS
ca_file = $HL_CERT
domains = example.com
events = captured
[webhook untrusted]
url = https://127.0.0.1:$p_tls/u
secret = $S_TLS
domains = example.com
events = accepted
max_retry_time = 5s
C
for d in example.com other.example; do
  "$HERALD" domain add --dns-zone /dev/null "$d" --data-dir "$T/data" --hostname mail.herald.test > /dev/null
done
KEY=$("$HERALD" apikey create --name ev --all-domains --data-dir "$T/data" 2> /dev/null)

# "all" answers 500 to its first request; "short" is down (nothing listens)
rx_start all "$p_all" "$S_ALL" --fail-first 1
rx_start filt "$p_filt" "$S_FILT"
rx_start tls "$p_tls" "$S_TLS" --tls-cert "$HL_CERT" --tls-key "$HL_KEY"
# the file holds secrets: a server refuses it while others may read it
chmod 644 "$T/herald.conf"
r=0; "$HERALD" serve --config "$T/herald.conf" --check > "$T/check.out" 2>&1 || r=$?
[ "$r" = 78 ] && grep -q 'chmod 600' "$T/check.out" || fail "a config with secrets that others may read was taken (exit $r)"
# check_mode WANT LABEL: `serve --check` on the file as it is now: WANT 0
# (taken) or 78 (refused, naming chmod 600)
check_mode() {
  local r=0
  "$HERALD" serve --config "$T/herald.conf" --check > "$T/check.out" 2>&1 || r=$?
  [ "$r" = "$1" ] || fail "$2: exit $r, want $1: $(cat "$T/check.out")"
  [ "$1" = 0 ] || grep -q 'chmod 600' "$T/check.out" || fail "$2: the refusal does not say chmod 600"
}
# group-writable, even by our own group: refused (the server could be
# made to rewrite its own webhooks)
chmod 660 "$T/herald.conf"; check_mode 78 "group-writable"
# group-readable by our own group: taken (the service reads it as herald)
chmod 640 "$T/herald.conf"; check_mode 0 "0640, our own group"
# group-readable by another group: refused; as root, taken when that group
# owns the data directory (root:herald herald.conf and herald:herald
# /var/lib/herald, as the Debian package makes them, checked by root)
if [ "$(id -u)" = 0 ]; then
  other=$(getent group nogroup | cut -d: -f3)   # Debian's base-passwd has it
  [ -n "$other" ] && [ "$other" != "$(id -g)" ] || fail "need a group other than ours (nogroup)"
else
  other=$(id -G | tr ' ' '\n' | grep -vx "$(id -g)" | head -n 1 || true)
fi
if [ -n "$other" ]; then
  chgrp "$other" "$T/herald.conf"; check_mode 78 "0640, another group"
  if [ "$(id -u)" = 0 ]; then
    chgrp "$other" "$T/data"; check_mode 0 "0640, the data directory's group, checked by root"
    chgrp "$(id -g)" "$T/data"
  fi
  chgrp "$(id -g)" "$T/herald.conf"
else
  echo "note: not checked: a group other than ours (this user belongs to none)"
fi
chmod 600 "$T/herald.conf"
hl_herald_start "$T/herald.conf" "$smtp"

A=$(hl_smtp_send "$smtp" alice@example.com a@rx.test "message A") || fail "submission A"
B=$(hl_smtp_send "$smtp" bob@other.example b@rx.test "message B") || fail "submission B"

# answered 200: "accepted" and "captured" of A and of B
ok_count() { # FILE: requests answered 200
  [ -f "$1" ] || { echo 0; return; }
  grep -c '"status": 200' "$1" || true
}
at_least() { [ "$(ok_count "$1")" -ge "$2" ]; }
hl_wait_for 40 at_least "$T/rx-all.jsonl" 4 || fail "endpoint 'all' did not get 4 events"
/usr/bin/python3 - "$T/rx-all.jsonl" "$A" "$B" <<'P' || fail "endpoint 'all': what arrived"
import json, re, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
A, B = sys.argv[2], sys.argv[3]
assert all(r["sig_ok"] for r in recs), [r for r in recs if not r["sig_ok"]]
for r in recs:
    assert r["path"] == "/hooks/herald?app=1", r
    assert r["webhook"] == "all" and r["user_agent"] == "herald", r
    assert r["content_type"] == "application/json", r
    assert r["event_id"] == str(r["body"]["id"]), r
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["body"]["at"]), r
# the first request failed (500), and that same event came again and was taken
first = recs[0]
assert first["status"] == 500, first
again = [r for r in recs[1:] if r["event_id"] == first["event_id"]]
assert again and again[0]["status"] == 200, recs
ok = [r for r in recs if r["status"] == 200]
ids = [r["body"]["id"] for r in ok]
assert len(ids) == len(set(ids)), ("delivered twice", ids)
for msg, dom in ((A, "example.com"), (B, "other.example")):
    mine = [r["body"] for r in ok if r["body"].get("message") == msg]
    assert [b["type"] for b in mine] == ["accepted", "captured"], (msg, mine)
    assert all(b["domain"] == dom for b in mine), mine
    assert mine[1]["recipient"].endswith("@rx.test"), mine
    # order per message: nothing of the message was sent before its first event was taken
    n_acc = [r["n"] for r in recs if r["body"]["id"] == mine[0]["id"] and r["status"] == 200][0]
    later = [r["n"] for r in recs if r["body"]["id"] == mine[1]["id"]]
    assert min(later) > n_acc, ("order", msg, recs)
print("all: %d requests, %d taken, first answered 500 and retried" % (len(recs), len(ok)))
P
pass "every event signed and delivered; a 500 is retried; order per message kept"

# one event object: what a webhook got, `herald events --json` prints and
# GET /v1/events answers are the same object (keys and values) per event
"$HERALD" events --json --data-dir "$T/data" > "$T/cli-events.jsonl"
curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$api/v1/events?limit=1000" > "$T/api-events.json"
/usr/bin/python3 - "$T/rx-all.jsonl" "$T/cli-events.jsonl" "$T/api-events.json" <<'P' || fail "one event shape"
import json, sys
hooks = {r["body"]["id"]: r["body"] for r in map(json.loads, open(sys.argv[1])) if r["status"] == 200}
cli = {e["id"]: e for e in map(json.loads, open(sys.argv[2]))}
api = {e["id"]: e for e in json.load(open(sys.argv[3]))["events"]}
assert hooks, "no webhook bodies"
n = 0
for i, h in sorted(hooks.items()):
    for name, other in (("herald events --json", cli), ("GET /v1/events", api)):
        o = other.get(i)
        assert o is not None, "%s lacks event %d" % (name, i)
        assert sorted(o) == sorted(h), "event %d keys: webhook %s, %s %s" % (i, sorted(h), name, sorted(o))
        assert o == h, "event %d: webhook %s\n%s %s" % (i, h, name, o)
        n += 1
assert all("domain" in e for e in cli.values() if "message" in e), "a CLI event without domain"
print("one shape: %d events compared (webhook = CLI = API)" % (n // 2))
P
pass "the same event object from a webhook, herald events --json and GET /v1/events"

# the filtered endpoint: only "captured" of other.example
hl_wait_for 20 at_least "$T/rx-filt.jsonl" 1 || fail "endpoint 'filtered' got nothing"
/usr/bin/python3 - "$T/rx-filt.jsonl" "$B" <<'P' || fail "endpoint 'filtered': what arrived"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 1, recs
b = recs[0]["body"]
assert recs[0]["sig_ok"] and b["type"] == "captured" and b["message"] == sys.argv[2], recs
assert b["domain"] == "other.example", b
# the captured event carries the verdict (docs/webhooks.md): what herald
# verify --json says of the message, with the Authentication-Results field
d = b.get("detail")
assert isinstance(d, dict), ("no verdict in the captured event", b)
ar = d["authentication_results"]
assert ar.startswith("Authentication-Results: mail.herald.test;"), ar
for want in ("spf=pass", "dkim=pass", "dmarc=pass"):
    assert want in ar, (want, ar)
assert d["spf"]["result"] == "pass" and d["dmarc"]["result"] == "pass", d
assert [k["result"] for k in d["dkim"]] == ["pass", "pass"], d["dkim"]
assert d["from_domain"] == "other.example" and d["explanation"], d
assert "250" not in b["reply"] and "not sent" in b["reply"], b["reply"]
P
pass "domain and type filters; the captured event's detail is the verdict"

# the shell recipe of docs/webhooks.md, with openssl, on a request as received
/usr/bin/python3 - "$T/rx-filt.jsonl" "$T/body.json" "$T/sig.txt" <<'P'
import json, sys
r = json.loads(open(sys.argv[1]).readline())
open(sys.argv[2], "w").write(r["raw"])
open(sys.argv[3], "w").write(r["signature"])
P
SIG=$(cat "$T/sig.txt"); SECRET=$S_FILT
t=${SIG#t=}; t=${t%%,*}
v1=${SIG#*v1=}; v1=${v1%%,*}
want=$( { printf '%s.' "$t"; cat "$T/body.json"; } |
        openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)
[ "$want" = "$v1" ] && [ $(( $(date +%s) - t )) -le 300 ] || fail "the openssl recipe does not verify"
want=$( { printf '%s.' "$t"; cat "$T/body.json"; } |
        openssl dgst -sha256 -hmac "$S_ALL" -r | cut -d' ' -f1)
[ "$want" != "$v1" ] || fail "the openssl recipe verifies with another secret"
pass "the documented openssl check verifies a request"

# https: the certificate is verified against ca_file; without it (the
# system's CAs) the self-signed one is refused and the event dies
hl_wait_for 20 at_least "$T/rx-tls.jsonl" 1 || fail "endpoint 'tls' got nothing over https"
/usr/bin/python3 - "$T/rx-tls.jsonl" "$A" <<'P' || fail "endpoint 'tls': what arrived"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 1 and recs[0]["sig_ok"] and recs[0]["path"] == "/t", recs
assert recs[0]["body"]["type"] == "captured" and recs[0]["body"]["message"] == sys.argv[2], recs
P
pass "https with a private CA (ca_file)"

# the short window: A's "accepted" is dead after 5 s of refused connections
dead_listed() { W failed > "$T/failed.txt" 2>&1 && grep -q "short" "$T/failed.txt" &&
                grep -q "untrusted" "$T/failed.txt"; }
hl_wait_for 30 dead_listed || { cat "$T/failed.txt"; fail "no dead letter for 'short'"; }
W failed --json > "$T/failed.json" || fail "webhooks failed --json"
dead_id=$(/usr/bin/python3 - "$T/failed.json" "$A" <<'P'
import json, sys
rows = {r["endpoint"]: r for r in json.load(open(sys.argv[1]))}
assert sorted(rows) == ["short", "untrusted"], rows
for r in rows.values():
    assert r["type"] == "accepted" and r["message"] == sys.argv[2], r
    assert r["attempts"] >= 2, r       # the first try, and one at the end of the window
    assert r["since"].endswith("Z") and r["last_attempt_unix"] >= r["since_unix"] > 0, r
assert "connection" in rows["short"]["last_error"], rows
assert "certificate verify failed" in rows["untrusted"]["last_error"], rows
print(rows["short"]["id"])
P
) || fail "webhooks failed --json content"
cat "$T/failed.txt"
pass "dead letters after max_retry_time (refused, untrusted certificate), shown by webhooks failed"

rx_start short "$p_short" "$S_SHORT"
W retry "$dead_id" > "$T/retry.out" || fail "webhooks retry $dead_id: $(cat "$T/retry.out")"
grep -qx '1 dead webhook event to be sent again' "$T/retry.out" || fail "webhooks retry: $(cat "$T/retry.out")"
hl_wait_for 20 at_least "$T/rx-short.jsonl" 1 || fail "the retried dead event did not arrive"
/usr/bin/python3 - "$T/rx-short.jsonl" "$A" <<'P' || fail "endpoint 'short': what arrived"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 1 and recs[0]["sig_ok"], recs
assert recs[0]["body"]["type"] == "accepted" and recs[0]["body"]["message"] == sys.argv[2], recs
P
no_dead() { W failed > "$T/failed2.txt" 2>&1 && ! grep -q "short" "$T/failed2.txt"; }
hl_wait_for 10 no_dead || fail "the dead letter is still listed: $(cat "$T/failed2.txt")"
r=0; W retry 999999 --json > "$T/retry2.out" 2> "$T/retry2.err" || r=$?
[ "$r" = 66 ] || fail "webhooks retry of an unknown id: exit $r, want 66"
[ -s "$T/retry2.out" ] && fail "webhooks retry of an unknown id: the error went to standard output"
grep -q 'webhooks retry 999999: no such dead webhook event' "$T/retry2.err" ||
  fail "webhooks retry of an unknown id: want the reason on standard error: $(cat "$T/retry2.err")"
pass "webhooks retry sends a dead event again"

# metrics
curl -s "http://127.0.0.1:$status/metrics" > "$T/metrics.txt"
grep -q '^herald_webhook_sent_total{webhook="all"} 4$' "$T/metrics.txt" ||
  fail "metrics: sent_total: $(grep webhook "$T/metrics.txt")"
grep -q '^herald_webhook_failed_attempts_total{webhook="all"} 1$' "$T/metrics.txt" ||
  fail "metrics: failed attempts"
grep -q '^herald_webhook_dead_total{webhook="short"} 1$' "$T/metrics.txt" || fail "metrics: dead"
grep -q '^herald_webhook_pending{webhook="untrusted"} 0$' "$T/metrics.txt" || fail "metrics: pending (dead)"
grep -q '^herald_webhook_pending{webhook="all"} 0$' "$T/metrics.txt" || fail "metrics: pending"
pass "metrics"

# down while herald restarts: "all" is stopped, a message is submitted,
# herald stops with its events pending, the receiver comes back, herald
# starts again and delivers them
hl_stop "$(hl_pid rx-all)"
C=$(hl_smtp_send "$smtp" carol@example.com c@rx.test "message C") || fail "submission C"
pending_all() { W list --json > "$T/list.json" && /usr/bin/python3 -c '
import json, sys
l = {w["name"]: w for w in json.load(open(sys.argv[1]))}
sys.exit(0 if l["all"]["pending"] >= 2 else 1)' "$T/list.json"; }
hl_wait_for 20 pending_all || fail "C's events are not pending for 'all': $(cat "$T/list.json")"
hl_wait_for 20 grep -q "webhook all: event .*connection" "$T/herald.log" ||
  fail "no failed attempt logged for 'all' while it is down"
hl_stop "$(hl_pid herald)"
rx_start all2 "$p_all" "$S_ALL"
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald2.log"
cat "$T/herald2.log" >> "$T/herald.log"
hl_wait_for 40 at_least "$T/rx-all2.jsonl" 2 || fail "C's events did not arrive after the restart"
/usr/bin/python3 - "$T/rx-all2.jsonl" "$C" <<'P' || fail "after the restart: what arrived"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert all(r["sig_ok"] for r in recs), recs
types = [r["body"]["type"] for r in recs if r["status"] == 200 and r["body"]["message"] == sys.argv[2]]
assert types == ["accepted", "captured"], recs
P
pass "events pending while the receiver was down are delivered after a restart"

# list shows progress, never a secret
W list > "$T/list.txt" || fail "webhooks list"
W list --json > "$T/list.json" || fail "webhooks list --json"
cat "$T/list.txt"
grep -q "^all  http://127.0.0.1:$p_all/hooks/herald?app=1" "$T/list.txt" || fail "list: endpoint line"
grep -q "domains: other.example" "$T/list.txt" || fail "list: domains"
cat "$T/herald2.log" >> "$T/herald.log"
for s in "$S_ALL" "$S_FILT" "$S_SHORT" "$S_TLS"; do
  n=$(cat "$T/herald.log" "$T/herald2.log" "$T/list.txt" "$T/list.json" | grep -c -- "$s" || true)
  [ "$n" = 0 ] || fail "a secret appears $n times in the log or the list"
done
pass "no secret in the log or in webhooks list"

# usage errors, and retry without a running server
code() { local r=0; "$@" > /dev/null 2>&1 || r=$?; echo "$r"; }
[ "$(code W retry)" = 64 ] || fail "webhooks retry without an id: want exit 64"
[ "$(code W retry 12x)" = 64 ] || fail "webhooks retry 12x: want exit 64"
[ "$(code W retry 1 --all)" = 64 ] || fail "webhooks retry 1 --all: want exit 64"
[ "$(code W frobnicate)" = 64 ] || fail "webhooks frobnicate: want exit 64"
hl_stop "$(hl_pid herald)"
[ "$(code W retry --all)" = 75 ] || fail "webhooks retry with no server: want exit 75"
[ "$(code W failed)" = 0 ] || fail "webhooks failed reads the database without a server"
pass "usage errors; retry needs the running server"

# retention removes every event, so SQLite numbers new events from 1 again:
# the endpoints must not skip them as already read
sleep 2
cp "$T/herald.conf" "$T/herald-ret.conf"
chmod 600 "$T/herald-ret.conf"
printf '[queue]\nretention = 1s\n' >> "$T/herald-ret.conf"
hl_herald_start "$T/herald-ret.conf" "$smtp" herald "$T/herald3.log"
# (the start's retention pass is queued at the committer before any message)
D=$(hl_smtp_send "$smtp" dave@example.com d@rx.test "message D") || fail "submission D"
got_d() { local n; n=$(grep -c "\"message\": \"$D\"" "$T/rx-all2.jsonl" || true); [ "$n" = 2 ]; }
hl_wait_for 30 got_d || fail "events numbered from 1 again were not sent: $(tail -5 "$T/herald3.log")"
pass "events after a total prune are sent"
