#!/usr/bin/env bash
# serve_http_attack.sh - the HTTP listeners (API, status) under attack
# (issue 14 items 1, 2, 6, 11), raw sockets on loopback, each bounded:
#   - keyless bodies: 20 connections each announce a 36 MB body and send
#     2 MB of it (some with Expect: 100-continue): each gets 401 before its
#     body is read (no 100 Continue), the server's RSS grows by less than
#     RSS_BODY_MB, and a request with a key is still served (and a 300 KB
#     body with a key and Expect: 100-continue gets 100, then 202; one
#     pipelined behind a request with a key gets its 401 after that one's
#     answer);
#   - framing (RFC 9112 §6.3): two Content-Length fields, "+N", a
#     non-digit value, Transfer-Encoding with Content-Length, alone, a
#     folded field: each 400 (411 for chunked alone) before routing, the
#     connection closed, nothing smuggled behind it answered;
#   - pipelining: a client sends GET /metrics requests for 3 s and never
#     reads: the server's RSS grows by less than RSS_PIPE_MB;
#   - connection caps: past [api]/[status] max_connections a connection is
#     answered 503 and closed while a request on an open one is served;
#     once some close, new ones are taken again;
#   - per client: [api] max_connections_per_client 4 (127.0.0.1 exempt):
#     a fifth connection from 127.0.0.3 is answered 503 while 127.0.0.2 is
#     served; a request head still incomplete 10 s after its first byte
#     (one field every 2 s) gets 408 and the connection is closed; a
#     Content-Length over [api] max_request_size gets 413 (JSON) at once,
#     before any of its body is sent;
#   - a refusal behind answers the client has not read: 5 clients with a
#     4 KiB receive buffer pipeline 100-300 keyed GETs and a keyless
#     POST, wait 1.5 s, then read slowly: each gets every answer, then the
#     whole 401, then the end of the connection;
#   - out of descriptors: the server's limit lowered under it (prlimit), 150
#     connections to the status listener: the server uses less than CPU_MS of CPU in 2 s (no
#     accept() spin), logs fewer than 10 accept lines, and answers again
#     once they close.
# The figures are printed for the record.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
# an ASan build keeps freed memory in quarantine (256 MB by default),
# which would count as growth here: keep it small
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1"
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 30 "$T"/herald*.log >&2 || true; exit 1; }
RSS_BODY_MB=16
RSS_PIPE_MB=10
CPU_MS=500

smtp=$(hl_free_port); status=$(hl_free_port); api=$(hl_free_port); inb=$(hl_free_port)
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $T/data
[smtp]
listen = 127.0.0.1:$smtp
[status]
listen = 127.0.0.1:$status
max_connections = 8
[api]
listen = 127.0.0.1:$api
max_connections = 40
max_connections_per_client = 4
client_limit_exceptions = 127.0.0.1/32
[inbound]
listen = 127.0.0.1:$inb
[delivery]
mode = sandbox
C
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null
KEY=$("$HERALD" apikey create --name t --domains '*' --data-dir "$T/data" | grep -o 'hk_[A-Za-z0-9_]*' | head -n 1)
[ -n "$KEY" ] || fail "apikey create gave no token"
hl_herald_start "$T/herald.conf" "$smtp"
hl_wait_port 127.0.0.1 "$api" 10 tcp "$(hl_pid herald)"
hl_wait_port 127.0.0.1 "$status" 10 tcp "$(hl_pid herald)"
PID=$(hl_pid herald)

/usr/bin/python3 - "$PID" "$api" "$status" "$KEY" "$RSS_BODY_MB" "$RSS_PIPE_MB" <<'P' || fail "see above"
import json, select, socket, sys, threading, time
pid, api, status, key = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rss_body_mb, rss_pipe_mb = int(sys.argv[5]), int(sys.argv[6])
bad = []

def rss_kb():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])

