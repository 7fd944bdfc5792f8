#!/usr/bin/env bash
# serve_client_caps.sh - issue 14 item 7: one client address must not hold
# every session of a listener, nor fill it with connections it was refused
# and keeps open. Per listener, [smtp] / [inbound]
# max_sessions_per_client caps the sessions one client (IPv6: one /64)
# holds at once and max_connections_per_client_per_minute its connections
# a minute (as Postfix's anvil); over either the client gets
# "421 4.7.0 ... too many connections from your address" and is closed,
# while another address (127.0.0.2: all of 127/8 is loopback, the client
# binds its source address) is served, and the refusals log one line a
# minute per client and limit.
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
trusted_networks = 127.0.0.0/8
max_sessions = 10
max_sessions_per_client = 3
[status]
listen = 127.0.0.1:$(hl_free_port)
[api]
listen = 127.0.0.1:$(hl_free_port)
[inbound]
listen = 127.0.0.1:$inbound
max_sessions = 10
max_sessions_per_client = 3
max_connections_per_client_per_minute = 40
C
hl_herald_start "$T/herald.conf" "$smtp"
hl_wait_port 127.0.0.1 "$inbound" 10 tcp "$(hl_pid herald)"

/usr/bin/python3 - "$smtp" "$inbound" <<'P' || fail "per-client caps"
import socket, sys, time
smtp, inbound = int(sys.argv[1]), int(sys.argv[2])

def connect(port, src="127.0.0.1"):
    s = socket.socket()
    s.settimeout(5)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s

def reply(s):
    buf = b""
    while not buf.endswith(b"\r\n") or buf.split(b"\r\n")[-2][3:4] == b"-":
        b = s.recv(4096)
        if not b:
            break
        buf += b
    return buf.decode()

def closed(s):
    try:
        return s.recv(1) == b""
    except OSError:
        return True

def over_cap(port, name):
    held = [connect(port) for _ in range(3)]
    greets = [reply(s) for s in held]
    assert all(g.startswith("220 ") for g in greets), greets
    for i in range(2):
        extra = connect(port)
        r = reply(extra)
        assert r.startswith("421 4.7.0 ") and "too many connections from your address (3 open)" in r, r
        assert closed(extra), "the refused connection stays open"
        extra.close()
    print(f"ok: {name}: a 4th and 5th session from 127.0.0.1: {r.strip()!r}, closed")
    # refused connections the client keeps open do not fill the listener
    # (max_sessions 10) for others
    kept = [connect(port) for _ in range(20)]
    assert all(reply(k).startswith("421 4.7.0 ") for k in kept)
    other = connect(port, "127.0.0.2")
    g = reply(other)
    assert g.startswith("220 "), g
    other.sendall(b"EHLO other.test\r\n")
    assert reply(other).startswith("250"), "127.0.0.2 not served"
    other.sendall(b"QUIT\r\n"); reply(other); other.close()
    for k in kept:
        k.close()
    print(f"ok: {name}: meanwhile, with 20 more refused connections from 127.0.0.1 kept open "
          "(max_sessions 10), 127.0.0.2 is greeted and served")
    # the held sessions still work; once one ends, 127.0.0.1 gets another
    held[0].sendall(b"NOOP\r\n")
    assert reply(held[0]).startswith("250")
    held[0].sendall(b"QUIT\r\n"); reply(held[0]); held[0].close()
    for _ in range(50):
        s = connect(port)
        g = reply(s)
        if g.startswith("220 "):
            break
        s.close()
        time.sleep(0.1)
    assert g.startswith("220 "), g
    print(f"ok: {name}: after one of its sessions ended, 127.0.0.1 is greeted again")
    for h in held[1:] + [s]:
        h.sendall(b"QUIT\r\n"); reply(h); h.close()

over_cap(smtp, "submission")
over_cap(inbound, "inbound")

# inbound: 40 connections a minute per client; 127.0.0.1 has made
# 3 + 2 + 20 + 1 (+ retries) already: the next ones, one at a time, pass
# until the 41st of the minute, which gets 421 4.7.0 "this minute"
n, r = 0, ""
for _ in range(30):
    s = connect(inbound)
    r = reply(s)
    if r.startswith("421"):
        s.close()
        break
    s.sendall(b"QUIT\r\n"); reply(s); s.close()
    n += 1
    time.sleep(0.05)    # the ended session is gone (max_sessions is 10 here)
assert r.startswith("421 4.7.0 ") and "this minute" in r, r
print(f"ok: inbound: connections one at a time: {n} more, then {r.strip()!r}")
other = connect(inbound, "127.0.0.2")
g = reply(other)
assert g.startswith("220 "), g
other.sendall(b"QUIT\r\n"); reply(other); other.close()
print("ok: inbound: 127.0.0.2 is still greeted")
P
log=$T/herald.log
for kind in 'sessions open on the submission listener (max_sessions_per_client 3)' \
            'sessions open on the inbound listener (max_sessions_per_client 3)' \
            'connections this minute on the inbound listener (max_connections_per_client_per_minute 40)'; do
  n=$(grep -c -F "$kind" "$log" || true)
  [ "$n" = 1 ] || fail "log lines with '$kind': $n, want 1 (one a minute per client)"
done
grep -F 'max_sessions_per_client 3' "$log" | head -1 | sed 's/^/  logged: /'
grep -F 'connections this minute' "$log" | head -1 | sed 's/^/  logged: /'
n=$(grep -c 'session ended' "$log" || true)
echo "ok: each refusal logged once per client and listener; $n session summary lines (refused sessions have none)"
echo "serve_client_caps: passed"
