#!/usr/bin/env bash
# serve_badinput.sh - hostile and broken clients on the submission port,
# all at once, each from its own loopback address (so the log lines of
# each case can be told apart), while a normal client submits a message
# that must be delivered:
#   .11 an over-long command line (500 5.5.2, the session goes on)
#   .12 10 000 pipelined NOOPs (each answered, then QUIT)
#   .13 binary garbage (refused; closed after too many errors)
#   .14 an HTTP request (421, closed)
#   .15 TLS handshake garbage after STARTTLS (closed, nothing answered)
#   .16 STARTTLS, then plaintext commands (never executed; closed)
#   .17 a slow-loris client, one byte a second, never a whole line
#       (idle_timeout = 3s: closed with 421 after about that long)
#   .18 an idle client (421 after idle_timeout)
#   .19 200 KB announced with SIZE (max_message_size = 100K: 552)
#   .20 200 KB sent without SIZE (552 after the data)
#   .21 7 recipients with max_recipients = 5 (the 6th and 7th: 452)
# At the end the server still runs, serves a new client, and has logged
# each bad case.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 30 "$T/herald.log" >&2 || true; exit 1; }
pass() { echo "ok: $*"; }
bugs=0
bug() { echo "FAIL [server bug]: $*" >&2; bugs=$((bugs + 1)); }

port=$(hl_free_port 127.0.0.2)
hl_receiver_start 127.0.0.2 "$port" "$T/rx" ""
smtp=$(hl_free_port); status=$(hl_free_port)
echo 'unused.test. IN A 127.0.0.9' > "$T/zone"
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $T/data
log_level = debug
[smtp]
trusted_networks = 127.0.0.0/8
listen = 127.0.0.1:$smtp
max_message_size = 100K
max_recipients = 5
idle_timeout = 3s
[status]
listen = 127.0.0.1:$status
[api]
listen = 127.0.0.1:$(hl_free_port)
[queue]
retry_min = 1s
retry_max = 2s
[delivery]
mode = real
[dns]
zone_file = $T/zone
[route rx.test]
next_hop = 127.0.0.2:$port
C
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null
hl_herald_start "$T/herald.conf" "$smtp"
pid=$(hl_pid herald)

set +e
/usr/bin/python3 - "$smtp" "$T/results.json" <<'P'
import json, os, random, smtplib, socket, sys, threading, time
PORT, OUT = int(sys.argv[1]), sys.argv[2]
results = {}

def conn(ip, timeout=10):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout, source_address=(ip, 0))
    return s

def read_until(s, pred, limit=10.0):
    """Read until pred(data) or EOF or limit seconds; returns (data, eof)."""
    data, end = b"", time.time() + limit
    while not pred(data):
        left = end - time.time()
        if left <= 0:
            return data, False
        s.settimeout(left)
        try:
            b = s.recv(65536)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not b:
            return data, True
        data += b
    return data, False

def lines(data):
    return [l for l in data.decode("latin-1").split("\r\n") if l]

def final_replies(data):
    return [l for l in lines(data) if len(l) >= 4 and l[3] == " "]

def greet(s):
    d, _ = read_until(s, lambda d: b"\r\n" in d)
    assert d.startswith(b"220 "), d
    return d

def cmd(s, line, limit=10.0):
    s.sendall(line)
    d, eof = read_until(s, lambda d: d.endswith(b"\r\n") and final_replies(d), limit)
    return d.decode("latin-1").strip(), eof

def case(name, ip):
    def wrap(fn):
        def run():
            t0 = time.time()
            try:
                detail = fn(ip)
                results[name] = {"ip": ip, "ok": True, "detail": detail, "secs": round(time.time() - t0, 1)}
            except Exception as e:
                results[name] = {"ip": ip, "ok": False, "detail": "%s: %s" % (type(e).__name__, e),
                                 "secs": round(time.time() - t0, 1)}
        run.case = name
        return run
    return wrap

