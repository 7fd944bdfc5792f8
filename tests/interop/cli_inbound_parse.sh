#!/usr/bin/env bash
# cli_inbound_parse.sh - `herald inbound parse FILE [--rules FILE] [--json]`:
# a bounce read without a server (several addresses, each with its reason
# and class), standard input, a user rule file (its directives, and its
# errors by line), and the exit codes.
set -euo pipefail
: "${HERALD:?}"
SRC=${HERALD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
PY=/usr/bin/python3

# the built-in table: a qmail bounce with two addresses, one hard, one soft
printf 'To: s@example.org\n\nI wasn'"'"'t able to deliver your message to the following addresses.\n\n<a@example.net>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n<b@example.net>:\nthe user'"'"'s mailfolder is full\n\n--- Below this line is a copy of the message.\n\nTo: c@example.net\n' > "$T/qmail.eml"
"$HERALD" inbound parse --json "$T/qmail.eml" > "$T/q.json" || fail "qmail bounce not read"
"$PY" - "$T/q.json" <<'P' || fail "qmail bounce: wrong reading"
import json, sys
j = json.load(open(sys.argv[1]))
got = [(r["address"], r["status"], r["reason"], r["kind"]) for r in j["recipients"]]
assert j["type"] == "nonstandard", j["type"]
assert got == [("a@example.net", "5.1.1", "userunknown", "hard"),
               ("b@example.net", "5.2.2", "mailboxfull", "soft")], got
P
# standard input, and the summary without --json
"$HERALD" inbound parse - < "$T/qmail.eml" | grep -q '^recipient: b@example.net  failed 5.2.2 soft (mailboxfull)$' ||
  fail "standard input / text summary"

# other languages: a German plain-text bounce
printf 'To: s@example.org\nContent-Type: text/plain; charset=utf-8\n\nIhre Nachricht war unzustellbar.\n\n<a@example.de>:\nBenutzer unbekannt\n\n<b@example.de>:\nPostfach voll\n' > "$T/de.eml"
"$HERALD" inbound parse --json "$T/de.eml" |
  "$PY" -c 'import json,sys; r=json.load(sys.stdin)["recipients"]; assert [(x["address"], x["kind"]) for x in r]==[("a@example.de","hard"),("b@example.de","soft")], r' ||
  fail "German bounce"

# a DSN
"$HERALD" inbound parse --json "$SRC/tests/data/bounces/postfix.eml" |
  "$PY" -c 'import json,sys; j=json.load(sys.stdin); assert j["type"]=="dsn" and j["recipients"][0]["kind"]=="hard", j' ||
  fail "postfix DSN"

# bytes that are not UTF-8 in an address and a diagnostic: the JSON keeps
# every field ('?' for each bad byte), the text summary prints them
printf 'Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; caf\xe9@example.net\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 \xff\xfe no such user\n\n--b--\n' > "$T/latin1.eml"
"$HERALD" inbound parse --json "$T/latin1.eml" |
  "$PY" -c 'import json,sys; r=json.load(sys.stdin)["recipients"]; assert [(x["address"], x["reason"], x["diagnostic"]) for x in r]==[("caf?@example.net","userunknown","550 5.1.1 ?? no such user")], r' ||
  fail "non-UTF-8 bytes in a DSN"
"$HERALD" inbound parse "$T/latin1.eml" | grep -q '^recipient: caf.@example.net  failed 5.1.1 hard (userunknown)$' ||
  fail "non-UTF-8 bytes: text summary"

# a user rule file: a vendor section with its own phrase and list
cat > "$T/rules.txt" <<'R'
vendor acme when "x-acme-notice:"
status 5.1.1 reason userunknown contains "nobody by that name"
address after "acme could not deliver to"
end
status 5.0.0 contains "could not deliver"
address colon
R
printf 'X-Acme-Notice: 1\nTo: s@example.org\n\nACME could not deliver to:\n\n  x@example.net\n    nobody by that name\n' > "$T/acme.eml"
"$HERALD" inbound parse --json --rules "$T/rules.txt" "$T/acme.eml" |
  "$PY" -c 'import json,sys; r=json.load(sys.stdin)["recipients"]; assert [(x["address"], x["reason"]) for x in r]==[("x@example.net","userunknown")], r' ||
  fail "user rule file"

set +e
"$HERALD" inbound parse --json "$SRC/tests/data/sisimai-set-of-emails/not/is-not-bounce-01.eml" > "$T/not.json" 2> /dev/null
[ $? -eq 65 ] || fail "not a bounce: want 65"
"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["type"]=="error" and j["recipients"]==[]' "$T/not.json" ||
  fail "not a bounce: JSON"
printf 'status 5.1.1 contains "x"\naddress sideways\n' > "$T/bad.txt"
"$HERALD" inbound parse --rules "$T/bad.txt" "$T/qmail.eml" 2> "$T/bad.err"; [ $? -eq 78 ] || fail "bad rules: want 78"
grep -q 'line 2:' "$T/bad.err" || fail "bad rules: the line is not named: $(cat "$T/bad.err")"
"$HERALD" inbound parse "$T/nosuch.eml" 2> /dev/null; [ $? -eq 66 ] || fail "missing file: want 66"
"$HERALD" inbound parse 2> /dev/null; [ $? -eq 64 ] || fail "no file: want 64"
set -e
echo "cli_inbound_parse: passed"