def conn(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s

def read_answer(s, limit=3.0):
    """Bytes until the peer closes or limit seconds pass."""
    s.settimeout(0.2)
    out, end = b"", time.time() + limit
    while time.time() < end:
        try:
            b = s.recv(65536)
        except socket.timeout:
            if b"\r\n\r\n" in out and out.startswith(b"HTTP/1.1 ") and not out.startswith(b"HTTP/1.1 100"):
                head, _, body = out.partition(b"\r\n\r\n")
                cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if cl and len(body) >= int(cl[0].split(b":")[1]):
                    break
            continue
        except OSError:
            break
        if not b:
            break
        out += b
    return out

def status_of(ans):
    return int(ans[9:12]) if ans.startswith(b"HTTP/1.1 ") and len(ans) >= 12 else 0

def code_of(ans):
    try:
        return json.loads(ans.split(b"\r\n\r\n", 1)[1].split(b"\n")[0])["error"]["code"]
    except Exception:
        return None

def request(port, raw):
    s = conn(port)
    s.sendall(raw)
    ans = read_answer(s)
    s.close()
    return ans

def get(port, path, auth=True):
    h = f"GET {path} HTTP/1.1\r\nHost: t\r\n" + (f"Authorization: Bearer {key}\r\n" if auth else "") + "\r\n"
    return status_of(request(port, h.encode()))

# ---- item 1: a pipelining client that never reads ----
def pipeline(port, path, seconds, extra=""):
    s = conn(port)
    s.setblocking(False)
    req = f"GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode() * 512
    sent, end = 0, time.time() + seconds
    while time.time() < end and sent < 40 * 1024 * 1024:
        _, w, _ = select.select([], [s], [], 0.2)
        if w:
            try:
                sent += s.send(req)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                break
    return s, sent

rss0 = rss_kb()
s, sent = pipeline(status, "/metrics", 3)
time.sleep(0.5)
rss1 = rss_kb()
s.close()
growth = (rss1 - rss0) / 1024
print(f"pipelining without reading (status /metrics): {sent / 1048576:.1f} MB sent; RSS {rss0 // 1024} -> "
      f"{rss1 // 1024} MB (growth {growth:.1f} MB, bound {rss_pipe_mb})")
if growth >= rss_pipe_mb: bad.append(f"pipelining: RSS grew {growth:.1f} MB")
rss0 = rss_kb()
s, sent = pipeline(api, "/v1/events?limit=1000", 3, f"Authorization: Bearer {key}\r\n")
time.sleep(0.5)
rss1 = rss_kb()
s.close()
growth = (rss1 - rss0) / 1024
print(f"pipelining without reading (API /v1/events): {sent / 1048576:.1f} MB sent; RSS {rss0 // 1024} -> "
      f"{rss1 // 1024} MB (growth {growth:.1f} MB, bound {rss_pipe_mb})")
if growth >= rss_pipe_mb: bad.append(f"pipelining (API): RSS grew {growth:.1f} MB")
time.sleep(1.5)

# ---- item 6: keyless bodies are not read ----
def keyless(i, results):
    s = conn(api)
    s.setblocking(False)
    expect = "Expect: 100-continue\r\n" if i % 2 else ""
    auth = "Authorization: Bearer hk_nope_nope\r\n" if i % 4 == 3 else ""
    head = (f"POST /v1/messages HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{auth}{expect}"
            f"Content-Length: 36000000\r\n\r\n").encode()
    out, sent, chunk = b"", 0, b"x" * 65536
    pending = head
    end = time.time() + 4
    while time.time() < end and sent < 2 * 1024 * 1024:
        r, w, _ = select.select([s], [s] if pending or sent < 2 * 1024 * 1024 else [], [], 0.2)
        if r:
            try:
                b = s.recv(65536)
            except OSError:
                break
            if not b:
                break
            out += b
        if w:
            if not pending:
                pending = chunk
            try:
                n = s.send(pending)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                break
            sent += n
            pending = pending[n:]
    s.setblocking(True)
    out += read_answer(s, 1.5)
    results[i] = (out, sent, s)

rss0 = rss_kb()
results = {}
threads = [threading.Thread(target=keyless, args=(i, results)) for i in range(20)]
for t in threads: t.start()
for t in threads: t.join()
rss1 = rss_kb()
statuses = [status_of(results[i][0]) for i in range(20)]
hundred = sum(1 for i in range(20) if results[i][0].startswith(b"HTTP/1.1 100"))
sent_mb = sum(results[i][1] for i in range(20)) / 1048576
served = get(api, "/v1/events")
for i in range(20): results[i][2].close()
growth = (rss1 - rss0) / 1024
print(f"keyless bodies: 20 connections sent {sent_mb:.1f} MB; answers {sorted(set(statuses))}; "
      f"100 Continue {hundred}; RSS {rss0 // 1024} -> {rss1 // 1024} MB (growth {growth:.1f} MB, "
      f"bound {rss_body_mb}); with a key: {served}")
if statuses.count(401) != 20: bad.append(f"keyless bodies: want 20 answers 401, got {statuses}")
if hundred: bad.append(f"keyless bodies: {hundred} got 100 Continue")
if growth >= rss_body_mb: bad.append(f"keyless bodies: RSS grew {growth:.1f} MB")
if served != 200: bad.append(f"a request with a key after the attack: {served}")
body = b'{"address":"smuggle@example.net","reason":"t"}'
ok_post = request(api, (f"POST /v1/suppressions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
print(f"a body with a key: {status_of(ok_post)}")
if status_of(ok_post) != 201: bad.append(f"POST with a key: {ok_post[:200]!r}")
# pipelined behind a request with a key: that one is answered, then the 401
s = conn(api)
s.sendall(f"GET /v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n\r\n".encode() +
          b"POST /v1/messages HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
          b"Content-Length: 36000000\r\n\r\n" + b"x" * 100000)
ans = read_answer(s, 3)
s.close()
pipelined = [int(a[:3]) for a in ans.split(b"HTTP/1.1 ")[1:]]
print(f"a keyless body pipelined behind a request with a key: answers {pipelined}")
if pipelined != [200, 401]: bad.append(f"pipelined keyless body: {ans[:400]!r}")
# a body larger than the read watermark, with Expect: 100-continue, and a key
big = json.dumps({"to": "big@rx.test", "raw": "From: a@example.com\nSubject: big\n\n" + "x" * 300000 + "\n"}).encode()
s = conn(api)
s.sendall((f"POST /v1/messages HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\nExpect: 100-continue\r\n"
           f"Content-Type: application/json\r\nContent-Length: {len(big)}\r\n\r\n").encode())
s.settimeout(5)
cont = s.recv(64)
s.sendall(big)
ans = read_answer(s, 10)
s.close()
print(f"a 300 KB body with a key and Expect: {cont[:25]!r}, then {status_of(ans)}")
if not cont.startswith(b"HTTP/1.1 100") or status_of(ans) != 202: bad.append(f"300 KB with a key: {cont[:40]!r} {ans[:200]!r}")

# ---- item 11: framing ----
smuggled = f"GET /v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
def post(fields, body):
    return (f"POST /v1/suppressions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\n{fields}\r\n").encode() + body
cases = [
    ("two Content-Length", post(f"Content-Length: {len(body)}\r\nContent-Length: {len(body) + len(smuggled)}\r\n", body + smuggled), 400),
    ("Content-Length: +N", post(f"Content-Length: +{len(body)}\r\n", body + smuggled), 400),
    ("Content-Length: N, N", post(f"Content-Length: {len(body)}, {len(body)}\r\n", body + smuggled), 400),
    ("Content-Length twice, equal", post(f"Content-Length: {len(body)}\r\nContent-Length: {len(body)}\r\n", body + smuggled), 400),
    ("Content-Length: 0x2f", post("Content-Length: 0x2f\r\n", body + smuggled), 400),
    ("Transfer-Encoding and Content-Length", post(f"Transfer-Encoding: chunked\r\nContent-Length: {len(body)}\r\n",
        b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n" + smuggled), 400),
    ("Transfer-Encoding alone", post("Transfer-Encoding: chunked\r\n", b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n" + smuggled), 411),
    ("a folded field", post(f"Content-Length: {len(body)}\r\nX-A: a\r\n b\r\n", body + smuggled), 400),
]
passed = 0
for name, raw, want in cases:
    ans = request(api, raw)
    n_answers = ans.count(b"HTTP/1.1 ")
    if status_of(ans) == want and n_answers == 1 and code_of(ans) in ("invalid_header", "length_required"):
        passed += 1
    else:
        bad.append(f"framing, {name}: want one {want}, got {n_answers} answers: {ans[:300]!r}")
print(f"framing: {passed}/{len(cases)} refused before routing, nothing smuggled answered")

# ---- item 2: connection caps ----
def cap_case(port, cap, path, auth):
    held = [conn(port) for _ in range(cap)]
    time.sleep(0.3)
    extra = conn(port)
    ans = read_answer(extra, 2)
    extra.close()
    s = held[0]
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: t\r\n" + (f"Authorization: Bearer {key}\r\n" if auth else "") + "\r\n").encode())
    inside = status_of(read_answer(s, 2))
    for h in held: h.close()
    time.sleep(0.5)
    after = get(port, path, auth)
    return status_of(ans), code_of(ans), inside, after

for name, port, cap, path, auth in (("API", api, 40, "/v1/events", True), ("status", status, 8, "/health", False)):
    over, code, inside, after = cap_case(port, cap, path, auth)
    print(f"{name} cap {cap}: one more connection {over} ({code}); a request on a held one {inside}; "
          f"after they close {after}")
    if over != 503: bad.append(f"{name}: over the cap got {over}")
    if inside != 200 or after != 200: bad.append(f"{name}: requests inside/after the cap: {inside} {after}")

# ---- a refusal behind unread answers: written through the bufferevent ----
def late_reader(i, res):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", api))
    n = 100 + 50 * i
    s.sendall(f"GET /v1/events?limit=1000 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n\r\n".encode() * n +
              b"POST /v1/messages HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
    time.sleep(1.5)
    s.settimeout(5)
    out = b""
    while True:
        try:
            b = s.recv(700)
        except OSError:
            break
        if not b:
            break
        out += b
        time.sleep(0.0005)
    s.close()
    parts = out.split(b"HTTP/1.1 ")[1:]
    res[i] = len(parts) == n + 1 and all(p.startswith(b"200") for p in parts[:-1]) and \
        parts[-1].startswith(b"401") and parts[-1].endswith(b"}\n")
res = {}
ts = [threading.Thread(target=late_reader, args=(i, res)) for i in range(5)]
for t in ts: t.start()
for t in ts: t.join()
whole = sum(1 for v in res.values() if v)
print(f"a refusal behind unread answers: {whole}/5 clients got every answer, then the whole 401 and the end")
if whole != 5: bad.append(f"refusal behind unread answers: {whole}/5")

# ---- per-client cap, head deadline, declared size (review of items 2, 6) ----
def conn_from(port, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s
held = [conn_from(api, "127.0.0.3") for _ in range(4)]
time.sleep(0.3)
extra = conn_from(api, "127.0.0.3")
ans = read_answer(extra, 2)
extra.close()
other = conn_from(api, "127.0.0.2")
other.sendall(f"GET /v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n\r\n".encode())
served = status_of(read_answer(other, 3))
other.close()
for h in held: h.close()
print(f"per client (cap 4): a fifth from 127.0.0.3: {status_of(ans)} {ans.split(b'message', 1)[-1][:60]!r}; "
      f"127.0.0.2 meanwhile: {served}")
if status_of(ans) != 503 or b"your address" not in ans: bad.append(f"per-client cap: {ans[:300]!r}")
if served != 200: bad.append(f"per-client cap: another address got {served}")
# Content-Length over max_request_size: 413 before the body
s = conn(api)
s.sendall(f"POST /v1/messages HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n"
          f"Content-Type: application/json\r\nContent-Length: 40000000\r\n\r\n".encode())
t0 = time.time()
ans = read_answer(s, 3)
s.close()
print(f"Content-Length 40000000 over max_request_size: {status_of(ans)} ({code_of(ans)}) after {time.time() - t0:.1f} s")
if status_of(ans) != 413 or code_of(ans) != "too_large": bad.append(f"declared size: {ans[:300]!r}")
# a slow head: one field every 2 s
s = conn(api)
s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: t\r\n")
t0, ans = time.time(), b""
s.settimeout(2)
while time.time() - t0 < 16:
    try:
        s.sendall(b"X-Slow: a\r\n")
    except OSError:
        break
    try:
        b = s.recv(4096)
        ans += b
        if not b or b"\r\n\r\n" in ans:
            break
    except socket.timeout:
        pass
    except OSError:
        break
took = time.time() - t0
s.close()
print(f"a slow request head: {status_of(ans)} ({code_of(ans)}) after {took:.1f} s (deadline 10 s)")
if status_of(ans) != 408 or took > 13: bad.append(f"slow head: {took:.1f} s, {ans[:200]!r}")

for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
P
grep -c 'refused before its body was read' "$T/herald.log" | { read -r n; echo "log lines for 20 keyless bodies: $n"; [ "$n" -le 3 ]; } ||
  fail "keyless refusals are not rate-limited in the log"
# the refusals name the client's address (evhttp's, from accept), never "?"
grep -q 'API: connection from 127.0.0.3 refused: 4 connections open from 127.0.0.3' "$T/herald.log" ||
  fail "the per-client refusal is not logged with the client's address"
! grep -q 'from ?' "$T/herald.log" || fail "a refusal logged without the client's address"
grep -q 'not complete 10 s after its first byte' "$T/herald.log" || fail "the slow head is not logged"
echo "ok: keyless bodies, framing, pipelining, connection caps, per client, slow heads, declared size"

# ---- every answer is counted as sent, so a refusal after it comes ----
# A refusal waits until the answers before it on the connection are sent.
# The status listener's answers were never counted (its handlers did not
# track them), nor answers evhttp makes itself (405): a refusal after one
# of them on a keep-alive connection was never sent.
"$HL_PY" - "$status" "$api" <<'P' || fail "a refusal after an answer on the same connection"
import re, socket, sys, time
status, api = int(sys.argv[1]), int(sys.argv[2])
def ask(port, first, second):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(first)
    s.sendall(second)
    got, end = b"", time.time() + 5
    while got.count(b"HTTP/1.1 ") < 2 and time.time() < end:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        if not b:
            break
        got += b
    s.close()
    # an answer's body may end in a bare LF: find the status lines anywhere
    return [m.decode() for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", got)]
big = b"POST /health HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
cases = [
    ("status: /health, then a body", status, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n", big, ["200", "405"]),
    ("status: /metrics, then a body", status, b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", big, ["200", "405"]),
    ("status: unknown path, then a body", status, b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", big, ["404"]),
    ("status: POST, then a body", status, b"POST /health HTTP/1.1\r\nHost: t\r\n\r\n", big, ["405"]),
    ("API: PUT, then a keyless body", api, b"PUT /v1/messages HTTP/1.1\r\nHost: t\r\n\r\n",
     b"POST /v1/messages HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}", ["405"]),
    ("API: GET without a key, then a keyless body", api, b"GET /v1/events HTTP/1.1\r\nHost: t\r\n\r\n",
     b"POST /v1/messages HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}", ["401", "401"]),
]
bad = 0
for name, port, first, second, want in cases:
    got = ask(port, first, second)
    # a refusal closes the connection: what follows it is not answered
    ok = got == want
    print(f"  {name}: {got}{'' if ok else '  <- want ' + str(want)}")
    bad += not ok
s = socket.create_connection(("127.0.0.1", api), timeout=5)
s.sendall(b"PATCH /v1/messages HTTP/1.1\r\nHost: t\r\n\r\n")
head = s.recv(4096).split(b"\r\n\r\n")[0]
s.close()
allow = b"\r\nAllow: GET, POST, DELETE\r\n" in head + b"\r\n"
print(f"  API: PATCH answered {head.split(b' ')[1].decode()} with Allow: {allow}")
bad += not (head.startswith(b"HTTP/1.1 405 ") and allow)
sys.exit(1 if bad else 0)
P
echo "ok: after a status answer or a 405 on a keep-alive connection, a refusal still comes"
hl_stop "$(hl_pid herald)"

# ---- out of descriptors: no accept() spin ----
st2=$(hl_free_port); smtp2=$(hl_free_port); api2=$(hl_free_port); inb2=$(hl_free_port)
sed -e "s/^listen = 127.0.0.1:$smtp$/listen = 127.0.0.1:$smtp2/" -e "s/^listen = 127.0.0.1:$status$/listen = 127.0.0.1:$st2/" \
  -e "s/^max_connections = 8$/max_connections = 400/" -e "s/^listen = 127.0.0.1:$api$/listen = 127.0.0.1:$api2/" \
  -e "s/^listen = 127.0.0.1:$inb$/listen = 127.0.0.1:$inb2/" "$T/herald.conf" > "$T/emfile.conf"
hl_spawn herald-emfile "$T/herald-emfile.log" "$HERALD" serve --config "$T/emfile.conf"
hl_wait_port 127.0.0.1 "$st2" 15 tcp "$(hl_pid herald-emfile)" || fail "the second server did not start"
# descriptors run out under the server: its limit is lowered to 20 more
# than it holds (prlimit --pid), below [status] max_connections
epid=$(hl_pid herald-emfile)
limit=$(( $(ls "/proc/$epid/fd" | wc -l) + 20 ))
prlimit --pid="$epid" --nofile="$limit:$limit" || fail "prlimit"
/usr/bin/python3 - "$(hl_pid herald-emfile)" "$st2" "$CPU_MS" "$T/herald-emfile.log" <<'P' || fail "see above"
import os, socket, sys, time
pid, port, cpu_ms, log = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) * 1000 // os.sysconf("SC_CLK_TCK")
held = []
for _ in range(150):
    try:
        held.append(socket.create_connection(("127.0.0.1", port), timeout=2))
    except OSError:
        break
time.sleep(0.3)
c0, t0 = cpu(), time.time()
time.sleep(2)
used = cpu() - c0
lines = sum(1 for l in open(log, errors="replace") if "accept" in l)
for s in held: s.close()
ans, end = b"", time.time() + 15
while not ans and time.time() < end:     # the closed ones queued in the backlog go first
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        ans = s.recv(4096)
        s.close()
    except OSError:
        time.sleep(0.5)
print(f"out of descriptors: {len(held)} connections held; CPU {used} ms in 2 s (bound {cpu_ms}); "
      f"{lines} accept log lines; afterwards /health: {ans[:12]!r}")
bad = used >= cpu_ms or lines >= 10 or not ans.startswith(b"HTTP/1.1 200")
sys.exit(1 if bad else 0)
P
echo "ok: out of descriptors: accepting pauses, no spin, answers again"
echo "serve_http_attack: passed"
