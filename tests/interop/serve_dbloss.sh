#!/usr/bin/env bash
# serve_dbloss.sh - a lost database never deletes acknowledged mail (issue
# 14 item 5). Mail is accepted while its destination is down (it stays
# queued), herald stops, herald.db is removed. Then:
#   1. a start refuses (an empty database beside a spool of mail), naming
#      --accept-empty-database, and leaves the spool alone;
#   2. a start with --accept-empty-database deletes nothing: the segments
#      are in spool/orphan/ with their bytes, and the log says so;
#   3. `herald queue recover` refuses a locked data directory before it
#      opens the database; it queues the mail again, a damaged envelope
#      (one flipped byte) costing only its own message's envelope (that
#      message goes to orphan/ID.eml, the records after it are queued);
#      the next start delivers every queued message exactly once;
#   4. a database with a damaged page is refused at start (quick_check).
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
N=${DBLOSS_MESSAGES:-6}
fail() { echo "FAIL: $*" >&2; tail -n 20 "$T"/herald*.log >&2 || true; exit 1; }
# refuses LOG: `herald serve` must exit non-zero within 15 s (a server
# that starts is stopped, and that is a failure)
refuses() {
  local log=$1 pid i rc=0
  "$HERALD" serve --config "$T/herald.conf" > "$log" 2>&1 &
  pid=$!
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    return 1
  fi
  wait "$pid" || rc=$?
  [ "$rc" -ne 0 ]
}

smtp=$(hl_free_port); mx=$(hl_free_port)
hl_relay_conf "$T/herald.conf" "$T/data" "$smtp" "$mx"

# 0. mail accepted while nothing listens at the next hop: it stays queued
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-0.log"
: > "$T/acked"
for ((i = 1; i <= N; i++)); do
  hl_smtp_send "$smtp" alice@example.com "user$i@rcpt.test,other$i@rcpt.test" "lost db $i" >> "$T/acked" ||
    fail "message $i was not accepted"
