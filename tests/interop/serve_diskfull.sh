#!/usr/bin/env bash
# serve_diskfull.sh - a full disk never multiplies mail (issue 14 item 4).
# herald's data directory is a small tmpfs; mail is being delivered, slowly,
# to a real receiver (tests/lib/receiver.py) when the disk is filled. The
# outcomes of deliveries then in flight must still be recorded (the
# reserve), no new delivery may start while nothing can be recorded, and
# /health and /metrics must say so. herald is restarted twice while the
# disk is full; then space is freed. Every accepted message must reach the
# receiver exactly once: zero duplicates, zero lost.
#
# The tmpfs: mounted directly when root, else in a new user and mount
# namespace (unshare -rm); when neither works the test says why and fails.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
if [ "$(id -u)" -ne 0 ] && [ -z "${HL_DISKFULL_NS:-}" ]; then
  command -v unshare > /dev/null || { echo "FAIL: not root and no unshare(1): cannot mount a tmpfs" >&2; exit 1; }
  HL_DISKFULL_NS=1 exec unshare -rm bash "$0" "$@"
fi
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
MNT=$T/mnt
N=${DISKFULL_MESSAGES:-40}
fail() { echo "FAIL: $*" >&2; tail -n 25 "$T"/herald*.log >&2 || true; exit 1; }
cleanup() {
  local rc=$?
  hl_stop_all
  umount "$MNT" 2> /dev/null || true
  (exit "$rc")
  hl_cleanup
}
trap cleanup EXIT
mkdir -p "$MNT"
mount -t tmpfs -o size=48m,mode=0755 tmpfs "$MNT" 2> "$T/mount.err" ||
  fail "cannot mount a tmpfs on $MNT ($(cat "$T/mount.err")): this test needs root or unprivileged user namespaces (unshare -rm)"

smtp=$(hl_free_port); status=$(hl_free_port); mx=$(hl_free_port)
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $MNT/data
[smtp]
listen = 127.0.0.1:$smtp
trusted_networks = 127.0.0.0/8
[status]
listen = 127.0.0.1:$status
[api]
listen = 127.0.0.1:$(hl_free_port)
[inbound]
listen = 127.0.0.1:$(hl_free_port)
[queue]
retry_min = 1s
retry_max = 1s
min_free_space = 2M
[delivery]
mode = real
max_connections_per_destination = 2
[route *]
next_hop = 127.0.0.1:$mx
C
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$MNT/data" --hostname mail.herald.test > /dev/null

# 0. a burst within a second may not pass min_free_space: 40 messages of
# 1 MiB at once over 40 sessions, with room for about 7 above the floor
sed -e "s|data_dir = .*|data_dir = $MNT/burst|" -e 's|min_free_space = .*|min_free_space = 24M|' \
  "$T/herald.conf" > "$T/burst.conf"
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$MNT/burst" --hostname mail.herald.test > /dev/null
hl_herald_start "$T/burst.conf" "$smtp" herald "$T/herald-burst.log"
free_kib() { df -k --output=avail "$MNT" | tail -1 | tr -d ' '; }
before=$(free_kib)
"$HL_PY" - "$smtp" > "$T/burst.out" <<'PY'
import smtplib, sys, threading
port = int(sys.argv[1])
body = ("x" * 998 + "\r\n") * 1050          # about 1 MiB
codes = []
def one(i):
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=60)
        s.ehlo("burst.test")
        s.mail("alice@example.com")
        code, _ = s.rcpt("user%d@rcpt.test" % i)
        if code == 250:
            code, _ = s.data(("From: <alice@example.com>\r\nTo: <user%d@rcpt.test>\r\n"
                              "Subject: burst %d\r\n\r\n" % (i, i) + body).encode())
        codes.append(code)
        s.quit()
    except Exception as e:
        codes.append(str(e))
ts = [threading.Thread(target=one, args=(i,)) for i in range(40)]
for t in ts: t.start()
for t in ts: t.join()
print("accepted", sum(1 for c in codes if c == 250), "refused", sum(1 for c in codes if c == 452),
      "other", [c for c in codes if c not in (250, 452)])
PY
after=$(free_kib)
hl_stop "$(hl_pid herald)"
echo "serve_diskfull: burst: $(cat "$T/burst.out"); free space $before KiB before, $after KiB after; the floor is 24576 KiB"
grep -q 'other \[\]' "$T/burst.out" || fail "burst: answers other than 250 and 452"
# one message (1 MiB and its rows) of slack: the check is before the write
[ "$after" -ge $((24576 - 1200)) ] || burst_failed="a burst of mail went $((24576 - after)) KiB below min_free_space"
rm -rf "$MNT/burst"

