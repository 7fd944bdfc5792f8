#!/usr/bin/env bash
# serve_send.sh - `herald send` against a running herald with one sandboxed
# and one really delivered sending domain (issue 13 items 5, 15, 18, 21):
#   - sandbox: the recipient ends 'captured' (queue show, the API, events),
#     never 'delivered'; `send --wait` says so and exits 2; the captured
#     event's detail is the verdict (SPF, DKIM, DMARC, the
#     Authentication-Results field); the metrics count it as captured, not
#     delivered; `herald captures` prints the field on one line, no tabs;
#   - display names on the command line: --from '"Doe, Jane (Praxis)"
#     <addr>' and --to 'Ann <a>, b' are taken and arrive in the From and To
#     header fields as given; two --from addresses or a group are refused;
#   - the envelope sender shown per recipient (send --wait --json, queue
#     show, GET /v1/messages/ID) is the per-recipient VERP address the
#     receiver saw as MAIL FROM; the log says the VERP form;
#   - `send --json --wait` prints one JSON document.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 30 "$T/herald.log" >&2 || true; exit 1; }
pass() { echo "ok: $*"; }

rxport=$(hl_free_port 127.0.0.2)
hl_receiver_start 127.0.0.2 "$rxport" "$T/rx" ""
smtp=$(hl_free_port); status=$(hl_free_port); api=$(hl_free_port)
echo 'unused.test. IN A 127.0.0.9' > "$T/zone"
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $T/data
[smtp]
listen = 127.0.0.1:$smtp
[status]
listen = 127.0.0.1:$status
[api]
listen = 127.0.0.1:$api
[delivery]
mode = sandbox
[domain real.example]
delivery = real
[inbound]
listen =
[dns]
zone_file = $T/zone
[route *]
next_hop = 127.0.0.2:$rxport
C
for d in sand.example real.example; do
  "$HERALD" domain add --dns-zone /dev/null "$d" --data-dir "$T/data" --hostname mail.herald.test > /dev/null
done
KEY=$("$HERALD" apikey create --name app --domains 'sand.example real.example' --data-dir "$T/data" |
      grep -o 'hk_[A-Za-z0-9_]*' | head -n 1)
[ -n "$KEY" ] || fail "apikey create gave no token"
hl_herald_start "$T/herald.conf" "$smtp"
hl_wait_port 127.0.0.1 "$api" 10 tcp "$(hl_pid herald)"
BASE=http://127.0.0.1:$api
send() { HERALD_API_KEY=$KEY "$HERALD" send --api "$BASE" "$@"; }

# ---- sandbox: captured, not delivered ----
r=0
send --from 'Sand Box <app@sand.example>' --to cap@rx.test --subject sandboxed --text hi \
  --wait --timeout 30 > "$T/cap.out" 2> "$T/cap.err" || r=$?
[ "$r" = 2 ] || fail "send --wait to a sandboxed domain: exit $r, want 2: $(cat "$T/cap.out" "$T/cap.err")"
grep -q '^cap@rx.test captured: captured by the sandbox, not sent: spf=pass' "$T/cap.out" ||
  fail "send --wait does not say captured: $(cat "$T/cap.out")"
grep -q 'captured by the sandbox, not sent' "$T/cap.err" || fail "send --wait: no note on stderr: $(cat "$T/cap.err")"
CAP=$(head -n 1 "$T/cap.out")
echo "$CAP" | grep -Eq '^[0-9a-f]{32}$' || fail "send printed no id: $CAP"
pass "send --wait to the sandbox: 'captured', exit 2, a note on stderr"

