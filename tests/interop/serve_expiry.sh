#!/usr/bin/env bash
# serve_expiry.sh - [queue] max_lifetime: a recipient that is never
# delivered ends 'expired' and leaves the queue.
#   - a receiver that answers 451 to one address every time: the address is
#     deferred (retry_min = 1s), retried, and expires within ~10 s with its
#     attempts counted; another recipient of the same message is delivered;
#   - a destination where nothing listens ([route] to a closed port): the
#     recipient is deferred with a reason that names the connection failure
#     and the host, then expires.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 30 "$T/herald.log" >&2 || true; exit 1; }
pass() { echo "ok: $*"; }
# bug: a check that fails because of a known server bug (reported); the
# test goes on and fails at the end
bugs=0
bug() { echo "FAIL [server bug]: $*" >&2; bugs=$((bugs + 1)); }

port=$(hl_free_port 127.0.0.2)
echo '{"never@rx.test": "tempfail 1000000"}' > "$T/behaviour.json"
hl_receiver_start 127.0.0.2 "$port" "$T/rx" "$T/behaviour.json"
closed=$(hl_free_port 127.0.0.3)     # nothing listens there
smtp=$(hl_free_port); status=$(hl_free_port)
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
listen = 127.0.0.1:$(hl_free_port)
[queue]
max_lifetime = 4s
retry_min = 1s
retry_max = 2s
[delivery]
mode = real
connect_timeout = 2s
[dns]
zone_file = $T/zone
[route rx.test]
next_hop = 127.0.0.2:$port
[route dead.test]
next_hop = 127.0.0.3:$closed
C
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null
hl_herald_start "$T/herald.conf" "$smtp"

t0=$(date +%s)
id1=$(hl_smtp_send "$smtp" alice@example.com never@rx.test,fine@rx.test "expiry") || fail "submission 1"
id2=$(hl_smtp_send "$smtp" alice@example.com nobody@dead.test "dead host") || fail "submission 2"
hl_wait_spool "$T/rx" 1 10 || fail "fine@rx.test not delivered"
pass "the other recipient of the message is delivered"

hl_wait_for 12 hl_event_has "$T/data" expired never@rx.test || fail "never@rx.test did not expire within 12 s"
hl_wait_for 12 hl_event_has "$T/data" expired nobody@dead.test || fail "nobody@dead.test did not expire within 12 s"
elapsed=$(( $(date +%s) - t0 ))
[ "$elapsed" -le 12 ] || fail "expiry took ${elapsed}s"
pass "both recipients expired (after ${elapsed}s; max_lifetime 4s)"

