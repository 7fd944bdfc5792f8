#!/usr/bin/env bash
# serve_backpressure.sh - issue 14 item 1: a client that pipelines cheap
# commands (NOOP, HELP, RSET, EHLO) and never reads its replies must not
# grow the server's memory. The server stops reading a session whose
# unread replies pass a small cap (64 KiB) and reads again once they are
# down to 16 KiB; the kernel's socket buffers then push back on the client.
#
# To each SMTP listener (submission and inbound, and submission after
# STARTTLS, where the TLS filter's output is held too) one client sends up to
# VOLUME bytes (default 20 MB; the server without the cap buffered ~13x
# what it got: 40 MB in, 550 MB resident) without reading, and stops when
# the server has taken nothing for STALL seconds. The server's resident
# memory is measured before and at its peak (VmHWM, reset through
# /proc/PID/clear_refs before each flood): the growth must stay under
# BOUND_MB (20). Then the client reads every reply and says QUIT: the
# session, paused meanwhile, answers 221 (reading resumed).
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
VOLUME=${VOLUME:-20000000}
BOUND_MB=${BOUND_MB:-20}
fail() { echo "FAIL: $*" >&2; tail -n 20 "$T"/herald*.log >&2 || true; exit 1; }

# an ASan build keeps freed memory in quarantine (256 MB by default),
# which would count as growth here: keep it small for this server
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1"

smtp=$(hl_free_port); inbound=$(hl_free_port)
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
[inbound]
listen = 127.0.0.1:$inbound
C
hl_herald_start "$T/herald.conf" "$smtp"
hl_wait_port 127.0.0.1 "$inbound" 10 tcp "$(hl_pid herald)"
pid=$(hl_pid herald)

kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

flood() {   # NAME PORT [tls]
  local name=$1 port=$2 tls=${3:-} before peak growth
  before=$(kb "$pid" VmRSS)
  echo 5 > "/proc/$pid/clear_refs"      # VmHWM := VmRSS
  /usr/bin/python3 - "$port" "$VOLUME" "$tls" > "$T/flood-$name.out" 2>&1 <<'P' || { cat "$T/flood-$name.out"; fail "$name: the client"; }
import select, socket, ssl, sys, time
port, volume, tls = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "tls"
STALL = 1.0
AGAIN = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
chunk = (b"NOOP\r\nHELP\r\nRSET\r\nEHLO flood.test\r\n" * 512)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)   # little room for replies here
s.settimeout(10)
s.connect(("127.0.0.1", port))
if tls:
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"EHLO flood.test\r\n")
    while f.readline()[3:4] == b"-":
        pass
    s.sendall(b"STARTTLS\r\n")
    assert f.readline().startswith(b"220"), "STARTTLS refused"
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = ctx.wrap_socket(s)
s.setblocking(False)
sent, last, pending, blocked = 0, time.monotonic(), chunk, False
while (sent < volume or len(pending) != len(chunk)) and time.monotonic() - last < STALL:
    try:
        n = s.send(pending)
        sent += n
        pending = pending[n:] or chunk      # whole commands only
        last, blocked = time.monotonic(), False
    except AGAIN:
        blocked = True
        time.sleep(0.01)
print(f"sent {sent} bytes without reading" + (" (then nothing more was taken)" if sent < volume else ""))
sys.stdout.flush()
# now read everything back while QUIT goes out: the paused session resumes
# (TLS: a write that could not go must be retried with at least as much)
quit, got, end = (pending if blocked else b"") + b"QUIT\r\n", bytearray(), time.monotonic() + 60
while time.monotonic() < end:
    if quit:
        try:
            quit = quit[s.send(quit):]
        except AGAIN:
            pass
    try:
        b = s.recv(1 << 20)
    except AGAIN:
        select.select([s], [s] if quit else [], [], 0.05)
        continue
    except (ConnectionResetError, ssl.SSLError):
        break
    if not b:
        break
    got.extend(b)
tail = bytes(got[-200:])
print(f"read {len(got)} bytes of replies; the last: {tail.splitlines()[-1:]!r}")
assert b"\r\n221 " in tail, tail
P
  peak=$(kb "$pid" VmHWM)
  growth=$(( (peak - before) / 1024 ))
  sed "s/^/  $name: /" "$T/flood-$name.out"
  echo "  $name: server RSS before ${before} kB, peak ${peak} kB: growth $((peak - before)) kB = ${growth} MB (bound ${BOUND_MB} MB)"
  [ "$growth" -lt "$BOUND_MB" ] || fail "$name: the server's memory grew by ${growth} MB for a client that does not read (bound ${BOUND_MB} MB)"
  echo "ok: $name: a client that does not read its replies holds the server's memory under ${BOUND_MB} MB"
}

flood submission "$smtp"
flood inbound "$inbound"
flood submission-tls "$smtp" tls
kill -0 "$pid" || fail "the server died"
echo "serve_backpressure: passed"