@case("long-line", "127.0.0.11")
def long_line(ip):
    s = conn(ip); greet(s)
    r, _ = cmd(s, b"EHLO long.test\r\n")
    r, _ = cmd(s, b"NOOP " + b"a" * 5000 + b"\r\n")
    assert r.startswith("500 5.5.2"), r
    r2, _ = cmd(s, b"NOOP\r\n")
    assert r2.startswith("250"), "the session did not go on: %r" % r2
    r3, _ = cmd(s, b"QUIT\r\n")
    assert r3.startswith("221"), r3
    return "%s; then NOOP %s" % (r[:40], r2[:12])

@case("pipelined-noops", "127.0.0.12")
def noops(ip):
    s = conn(ip, 20); greet(s)
    n = 10000
    s.sendall(b"NOOP\r\n" * n + b"QUIT\r\n")
    d, eof = read_until(s, lambda d: b"\r\n221 " in d or d.startswith(b"221 "), 20)
    rs = final_replies(d)
    ok = sum(1 for l in rs if l.startswith("250"))
    assert ok == n, "%d of %d NOOPs answered 250; last replies %r" % (ok, n, rs[-3:])
    assert rs[-1].startswith("221"), rs[-1]
    return "%d x 250, then %s" % (ok, rs[-1][:20])

@case("binary-garbage", "127.0.0.13")
def garbage(ip):
    s = conn(ip); greet(s)
    rnd = random.Random(13)
    blob = bytes(rnd.getrandbits(8) for _ in range(16384))
    # in pieces, reading the replies as they come: a client that sends on
    # after the server closed gets a TCP reset, which may swallow the 421
    d, eof = b"", False
    for i in range(0, len(blob), 512):
        try:
            s.sendall(blob[i:i + 512])
        except (BrokenPipeError, ConnectionResetError):
            eof = True
            break
        got, eof = read_until(s, lambda d: False, 0.05)
        d += got
        if eof:
            break
    if not eof:
        got, eof = read_until(s, lambda d: False, 8)
        d += got
    rs = final_replies(d)
    assert eof, "the server did not close the connection (replies %r)" % rs[-3:]
    assert rs and rs[-1].startswith("421"), "no 421 before closing: %r" % rs[-3:]
    assert not any(l.startswith("250") or l.startswith("354") for l in rs), rs
    return "%d replies, last %r" % (len(rs), rs[-1][:60])

@case("http-request", "127.0.0.14")
def http(ip):
    s = conn(ip); greet(s)
    s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: x\r\n\r\n")
    d, eof = read_until(s, lambda d: False, 5)
    rs = final_replies(d)
    assert eof, "not closed after an HTTP request: %r" % rs
    assert len(rs) == 1 and rs[0].startswith("421"), rs
    return rs[0]

def starttls(s, ip):
    cmd(s, b"EHLO tls.test\r\n")
    r, _ = cmd(s, b"STARTTLS\r\n")
    assert r.startswith("220"), r

@case("tls-garbage", "127.0.0.15")
def tls_garbage(ip):
    s = conn(ip); greet(s); starttls(s, ip)
    try:
        s.sendall(b"\x16\x03\x01\x02\x00" + os.urandom(600))
    except (BrokenPipeError, ConnectionResetError):
        pass
    d, eof = read_until(s, lambda d: False, 6)
    assert eof, "not closed after a broken TLS handshake"
    assert b"250" not in d and b"220" not in d, d[:80]
    return "closed after %d bytes (a TLS alert at most)" % len(d)