hl_events "$T/data" > "$T/events.json"
/usr/bin/python3 - "$T/events.json" "$closed" <<'P' || fail "events"
import json, re, sys
def at_ms(e):   # the event field "at" (RFC 3339 UTC, milliseconds) as Unix ms
    from datetime import datetime
    return round(datetime.strptime(e["at"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000)
ev = [json.loads(l) for l in open(sys.argv[1])]
closed = sys.argv[2]
def of(rcpt, t):
    return [e for e in ev if e.get("recipient") == rcpt and e["type"] == t]
bad = 0
acc = [e for e in ev if e["type"] == "accepted"]
start = min(at_ms(e) for e in acc)

# 451 every time: deferred at least twice (retried), then expired once
d = of("never@rx.test", "deferred")
x = of("never@rx.test", "expired")
print("never@rx.test: %d deferred, expired: %s" % (len(d), [e.get("reply") for e in x]))
if len(d) < 2:
    print("FAIL: want at least 2 deferrals (the first try and a retry), got", len(d)); bad += 1
if any("451" not in e.get("reply", "") for e in d):
    print("FAIL: a deferral without the receiver's 451:", d); bad += 1
if len(x) != 1:
    print("FAIL: want one expired event, got", len(x)); bad += 1
elif at_ms(x[0]) - start > 10000:
    print("FAIL: expired %d ms after acceptance" % (at_ms(x[0]) - start)); bad += 1
if of("never@rx.test", "delivered"):
    print("FAIL: never@rx.test delivered"); bad += 1
if not of("fine@rx.test", "delivered"):
    print("FAIL: fine@rx.test not delivered"); bad += 1

# nothing listening: the reason says so and names host and port
d = of("nobody@dead.test", "deferred")
x = of("nobody@dead.test", "expired")
print("nobody@dead.test: deferred %s; expired %s" % ([e.get("reply") for e in d], [e.get("reply") for e in x]))
if not d:
    print("FAIL: nobody@dead.test was never deferred"); bad += 1
for e in d:
    r = e.get("reply", "")
    if not re.search(r"connect|refused", r, re.I) or closed not in r or not r.startswith("4"):
        print("FAIL: deferral reason does not say the connection to port %s failed: %r" % (closed, r)); bad += 1
if len(x) != 1:
    print("FAIL: want one expired event for nobody@dead.test, got", len(x)); bad += 1
sys.exit(1 if bad else 0)
P
pass "events: 451 deferrals then expired; dead host deferred with the connection error, then expired"

# BUG (deliver.c session_over): a connection that fails before the
# greeting is reported as "451 HOST 0 4.4.2 4.4.1 HOST: Connection
# refused": the code 0 of "no reply", two enhanced codes, the host twice.
# A clear reason has one enhanced code and names the host once.
reply=$(/usr/bin/python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["type"] == "deferred" and e.get("recipient") == "nobody@dead.test":
        print(e["reply"]); break' "$T/events.json")
/usr/bin/python3 - "$reply" "$closed" <<'P' || bug "dead host deferral reason is garbled: \"$reply\""
import re, sys
r, port = sys.argv[1], sys.argv[2]
codes = re.findall(r"\b[245]\.\d{1,3}\.\d{1,3}\b", r)
assert re.match(r"4\d\d 4\.4\.\d ", r), "want 4xx 4.4.x first"
assert len(codes) == 1, codes
assert r.count(":" + port) == 1, "host named more than once"
assert not re.search(r"\s0\s", r), "a reply code 0"
P

# BUG (queue.c queue_next_batch, "expired before delivery"): a recipient
# that is due when its message has expired is ended there with "expired
# before delivery" (though it was tried: its attempts and last reply are
# lost) and without a log line; one whose next retry would fall after
# max_lifetime is ended in rcpt_defer with "expired after N attempts;
# last: ..." and logged. never@rx.test takes either way depending on the
# jitter; nobody@dead.test always takes the first (its destination is
# paused past max_lifetime after the refused connection), so it is the one
# checked: its expiry should read and be logged as rcpt_defer's does.
xr=$(/usr/bin/python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["type"] == "expired" and e.get("recipient") == "nobody@dead.test":
        print(e.get("reply", "")); break' "$T/events.json")
case "$xr" in
  *attempt*refused*) ;;
  *) bug "the expired event of nobody@dead.test (tried, connection refused) says \"$xr\" (want its attempts and last reply)" ;;
esac
grep -Eq 'nobody@dead.test.*expire|expire.*nobody@dead.test' "$T/herald.log" || bug "no log line for the expiry of nobody@dead.test"

# the recipient rows keep the attempts; the queue is empty
"$HERALD" queue show "$id1" --json --data-dir "$T/data" | head -1 > "$T/show1.json" || fail "queue show $id1"
"$HERALD" queue show "$id2" --json --data-dir "$T/data" | head -1 > "$T/show2.json" || fail "queue show $id2"
/usr/bin/python3 - "$T/show1.json" "$T/show2.json" <<'P' || fail "queue show after expiry"
import json, sys
m1, m2 = (json.load(open(f)) for f in sys.argv[1:3])
r = {x["address"]: x for x in m1["recipients"] + m2["recipients"]}
print({a: (x["state"], x["attempts"], x["last_reply"]) for a, x in r.items()})
assert r["never@rx.test"]["state"] == "expired", r["never@rx.test"]
assert r["never@rx.test"]["attempts"] >= 2, r["never@rx.test"]
assert r["fine@rx.test"]["state"] == "delivered", r["fine@rx.test"]
assert r["nobody@dead.test"]["state"] == "expired", r["nobody@dead.test"]
assert r["nobody@dead.test"]["attempts"] >= 1, r["nobody@dead.test"]
P
pass "queue show: expired with the attempts made"
"$HERALD" queue list --data-dir "$T/data" | grep 'the queue is empty' > /dev/null || fail "the queue is not empty"
curl -sf "http://127.0.0.1:$status/metrics" | grep '^herald_expired_total 2$' > /dev/null || fail "metrics: expired_total is not 2"
pass "queue empty, expiries counted in the metrics"
[ "$bugs" -eq 0 ] || { echo "serve_expiry: $bugs check(s) failed on known server bugs" >&2; exit 1; }
echo "serve_expiry: passed"
