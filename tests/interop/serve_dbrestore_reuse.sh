#!/usr/bin/env bash
# serve_dbrestore_reuse.sh - a segment number is never used twice, so a
# database restored from an older copy cannot mistake new mail for mail it
# released and pruned (issue 14 item 5). Run 1 delivers everything: its
# clean stop leaves the spool without a segment, and the database keeps a
# segment_released row for the segment it used. The database is backed up
# (copied while stopped). Run 2 accepts M to a dead next hop (M stays
# queued) and stops. The backup is put back; at the next start M is unknown
# to the database: it must be kept (pinned or orphaned, never deleted), and
# once `herald queue recover` queued it, delivered exactly once. Before
# the fix run 2 reused run 1's segment number and M counted as pruned.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 20 "$T"/herald*.log >&2 || true; exit 1; }
segs() { find "$T/data/spool" -maxdepth 1 -name '*.seg' -size +0 | wc -l; }

smtp=$(hl_free_port); mx=$(hl_free_port)
hl_relay_conf "$T/herald.conf" "$T/data" "$smtp" "$mx"

# run 1: two messages delivered; the clean stop retires the segment
hl_receiver_start 127.0.0.1 "$mx" "$T/rx"
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-1.log"
for i in 1 2; do hl_smtp_send "$smtp" alice@example.com "first$i@rcpt.test" "first $i" >> "$T/acked"; done
hl_wait_spool "$T/rx" 2 20 || fail "run 1's two messages were not delivered"
sleep 1
hl_stop "$(hl_pid herald)"
hl_stop "$(hl_pid "receiver-127.0.0.1:$mx")"
[ "$(segs)" -eq 0 ] || fail "run 1 left $(segs) segment(s) with data after delivering everything"
run1_seg=$("$HL_PY" -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT max(segment) FROM segment_released").fetchone()[0])' "$T/data/herald.db")
[ -n "$run1_seg" ] && [ "$run1_seg" != None ] || fail "run 1 recorded no segment_released row"
rm -f "$T/data/herald.db-wal" "$T/data/herald.db-shm"
cp "$T/data/herald.db" "$T/backup.db"

# run 2: M accepted, the next hop dead: M stays queued in a new segment
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-2.log"
hl_smtp_send "$smtp" alice@example.com "m@rcpt.test" "the message M" >> "$T/acked"
sleep 1
hl_stop "$(hl_pid herald)"
sort -o "$T/acked" "$T/acked"
run2_seg=$(find "$T/data/spool" -maxdepth 1 -name '*.seg' -size +0 -printf '%f\n' | head -n 1)
[ -n "$run2_seg" ] || fail "run 2 left no segment holding M"
echo "serve_dbrestore_reuse: run 1 released segment $run1_seg; run 2 put M in $run2_seg"

# the backup (made after run 1) put back; start: M must not be deleted
rm -f "$T/data/herald.db-wal" "$T/data/herald.db-shm"
cp "$T/backup.db" "$T/data/herald.db"
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-3.log"
sleep 1
hl_stop "$(hl_pid herald)"
[ -s "$T/data/spool/$run2_seg" ] || [ -s "$T/data/spool/orphan/$run2_seg" ] || fail "the segment holding M ($run2_seg) was deleted: M lost"
grep -Eq 'does not know|moved to .*spool/orphan' "$T/herald-3.log" || fail "no log line says the segment holds unknown mail"

# it goes to orphan/ (now or at the next start); recover queues M; delivered once
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-4.log"
hl_stop "$(hl_pid herald)"
"$HERALD" queue recover --data-dir "$T/data" > "$T/recover.out" 2>&1 || { cat "$T/recover.out" >&2; fail "queue recover failed"; }
cat "$T/recover.out"
grep -q 'recovered 1 message for 1 recipient' "$T/recover.out" || fail "recover did not queue M"
hl_receiver_start 127.0.0.1 "$mx" "$T/rx"
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-5.log"
hl_wait_spool "$T/rx" 3 20 || fail "M was not delivered after recover"
sleep 1
got=$(cat "$T"/rx/*.eml | grep -o 'with E\?SMTP[SA]* id [0-9a-f]\{32\}' | awk '{print $NF}' | sort)
[ "$(echo "$got" | sort -u)" = "$(cat "$T/acked")" ] || fail "delivered ids differ from accepted ids"
[ "$(echo "$got" | wc -l)" -eq 3 ] || fail "$(echo "$got" | wc -l) deliveries for 3 messages"
echo "serve_dbrestore_reuse: 3 accepted, M unknown to the restored database and kept; all 3 delivered once, 0 lost"
echo "serve_dbrestore_reuse: passed"
