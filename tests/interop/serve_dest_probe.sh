#!/usr/bin/env bash
# serve_dest_probe.sh - issue 14 item 13: a destination that refused
# connections gets its mail soon after it comes back.
#   - one message to 10 recipients at down.test, whose next hop has nothing
#     listening: herald opens several connections at once and every one is
#     refused; the recipients are deferred (retry_min 1 s, so their own
#     retry time is not what holds them);
#   - then a receiver (tests/lib/receiver.py) starts listening there: all
#     10 must arrive within LIMIT seconds (the wait is a bounded loop; the
#     time it took is printed). Before the fix each of the refused
#     connections opened together counted as one more trouble, so the
#     destination was paused for the longest pause (5 minutes) at once;
#     now they count once, the pause starts at 5 s and, for a host that
#     does not answer, never grows past 1 min (herald/backoff.h).
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
LIMIT=${PROBE_LIMIT:-40}
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
retry_min = 1s
retry_max = 2s
[delivery]
mode = real
[route down.test]
next_hop = 127.0.0.5:$port
C
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null
hl_herald_start "$T/herald.conf" "$smtp"

rcpts=$(printf 'r%d@down.test,' 1 2 3 4 5 6 7 8 9 10); rcpts=${rcpts%,}
hl_smtp_send "$smtp" alice@example.com "$rcpts" "to a host that is down" > /dev/null || fail "submission"
deferred_all() {
  local r
  for r in 1 2 3 4 5 6 7 8 9 10; do hl_event_has "$T/data" deferred "r$r@down.test" || return 1; done
}
hl_wait_for 15 deferred_all || fail "the recipients were not deferred (connection refused)"
grep -q 'refused' <("$HERALD" events --data-dir "$T/data") || fail "the deferral does not say the connection was refused"
pass "10 recipients deferred: the next hop refuses connections"
sleep 1

hl_receiver_start 127.0.0.5 "$port" "$T/rx"
t0=$(date +%s%3N)
arrived() { [ "$(hl_spool_count "$T/rx")" -ge 10 ]; }
ok=0
hl_wait_for "$LIMIT" arrived && ok=1 || true
took=$(( $(date +%s%3N) - t0 ))
echo "the destination came back: $(hl_spool_count "$T/rx") of 10 messages arrived, the last $took ms after it listened (limit ${LIMIT} s)"
echo "deferrals while it was down: $(hl_event_count "$T/data" deferred r1@down.test) for r1@down.test"
[ "$ok" = 1 ] || fail "a destination that came back got $(hl_spool_count "$T/rx") of 10 messages within $LIMIT s: it stays paused"
pass "all 10 delivered within $LIMIT s of the destination coming back"
kill -0 "$(hl_pid herald)" || fail "the server died"
echo "serve_dest_probe: passed"
