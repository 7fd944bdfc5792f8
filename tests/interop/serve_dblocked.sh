#!/usr/bin/env bash
# serve_dblocked.sh - a database that cannot be written (held locked by
# another process past the busy timeout) multiplies no mail (issue 14
# items 4, 5; the disk review's points 1, 2, 4, 5, 6). The destination is
# down, so accepted mail stays queued.
#   A. message X meets the lock: 451, and its bytes leave the spool again
#      (else a later `queue recover` would send mail answered 451); no
#      delivery resumes while the lock is still held;
#   B. X2 meets the lock, Y is in flight behind it: X2 451, Y 452 4.3.1 and
#      not written (new mail must not take the room kept for outcomes);
#   C. after the lock, Z is accepted (250); two restarts deliver exactly
#      the 250 mail, no segment is orphaned; V, accepted and delivered in
#      one run, leaves no segment with data after the clean stop;
#   D. a release lost in a crash (the message done, its segment still
#      recorded) is proof enough: its segment is removed, not orphaned;
#   E. rows pruned by retention (all of them) after a crash: the start is
#      not refused as a lost database, the segment is removed, not orphaned.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir; echo TMP=$HL_TMP
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 20 "$T"/herald*.log >&2 || true; exit 1; }

smtp=$(hl_free_port); mx=$(hl_free_port)
hl_relay_conf "$T/herald.conf" "$T/data" "$smtp" "$mx"