@case("starttls-then-plaintext", "127.0.0.16")
def tls_plain(ip):
    s = conn(ip); greet(s); starttls(s, ip)
    try:
        s.sendall(b"EHLO plain.test\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<plain@rx.test>\r\n"
                  b"DATA\r\nFrom: alice@example.com\r\nSubject: PLAINTEXT-AFTER-STARTTLS\r\n\r\nx\r\n.\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    d, eof = read_until(s, lambda d: False, 6)
    assert eof, "not closed"
    assert b"250" not in d and b"354" not in d, "plaintext commands were answered: %r" % d[:120]
    return "closed after %d bytes, no SMTP reply" % len(d)

@case("slow-loris", "127.0.0.17")
def loris(ip):
    s = conn(ip); greet(s)
    t0 = time.time()
    payload = b"NOOP " + b"a" * 100
    got = b""
    for i, c in enumerate(payload):
        try:
            s.sendall(bytes([c]))
        except (BrokenPipeError, ConnectionResetError):
            break
        d, eof = read_until(s, lambda d: False, 1.0)
        got += d
        if eof:
            break
        if time.time() - t0 > 12:
            raise AssertionError("still open after %.0f s of one byte a second (idle_timeout 3s); replies %r"
                                 % (time.time() - t0, lines(got)))
    secs = time.time() - t0
    rs = final_replies(got)
    assert rs and rs[-1].startswith("421"), "closed without a 421: %r" % rs
    assert secs <= 8, "closed only after %.1f s" % secs
    return "%s after %.1f s" % (rs[-1][:50], secs)

@case("idle", "127.0.0.18")
def idle(ip):
    s = conn(ip); greet(s)
    t0 = time.time()
    d, eof = read_until(s, lambda d: False, 10)
    secs = time.time() - t0
    rs = final_replies(d)
    assert eof, "an idle client was not closed within 10 s"
    assert rs and rs[-1].startswith("421"), rs
    assert 2.5 <= secs <= 6, "closed after %.1f s, idle_timeout is 3 s" % secs
    return "%s after %.1f s" % (rs[-1][:50], secs)

BIG = b"From: alice@example.com\r\nSubject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 200

@case("oversize-with-size", "127.0.0.19")
def big_size(ip):
    c = smtplib.SMTP("127.0.0.1", PORT, timeout=10, source_address=(ip, 0))
    c.ehlo("big.test")
    assert c.has_extn("size") and int(c.esmtp_features["size"]) == 100 * 1024, c.esmtp_features
    try:
        c.sendmail("alice@example.com", ["big@rx.test"], BIG)
        raise AssertionError("200 KB accepted")
    except smtplib.SMTPSenderRefused as e:
        assert e.smtp_code == 552, e
        r = "%d %s" % (e.smtp_code, e.smtp_error.decode())
    c.quit()
    return r

@case("oversize-without-size", "127.0.0.20")
def big_nosize(ip):
    s = conn(ip); greet(s)
    cmd(s, b"EHLO big2.test\r\n")
    r, _ = cmd(s, b"MAIL FROM:<alice@example.com>\r\n"); assert r.startswith("250"), r
    r, _ = cmd(s, b"RCPT TO:<big2@rx.test>\r\n"); assert r.startswith("250"), r
    r, _ = cmd(s, b"DATA\r\n"); assert r.startswith("354"), r
    r, _ = cmd(s, BIG + b".\r\n", 15)
    assert r.startswith("552"), "after 200 KB of data: %r" % r
    r2, _ = cmd(s, b"RSET\r\n"); assert r2.startswith("250"), r2
    cmd(s, b"QUIT\r\n")
    return r

@case("too-many-recipients", "127.0.0.21")
def rcpts(ip):
    s = conn(ip); greet(s)
    cmd(s, b"EHLO many.test\r\n")
    r, _ = cmd(s, b"MAIL FROM:<alice@example.com>\r\n"); assert r.startswith("250"), r
    codes = []
    for i in range(1, 8):
        r, _ = cmd(s, b"RCPT TO:<many%d@rx.test>\r\n" % i)
        codes.append(r)
    assert all(c.startswith("250") for c in codes[:5]), codes
    assert all(c.startswith("452") for c in codes[5:]), codes
    r, _ = cmd(s, b"RSET\r\n"); assert r.startswith("250"), r
    cmd(s, b"QUIT\r\n")
    return "5 x 250, then %r" % codes[5]

@case("normal-client", "127.0.0.30")
def normal(ip):
    time.sleep(1.5)      # while the others are at it
    c = smtplib.SMTP("127.0.0.1", PORT, timeout=10, source_address=(ip, 0))
    c.ehlo("normal.test")
    r = c.sendmail("alice@example.com", ["normal@rx.test"],
                   b"From: alice@example.com\r\nSubject: NORMAL-CLIENT\r\n\r\nhello\r\n")
    assert r == {}, r
    c.quit()
    return "accepted"

threads = [threading.Thread(target=f) for f in
           (long_line, noops, garbage, http, tls_garbage, tls_plain, loris, idle,
            big_size, big_nosize, rcpts, normal)]
for t in threads:
    t.start()
for t in threads:
    t.join(40)
json.dump(results, open(OUT, "w"), indent=1)
for name, r in results.items():
    print("%-4s %-24s %-12s %5.1fs  %s" % ("ok" if r["ok"] else "FAIL", name, r["ip"], r["secs"], r["detail"]))
sys.exit(0 if len(results) == len(threads) else 1)
P
py=$?
set -e
[ "$py" -eq 0 ] || fail "the clients did not all finish"
# case_ok NAME: the case went as it should
case_ok() { /usr/bin/python3 -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))[sys.argv[2]]["ok"] else 1)' "$T/results.json" "$1"; }
failed=()
for c in long-line pipelined-noops binary-garbage http-request tls-garbage starttls-then-plaintext \
         idle oversize-with-size oversize-without-size too-many-recipients normal-client; do
  case_ok "$c" || failed+=("$c")
