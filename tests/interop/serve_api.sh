#!/usr/bin/env bash
# serve_api.sh - the HTTP API (docs/api.md) against a running herald that
# delivers to an aiosmtpd receiver. Every answer is checked against
# docs/openapi.yaml (tests/lib/api_check.py). Driven by Python's urllib and
# by curl:
#   - structured messages with non-ASCII names, subject and attachment file
#     names arrive as correct MIME (Python's email parser) and signed (dkimpy
#     verifies both signatures); bcc only in the envelope; raw messages;
#   - Idempotency-Key: a retry gets the same id (and only one message is
#     made), across a restart too; a different body under the key is 422;
#   - keys: none or a bad one 401; a domain the key may not use 403; another
#     domain's message 404;
#   - bad input: malformed JSON (line and column), unknown fields, header
#     injection, oversize requests and messages, wrong content type, unknown
#     paths and methods; each a clear error, nothing accepted lost;
#   - events paged with after/limit and filtered by type; suppressions
#     added (then the address is not sent to), read, removed; domains listed
#     and added (then used at once).
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 30 "$T/herald.log" >&2 || true; exit 1; }

rxport=$(hl_free_port 127.0.0.2)
hl_receiver_start 127.0.0.2 "$rxport" "$T/rx" ""
smtp=$(hl_free_port); status=$(hl_free_port); api=$(hl_free_port)
echo 'unused.test. IN A 127.0.0.9' > "$T/zone"
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $T/data
[smtp]
listen = 127.0.0.1:$smtp
max_message_size = 200K
[status]
listen = 127.0.0.1:$status
[api]
listen = 127.0.0.1:$api
max_request_size = 1M
[delivery]
mode = real
[dns]
zone_file = $T/zone
[route *]
next_hop = 127.0.0.2:$rxport
[pool p1]
addresses = 127.0.0.3
C
for d in example.com other.example; do
  "$HERALD" domain add --dns-zone /dev/null "$d" --data-dir "$T/data" --hostname mail.herald.test > /dev/null
done
token() { "$HERALD" apikey create --name "$1" --domains "$2" --data-dir "$T/data" | grep -o 'hk_[A-Za-z0-9_]*' | head -n 1; }
APP=$(token app example.com)
ADMIN=$(token admin '*')
[ -n "$APP" ] && [ -n "$ADMIN" ] || fail "apikey create gave no token"
hl_herald_start "$T/herald.conf" "$smtp"
hl_wait_port 127.0.0.1 "$api" 10 tcp "$(hl_pid herald)"
BASE=http://127.0.0.1:$api

# ---- curl: the first message, and a refusal ----
code=$(curl -s -o "$T/curl.json" -w '%{http_code}' -X POST "$BASE/v1/messages" \
  -H "Authorization: Bearer $APP" -H 'Content-Type: application/json' \
  --data-binary '{"from":"app@example.com","to":"curl@rx.test","subject":"by curl","text":"hello from curl\n"}')
[ "$code" = 202 ] || fail "curl send: HTTP $code $(cat "$T/curl.json")"
CURL_ID=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/curl.json")
code=$(curl -s -o "$T/curl401.json" -w '%{http_code}' "$BASE/v1/events")
[ "$code" = 401 ] || fail "curl without a key: HTTP $code"
grep -q '"code":"unauthorized"' "$T/curl401.json" || fail "401 without a JSON error: $(cat "$T/curl401.json")"
echo "ok: curl: 202 with id $CURL_ID; 401 without a key"

# ---- herald send ----
printf 'quarterly numbers\n' > "$T/report.txt"
out=$(HERALD_API_KEY=$APP "$HERALD" send --config "$T/herald.conf" --from app@example.com \
  --to send@rx.test --subject "by herald send" --text "hello" --attach "$T/report.txt" \
  --tag cli --wait --timeout 20) || fail "herald send --wait: exit $?"
echo "$out" | grep -Eq '^[0-9a-f]{32}$' || fail "herald send printed no id: $out"
echo "$out" | grep -q '^send@rx.test delivered: 250' || fail "herald send --wait: $out"
printf 'From: app@example.com\nTo: raw-send@rx.test\nSubject: raw by herald send\n\nraw\n' > "$T/raw.eml"
printf '%s\n' "$APP" > "$T/key"; chmod 600 "$T/key"
HERALD_API_KEY= "$HERALD" send --api "$BASE" --key-file "$T/key" --raw "$T/raw.eml" \
  --to raw-send@rx.test --wait --timeout 20 > "$T/send2.out" || fail "herald send --raw: exit $?"