# lock SECONDS: herald.db held with BEGIN EXCLUSIVE (the herald busy
# timeout is 5 s); $T/locked appears once it is held
lock() {
  rm -f "$T/locked"
  "$HL_PY" - "$T/data/herald.db" "$1" "$T/locked" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
c.execute("BEGIN EXCLUSIVE")
open(sys.argv[3], "w").close()
time.sleep(float(sys.argv[2]))
c.execute("ROLLBACK")
PY
  LOCKER=$!
  for ((i = 0; i < 100; i++)); do [ -e "$T/locked" ] && return 0; sleep 0.05; done
  fail "the database lock was not taken"
}
# send SUBJECT OUT: one message; OUT gets "CODE ENHANCED" of the DATA reply
# (or of the refused RCPT)
send() {
  "$HL_PY" - "$smtp" "$1" "$2" <<'PY'
import smtplib, sys
port, subject, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
msg = ("From: <alice@example.com>\r\nTo: <bob@rcpt.test>\r\nSubject: %s\r\n\r\nbody %s\r\n"
       % (subject, subject)).encode()
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
s.ehlo("client.test")
s.mail("alice@example.com")
code, text = s.rcpt("bob@rcpt.test")
if code == 250:
    s.putcmd("data")
    code, text = s.getreply()
    if code == 354:
        s.send(smtplib.quotedata(msg.decode()).encode() + b"\r\n.\r\n")
        code, text = s.getreply()
open(out, "w").write("%d %s\n" % (code, text.decode()))
try:
    s.quit()
except Exception:
    pass
PY
}
in_spool() { cat "$T"/data/spool/*.seg 2>/dev/null | grep -c -a "$1" || true; }

hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-1.log"
# nothing queued yet: no delivery outcome comes to write while X is tried
: > "$T/acked"

# A. X meets the lock
lock 8
send subj-xxx-A "$T/x.out"
cat "$T/x.out"
grep -q '^451 ' "$T/x.out" || fail "X was not answered 451 under the lock: $(cat "$T/x.out")"
[ "$(in_spool subj-xxx-A)" -eq 0 ] || fail "X (answered 451) is still in the spool: queue recover would send it"
sleep 1.2       # the lock is still held: nothing can be recorded
grep -q 'can be recorded again: deliveries resume' "$T/herald-1.log" && fail "deliveries resumed while the database was still locked"
wait "$LOCKER"
hl_wait_for 10 grep -q 'can be recorded again: deliveries resume' "$T/herald-1.log" || fail "deliveries did not resume after the lock"
echo "serve_dblocked: A: X 451 and not in the spool; deliveries resumed only after the lock"

# B. X2 meets the lock, Y is in flight behind it
lock 7
send subj-xx2-B "$T/x2.out" &
X2=$!
sleep 1
send subj-yyy-B "$T/y.out"
wait "$X2"
cat "$T/x2.out" "$T/y.out"
grep -q '^451 ' "$T/x2.out" || fail "X2 was not answered 451 under the lock: $(cat "$T/x2.out")"
grep -q '^452 4.3.1' "$T/y.out" || fail "Y (in flight while blocked) was not answered 452 4.3.1: $(cat "$T/y.out")"
[ "$(in_spool subj-xx2-B)" -eq 0 ] || fail "X2 (answered 451) is still in the spool"
[ "$(in_spool subj-yyy-B)" -eq 0 ] || fail "Y (answered 452) was written to the spool"
wait "$LOCKER"
hl_wait_for 10 grep -c 'can be recorded again: deliveries resume' "$T/herald-1.log" > /dev/null
echo "serve_dblocked: B: X2 451, Y 452 4.3.1, neither in the spool"

# C. after the lock: Z accepted; two restarts deliver exactly the 250 mail
sleep 1
hl_smtp_send "$smtp" alice@example.com "z@rcpt.test" "subj-zzz-C" >> "$T/acked" || fail "Z was refused after the lock"
sort -o "$T/acked" "$T/acked"
hl_stop "$(hl_pid herald)"
hl_receiver_start 127.0.0.1 "$mx" "$T/rx"
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-2.log"
hl_wait_spool "$T/rx" 1 20 || fail "Z was not delivered"
sleep 1.5
hl_stop "$(hl_pid herald)"
# V is accepted and delivered within one run: at the clean stop its
# segment (the current one) holds nothing live and must go
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-3.log"
hl_smtp_send "$smtp" alice@example.com "v@rcpt.test" "subj-vvv-C" >> "$T/acked" || fail "V was refused"
sort -o "$T/acked" "$T/acked"
hl_wait_spool "$T/rx" 2 20 || fail "V was not delivered"
sleep 1
hl_stop "$(hl_pid herald)"
grep -h 'does not know\|moved to' "$T"/herald-[23].log && fail "a segment holds mail the database does not know"
[ -d "$T/data/spool/orphan" ] && fail "a segment was moved to spool/orphan/"
"$HERALD" queue recover --data-dir "$T/data" > "$T/recover.out" 2>&1 || fail "queue recover failed"
grep -q 'nothing to recover' "$T/recover.out" || fail "queue recover found something: $(cat "$T/recover.out")"
got=$(cat "$T"/rx/*.eml | grep -o 'with E\?SMTP[SA]* id [0-9a-f]\{32\}' | awk '{print $NF}' | sort)
[ "$got" = "$(cat "$T/acked")" ] || fail "delivered ids differ from the accepted ids (or duplicates)"
left=$(find "$T/data/spool" -maxdepth 1 -name '*.seg' -size +0 | wc -l)
[ "$left" -eq 0 ] || fail "$left spool segment(s) with data left after a clean stop with nothing queued"
echo "serve_dblocked: C: $(wc -l < "$T/acked") accepted, $(echo "$got" | wc -l) delivered, 0 duplicates, 0 orphans, 0 segments left"

# D. a lost release: the message is done, its segment still recorded
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-4.log"
w=$(hl_smtp_send "$smtp" alice@example.com "w@rcpt.test" "subj-www-D") || fail "W was refused"
hl_wait_spool "$T/rx" 3 20 || fail "W was not delivered"
sleep 0.5
kill -KILL "$(hl_pid herald)"
wait "$(hl_pid herald)" 2>/dev/null || true
seg=$(find "$T/data/spool" -maxdepth 1 -name '*.seg' -size +0 | head -1)
[ -n "$seg" ] || fail "no segment holds W after the crash"
"$HL_PY" - "$T/data/herald.db" "$w" "$(basename "$seg" .seg)" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE messages SET segment = ? WHERE uuid = ?", (int(sys.argv[3], 10), sys.argv[2]))
c.commit()
PY
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-5.log"
sleep 1
hl_stop "$(hl_pid herald)"
[ -d "$T/data/spool/orphan" ] && fail "a segment whose mail is all done (a lost release) went to spool/orphan/"
[ "$(hl_spool_count "$T/rx")" -eq 3 ] || fail "W was delivered again"
echo "serve_dblocked: D: a lost release: segment removed, not orphaned"

# E. retention pruned every message row (done mail), and a crash left the
# segment U was delivered from: the start is no lost database, and the
# segment goes (its mail was released before), not to orphan/
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-6.log"
hl_smtp_send "$smtp" alice@example.com "u@rcpt.test" "subj-uuu-E" > /dev/null || fail "U was refused"
hl_wait_spool "$T/rx" 4 20 || fail "U was not delivered"
sleep 0.5
kill -KILL "$(hl_pid herald)"
wait "$(hl_pid herald)" 2>/dev/null || true
[ "$(find "$T/data/spool" -maxdepth 1 -name '*.seg' -size +0 | wc -l)" -ge 1 ] || fail "no segment holds U after the crash"
"$HL_PY" - "$T/data/herald.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("DELETE FROM recipients")
c.execute("DELETE FROM messages")
c.commit()
PY
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-7.log"
sleep 1
hl_stop "$(hl_pid herald)"
[ -d "$T/data/spool/orphan" ] && fail "a segment of pruned (delivered) mail went to spool/orphan/"
[ "$(find "$T/data/spool" -maxdepth 1 -name '*.seg' -size +0 | wc -l)" -eq 0 ] || fail "the segment of pruned mail was kept"
[ "$(hl_spool_count "$T/rx")" -eq 4 ] || fail "pruned mail was delivered again"
echo "serve_dblocked: E: every row pruned after a crash: started, segment removed, not orphaned"
echo "serve_dblocked: passed"
