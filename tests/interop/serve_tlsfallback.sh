#!/usr/bin/env bash
# serve_tlsfallback.sh - opportunistic TLS that fails is not the end of the
# mail: a receiver that offers STARTTLS but breaks the handshake gets the
# message on a second, plain-text connection to the same address (as
# Postfix's "may" level does); with `tls = required` it is deferred.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 20 "$T"/herald*.log "$T/rx.log" >&2 || true; exit 1; }

rx=$(hl_free_port)
# a receiver whose STARTTLS answers 220 and then sends garbage instead of a
# TLS handshake; it logs each connection and keeps what it is sent in plain text
cat > "$T/rx.py" <<'P'
import socketserver, sys
port, out = int(sys.argv[1]), sys.argv[2]
class H(socketserver.StreamRequestHandler):
    def handle(self):
        w = lambda s: (self.wfile.write(s.encode() + b"\r\n"), self.wfile.flush())
        log = open(out + ".log", "a")
        w("220 rx.test ESMTP")
        data, in_data = [], False
        for raw in self.rfile:
            line = raw.decode("latin-1").rstrip("\r\n")
            if in_data:
                if line == ".":
                    open(out, "a").write("\n".join(data) + "\n")
                    log.write("message\n"); log.flush()
                    w("250 2.0.0 ok"); in_data = False
                else:
                    data.append(line)
                continue
            cmd = line[:4].upper()
            log.write(cmd + "\n"); log.flush()
            if cmd == "EHLO": w("250-rx.test"); w("250-PIPELINING"); w("250 STARTTLS")
            elif cmd == "STAR": w("220 go ahead"); self.wfile.write(b"this is not TLS\r\n" * 4); return
            elif cmd in ("MAIL", "RCPT"): w("250 ok")
            elif cmd == "DATA": w("354 go"); in_data = True
            elif cmd == "QUIT": w("221 bye"); return
            else: w("250 ok")
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
S(("127.0.0.1", port), H).serve_forever()
P
hl_spawn rx "$T/rx.err" /usr/bin/python3 "$T/rx.py" "$rx" "$T/rx.mbox"
hl_wait_port 127.0.0.1 "$rx" 10 tcp "$(hl_pid rx)"

start() {   # NAME TLS-POLICY
  local smtp status
  smtp=$(hl_free_port); status=$(hl_free_port)
  printf 'hostname = mail.herald.test\ndata_dir = %s\nlog_level = debug\n[smtp]\ntrusted_networks = 127.0.0.0/8\nlisten = 127.0.0.1:%s\n[status]\nlisten = 127.0.0.1:%s\n[api]\nlisten = 127.0.0.1:%s\n[queue]\nretry_min = 1h\nretry_max = 1h\n[delivery]\nmode = real\ntls = %s\n[route *]\nnext_hop = 127.0.0.1:%s\n' \
    "$T/data-$1" "$smtp" "$status" "$(hl_free_port)" "$2" "$rx" > "$T/$1.conf"
  "$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data-$1" --hostname mail.herald.test > /dev/null
  hl_herald_start "$T/$1.conf" "$smtp" "herald-$1"
  hl_smtp_send "$smtp" alice@example.com "user@far.test" "via $2" > /dev/null
}

start opp opportunistic
hl_wait_for 15 grep -q '^message$' "$T/rx.mbox.log" || fail "the message did not arrive in plain text"
grep -q 'Subject: via opportunistic' "$T/rx.mbox" || fail "wrong message"
[ "$(grep -c '^STAR' "$T/rx.mbox.log")" -eq 1 ] || fail "want exactly one STARTTLS attempt"
grep -q 'trying it again without TLS' "$T/herald-opp.log" || fail "no log line for the plain-text retry"
echo "ok: a failed opportunistic STARTTLS is followed by plain-text delivery to the same host"

start req required
hl_wait_for 15 hl_event_has "$T/data-req" deferred user@far.test || fail "tls = required did not defer"
[ "$(grep -c '^message$' "$T/rx.mbox.log")" -eq 1 ] || fail "tls = required delivered in plain text"
echo "ok: with tls = required the message is deferred, never sent in plain text"
echo "serve_tlsfallback: passed"