# a slow receiver: each transaction takes 1 s over at most 2 connections,
# so most mail is queued and some in flight when the disk fills
echo '{"*": "delay-data 1.0"}' > "$T/slow.json"
hl_receiver_start 127.0.0.1 "$mx" "$T/rx" "$T/slow.json"
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-1.log"
"$HL_PY" - "$smtp" "$N" > "$T/acked" <<'PY' || fail "the messages were not all accepted"
import smtplib, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
s.ehlo("client.test")
for i in range(1, n + 1):
    msg = ("From: <alice@example.com>\r\nTo: <user%d@rcpt.test>\r\nSubject: disk full %d\r\n\r\n"
           "A test message.\r\n" % (i, i)).encode()
    s.mail("alice@example.com")
    code, text = s.rcpt("user%d@rcpt.test" % i)
    assert code == 250, (code, text)
    code, text = s.data(msg)
    assert code == 250 and b"queued as " in text, (code, text)
    print(text.decode().rsplit("queued as ", 1)[1].split()[0])
s.quit()
PY
sort -o "$T/acked" "$T/acked"
delivered() { hl_spool_count "$T/rx"; }
some_delivered() { [ "$(delivered)" -ge 4 ]; }
hl_wait_for 20 some_delivered || fail "nothing was delivered"

# fill the disk while deliveries are in flight; whatever filled it takes
# any space given back too (fill again), so the disk stays full
fill() { dd if=/dev/zero of="$MNT/fill.$1" bs=64k 2> /dev/null || true; }
fill 1
at_fill=$(delivered)
echo "serve_diskfull: disk full after $at_fill deliveries ($(df -k --output=avail "$MNT" | tail -1 | tr -d ' ') KiB left)"
sleep 3
fill 2
health() { curl -s -o "$T/health.json" -w '%{http_code}' "http://127.0.0.1:$status/health" || true; }
code=$(health)
echo "serve_diskfull: /health while full: $code $(cat "$T/health.json" 2>/dev/null)"
full_health=1
[ "$code" = 503 ] && grep -q '"database":"cannot write"' "$T/health.json" || full_health=0

for round in 2 3; do        # two restarts while the disk is full
  hl_stop "$(hl_pid herald)" 10
  fill "$round"             # what the stop gave back (the WAL) is taken too
  hl_spawn herald "$T/herald-$round.log" "$HERALD" serve --config "$T/herald.conf"
  if hl_wait_port 127.0.0.1 "$smtp" 15 tcp "$(hl_pid herald)"; then
    sleep 3
    code=$(health)
    echo "serve_diskfull: restart $((round - 1)) while full: /health $code $(cat "$T/health.json" 2>/dev/null)"
    curl -s "http://127.0.0.1:$status/metrics" > "$T/metrics.txt" || true
    grep -E '^herald_(database_writable|commit_failures_total|commit_held_changes) ' "$T/metrics.txt" || true
    [ "$code" = 503 ] || full_health=0
    grep -q '^herald_database_writable 0' "$T/metrics.txt" || full_health=0
  else
    echo "serve_diskfull: restart $((round - 1)) while full: herald did not start ($(tail -n 1 "$T/herald-$round.log"))"
  fi
done
while_full=$(delivered)

# space again: everything left goes, once
rm -f "$MNT"/fill.*
hl_pid herald > /dev/null && kill -0 "$(hl_pid herald)" 2> /dev/null ||
  hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-4.log"
all_delivered() { [ "$(delivered)" -ge "$N" ]; }
hl_wait_for 60 all_delivered || fail "only $(delivered) of $N messages arrived after the disk was freed"
sleep 2     # anything more would be a duplicate
got=$(cat "$T"/rx/*.eml | grep -o 'with E\?SMTP[SA]* id [0-9a-f]\{32\}' | awk '{print $NF}' | sort)
total=$(echo "$got" | wc -l)
unique=$(echo "$got" | sort -u | wc -l)
dups=$((total - unique))
lost=$(comm -23 "$T/acked" <(echo "$got" | sort -u) | wc -l)
echo "serve_diskfull: $N accepted; delivered $unique, $total deliveries; $at_fill before the disk filled," \
     "$((while_full - at_fill)) more while full (in flight then); duplicates $dups; lost $lost"
[ -z "${burst_failed:-}" ] || fail "$burst_failed"
[ "$dups" -eq 0 ] || fail "$dups duplicate deliveries"
[ "$lost" -eq 0 ] || fail "$lost accepted messages were not delivered"
[ "$total" -eq "$N" ] || fail "$total deliveries for $N messages"
grep -q 'no delivery starts' "$T"/herald-*.log || fail "no log line said deliveries stopped"
[ "$full_health" = 1 ] || fail "on the full disk (and after restarts), /health or /metrics did not say the queue cannot be recorded"
echo "serve_diskfull: passed"