grep -q '^raw-send@rx.test delivered' "$T/send2.out" || fail "herald send --raw: $(cat "$T/send2.out")"
r=0; HERALD_API_KEY=hk_bad "$HERALD" send --api "$BASE" --from app@example.com --to x@rx.test \
  --text x 2> "$T/send3.err" || r=$?
[ "$r" = 77 ] || fail "herald send with a bad key: exit $r, want 77"
r=0; HERALD_API_KEY=$APP "$HERALD" send --api "$BASE" --from app@other.example --to x@rx.test \
  --text x 2> "$T/send4.err" || r=$?
[ "$r" = 65 ] && grep -q 'other.example' "$T/send4.err" || fail "herald send, foreign domain: exit $r: $(cat "$T/send4.err")"
r=0; HERALD_API_KEY=$APP "$HERALD" send --api "http://127.0.0.1:$(hl_free_port)" --from a@example.com --to x@rx.test \
  --text x > /dev/null 2>&1 < /dev/null || r=$?
[ "$r" = 75 ] || fail "herald send, no server: exit $r"
: > "$T/$(printf 'r\xe9sum\xe9.txt')"
r=0; HERALD_API_KEY=$APP "$HERALD" send --api "$BASE" --from app@example.com --to x@rx.test \
  --text x --attach "$T/$(printf 'r\xe9sum\xe9.txt')" > /dev/null 2> "$T/send5.err" || r=$?
[ "$r" = 64 ] && grep -q 'not UTF-8' "$T/send5.err" || fail "herald send, a file name that is not UTF-8: exit $r"
echo "ok: herald send: id printed, --wait follows to delivered, --raw, --key-file; bad key 77, refused 65, no server 75, not UTF-8 64"

# ---- the rest through urllib, every answer checked against the spec ----
run_py() {
  PYTHONPATH="$HERALD_SOURCE_DIR/tests/lib" /usr/bin/python3 - "$@"
}
run_py "$BASE" "$HERALD_SOURCE_DIR/docs/openapi.yaml" "$APP" "$ADMIN" "$T" "$CURL_ID" <<'PY' || fail "API scenario"
import base64, email, email.policy, glob, json, os, sys, time
import dkim
from api_check import Api

base, spec, app, admin, tmp, curl_id = sys.argv[1:7]
api = Api(base, spec, app)
adm = Api(base, spec, admin)
ok = lambda what: print("ok:", what, flush=True)

def expect(status, got, what):
    s, h, b = got
    assert s == status, "%s: HTTP %d, want %d: %s" % (what, s, status, json.dumps(b)[:400])
    return h, b

def wait_final(a, mid, n, secs=20):
    end = time.time() + secs
    while time.time() < end:
        s, _, m = a.call("GET", "/v1/messages/" + mid)
        if s == 200 and len(m["recipients"]) == n and all(r["state"] != "queued" for r in m["recipients"]):
            return m
        time.sleep(0.1)
    raise AssertionError("message %s not final in %ds: %s" % (mid, secs, json.dumps(m)[:600]))

def received(rcpt):
    """The receiver's copies for rcpt: (side, bytes)."""
    out = []
    for side in sorted(glob.glob(os.path.join(tmp, "rx", "*.json"))):
        meta = json.load(open(side))
        if rcpt in meta["rcpts"]:
            out.append((meta, open(side[:-5] + ".eml", "rb").read()))
    return out

# structured: non-ASCII name, subject, file name; text + html + attachment; bcc
pdf = b"%PDF-1.4\n" + bytes(range(256)) * 4
h, b = expect(202, api.call("POST", "/v1/messages", {
    "from": {"name": "Zoë Ångström", "address": "news@example.com"},
    "to": [{"name": "Émile", "address": "emile@rx.test"}],
    "cc": "carol@rx.test", "bcc": ["hidden@rx.test"],
    "reply_to": "help@example.com",
    "subject": "Grüße — ✓ your receipt",
    "text": "Hello Émile,\nyour receipt is attached.\n",
    "html": "<p>Hello <b>Émile</b></p>",
    "headers": {"X-Campaign": "nov-2026"},
    "attachments": [{"filename": "reçu 2026.pdf", "content_type": "application/pdf",
                     "content": base64.b64encode(pdf).decode()}],
    "tags": ["receipt", "v2"]}), "structured send")