"$HERALD" queue show "$CAP" --data-dir "$T/data" > "$T/show.txt" || fail "queue show"
"$HERALD" queue show "$CAP" --json --data-dir "$T/data" > "$T/show.json" || fail "queue show --json"
/usr/bin/python3 - "$T/show.json" <<'P' || fail "queue show --json (sandbox)"
import json, sys
m = json.loads(open(sys.argv[1]).read())   # the whole output is one document
assert [r["state"] for r in m["recipients"]] == ["captured"], m["recipients"]
ev = [e for e in m["events"] if e["type"] == "captured"]
assert len(ev) == 1 and ev[0]["detail"]["dmarc"]["result"] == "pass", m["events"]
P
grep -Eq '^  cap@rx.test +captured ' "$T/show.txt" || fail "queue show: not captured: $(cat "$T/show.txt")"
! grep -q 'delivered' "$T/show.txt" || fail "queue show says delivered: $(cat "$T/show.txt")"
code=$(curl -s -o "$T/capmsg.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" "$BASE/v1/messages/$CAP")
[ "$code" = 200 ] || fail "GET /v1/messages/$CAP: HTTP $code"
"$HERALD" events --json --message "$CAP" --data-dir "$T/data" > "$T/capev.jsonl"
curl -sf "http://127.0.0.1:$status/metrics" > "$T/metrics1" || fail "metrics"
/usr/bin/python3 - "$T/capmsg.json" "$T/capev.jsonl" "$T/metrics1" <<'P' || fail "captured: API, event detail, metrics"
import json, re, sys
m = json.load(open(sys.argv[1]))
states = [r["state"] for r in m["recipients"]]
assert states == ["captured"], states
evs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
types = [e["type"] for e in evs]
assert "captured" in types and "delivered" not in types, types
cap = [e for e in evs if e["type"] == "captured"][0]
d = cap.get("detail")
assert isinstance(d, dict), cap
ar = d.get("authentication_results", "")
assert ar.startswith("Authentication-Results: mail.herald.test;"), d
for want in ("spf=pass", "dkim=pass", "dmarc=pass"):
    assert want in ar, (want, ar)
assert d["spf"]["result"] == "pass", d["spf"]
assert len(d["dkim"]) == 2 and all(k["result"] == "pass" for k in d["dkim"]), d["dkim"]
assert d["dmarc"]["result"] == "pass", d["dmarc"]
assert d.get("explanation"), d
assert not cap["reply"].startswith("250"), cap["reply"]
text = open(sys.argv[3]).read()
def val(name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None
assert val("herald_captured_total") == 1, val("herald_captured_total")
assert val("herald_delivered_total") == 0, val("herald_delivered_total")
per = 'herald_domain_recipients_total{domain="sand.example",pool="sandbox",outcome="%s"}'
assert val(per % "captured") == 1, text
assert val(per % "delivered") == 0, text
print("captured event detail:", ", ".join(sorted(d)))
P
pass "captured in queue show and GET /v1/messages; the event's detail is the verdict; metrics count captured, not delivered"

"$HERALD" captures --data-dir "$T/data" > "$T/captures.txt" || fail "herald captures"
grep -q '^    Authentication-Results: mail.herald.test; spf=pass .*dmarc=pass' "$T/captures.txt" ||
  fail "captures: the field is not on one line: $(cat -A "$T/captures.txt" | head -n 8)"
! grep -q $'\t' "$T/captures.txt" || fail "captures prints tabs: $(cat -A "$T/captures.txt" | head -n 8)"
"$HERALD" captures --json --data-dir "$T/data" > "$T/captures.json"
/usr/bin/python3 - "$T/captures.json" "$T/captures.txt" <<'P' || fail "captures --json"
import json, re, sys
text = open(sys.argv[2]).read()
for line in open(sys.argv[1]):
    c = json.loads(line)
    # JSON keeps the field as written (folded, as verify --json); the text
    # is the same field unfolded
    ar = c["authentication_results"]
    assert ar == c["verdict"]["authentication_results"], c
    assert ar.startswith("Authentication-Results: mail.herald.test;"), ar
    assert "    " + re.sub(r"\s+", " ", ar) + "\n" in text, (ar, text)
P
pass "captures: Authentication-Results on one line, no tabs; --json has the field as written"

# ---- display names; one JSON document; the envelope sender per recipient ----
r=0
send --from '"Doe, Jane (Praxis)" <app@real.example>' --to 'Ann Example <ann@rx.test>, bob@rx.test' \
  --cc 'Zoë <zoe@rx.test>' --reply-to '"Help, Desk" <help@real.example>' --subject 'display names' \
  --text hello --wait --json --timeout 30 > "$T/real.json" 2> "$T/real.err" || r=$?
[ "$r" = 0 ] || fail "send --wait --json with display names: exit $r: $(cat "$T/real.err")"
hl_wait_spool "$T/rx" 3 10 || fail "three transactions did not arrive"
"$HERALD" queue show "$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/real.json")" \
  --data-dir "$T/data" > "$T/show2.txt" || fail "queue show (real)"
