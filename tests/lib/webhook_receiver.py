#!/usr/bin/python3
"""webhook_receiver.py - a webhook endpoint for herald's tests.

Listens on 127.0.0.1:PORT (ThreadingHTTPServer), checks every request's
Herald-Signature itself (HMAC-SHA256 over "<t>.<body>" with the shared
secret, constant-time compare, timestamp within 300 s; over TLS with
--tls-cert/--tls-key), and appends one
JSON line per request to --out:
  {"n": 1, "path": ..., "event_id": ..., "webhook": ..., "user_agent": ...,
   "content_type": ..., "sig_ok": true, "sig_error": "", "status": 200,
   "body": {...}}
Behaviour: --fail-first N answers 500 to the first N requests; a request
with a bad signature gets 401. Stop the process to make the endpoint "down".
"""
import argparse
import hashlib
import hmac
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE = 300


def verify(secret, header, body, now):
    """'' when the header authenticates body, else the reason."""
    t, sigs = None, []
    for item in header.split(","):
        k, _, v = item.strip().partition("=")
        if k == "t":
            if t is not None or not v.isdigit():
                return "bad t"
            t = int(v)
        elif k == "v1":
            sigs.append(v)
    if t is None or not sigs:
        return "missing t or v1"
    if abs(now - t) > TOLERANCE:
        return "stale timestamp"
    want = hmac.new(secret, str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(want, s) for s in sigs):
        return "signature mismatch"
    return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    a = ap.parse_args()
    lock = threading.Lock()
    state = {"n": 0}
    secret = a.secret.encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            why = verify(secret, self.headers.get("Herald-Signature", ""), body, time.time())
            with lock:
                state["n"] += 1
                seq = state["n"]
                status = 401 if why else 500 if seq <= a.fail_first else 200
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                rec = {"n": seq, "path": self.path,
                       "event_id": self.headers.get("Herald-Event-Id"),
                       "webhook": self.headers.get("Herald-Webhook"),
                       "user_agent": self.headers.get("User-Agent"),
                       "content_type": self.headers.get("Content-Type"),
                       "signature": self.headers.get("Herald-Signature"),
                       "raw": body.decode("utf-8", "replace"),
                       "sig_ok": not why, "sig_error": why, "status": status, "body": parsed}
                with open(a.out, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            reply = b'{"ok":true}' if status == 200 else b'{"error":"test"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(f"webhook receiver on 127.0.0.1:{a.port}", file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