mid = b["id"]
m = wait_final(api, mid, 3)
assert sorted(r["address"] for r in m["recipients"]) == ["carol@rx.test", "emile@rx.test", "hidden@rx.test"], m
assert all(r["state"] == "delivered" for r in m["recipients"]), m
assert m["tags"] == ["receipt", "v2"] and m["domain"] == "example.com", m
assert [e["type"] for e in m["events"]].count("accepted") == 1, m["events"]
copies = received("emile@rx.test")
assert len(copies) == 1, copies
meta, raw = copies[0]
assert meta["mail_from"].endswith("@bounce.example.com"), meta
msg = email.message_from_bytes(raw, policy=email.policy.default)
assert str(msg["Subject"]) == "Grüße — ✓ your receipt", msg["Subject"]
assert msg["From"].addresses[0].display_name == "Zoë Ångström", msg["From"]
assert msg["To"].addresses[0].display_name == "Émile", msg["To"]
assert msg["X-Campaign"] == "nov-2026"
assert b"hidden@rx.test" not in raw and msg["Bcc"] is None, "bcc leaked into the header"
atts = list(msg.iter_attachments())
assert len(atts) == 1 and atts[0].get_filename() == "reçu 2026.pdf", [a.get_filename() for a in atts]
assert atts[0].get_content() == pdf, "attachment bytes differ"
body = msg.get_body(("plain",)).get_content()
assert "Hello Émile," in body, body
assert msg.get_body(("html",)).get_content().strip() == "<p>Hello <b>Émile</b></p>"
sigs = [v for k, v in msg.items() if k.lower() == "dkim-signature"]
assert len(sigs) == 2, sigs
ok("structured message: MIME as sent (subject, names, attachment), bcc only in the envelope, 2 DKIM signatures")

# DKIM: verify both signatures with dkimpy against the published keys
keys = {}
import subprocess
out = subprocess.run([os.environ["HERALD"], "domain", "show", "example.com", "--data-dir",
                      os.path.join(tmp, "data"), "--hostname", "mail.herald.test", "--json", "--no-dns"],
                     capture_output=True, text=True)
if out.returncode == 0:
    for r in json.loads(out.stdout)["records"]:
        if r["type"] == "TXT" and "._domainkey." in r["name"]:
            keys[(r["name"] + ".").encode()] = r["value"].encode()
assert keys, "no DKIM records from herald domain show --json: " + out.stderr
def dnsfunc(name, timeout=5):
    return keys.get(name if name.endswith(b".") else name + b".")
d = dkim.DKIM(raw)
results = [d.verify(idx=i, dnsfunc=dnsfunc) for i in range(2)]
assert results == [True, True], results
ok("dkimpy verifies both signatures of the API-composed message")

# raw
rawmsg = "From: Shop <shop@example.com>\nTo: raw@rx.test\nSubject: raw one\nMessage-ID: <raw-1@example.com>\n\nraw body\n"
h, b = expect(202, api.call("POST", "/v1/messages", {"to": "raw@rx.test", "raw": rawmsg}), "raw send")
m = wait_final(api, b["id"], 1)
assert m["message_id"] == "<raw-1@example.com>", m
(meta, raw), = received("raw@rx.test")
assert b"Subject: raw one\r\n" in raw and raw.endswith(b"\r\nraw body\r\n"), raw[-200:]
ok("raw message delivered as given, with CRLF line ends")

# a raw message's blind copies stay blind (RFC 5322 §3.6.3), as over SMTP
rawbcc = ("From: Shop <shop@example.com>\nTo: open@rx.test\nBcc: blind@rx.test\n"
          "Return-Path: <forged@example.org>\nSubject: raw bcc\n\nBcc: in the body stays\n")
h, b = expect(202, api.call("POST", "/v1/messages", {"to": ["open@rx.test", "blind@rx.test"], "raw": rawbcc}),
              "raw send with Bcc")