REAL=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/real.json")
"$HERALD" queue show "$REAL" --json --data-dir "$T/data" > "$T/show2.json"
code=$(curl -s -o "$T/realmsg.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" "$BASE/v1/messages/$REAL")
[ "$code" = 200 ] || fail "GET /v1/messages/$REAL: HTTP $code"
/usr/bin/python3 - "$T/real.json" "$T/rx" "$T/show2.json" "$T/show2.txt" "$T/realmsg.json" <<'P' || fail "display names and envelope senders"
import email, email.policy, glob, json, os, sys
whole = open(sys.argv[1]).read()
m = json.loads(whole)      # the whole output is one JSON document
rcpts = {r["address"]: r for r in m["recipients"]}
assert set(rcpts) == {"ann@rx.test", "bob@rx.test", "zoe@rx.test"}, rcpts
assert all(r["state"] == "delivered" for r in rcpts.values()), rcpts
# what the receiver saw, per recipient
seen = {}
for side in glob.glob(os.path.join(sys.argv[2], "*.json")):
    j = json.load(open(side))
    for a in j["rcpts"]:
        seen[a] = (j["mail_from"], side[:-5] + ".eml")
assert set(seen) == set(rcpts), seen
froms = set()
for a, r in rcpts.items():
    assert r["envelope_from"] == seen[a][0], (a, r["envelope_from"], seen[a][0])
    assert r["envelope_from"].startswith("b-r"), r["envelope_from"]
    froms.add(r["envelope_from"])
assert len(froms) == 3, froms   # one per recipient, none the message's
assert m["envelope_from"] not in froms
# queue show --json and text: the same per recipient
show = json.loads(open(sys.argv[3]).read())   # one document, events inside
for r in show["recipients"]:
    assert r["envelope_from"] == seen[r["address"]][0], r
assert [e["type"] for e in show["events"]].count("delivered") == 3, show["events"]
text = open(sys.argv[4]).read()
for a in seen:
    assert "mail from " + seen[a][0] in text, (a, text)
api = json.load(open(sys.argv[5]))
for r in api["recipients"]:
    assert r["envelope_from"] == seen[r["address"]][0], r
# the header fields as given on the command line
msg = email.message_from_binary_file(open(seen["ann@rx.test"][1], "rb"), policy=email.policy.default)
f = msg["From"].addresses
assert len(f) == 1 and f[0].display_name == "Doe, Jane (Praxis)" and f[0].addr_spec == "app@real.example", msg["From"]
to = [(a.display_name, a.addr_spec) for a in msg["To"].addresses]
assert to == [("Ann Example", "ann@rx.test"), ("", "bob@rx.test")], to
cc = [(a.display_name, a.addr_spec) for a in msg["Cc"].addresses]
assert cc == [("Zoë", "zoe@rx.test")], cc
rt = [(a.display_name, a.addr_spec) for a in msg["Reply-To"].addresses]
assert rt == [("Help, Desk", "help@real.example")], rt
print("envelope senders seen by the receiver:", ", ".join(sorted(froms)))
P
pass "--from/--to/--cc/--reply-to with display names arrive as given; send --wait --json is one document; each recipient's envelope sender (send --json, queue show, the API) is what the receiver saw"

grep -q "accepted from .*envelope from b-r<recipient>-<mac>@.* (one per recipient)" "$T/herald.log" ||
  fail "the accept log line does not give the per-recipient form: $(grep accepted "$T/herald.log" | tail -n 2)"
grep -q "delivered to ann@rx.test via .*, envelope from b-r" "$T/herald.log" ||
  fail "the delivery log line does not name the envelope sender"
pass "the log gives the VERP form at acceptance and the address used at delivery"

# ---- refusals ----
for bad in 'A <a@real.example>, B <b@real.example>' 'team: a@real.example;' 'Jane <jane@'; do
  r=0; send --from "$bad" --to x@rx.test --text x > /dev/null 2> "$T/bad.err" || r=$?
  [ "$r" = 64 ] && grep -q -- '--from' "$T/bad.err" || fail "--from $bad: exit $r: $(cat "$T/bad.err")"
done
r=0; send --from app@real.example --to 'x@rx.test, team: y@rx.test;' --text x > /dev/null 2> "$T/bad.err" || r=$?
[ "$r" = 64 ] && grep -q 'group' "$T/bad.err" || fail "--to with a group: exit $r: $(cat "$T/bad.err")"
pass "two --from addresses, a group, a broken address: usage errors naming the option"
