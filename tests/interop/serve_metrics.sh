#!/usr/bin/env bash
# serve_metrics.sh - GET /metrics (docs/metrics.md) after bounces of both
# kinds: refusals while delivering (a 550 5.1.1 and a 550 5.2.2 at RCPT)
# and a DSN that comes back for a delivered recipient.
#   - the bounce counters agree with each other and with the events:
#     herald_bounced_total = bounced events = the sum of
#     herald_domain_recipients_total{outcome="bounced"}; async = the
#     events with detail.async; delivered likewise;
#   - every metric the server writes is in docs/metrics.md with the same
#     type and labels, and every name there is written.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 30 "$T/herald.log" >&2 || true; exit 1; }
pass() { echo "ok: $*"; }

rxport=$(hl_free_port 127.0.0.2)
cat > "$T/behaviour.json" <<'J'
{"gone@rx.test": "reject", "full@rx.test": "rcpt-reply 550 5.2.2 Mailbox full"}
J
hl_receiver_start 127.0.0.2 "$rxport" "$T/rx" "$T/behaviour.json"
smtp=$(hl_free_port); status=$(hl_free_port); inbound=$(hl_free_port); hook=$(hl_free_port)
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $T/data
[smtp]
trusted_networks = 127.0.0.0/8
listen = 127.0.0.1:$smtp
[status]
listen = 127.0.0.1:$status
[inbound]
listen = 127.0.0.1:$inbound
[delivery]
mode = real
[route *]
next_hop = 127.0.0.2:$rxport
[webhook app]
url = http://127.0.0.1:$hook/nobody-listens
secret = metrics-webhook-secret-0123456789abcdef
events = bounced
C
chmod 600 "$T/herald.conf"
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null
hl_herald_start "$T/herald.conf" "$smtp"

hl_smtp_send "$smtp" alice@example.com ok@rx.test,gone@rx.test,full@rx.test "three" > /dev/null ||
  fail "submission"
final() { [ "$(hl_events "$T/data" | grep -c '"type":"\(delivered\|bounced\)"')" -ge 3 ]; }
hl_wait_for 20 final || fail "the three recipients did not end"
hl_wait_spool "$T/rx" 1 10 || fail "ok@rx.test got nothing"

# a DSN for the delivered recipient, to its VERP envelope sender
/usr/bin/python3 - "$T/rx" "$inbound" <<'P' || fail "the DSN was not taken"
import glob, json, smtplib, sys
side = [json.load(open(f)) for f in glob.glob(sys.argv[1] + "/*.json")]
verp = [s["mail_from"] for s in side if "ok@rx.test" in s["rcpts"]][0]
dsn = ("From: MAILER-DAEMON@rx.test\r\nTo: <%s>\r\nSubject: Undelivered Mail\r\n"
       "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;"
       " boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nok@rx.test: no such user\r\n"
       "--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.rx.test\r\n\r\n"
       "Final-Recipient: rfc822; ok@rx.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
       "Diagnostic-Code: smtp; 550 5.1.1 <ok@rx.test>: no such user\r\n\r\n--b1--\r\n" % verp)
s = smtplib.SMTP("127.0.0.1", int(sys.argv[2]), timeout=20)
s.sendmail("", [verp], dsn.encode())
s.quit()
P
async_has() { hl_events "$T/data" | grep '"type":"bounced"' | grep -q '"async":true'; }
hl_wait_for 10 async_has || fail "no bounced event from the DSN"

hl_events "$T/data" > "$T/events.jsonl"
curl -s "http://127.0.0.1:$status/metrics" > "$T/metrics.txt"
/usr/bin/python3 - "$T/metrics.txt" "$T/events.jsonl" "$HERALD_SOURCE_DIR/docs/metrics.md" <<'P' || fail "metrics"
import json, re, sys
types, labels, series = {}, {}, {}
for line in open(sys.argv[1]):
    line = line.strip()
    m = re.match(r"^# TYPE (\w+) (\w+)$", line)
    if m:
        types[m.group(1)] = m.group(2)
        continue
    if not line or line.startswith("#"):
        continue
    m = re.match(r'^([a-z_]+)(\{[^}]*\})? (\S+)$', line)
    assert m, "not Prometheus text: %r" % line
    lab = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
    base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
    fam = base if types.get(base) == "histogram" else m.group(1)
    labels.setdefault(fam, set()).update(lab)
    series[(m.group(1), tuple(sorted(lab.items())))] = float(m.group(3))
def total(name, **want):
    return sum(v for (n, lab), v in series.items()
               if n == name and all(dict(lab).get(k) == x for k, x in want.items()))
ev = [json.loads(l) for l in open(sys.argv[2])]
bounced = [e for e in ev if e["type"] == "bounced"]
async_ = [e for e in bounced if e.get("detail", {}).get("async") is True]
delivered = [e for e in ev if e["type"] == "delivered"]
got = {
    "herald_bounced_total": total("herald_bounced_total"),
    "herald_async_bounces_total": total("herald_async_bounces_total"),
    "outcome=bounced": total("herald_domain_recipients_total", outcome="bounced"),
    "herald_delivered_total": total("herald_delivered_total"),
    "outcome=delivered": total("herald_domain_recipients_total", outcome="delivered"),
}
want = {"herald_bounced_total": len(bounced), "herald_async_bounces_total": len(async_),
        "outcome=bounced": len(bounced), "herald_delivered_total": len(delivered),
        "outcome=delivered": len(delivered)}
print("events: %d bounced (%d from a DSN), %d delivered; metrics: %s" % (len(bounced), len(async_), len(delivered), got))
assert len(bounced) == 3 and len(async_) == 1, bounced
assert got == want, (got, want)
# every family written is documented with its type and labels, and back
doc = {}
for row in open(sys.argv[3]):
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    if len(cells) != 4 or not cells[0].startswith("`herald_"):
        continue
    for name in re.findall(r"`(herald_\w+)`", cells[0]):
        # labels: the names in backquotes, their values (in parentheses) left out
        doc[name] = (cells[1], set(re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", cells[2]))))
bad = []
for fam, t in sorted(types.items()):
    if fam not in doc:
        bad.append("%s (%s) is written but not in docs/metrics.md" % (fam, t))
        continue
    if doc[fam][0] != t:
        bad.append("%s: type %s, docs/metrics.md says %s" % (fam, t, doc[fam][0]))
    if labels.get(fam, set()) - doc[fam][1]:
        bad.append("%s: labels %s, docs/metrics.md lists %s" % (fam, sorted(labels[fam]), sorted(doc[fam][1])))
for name in sorted(set(doc) - set(types)):
    bad.append("%s is in docs/metrics.md but not written" % name)
assert not bad, "\n".join(bad)
print("documented: %d metric families, each with its type and labels" % len(types))
P
pass "bounce counters agree with each other and with the events; every metric is documented"
echo "serve_metrics: all passed"