done
[ "${#failed[@]}" -eq 0 ] || fail "not handled as they should be: ${failed[*]}"
pass "each bad client got the answer it should (above), the normal client was served"
# BUG (intake.c: bufferevent_set_timeouts in on_accept/start_tls):
# idle_timeout is libevent's read timeout, which starts again with every
# byte read, so a client that sends one byte a second and never ends a line
# is never disconnected (nor at 1000 bytes: then it gets a 500 and may
# start again). RFC 5321 §4.5.3.2.7's timeout is for a whole command; with
# max_sessions such clients can hold every session.
case_ok slow-loris || bug "slow-loris: $(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["slow-loris"]["detail"])' "$T/results.json")"

kill -0 "$pid" 2>/dev/null || fail "the server died"
pass "the server is still running"
hl_wait_for 10 hl_event_has "$T/data" delivered normal@rx.test || fail "the normal client's message was not delivered"
pass "the normal client's message was delivered meanwhile"
hl_smtp_send "$smtp" alice@example.com after@rx.test "after" > /dev/null || fail "a new client after all that"
hl_wait_for 10 hl_event_has "$T/data" delivered after@rx.test || fail "the message after all that was not delivered"
curl -sf "http://127.0.0.1:$status/health" | grep '"status":"ok"' > /dev/null || fail "health endpoint"
pass "a new client is served afterwards; health ok"
grep -la 'PLAINTEXT-AFTER-STARTTLS' "$T"/rx/*.eml 2>/dev/null && fail "plaintext sent after STARTTLS was delivered"
[ "$(hl_spool_count "$T/rx")" -eq 2 ] || fail "want exactly 2 messages at the receiver, got $(hl_spool_count "$T/rx")"

# every bad case logged: a line that names its client address (10 000
# pipelined NOOPs are legal SMTP and need no line)
missing=()
for c in 11:long-line 13:binary-garbage 14:http-request 15:tls-garbage \
         16:starttls-then-plaintext 17:slow-loris 18:idle 19:oversize-with-size \
         20:oversize-without-size 21:too-many-recipients; do
  ip=127.0.0.${c%%:*}
  if grep -E "(^|[^0-9.])${ip//./\\.}([^0-9]|$)" "$T/herald.log" > "$T/log-$ip"; then
    echo "logged ${c#*:}: $(head -1 "$T/log-$ip")"
  else
    missing+=("${c#*:}")
  fi
done
# BUG (intake.c): the session's refusals (500 line too long, bare LF/CR,
# too many errors, the HTTP 421, 552 size, 452 recipients) happen inside
# hd_smtpd and the shell never logs them; only the idle timeout, input
# overflow and TLS failures (at debug) are logged. A line per refusal, or a
# summary when the session ends (client, commands, errors, last reply),
# would let an operator see abuse.
[ "${#missing[@]}" -eq 0 ] || bug "no log line naming the client for: ${missing[*]}"
[ "$bugs" -eq 0 ] || { echo "serve_badinput: $bugs check(s) failed on known server bugs" >&2; exit 1; }
echo "serve_badinput: passed"
