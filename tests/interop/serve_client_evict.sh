#!/usr/bin/env bash
# serve_client_evict.sh - issue 14 review, item 6: the per-client tables
# (connections a minute, AUTH attempts, inbound messages) remember 1024
# clients; when full they must give up an entry whose minute is over, else
# the one with the smallest count, never the most persistent client's.
# Before, the entry whose window began first was dropped: a client refused
# by [inbound] max_connections_per_client_per_minute got a clean slate as
# soon as 1024 other addresses had connected once.
#
# 127.0.0.2 connects 4 times (limit 3: the 4th is refused), then 1024
# other loopback addresses (127.1.x.y) connect once each, then 127.0.0.2
# again: it must still be refused. Bounded: ~1030 connections in a few
# seconds, nothing sent but QUIT.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 20 "$T"/herald*.log >&2 || true; exit 1; }

smtp=$(hl_free_port); inbound=$(hl_free_port)
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $T/data
[smtp]
listen = 127.0.0.1:$smtp
max_sessions = 100
[status]
listen = 127.0.0.1:$(hl_free_port)
[api]
listen = 127.0.0.1:$(hl_free_port)
[inbound]
listen = 127.0.0.1:$inbound
max_connections_per_client_per_minute = 3
client_limit_exceptions =
# the quick connections below linger a little after QUIT
max_sessions = 1100
C
hl_herald_start "$T/herald.conf" "$smtp"
hl_wait_port 127.0.0.1 "$inbound" 10 tcp "$(hl_pid herald)"

/usr/bin/python3 - "$inbound" <<'P' || fail "the persistent client's count was evicted"
import socket, sys
port = int(sys.argv[1])

def greeting(src):
    s = socket.socket()
    s.settimeout(5)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    g = s.recv(512)
    if g.startswith(b"220"):
        s.sendall(b"QUIT\r\n")
        s.recv(512)
    s.close()
    return g.decode(errors="replace").strip()

got = [greeting("127.0.0.2") for _ in range(4)]
assert all(g.startswith("220 ") for g in got[:3]) and got[3].startswith("421 4.7.0"), got
others = 0
for i in range(1024):
    if greeting(f"127.1.{i // 250}.{i % 250 + 1}").startswith("220 "):
        others += 1
again = greeting("127.0.0.2")
print(f"figures: 127.0.0.2 refused after 3; {others} of 1024 other addresses greeted; "
      f"then 127.0.0.2: {again!r}")
assert again.startswith("421 4.7.0") and "this minute" in again, again
P
echo "serve_client_evict: passed"