done
sort -o "$T/acked" "$T/acked"
hl_stop "$(hl_pid herald)"
segs_before=$(find "$T/data/spool" -maxdepth 1 -name '*.seg' -size +0 | wc -l)
bytes_before=$(find "$T/data/spool" -maxdepth 1 -name '*.seg' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
[ "$segs_before" -ge 1 ] || fail "no spool segment holds the accepted mail"

# the database is lost
rm -f "$T/data/herald.db" "$T/data/herald.db-wal" "$T/data/herald.db-shm"

# 1. refused, the spool untouched
refuses "$T/herald-1.log" || fail "herald started on an empty database beside a spool of mail"
grep -q -- '--accept-empty-database' "$T/herald-1.log" || fail "the refusal does not say how to start anyway"
grep -q 'holds no message' "$T/herald-1.log" || fail "the refusal does not say what is wrong"
bytes_now=$(find "$T/data/spool" -name '*.seg' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
[ "$bytes_now" -eq "$bytes_before" ] || fail "the refused start changed the spool ($bytes_before -> $bytes_now bytes)"
echo "serve_dbloss: refused: $(grep -o 'not starting[^"]*' "$T/herald-1.log" | head -1)"

# 2. told: nothing deleted, the segments in spool/orphan/, a log line
hl_spawn herald "$T/herald-2.log" "$HERALD" serve --config "$T/herald.conf" --accept-empty-database
hl_wait_port 127.0.0.1 "$smtp" 15 tcp "$(hl_pid herald)" || fail "the start with --accept-empty-database failed"
hl_stop "$(hl_pid herald)"
orphans=$(find "$T/data/spool/orphan" -maxdepth 1 -name '*.seg' 2>/dev/null | wc -l)
orphan_bytes=$(find "$T/data/spool/orphan" -maxdepth 1 -name '*.seg' -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}')
[ "$orphans" -eq "$segs_before" ] || fail "$orphans segments in spool/orphan/, $segs_before held mail"
[ "$orphan_bytes" -eq "$bytes_before" ] || fail "spool/orphan/ holds $orphan_bytes bytes, the spool held $bytes_before"
grep -q 'moved to .*spool/orphan' "$T/herald-2.log" || fail "no log line names the orphaned segments"
echo "serve_dbloss: $orphans segment(s), $orphan_bytes bytes kept in spool/orphan/"

# 3a. queue recover takes the directory lock before it opens the database:
# with the lock held elsewhere it refuses and writes nothing
mkdir -p "$T/locked/spool/orphan"
flock -n "$T/locked" sleep 3 &
flocker=$!
sleep 0.3
if "$HERALD" queue recover --data-dir "$T/locked" > "$T/recover-locked.out" 2>&1; then
  fail "queue recover ran on a locked data directory"
fi
wait "$flocker" || true
grep -q 'server is running' "$T/recover-locked.out" || fail "the refusal does not say the server runs: $(cat "$T/recover-locked.out")"
[ -e "$T/locked/herald.db" ] && fail "queue recover opened (created) the database before taking the lock"
echo "serve_dbloss: queue recover on a locked directory refused, nothing opened"

# 3b. one damaged envelope (the second message's, a byte flipped) loses who
# that message is for, not the message nor the records after it
seg=$(find "$T/data/spool/orphan" -maxdepth 1 -name '*.seg' | sort | head -1)
bad=$("$HL_PY" - "$seg" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
off = n = 0
while off + 32 <= len(b):
    ln = int.from_bytes(b[off + 4:off + 8], "big")
    if b[off:off + 4] == b"HDE1":
        n += 1
        if n == 2:
            b[off + 32 + ln // 2] ^= 0x20     # inside the envelope text: its CRC fails
            open(p, "wb").write(bytes(b))
            print(b[off + 16:off + 32].decode())
            break
    off += 32 + ln
PY
)
[ -n "$bad" ] || fail "no second envelope record found in $seg"
# 3. recovered and delivered, each exactly once (the damaged one as .eml)
"$HERALD" queue recover --data-dir "$T/data" > "$T/recover.out" 2>&1 || { cat "$T/recover.out" >&2; fail "queue recover failed"; }
cat "$T/recover.out"
grep -q "recovered $((N - 1)) messages for $((2 * (N - 1))) recipients" "$T/recover.out" || fail "queue recover did not queue the $((N - 1)) messages with sound envelopes"
grep -q 'damaged envelope' "$T/recover.out" || fail "queue recover does not name the damaged envelope"
[ -s "$T/data/spool/orphan/$bad.eml" ] || fail "the message of the damaged envelope was not written out as $bad.eml"
grep "^$bad" "$T/acked" > "$T/acked-bad" || fail "the damaged envelope's message is not one of the accepted"
grep -v "^$bad" "$T/acked" > "$T/acked-ok"
mv "$T/acked-ok" "$T/acked"
# a second run finds nothing more to do
"$HERALD" queue recover --data-dir "$T/data" > "$T/recover2.out" 2>&1 || fail "a second queue recover failed"
grep -q 'nothing to recover' "$T/recover2.out" || { cat "$T/recover2.out" >&2; fail "a second queue recover did something"; }
hl_receiver_start 127.0.0.1 "$mx" "$T/rx"
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-3.log"
hl_wait_spool "$T/rx" $((2 * (N - 1))) 30 || fail "not every recipient was delivered"
sleep 1     # anything more would be a duplicate
got=$(cat "$T"/rx/*.eml | grep -o 'with E\?SMTP[SA]* id [0-9a-f]\{32\}' | awk '{print $NF}' | sort)
total=$(echo "$got" | wc -l)
uniq_ids=$(echo "$got" | sort -u)
[ "$uniq_ids" = "$(cat "$T/acked")" ] || fail "delivered ids differ from accepted ids"
[ "$total" -eq $((2 * (N - 1))) ] || fail "$total deliveries for $((2 * (N - 1))) recipients (duplicates)"
echo "serve_dbloss: recovered and delivered: $((N - 1)) messages, $total recipients, 0 duplicates, 0 lost; 1 damaged envelope, its message in orphan/$bad.eml"
hl_stop "$(hl_pid herald)"

# 4. a damaged page: refused with quick_check's finding
db=$T/data/herald.db
# the root page of the events table (many rows): its b-tree page header
# and first cells are overwritten; page 1 (header, schema) stays sound
read -r psize root < <("$HL_PY" - "$db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("PRAGMA page_size").fetchone()[0],
      c.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events'").fetchone()[0])
PY
)
[ "${root:-0}" -ge 2 ] || fail "no events table root page found"
printf 'herald-test-garbage-%.0s' $(seq 1 40) |
  dd of="$db" bs=1 seek=$((psize * (root - 1))) conv=notrunc status=none
refuses "$T/herald-4.log" || fail "herald started on a damaged database"
grep -q 'quick_check\|damaged' "$T/herald-4.log" || fail "the refusal does not say the database is damaged"
grep -q 'docs/operations.md' "$T/herald-4.log" || fail "the refusal does not point at the recovery steps"
echo "serve_dbloss: damaged database refused: $(grep -o 'not starting.*' "$T/herald-4.log" | head -1 | cut -c1-160)"
echo "serve_dbloss: passed"
