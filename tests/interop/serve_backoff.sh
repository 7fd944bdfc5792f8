#!/usr/bin/env bash
# serve_backoff.sh - receivers that push back, and the per-minute limit.
#   - a receiver that greets the first connection with 421 and closes it:
#     the recipient is deferred (the event names the 421) and delivered
#     later;
#   - a receiver that answers one RCPT with 421 and closes the connection:
#     that recipient and the other one of the same transaction (which got
#     no answer) are deferred, then both delivered (verp_per_recipient = no
#     puts them in one transaction);
#   - after such connection-level trouble the destination is paused
#     (docs/architecture.md, delivery): the retry comes later than
#     retry_max alone would make it;
#   - [delivery] max_messages_per_minute = 5: of 8 messages to one
#     destination, 5 are delivered and 3 stay queued (untried) for the rest
#     of the minute; `herald queue flush` does not get round the limit.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 40 "$T/herald.log" >&2 || true; exit 1; }
pass() { echo "ok: $*"; }
bugs=0
bug() { echo "FAIL [server bug]: $*" >&2; bugs=$((bugs + 1)); }

port=$(hl_free_port 127.0.0.2)
echo '{":greeting": "busy 1"}' > "$T/greeting.json"
echo '{"busy@r.test": "busy 1"}' > "$T/rcpt.json"
hl_receiver_start 127.0.0.2 "$port" "$T/rx-g" "$T/greeting.json"
hl_receiver_start 127.0.0.3 "$port" "$T/rx-r" "$T/rcpt.json"
hl_receiver_start 127.0.0.4 "$port" "$T/rx-m" ""
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
retry_min = 1s
retry_max = 1s
[delivery]
# one transaction for a message's recipients at a domain, as this test needs
verp_per_recipient = no
mode = real
max_messages_per_minute = 5
[dns]
zone_file = $T/zone
[route g.test]
next_hop = 127.0.0.2:$port
[route r.test]
next_hop = 127.0.0.3:$port
[route m.test]
next_hop = 127.0.0.4:$port
C
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null
hl_herald_start "$T/herald.conf" "$smtp"

# 8 messages to m.test in one session, the two busy cases beside them
/usr/bin/python3 - "$smtp" <<'P' || fail "submitting 8 messages to m.test"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
for i in range(1, 9):
    s.sendmail("alice@example.com", ["m%d@m.test" % i],
               b"From: alice@example.com\r\nSubject: rate %d\r\n\r\nx\r\n" % i)
s.quit()
P
t_sent=$(date +%s%3N)
hl_smtp_send "$smtp" alice@example.com g1@g.test "greeting 421" > /dev/null || fail "submission to g.test"
hl_smtp_send "$smtp" alice@example.com busy@r.test,other@r.test "rcpt 421" > /dev/null || fail "submission to r.test"

# ---- 421 at the greeting, 421 at RCPT ----
for r in g1@g.test busy@r.test other@r.test; do
  hl_wait_for 20 hl_event_has "$T/data" delivered "$r" || fail "$r not delivered"
