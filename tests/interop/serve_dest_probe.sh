#!/usr/bin/env bash
# serve_dest_probe.sh - issue 14 item 13: a destination that refused
# connections gets its mail soon after it comes back.
#   - one message to 10 recipients at down.test, whose next hop has nothing
#     listening: herald opens several connections at once and every one is
#     refused; the recipients are deferred for their own retry time
#     (retry_min 60 s, so that is not what brings them);
#   - a receiver (tests/lib/receiver.py) starts listening there, and no
#     other mail comes: all 10 must arrive within LIMIT seconds (a bounded
#     wait; the time it took is printed), with no deferral but the first.
# Before the fix each of the refused connections opened together counted
# as one more trouble, so the destination was paused for the longest pause
# (5 minutes) at once, and the recipients waited for their own retry time
# anyway. Now the burst counts once, the pause starts at 5 s and grows to
# at most 1 min for a host that does not answer (herald/backoff.h); when
# it is over one connection with nothing to send probes the host, and once
# it is taken the recipients that waited for the host are due at once.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
LIMIT=${PROBE_LIMIT:-30}   # under retry_min's 60 s (-20 % jitter): A's own retry cannot pass
fail() { echo "FAIL: $*" >&2; tail -n 30 "$T/herald.log" >&2 || true; exit 1; }
pass() { echo "ok: $*"; }

port=$(hl_free_port 127.0.0.5)
smtp=$(hl_free_port)
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $T/data
[smtp]
listen = 127.0.0.1:$smtp
trusted_networks = 127.0.0.0/8
[status]
listen = 127.0.0.1:$(hl_free_port)
[api]
listen = 127.0.0.1:$(hl_free_port)
[queue]
retry_min = 60s
retry_max = 1h
[delivery]
mode = real
[route down.test]
next_hop = 127.0.0.5:$port
C
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null
hl_herald_start "$T/herald.conf" "$smtp"

rcpts=$(printf 'r%d@down.test,' 1 2 3 4 5 6 7 8 9 10); rcpts=${rcpts%,}
hl_smtp_send "$smtp" alice@example.com "$rcpts" "A: to a host that is down" > /dev/null || fail "submitting A"
deferred_all() {
  local r
  for r in 1 2 3 4 5 6 7 8 9 10; do hl_event_has "$T/data" deferred "r$r@down.test" || return 1; done
}
hl_wait_for 15 deferred_all || fail "the recipients were not deferred (connection refused)"
t_down=$(date +%s%3N)
grep -q 'refused' <("$HERALD" events --data-dir "$T/data") || fail "the deferral does not say the connection was refused"
pass "A's 10 recipients deferred: the next hop refuses connections"

hl_receiver_start 127.0.0.5 "$port" "$T/rx"
t0=$(date +%s%3N)
arrived() { [ "$(hl_spool_count "$T/rx")" -ge 10 ]; }
ok=0
hl_wait_for "$LIMIT" arrived && ok=1 || true
now=$(date +%s%3N)
echo "the destination came back: $(hl_spool_count "$T/rx") of 10 messages arrived," \
  "the last $((now - t0)) ms after it listened ($((now - t_down)) ms after the refusals; limit ${LIMIT} s)"
[ "$ok" = 1 ] || fail "a destination that came back got $(hl_spool_count "$T/rx") of 10 messages within $LIMIT s: it stays paused, or its deferred mail waits"
n=$(hl_event_count "$T/data" deferred r1@down.test)
[ "$n" = 1 ] || fail "r1@down.test has $n deferred events: a probe must write none"
grep -q 'down.test: answers again; 10 recipients deferred while it did not are due now' "$T/herald.log" ||
  fail "the log does not say the destination answers again"
pass "all 10 delivered within $LIMIT s of the destination coming back, no mail needed to probe it, one deferral each"
kill -0 "$(hl_pid herald)" || fail "the server died"
echo "serve_dest_probe: passed"
