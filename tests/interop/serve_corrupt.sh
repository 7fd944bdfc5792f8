#!/usr/bin/env bash
# serve_corrupt.sh - a damaged spool record (docs/architecture.md, "Spool
# segments"): three messages wait in the queue (the receiver tempfails
# everything); the server is stopped; one byte inside one message's record
# in data_dir/spool/*.seg is flipped; the receiver now accepts; at restart
# the damaged message is copied to spool/corrupt/ with a log line and its
# recipients end 'corrupt', the two others are delivered, and the server
# goes on serving (a new message is accepted and delivered).
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 30 "$T"/herald*.log >&2 || true; exit 1; }
pass() { echo "ok: $*"; }

port=$(hl_free_port 127.0.0.2)
echo '{"*": "tempfail 1000000"}' > "$T/behaviour.json"
hl_receiver_start 127.0.0.2 "$port" "$T/rx" "$T/behaviour.json"
smtp=$(hl_free_port); status=$(hl_free_port)
echo 'unused.test. IN A 127.0.0.9' > "$T/zone"
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $T/data
log_level = debug
[smtp]
trusted_networks = 127.0.0.0/8
listen = 127.0.0.1:$smtp
[status]
listen = 127.0.0.1:$status
[api]
listen = 127.0.0.1:$(hl_free_port)
[queue]
retry_min = 1s
retry_max = 1s
[delivery]
mode = real
[dns]
zone_file = $T/zone
[route rx.test]
next_hop = 127.0.0.2:$port
C
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null
hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-1.log"

ids=()
for n in 1 2 3; do
  ids+=("$(hl_smtp_send "$smtp" alice@example.com "u$n@rx.test,v$n@rx.test" "MARKER-$n-MARKER")") || fail "submission $n"
done
for n in 1 2 3; do
  hl_wait_for 10 hl_event_has "$T/data" deferred "u$n@rx.test" || fail "u$n not deferred"
done
pass "3 messages queued (6 recipients deferred)"
hl_stop "$(hl_pid herald)"
hl_wait_gone 127.0.0.1 "$smtp" || fail "herald still listening after SIGTERM"

# flip one byte of message 2's subject in its spool record
/usr/bin/python3 - "$T/data/spool" "${ids[1]}" <<'P' || fail "damaging the spool"
import glob, struct, sys
spool, uuid = sys.argv[1], sys.argv[2]
segs = sorted(glob.glob(spool + "/*.seg"))
assert segs, "no segment files in " + spool
hit = 0
for seg in segs:
    data = bytearray(open(seg, "rb").read())
    off = 0
    while off + 32 <= len(data):    # walk the records: "HDM1" (or "HDE1", an envelope), length, CRC-32, 4 pad, 16-byte id
        assert data[off:off + 4] in (b"HDM1", b"HDE1"), "no record header at %s:%d" % (seg, off)
        length = struct.unpack_from(">I", data, off + 4)[0]   # big-endian (spool.c put_u32)
        rid = bytes(data[off + 16:off + 32]).decode()
        body = data[off + 32:off + 32 + length]
        if data[off:off + 4] == b"HDM1" and rid == uuid[:16] and b"MARKER-2-MARKER" in body:
            i = off + 32 + body.index(b"MARKER-2-MARKER") + 7
            data[i] ^= 0x20                     # "2" -> "\x12"
            open(seg, "wb").write(data)
            print("flipped a byte of record %s at %s offset %d" % (rid, seg, i))
            hit += 1
        off += 32 + length
assert hit == 1, "message 2's record found %d times" % hit
P
echo '{}' > "$T/behaviour.json.new" && mv "$T/behaviour.json.new" "$T/behaviour.json"

hl_herald_start "$T/herald.conf" "$smtp" herald "$T/herald-2.log"
pid=$(hl_pid herald)
for n in 1 3; do
  for r in u v; do
    hl_wait_for 15 hl_event_has "$T/data" delivered "$r$n@rx.test" || fail "$r$n@rx.test not delivered after the restart"
  done
done
pass "the two intact messages are delivered after the restart"
for r in u2 v2; do
  hl_wait_for 10 hl_event_has "$T/data" corrupt "$r@rx.test" || fail "$r@rx.test did not end 'corrupt'"
  [ "$(hl_event_count "$T/data" delivered "$r@rx.test")" -eq 0 ] || fail "$r@rx.test was delivered from a damaged record"
done
# one copy per recipient (u1, v1, u3, v3); nothing of message 2
[ "$(grep -la 'MARKER-2-MARKER' "$T"/rx/*.eml | wc -l)" -eq 0 ] || fail "the damaged message reached the receiver"
[ "$(grep -l 'MARKER-1-MARKER' "$T"/rx/*.eml | wc -l)" -eq 2 ] || fail "message 1 not delivered exactly once to each recipient"
[ "$(grep -l 'MARKER-3-MARKER' "$T"/rx/*.eml | wc -l)" -eq 2 ] || fail "message 3 not delivered exactly once to each recipient"
pass "the damaged message's recipients end 'corrupt', nothing of it is sent"

q="$T/data/spool/corrupt/${ids[1]}.bin"
[ -s "$q" ] || { ls -la "$T/data/spool" "$T/data/spool/corrupt" 2>&1; fail "no $q"; }
grep -qa 'MARKER-.-MARKER' "$q" || fail "spool/corrupt/${ids[1]}.bin does not hold the damaged bytes"
grep -q "${ids[1]}.*corrupt spool record.*spool/corrupt/${ids[1]}.bin" "$T/herald-2.log" ||
  fail "no log line naming the damaged record and where it went"
grep "${ids[1]}" "$T/herald-2.log" | grep 'corrupt' | head -2
"$HERALD" queue show "${ids[1]}" --data-dir "$T/data" | grep -E 'u2@rx.test +corrupt' > /dev/null ||
  fail "queue show: u2 is not 'corrupt'"
pass "the record is kept in spool/corrupt/, logged, and queue show says 'corrupt'"

kill -0 "$pid" 2>/dev/null || fail "the server died"
new=$(hl_smtp_send "$smtp" alice@example.com after@rx.test "after the damage") || fail "submission after the restart"
hl_wait_for 10 hl_event_has "$T/data" delivered after@rx.test || fail "a new message is not delivered"
"$HERALD" queue list --data-dir "$T/data" | grep 'the queue is empty' > /dev/null || fail "the queue is not empty"
curl -sf "http://127.0.0.1:$status/metrics" | grep '^herald_corrupt_total 1$' > /dev/null || fail "metrics: corrupt_total is not 1"
pass "the server keeps serving ($new delivered); queue empty; corrupt_total 1"
echo "serve_corrupt: passed"
