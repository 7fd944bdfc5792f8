#!/usr/bin/env bash
# serve_crash.sh - nothing accepted is ever lost: while Postfix's
# smtp-source submits 2,000 messages over 20 sessions, herald is killed
# with SIGKILL several times and restarted. Every message that got a 250
# ("Ok: queued as ID" in smtp-source's log) must reach the receiving
# smtp-sink (herald's Received field names the ID). Duplicates (a message
# delivered twice because a crash hit between delivery and its record) are
# allowed, counted and reported.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
ROUNDS=${CRASH_ROUNDS:-4}
PER_ROUND=${CRASH_PER_ROUND:-500}
fail() { echo "FAIL: $*" >&2; tail -n 30 "$T"/herald*.log >&2 || true; exit 1; }

sink=$(hl_free_port)
hl_sink_start 127.0.0.1 "$sink" "$T/dump"
smtp=$(hl_free_port); status=$(hl_free_port)
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $T/data
[smtp]
trusted_networks = 127.0.0.0/8
listen = 127.0.0.1:$smtp
[status]
listen = 127.0.0.1:$status
[api]
listen = 127.0.0.1:$(hl_free_port)
[queue]
retry_min = 1s
retry_max = 2s
[delivery]
mode = real
[route *]
next_hop = 127.0.0.1:$sink
C
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null

start_herald() {
  hl_spawn herald "$T/herald-$1.log" "$HERALD" serve --config "$T/herald.conf"
  hl_wait_port 127.0.0.1 "$smtp" 15 tcp "$(hl_pid herald)"
}

kills=0
for ((round = 1; round <= ROUNDS; round++)); do
  start_herald "$round"
  /usr/sbin/smtp-source -v -N -s 20 -m "$PER_ROUND" -l 2048 -f alice@example.com -t user@sink.test \
    "127.0.0.1:$smtp" > "$T/source-$round.log" 2>&1 &
  src=$!
  # kill somewhere in the middle of the round (0.2 .. 1.2 s in)
  sleep "0.$((RANDOM % 10 + 2))"
  pid=$(hl_pid herald)
  kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
  # reaped before the next start: until then the dying process may still
  # hold the data directory's lock, and the next herald would refuse it
  wait "$pid" 2>/dev/null || true
  wait "$src" 2>/dev/null || true   # smtp-source stops at the lost connection
done
start_herald final

grep -ho 'Ok: queued as [0-9a-f]\{32\}' "$T"/source-*.log | awk '{print $4}' | sort -u > "$T/acked"
acked=$(wc -l < "$T/acked")
[ "$acked" -gt 0 ] || fail "no message was accepted at all"
delivered_ids() { grep -ho 'with E\?SMTP[SA]* id [0-9a-f]\{32\}' "$T"/dump/* 2>/dev/null | awk '{print $NF}'; }
missing() { comm -23 "$T/acked" <(delivered_ids | sort -u) | wc -l; }
for ((i = 0; i < 600; i++)); do
  [ "$(missing)" -eq 0 ] && break
  sleep 0.1
done
lost=$(missing)
total=$(delivered_ids | wc -l)
unique=$(delivered_ids | sort -u | wc -l)
dups=$((total - unique))
extra=$(comm -13 "$T/acked" <(delivered_ids | sort -u) | wc -l)
echo "serve_crash: $kills SIGKILLs; $acked messages got a 250; $unique of them delivered; lost $lost;" \
     "duplicates $dups; delivered without a 250 seen by the client $extra (accepted as the crash cut the reply)"
[ "$kills" -ge 3 ] || fail "fewer than 3 kills happened"
[ "$lost" -eq 0 ] || { comm -23 "$T/acked" <(delivered_ids | sort -u) | head >&2; fail "$lost accepted messages were lost"; }
"$HERALD" queue list --data-dir "$T/data" | grep 'the queue is empty' >/dev/null || fail "the queue did not drain"
echo "serve_crash: passed"