done
hl_events "$T/data" > "$T/events.json"
/usr/bin/python3 - "$T/events.json" <<'P' || fail "deferral events"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
def at_ms(e):   # the event field "at" (RFC 3339 UTC, milliseconds) as Unix ms
    from datetime import datetime
    return round(datetime.strptime(e["at"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000)
def of(r, t):
    return [e for e in ev if e.get("recipient") == r and e["type"] == t]
bad = 0
for r, want in (("g1@g.test", "421"), ("busy@r.test", "421"), ("other@r.test", "")):
    d, ok = of(r, "deferred"), of(r, "delivered")
    print("%-14s deferred %s; delivered %d ms after the first deferral"
          % (r, [e.get("reply") for e in d], at_ms(ok[0]) - at_ms(d[0]) if d and ok else -1))
    if len(d) != 1:
        print("FAIL: %s: want exactly one deferral, got %d" % (r, len(d))); bad += 1; continue
    if want not in d[0].get("reply", "") or not d[0].get("reply", "").startswith("4"):
        print("FAIL: %s: the deferral does not show the receiver's %s: %r" % (r, want, d[0].get("reply"))); bad += 1
    if len(ok) != 1:
        print("FAIL: %s: want one delivery, got %d" % (r, len(ok))); bad += 1
    elif at_ms(ok[0]) - at_ms(d[0]) < 3000:
        # retry_max = 1s (+20 % jitter, 1 s ticks) alone would retry within ~2.2 s
        print("FAIL: %s: retried %d ms after a 421: the destination was not paused"
              % (r, at_ms(ok[0]) - at_ms(d[0]))); bad += 1
sys.exit(1 if bad else 0)
P
grep -c '"stage": "greeting", "code": 421' "$T/rx-g.journal" | grep -qx 1 || fail "receiver g did not send exactly one 421 greeting"
grep '"rcpt": "busy@r.test"' "$T/rx-r.journal" | grep -c '"code": 421' | grep -qx 1 || fail "receiver r did not send exactly one 421 at RCPT"
pass "421 at the greeting and at RCPT: deferred (reply shown), the destination paused, then delivered"

# ---- the per-minute limit ----
# the 8 messages were accepted more than 5 s ago; the limit must hold
[ $(( $(date +%s%3N) - t_sent )) -ge 3000 ] || sleep 3
got=$(hl_spool_count "$T/rx-m")
[ "$got" -eq 5 ] || fail "max_messages_per_minute = 5: $got of 8 messages delivered to m.test, want 5"
q_count() { "$HERALD" queue list --json --data-dir "$T/data" | /usr/bin/python3 -c '
import json, sys
rs = [r for m in json.load(sys.stdin) for r in m["recipients"] if r["address"].endswith("@m.test")]
assert all(r["attempts"] == 0 for r in rs), rs
print(len(rs))'; }
[ "$(q_count)" -eq 3 ] || fail "want 3 m.test recipients queued (untried), got $(q_count)"
pass "5 of 8 messages delivered to the rate-limited destination, 3 queued untried"
peers_before=$(grep -c 'Peer:' "$T/rx-m.log" || true)
"$HERALD" queue flush --data-dir "$T/data" > /dev/null || fail "queue flush"
sleep 3
got=$(hl_spool_count "$T/rx-m")
[ "$got" -eq 5 ] || fail "after queue flush: $got messages delivered to m.test, want still 5"
[ "$(q_count)" -eq 3 ] || fail "after queue flush: want 3 m.test recipients queued"
pass "queue flush does not get round the per-minute limit"
for r in m1 m2 m3 m4 m5 m6 m7 m8; do
  [ "$(hl_event_count "$T/data" deferred "$r@m.test")" -eq 0 ] || fail "$r@m.test was deferred (a rate limit is not a failure)"
done
pass "no deferral events for the rate-limited recipients"

# BUG (queue.c dest_may_open, deliver.c start_txn, queue.c
# queue_conn_done): while the per-minute limit holds, dest_may_open() still
# lets the scheduler open a connection (n_ready > conns); the session finds
# no batch (queue_next_batch returns NULL at the limit) and QUITs;
# queue_conn_done() kicks the scheduler at once, which opens the next one:
# a tight connect/EHLO/QUIT loop against the receiver (thousands a second)
# for the rest of the minute. A destination at its limit should not be
# connected to at all.
peers_after=$(grep -c 'Peer:' "$T/rx-m.log" || true)
idle=$((peers_after - peers_before))
echo "connections to the rate-limited receiver: $peers_after in all, $idle in the 3 s after the flush"
[ "$idle" -eq 0 ] || bug "$idle connection(s) in 3 s to a destination at its per-minute limit (EHLO and QUIT, no message)"
kill -0 "$(hl_pid herald)" || fail "the server died"
[ "$bugs" -eq 0 ] || { echo "serve_backoff: $bugs check(s) failed on known server bugs" >&2; exit 1; }
echo "serve_backoff: passed"