wait_final(api, b["id"], 2)
for rcpt in ("open@rx.test", "blind@rx.test"):
    (meta, raw), = received(rcpt)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"blind@" not in head and b"Return-Path" not in head and b"forged@" not in head, head
    assert raw.endswith(b"\r\nBcc: in the body stays\r\n"), raw[-100:]
ok("raw message: Bcc and Return-Path taken out; the blind recipient still gets it")

# pool: the message leaves from the pool's address
h, b = expect(202, api.call("POST", "/v1/messages", {"from": "app@example.com", "to": "pool@rx.test",
                                                     "text": "x", "pool": "p1"}), "pool send")
m = wait_final(api, b["id"], 1)
assert m["pool"] == "p1", m
(meta, raw), = received("pool@rx.test")
assert meta["peer"][0] == "127.0.0.3", meta["peer"]
assert received("raw@rx.test")[0][0]["peer"][0] == "127.0.0.1"
h, b = expect(422, api.call("POST", "/v1/messages", {"from": "app@example.com", "to": "pool@rx.test",
                                                     "text": "x", "pool": "nope"}), "unknown pool")
assert "pool" in b["error"]["message"], b
ok("pool: the message left from the pool's address 127.0.0.3; an unknown pool is 422")

# idempotency
req = {"from": "app@example.com", "to": "idem@rx.test", "subject": "once", "text": "once\n"}
h1, b1 = expect(202, api.call("POST", "/v1/messages", req, headers={"Idempotency-Key": "order-42"}), "idem 1")
h2, b2 = expect(202, api.call("POST", "/v1/messages", req, headers={"Idempotency-Key": "order-42"}), "idem 2")
assert b1["id"] == b2["id"], (b1, b2)
assert b2 == b1 and b1["recipients"] == 1 and b1["message_id"], (b1, b2)   # the same body
assert h2.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in h1, (h1, h2)
h, b = expect(422, api.call("POST", "/v1/messages", dict(req, subject="twice"),
                            headers={"Idempotency-Key": "order-42"}), "idem reused")
assert b["error"]["code"] == "idempotency_key_reused", b
# another key's namespace: the same Idempotency-Key is a new message
h, b3 = expect(202, adm.call("POST", "/v1/messages", req, headers={"Idempotency-Key": "order-42"}), "idem other key")
assert b3["id"] != b1["id"]
wait_final(api, b1["id"], 1)
wait_final(adm, b3["id"], 1)
assert len(received("idem@rx.test")) == 2, "idempotent retry made another copy"
open(os.path.join(tmp, "idem.json"), "w").write(json.dumps({"req": req, "id": b1["id"]}))
ok("Idempotency-Key: same id replayed (1 copy), different body 422, other API key separate")

# keys and scopes
expect(401, api.call("POST", "/v1/messages", req, token=None), "no key")
h, b = expect(401, api.call("GET", "/v1/events", token="hk_0123456789abcdef_" + "a" * 52), "bad key")
assert b["error"]["code"] == "unauthorized" and h.get("WWW-Authenticate", "").startswith("Bearer")
h, b = expect(403, api.call("POST", "/v1/messages", dict(req, **{"from": "x@other.example"})), "other domain")
assert "other.example" in b["error"]["message"], b
h, b = expect(403, api.call("POST", "/v1/messages", dict(req, **{"from": "x@unknown.example"})), "unmanaged domain")
h, b = expect(202, adm.call("POST", "/v1/messages", dict(req, **{"from": "x@other.example", "to": "o@rx.test"})), "admin other domain")
other_id = b["id"]
expect(404, api.call("GET", "/v1/messages/" + other_id), "another domain's message")
expect(200, adm.call("GET", "/v1/messages/" + other_id), "admin reads it")
ok("keys: 401 without or with a bad key, 403 for a domain the key may not use, 404 for another domain's message")

