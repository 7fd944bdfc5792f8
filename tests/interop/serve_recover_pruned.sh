#!/usr/bin/env bash
# serve_recover_pruned.sh - `herald queue recover` does not send again mail
# that was delivered and then pruned by retention (issue 14 item 5). A and
# B are delivered (released: the database marks their segment's offset);
# C is accepted to a dead next hop into the same segment. The database then
# loses every message row: A and B as retention prunes them (released,
# finished), C as a lost or older database would. The segment goes to
# spool/orphan/ (C is unknown); recover must queue C only, say it skipped
# the two pruned ones, and each message reaches the receiver exactly once.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 20 "$T"/herald*.log >&2 || true; exit 1; }

smtp=$(hl_free_port); mx=$(hl_free_port)
hl_relay_conf "$T/herald.conf" "$T/data" "$smtp" "$mx"

hl_receiver_start 127.0.0.1 "$mx" "$T/rx"
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-1.log"
for i in a b; do hl_smtp_send "$smtp" alice@example.com "$i@rcpt.test" "message $i" >> "$T/acked"; done
hl_wait_spool "$T/rx" 2 20 || fail "A and B were not delivered"
sleep 1
hl_stop "$(hl_pid "receiver-127.0.0.1:$mx")"
hl_smtp_send "$smtp" alice@example.com "c@rcpt.test" "message c" >> "$T/acked"
sleep 1
hl_stop "$(hl_pid herald)"
sort -o "$T/acked" "$T/acked"
[ "$(find "$T/data/spool" -maxdepth 1 -name '*.seg' -size +0 | wc -l)" -eq 1 ] || fail "A, B and C are not in one segment"

# every message row gone: A and B pruned once finished, C lost
"$HL_PY" - "$T/data/herald.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA foreign_keys=ON")
released = db.execute("SELECT count(*) FROM messages WHERE segment IS NULL").fetchone()[0]
assert released == 2, f"{released} released messages, expected A and B"
db.execute("DELETE FROM messages")
db.commit()
db.close()
PY

# C unknown: the segment is kept and moved to orphan/ (this start or the next)
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-2.log"
hl_stop "$(hl_pid herald)"
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-3.log"
hl_stop "$(hl_pid herald)"
[ "$(find "$T/data/spool/orphan" -maxdepth 1 -name '*.seg' -size +0 2>/dev/null | wc -l)" -eq 1 ] ||
  fail "the segment holding C was not moved to spool/orphan/"
"$HERALD" queue recover --data-dir "$T/data" > "$T/recover.out" 2>&1 || { cat "$T/recover.out" >&2; fail "queue recover failed"; }
cat "$T/recover.out"
grep -q 'recovered 1 message for 1 recipient' "$T/recover.out" || fail "recover did not queue C alone"
grep -q '2 messages already delivered and pruned, skipped' "$T/recover.out" || fail "recover did not say it skipped A and B"

hl_receiver_start 127.0.0.1 "$mx" "$T/rx"
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-4.log"
hl_wait_spool "$T/rx" 3 20 || fail "C was not delivered after recover"
sleep 2
got=$(cat "$T"/rx/*.eml | grep -o 'with E\?SMTP[SA]* id [0-9a-f]\{32\}' | awk '{print $NF}' | sort)
[ "$(echo "$got" | sort -u)" = "$(cat "$T/acked")" ] || fail "delivered ids differ from accepted ids"
[ "$(echo "$got" | wc -l)" -eq 3 ] || fail "$(echo "$got" | wc -l) deliveries for 3 messages (A or B sent twice?)"
echo "serve_recover_pruned: 3 accepted, 2 delivered and pruned skipped by recover, 1 recovered; all 3 delivered once"
echo "serve_recover_pruned: passed"
