#!/usr/bin/env bash
# serve_dbrestore.sh - a database restored from an older copy loses no mail
# (issue 14 item 5). Three messages are accepted, the database is backed up
# (SQLite's online backup, the server running), three more are accepted
# into the same spool segment; herald stops and the backup is put in place.
# The segment then holds mail the database knows (queued) and mail it does
# not: it must be kept when the known mail is delivered, moved to
# spool/orphan/ at the next start, and `herald queue recover` must queue the
# rest. Every accepted message reaches the receiver exactly once.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 20 "$T"/herald*.log >&2 || true; exit 1; }

smtp=$(hl_free_port); mx=$(hl_free_port)
hl_relay_conf "$T/herald.conf" "$T/data" "$smtp" "$mx"

# nothing listens at the next hop yet: the mail stays queued
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-1.log"
for i in 1 2 3; do hl_smtp_send "$smtp" alice@example.com "before$i@rcpt.test" "before $i" >> "$T/acked"; done
"$HL_PY" - "$T/data/herald.db" "$T/backup.db" <<'PY'
import sqlite3, sys
src, dst = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
src.backup(dst)
dst.close()
PY
for i in 1 2 3; do hl_smtp_send "$smtp" alice@example.com "after$i@rcpt.test" "after $i" >> "$T/acked"; done
sort -o "$T/acked" "$T/acked"
hl_stop "$(hl_pid herald)"
[ "$(find "$T/data/spool" -maxdepth 1 -name '*.seg' -size +0 | wc -l)" -eq 1 ] || fail "the six messages are not in one segment"
rm -f "$T/data/herald.db-wal" "$T/data/herald.db-shm"
cp "$T/backup.db" "$T/data/herald.db"

# the known three are delivered; the segment stays (it holds the other three)
hl_receiver_start 127.0.0.1 "$mx" "$T/rx"
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-2.log"
hl_wait_spool "$T/rx" 3 20 || fail "the three messages the backup knows were not delivered"
grep -q 'holds 3 messages this database does not know' "$T/herald-2.log" || fail "no log line says the segment holds unknown mail"
sleep 1
hl_stop "$(hl_pid herald)"
seg_bytes=$(find "$T/data/spool" -maxdepth 1 -name '*.seg' -size +0 -printf '%s\n' | awk '{s += $1} END {print s + 0}')
[ "$seg_bytes" -gt 0 ] || fail "the segment holding three acknowledged messages was deleted"

# the next start moves it to orphan/; recover queues the three; delivered once
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-3.log"
hl_stop "$(hl_pid herald)"
grep -q 'moved to .*spool/orphan' "$T/herald-3.log" || fail "the segment was not moved to spool/orphan/"
"$HERALD" queue recover --data-dir "$T/data" > "$T/recover.out" 2>&1 || { cat "$T/recover.out" >&2; fail "queue recover failed"; }
cat "$T/recover.out"
grep -q 'recovered 3 messages for 3 recipients' "$T/recover.out" || fail "recover did not queue the three unknown messages"
grep -q '3 messages already in the database' "$T/recover.out" || fail "recover did not leave the known three alone"
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-4.log"
hl_wait_spool "$T/rx" 6 20 || fail "the recovered messages were not delivered"
sleep 1
got=$(cat "$T"/rx/*.eml | grep -o 'with E\?SMTP[SA]* id [0-9a-f]\{32\}' | awk '{print $NF}' | sort)
[ "$(echo "$got" | sort -u)" = "$(cat "$T/acked")" ] || fail "delivered ids differ from accepted ids"
[ "$(echo "$got" | wc -l)" -eq 6 ] || fail "$(echo "$got" | wc -l) deliveries for 6 messages"
echo "serve_dbrestore: 6 accepted, 3 unknown to the restored database; all 6 delivered once, 0 lost"
echo "serve_dbrestore: passed"