# bad input
h, b = expect(400, api.call("POST", "/v1/messages", raw_body=b'{"from": "a@example.com",\n "to": [}'), "bad JSON")
assert b["error"]["code"] == "invalid_json" and "line 2" in b["error"]["message"], b
h, b = expect(422, api.call("POST", "/v1/messages", dict(req, bcc_list=["x@rx.test"])), "unknown field")
assert "bcc_list" in b["error"]["message"], b
h, b = expect(422, api.call("POST", "/v1/messages", dict(req, to=["ok@rx.test", "x@rx.test\r\nBcc: victim@evil.test"])), "injection")
assert b["error"]["message"].startswith("to[1]"), b
h, b = expect(422, api.call("POST", "/v1/messages", dict(req, subject="hi\r\nBcc: victim@evil.test")), "subject injection")
assert "subject" in b["error"]["message"], b
h, b = expect(422, api.call("POST", "/v1/messages", dict(req, to="a" * 65 + "@rx.test")), "long local part")
h, b = expect(413, api.call("POST", "/v1/messages", {"to": "big@rx.test", "raw": "From: a@example.com\n\n" + "x" * 300000}), "message over max_message_size")
assert b["error"]["code"] == "too_large", b
# over max_request_size: refused on the Content-Length alone, before the body is read
import socket, urllib.parse
u = urllib.parse.urlparse(base)
with socket.create_connection((u.hostname, u.port), timeout=10) as sock:
    sock.sendall(("POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                  "Content-Type: application/json\r\nContent-Length: 1100000\r\n\r\n" % app).encode())
    status_line = sock.makefile("rb").readline()
assert status_line.split()[1] == b"413", status_line
h, b = expect(415, api.call("POST", "/v1/messages", raw_body=json.dumps(req).encode(), content_type="text/plain"), "content type")
expect(404, api.call("GET", "/v1/messages/" + "0" * 32), "unknown message")
s, _, b = api.call("GET", "/v1/nothing", check=False)
assert s == 404 and b["error"]["code"] == "not_found", (s, b)
s, h, b = api.call("DELETE", "/v1/messages", check=False)
assert s == 405 and h.get("Allow") == "POST" and b["error"]["code"] == "method_not_allowed", (s, h, b)
h, b = expect(400, api.call("POST", "/v1/messages", req, headers={"Idempotency-Key": "bad key with spaces"}), "bad Idempotency-Key")
# a well-formed body with a bad value is the field's fault (422), not "not JSON"
h, b = expect(422, api.call("POST", "/v1/messages", dict(req, attachments=[
    {"filename": "a.pdf", "content_type": "application/pdf", "content": "JVBERi0xLjQK..."}])), "bad base64")
assert b["error"]["code"] == "invalid_field" and b["error"]["message"].startswith("attachments[0].content"), b
h, b = expect(422, api.call("POST", "/v1/messages", {"to": "x@rx.test", "raw_base64": "!!"}), "bad raw_base64")
assert b["error"]["code"] == "invalid_field" and "raw_base64" in b["error"]["message"], b
# unknown query parameters are refused, naming them, on every endpoint
for who, path in ((adm, "/v1/events?recipient=idem@rx.test"), (adm, "/v1/events?limit=5&Type=bounced"),
                  (api, "/v1/messages/" + b1["id"] + "?verbose=1"), (adm, "/v1/suppressions?address=x"),
                  (api, "/v1/suppressions/x@rx.test?why=1"), (api, "/v1/domains?name=example.com")):
    h, b = expect(400, who.call("GET", path), "unknown parameter " + path)
    name = path.split("?")[1].split("=")[0].split("&")[-1] if "&" not in path else "Type"
    assert b["error"]["code"] == "invalid_query" and b["error"]["message"].startswith(name + ":"), (path, b)
h, b = expect(400, api.call("POST", "/v1/messages?dry_run=1", req), "unknown parameter on POST")
assert b["error"]["message"].startswith("dry_run:"), b
h, b = expect(400, adm.call("GET", "/v1/events?type=delivered&type=bounced"), "parameter twice")
assert b["error"]["message"].startswith("type:"), b
assert len(received("big@rx.test")) == 0
ok("bad input: malformed JSON (line), unknown field, CR/LF injection, long local part, 413 twice, 415, 404, 405, bad Idempotency-Key, bad base64 422, unknown or repeated query parameters 400")

# events: paged, filtered
all_events = []
after = 0
pages = 0
while True:
    h, b = expect(200, adm.call("GET", "/v1/events?after=%d&limit=3" % after), "events page")
    all_events += b["events"]
    pages += 1
    assert len(b["events"]) <= 3
    after = b["next_after"]
    if not b["has_more"]:
        break
ids = [e["id"] for e in all_events]
assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
h, b = expect(200, adm.call("GET", "/v1/events?limit=1000"), "all events")
assert [e["id"] for e in b["events"]] == ids, "paging lost or repeated events"
h, b = expect(200, adm.call("GET", "/v1/events?type=delivered&limit=1000"), "delivered events")
assert b["events"] and all(e["type"] == "delivered" for e in b["events"])
h, b = expect(200, api.call("GET", "/v1/events?limit=1000&message=" + other_id), "scoped events")
assert b["events"] == [], "a scoped key saw another domain's events"
h, b = expect(200, api.call("GET", "/v1/events?since=2001-01-01T00:00:00Z&limit=5"), "since")
expect(400, api.call("GET", "/v1/events?since=yesterday"), "bad since")
expect(400, api.call("GET", "/v1/events?type=nope"), "bad type")
expect(400, api.call("GET", "/v1/events?limit=0"), "bad limit")
ok("events: %d in %d pages of 3, in order, none lost; type, message, since filters; bad queries 400" % (len(ids), pages))

# suppressions
h, b = expect(201, api.call("POST", "/v1/suppressions", {"address": "Gone@rx.test", "reason": "unsubscribed"}), "suppress")
h, b = expect(200, api.call("GET", "/v1/suppressions/gone@rx.test"), "get suppression")
assert b["reason"] == "unsubscribed" and b["source"] == "api", b
assert b["expires_at"] is None, b    # for good (soft-bounce ones expire: serve_bounces.sh)
h, b = expect(202, api.call("POST", "/v1/messages", dict(req, to=["gone@rx.test", "kept@rx.test"])), "send to suppressed")
m = wait_final(api, b["id"], 2)
states = {r["address"]: r["state"] for r in m["recipients"]}
assert states == {"gone@rx.test": "suppressed", "kept@rx.test": "delivered"}, states
assert received("gone@rx.test") == []
h, b = expect(403, api.call("GET", "/v1/suppressions?limit=10"), "scoped list")
h, b = expect(200, adm.call("GET", "/v1/suppressions?limit=10"), "list")
assert "gone@rx.test" in [s["address"] for s in b["suppressions"]], b
expect(403, api.call("DELETE", "/v1/suppressions/gone@rx.test"), "scoped delete")
expect(204, adm.call("DELETE", "/v1/suppressions/gone@rx.test"), "delete")
expect(404, api.call("GET", "/v1/suppressions/gone@rx.test"), "gone")
expect(404, adm.call("DELETE", "/v1/suppressions/gone@rx.test"), "delete again")
h, b = expect(202, api.call("POST", "/v1/messages", dict(req, to="gone@rx.test")), "send after unsuppress")
m = wait_final(api, b["id"], 1)
assert m["recipients"][0]["state"] == "delivered", m
expect(422, api.call("POST", "/v1/suppressions", {"address": "no-at-sign"}), "bad address")
ok("suppressions: added (not sent to), read, listed, removed only by a global key, then sent again")

# domains
h, b = expect(200, api.call("GET", "/v1/domains"), "domains")
assert [d["name"] for d in b["domains"]] == ["example.com"], b
kinds = sorted(r["type"] for r in b["domains"][0]["records"])
assert sorted(set(r["kind"] for r in b["domains"][0]["records"])) == ["dkim", "dmarc", "mx", "spf"], b
assert kinds.count("TXT") >= 3 and "MX" in kinds, kinds
expect(403, api.call("POST", "/v1/domains", {"name": "new.example"}), "scoped add")
h, b = expect(201, adm.call("POST", "/v1/domains", {"name": "New.Example."}), "add")
assert b["name"] == "new.example" and b["bounce_domain"] == "bounce.new.example", b
assert any("._domainkey.new.example" in r["name"] for r in b["records"]), b
expect(409, adm.call("POST", "/v1/domains", {"name": "new.example"}), "add twice")
expect(422, adm.call("POST", "/v1/domains", {"name": "not a domain"}), "bad name")
# issue 14 item 13: another sending domain's name as the bounce domain
h, b = expect(409, adm.call("POST", "/v1/domains", {"name": "third.example", "bounce_domain": "bounce.new.example"}), "bounce domain taken")
assert b["error"]["code"] == "bounce_domain_taken" and "new.example" in b["error"]["message"] and "third.example" in b["error"]["message"], b
h, b = expect(202, adm.call("POST", "/v1/messages", dict(req, **{"from": "hi@new.example", "to": "new@rx.test"})), "send from the new domain")
m = wait_final(adm, b["id"], 1)
assert m["recipients"][0]["state"] == "delivered", m
ok("domains: listed per key with records, added (409 twice, 409 for a bounce domain under another domain, 422 bad name), used at once")

# curl's message is there too
m = wait_final(api, curl_id, 1)
assert m["recipients"][0]["state"] == "delivered", m
print("api_check: %d answers validated against docs/openapi.yaml" % (api.checked + adm.checked))
PY

# ---- metrics per domain and pool ----
curl -s "http://127.0.0.1:$status/metrics" > "$T/metrics.txt"
run_py "$T/metrics.txt" <<'PY' || fail "per-domain metrics"
import re, sys
series = {}
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip():
        continue
    m = re.match(r'^([a-z_]+)(\{[^}]*\})? (\S+)$', line.strip())
    assert m, "not Prometheus text: %r" % line
    labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
    series[(m.group(1), tuple(sorted(labels.items())))] = float(m.group(3))
def get(name, **labels):
    return series.get((name, tuple(sorted(labels.items()))), 0)
acc = get("herald_domain_messages_accepted_total", domain="example.com", pool="default")
assert acc >= 9, acc   # curl 1, herald send 2, structured, raw, idempotent 2, suppression 2
assert get("herald_domain_messages_accepted_total", domain="example.com", pool="p1") == 1
assert get("herald_domain_recipients_total", domain="example.com", pool="p1", outcome="delivered") == 1
assert get("herald_domain_recipients_total", domain="example.com", pool="default", outcome="suppressed") == 1
assert get("herald_domain_recipients_total", domain="new.example", pool="default", outcome="delivered") == 1
delivered = get("herald_domain_recipients_total", domain="example.com", pool="default", outcome="delivered")
count = get("herald_domain_delivery_seconds_count", domain="example.com", pool="default")
assert delivered >= 9 and count == delivered, (delivered, count)
# histogram buckets are cumulative and end at the count
for name in ("herald_domain_delivery_seconds", "herald_domain_message_size_bytes"):
    buckets = sorted(((float("inf") if dict(k)["le"] == "+Inf" else float(dict(k)["le"])), v)
                     for (n, k), v in series.items()
                     if n == name + "_bucket" and dict(k)["domain"] == "example.com" and dict(k)["pool"] == "default")
    vals = [v for _, v in buckets]
    assert vals == sorted(vals) and vals[-1] == get(name + "_count", domain="example.com", pool="default"), (name, buckets)
assert get("herald_domain_queue_recipients", domain="example.com", pool="default") == 0
print("ok: metrics per domain and pool: %d accepted (example.com, default), p1 and new.example counted, histograms consistent" % acc)
PY

# ---- Idempotency-Key survives a restart ----
hl_stop "$(hl_pid herald)"
hl_herald_start "$T/herald.conf" "$smtp"
hl_wait_port 127.0.0.1 "$api" 10 tcp "$(hl_pid herald)"
run_py "$BASE" "$HERALD_SOURCE_DIR/docs/openapi.yaml" "$APP" "$T" <<'PY' || fail "idempotency after a restart"
import json, os, sys
from api_check import Api
base, spec, app, tmp = sys.argv[1:5]
saved = json.load(open(os.path.join(tmp, "idem.json")))
s, h, b = Api(base, spec, app).call("POST", "/v1/messages", saved["req"], headers={"Idempotency-Key": "order-42"})
assert s == 202 and b["id"] == saved["id"] and h.get("Idempotent-Replayed") == "true", (s, h, b)
print("ok: after a restart the Idempotency-Key still answers with the first id")
PY
grep -q "$APP" "$T/herald.log" && fail "an API key appears in the log"
grep -q "${APP##*_}" "$T/data/herald.db" && fail "the API key's secret is stored in clear"
echo "ok: no API key in the log or in the database"
echo "serve_api: all passed"
