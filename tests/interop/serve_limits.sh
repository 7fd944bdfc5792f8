#!/usr/bin/env bash
# serve_limits.sh - bounded resources: when the in-memory queue holds
# [queue] max_queued recipients (counted when their message is queued), or the data directory's disk has less than
# min_free_space free, new recipients get 452 4.3.1 (the client keeps the
# mail and tries later) while the server keeps running; what was accepted
# stays queued. Messages being signed and stored at once are bounded by
# max_inflight bytes (451 4.3.1 past it).
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 20 "$T"/herald*.log >&2 || true; exit 1; }
dead=$(hl_free_port)      # nothing listens there: mail stays queued

run_case() {   # NAME QUEUE-SECTION-LINES
  local name=$1 queue=$2 smtp status
  smtp=$(hl_free_port); status=$(hl_free_port)
  printf 'hostname = mail.herald.test\ndata_dir = %s\n[smtp]\ntrusted_networks = 127.0.0.0/8\nlisten = 127.0.0.1:%s\n[status]\nlisten = 127.0.0.1:%s\n[api]\nlisten = 127.0.0.1:%s\n[queue]\n%s\nretry_min = 1h\nretry_max = 1h\n[delivery]\nmode = real\n[route *]\nnext_hop = 127.0.0.1:%s\n' \
    "$T/data-$name" "$smtp" "$status" "$(hl_free_port)" "$queue" "$dead" > "$T/$name.conf"
  "$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data-$name" --hostname mail.herald.test > /dev/null
  hl_herald_start "$T/$name.conf" "$smtp" "herald-$name"
  /usr/bin/python3 - "$smtp" "$name" <<'P'
import smtplib, sys
port, name = int(sys.argv[1]), sys.argv[2]
s = smtplib.SMTP("127.0.0.1", port, timeout=10); s.ehlo("c.test")
s.mail("alice@example.com")
codes = [s.rcpt(f"r{i}@far.test") for i in range(3)]
print(name, [(c, t.decode()) for c, t in codes])
if name == "inflight":
    # a message bigger than max_inflight alone: 451 4.3.1 at the end of DATA;
    # a small one still goes through
    assert all(c == 250 for c, t in codes), codes
    code, text = s.data(b"From: <alice@example.com>\r\nSubject: big\r\n\r\n" + b"x" * 4000 + b"\r\n")
    assert code == 451 and b"4.3.1" in text, (code, text)
    s.mail("alice@example.com"); s.rcpt("small@far.test")
    code, text = s.data(b"From: <alice@example.com>\r\nSubject: small\r\n\r\nx\r\n")
    assert code == 250, (code, text)
elif name == "queue":
    # the queue is empty while this transaction runs (recipients count once
    # their message is queued): all three are taken, then the queue is full
    assert all(c == 250 for c, t in codes), codes
    code, text = s.data(b"From: <alice@example.com>\r\nSubject: t\r\n\r\nx\r\n")
    assert code == 250, (code, text)
    s.mail("alice@example.com")
    code, text = s.rcpt("late@far.test")
    assert code == 452 and b"4.3.1" in text, (code, text)
else:
    assert all(c == 452 and b"4.3.1" in t for c, t in codes), codes
s.quit()
P
}
run_case queue "max_queued = 2" || fail "max_queued"
"$HERALD" queue list --data-dir "$T/data-queue" | grep -c '@far.test' | grep -x 3 > /dev/null || fail "the accepted message is not queued"
echo "ok: max_queued reached: 452 4.3.1, the accepted message stays queued"
run_case inflight "max_inflight = 1K" || fail "max_inflight"
echo "ok: a message over max_inflight gets 451 4.3.1, a small one is accepted"
run_case disk "min_free_space = 1000000G" || fail "min_free_space"
grep -q 'new mail is refused with 452 4.3.1' "$T/herald-disk.log" || fail "no log line for the disk check"
echo "ok: less free space than min_free_space: 452 4.3.1 and a log line"
# one server per data directory: a second one on other ports is refused
# before it touches the spool (it would take the first one's segment for
# garbage), and the first one goes on accepting
other=$(hl_free_port); other_status=$(hl_free_port)
sed -e "s/^listen = 127.0.0.1:[0-9]*$/listen = 127.0.0.1:$other/" "$T/queue.conf" |
  awk -v st="$other_status" -v ap="$(hl_free_port)" '/^\[status\]/{print; getline; print "listen = 127.0.0.1:" st; next} /^\[api\]/{print; getline; print "listen = 127.0.0.1:" ap; next} {print}' > "$T/second.conf"
set +e
timeout 10 "$HERALD" serve --config "$T/second.conf" > "$T/second.out" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q 'another herald serve (pid [0-9]*) is using this data directory' "$T/second.out" ||
  { cat "$T/second.out"; fail "a second server on the same data directory was not refused (exit $rc)"; }
ls "$T"/data-queue/spool/*.seg > /dev/null || fail "the first server's spool segment is gone"
echo "ok: a second server on the same data directory is refused: $(tail -1 "$T/second.out")"
# the lock is the directory's own, not the file's: removing data/lock (the
# pid note) does not let a second server in
rm "$T/data-queue/lock"
set +e
timeout 10 "$HERALD" serve --config "$T/second.conf" > "$T/second.out" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q 'another herald serve (pid unknown: its lock file was removed) is using this data directory' "$T/second.out" ||
  { cat "$T/second.out"; fail "with data/lock removed a second server started on the same data directory (exit $rc)"; }
ls "$T"/data-queue/spool/*.seg > /dev/null || fail "the first server's spool segment is gone"
echo "ok: with data/lock removed, a second server is still refused"
echo "serve_limits: passed"
