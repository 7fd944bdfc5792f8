#!/usr/bin/env bash
# serve_logs.sh - the shape of herald's log lines (docs/config.md, [log]):
#   - text: every line "TIME herald LEVEL: ...", TIME RFC 3339 UTC with
#     milliseconds, LEVEL one of the words log_level takes (warn, never
#     "warning"); a line about a message starts with its queue id;
#   - [log] format = json: every line one JSON object (Python's json reads
#     it) with time, level and msg, and id for a message or session;
#   - under systemd's journal (JOURNAL_STREAM names stderr's device and
#     inode): "<N>LEVEL: ..." with the syslog priority and no time, which
#     journald adds; a JOURNAL_STREAM that names another file changes
#     nothing (stderr was handed on);
#   - the password of an AUTH never appears, in either format;
#   - a session's own lines carry its id, "s1a2b3c 127.0.0.1:5544": two
#     sessions from one address have two ids, each with the address.
# Each run submits two messages in two sessions (sandbox delivery) and
# provokes a warning (a NOTIFY_SOCKET that is no socket path) and a failed
# AUTH.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
PY=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null

# run NAME FORMAT [ENV...]: start herald with [log] format = FORMAT and the
# environment ENV, submit a message, fail an AUTH, stop it; the log is
# $T/NAME.log, the queue id in $T/NAME.id
run() {
  local name=$1 format=$2; shift 2
  local smtp; smtp=$(hl_free_port)
  printf 'hostname = mail.herald.test\ndata_dir = %s\nlog_level = debug\n[log]\nformat = %s\n[smtp]\ntrusted_networks = 127.0.0.0/8\nlisten = 127.0.0.1:%s\n[status]\nlisten = 127.0.0.1:%s\n[api]\nlisten = 127.0.0.1:%s\n[inbound]\nlisten =\n' \
    "$T/data" "$format" "$smtp" "$(hl_free_port)" "$(hl_free_port)" > "$T/$name.conf"
  : > "$T/$name.log"
  local js
  js=$(stat -c '%d:%i' "$T/$name.log")
  # shellcheck disable=SC2086
  hl_spawn "$name" "$T/$name.log" env NOTIFY_SOCKET=relative/name "${@//@JS@/$js}" \
    "$HERALD" serve --config "$T/$name.conf"
  hl_wait_port 127.0.0.1 "$smtp" 15 tcp "$(hl_pid "$name")" || fail "$name: herald did not start: $(cat "$T/$name.log")"
  hl_smtp_send "$smtp" alice@example.com bob@rx.test "log test" > "$T/$name.id" || fail "$name: submission"
  hl_smtp_send "$smtp" alice@example.com bob@rx.test "log test 2" > /dev/null || fail "$name: submission 2"
  "$PY" - "$smtp" <<'P' || true
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("client.test")
try:
    s.login("nobody@example.com", "S3cret-l0g-pass")
except Exception:
    pass
s.quit()
P
  hl_wait_for 10 grep -q 'authentication failed' "$T/$name.log" || fail "$name: the failed AUTH is not logged"
  hl_wait_for 10 grep -q 'captured\|sandbox' "$T/$name.log" || true
  hl_stop "$(hl_pid "$name")"
  grep -q 'S3cret-l0g-pass' "$T/$name.log" && fail "$name: a password is in the log"
  # as the client sent it: AUTH PLAIN's and AUTH LOGIN's base64
  for b64 in "$(printf '\0nobody@example.com\0S3cret-l0g-pass' | base64 -w0)" \
             "$(printf 'S3cret-l0g-pass' | base64 -w0)"; do
    grep -qF -- "$b64" "$T/$name.log" && fail "$name: a password is in the log, in base64"
  done
  return 0
}

# ---- text ----
run text text
id=$(cat "$T/text.id")
"$PY" - "$T/text.log" "$id" <<'P' || fail "text log lines (above)"
import re, sys
lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
shape = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z herald (error|warn|info|debug): ")
bad = [l for l in lines if not shape.match(l)]
assert lines and not bad, "lines without time and level word: %r" % bad[:3]
levels = {shape.match(l).group(1) for l in lines}
assert {"warn", "info", "debug"} <= levels, levels
assert not any(" warning: " in l for l in lines)
assert any(re.search(r" info: %s: accepted " % sys.argv[2], l) for l in lines), "no accept line with the id first"
assert any(re.search(r" warn: 127\.0\.0\.1: authentication failed", l) for l in lines), "no AUTH warning with the client"
ended = [re.search(r" (?:info|debug): (\S+ \S+): session ended: ", l) for l in lines]
sids = {m.group(1) for m in ended if m}
assert len(sids) >= 2, "not two session ids on the session-ended lines: %r" % sids
assert all(re.match(r"^s[0-9a-f]{6} 127\.0\.0\.1:\d+$", i) for i in sids), sids
print("ok: text: %d lines, levels %s" % (len(lines), sorted(levels)))
P
pass "text: time (RFC 3339, ms), the level as log_level spells it, the id first"

# ---- json ----
run json json
id=$(cat "$T/json.id")
"$PY" - "$T/json.log" "$id" <<'P' || fail "json log lines (above)"
import json, re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
objs = []
for l in lines:
    try:
        objs.append(json.loads(l))
    except ValueError as e:
        sys.exit("not JSON: %r: %s" % (l, e))
assert objs
for o in objs:
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", o["time"]), o
    assert o["level"] in ("error", "warn", "info", "debug"), o
    assert isinstance(o["msg"], str) and o["msg"], o
    assert set(o) <= {"time", "level", "id", "msg", "truncated"}, o
acc = [o for o in objs if o.get("id") == sys.argv[2] and o["msg"].startswith("accepted ")]
assert acc, "no accept line with id %s" % sys.argv[2]
auth = [o for o in objs if o.get("id") == "127.0.0.1" and "authentication failed" in o["msg"]]
assert auth and auth[0]["level"] == "warn", auth
print("ok: json: %d objects, %d with an id" % (len(objs), sum("id" in o for o in objs)))
P
pass "json: one object a line with time, level, msg and id"

# ---- under the journal ----
run journal text JOURNAL_STREAM=@JS@
"$PY" - "$T/journal.log" <<'P' || fail "journal log lines (above)"
import re, sys
lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
shape = re.compile(r"^<([3467])>(error|warn|info|debug): ")
prio = {"error": "3", "warn": "4", "info": "6", "debug": "7"}
bad = [l for l in lines if not shape.match(l) or prio[shape.match(l).group(2)] != shape.match(l).group(1)]
assert lines and not bad, "lines without <N>level: %r" % bad[:3]
assert not any(re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", l) for l in lines), "a time stamp under the journal"
print("ok: journal: %d lines with <N> prefixes" % len(lines))
P
run journal_json json JOURNAL_STREAM=@JS@
"$PY" - "$T/journal_json.log" <<'P' || fail "journal json lines (above)"
import json, re, sys
for l in open(sys.argv[1], encoding="utf-8").read().splitlines():
    m = re.match(r"^<([3467])>(\{.*\})$", l)
    assert m, l
    o = json.loads(m.group(2))
    assert {"error": "3", "warn": "4", "info": "6", "debug": "7"}[o["level"]] == m.group(1), l
print("ok: journal json: <N> then the object")
P
# a JOURNAL_STREAM that is not stderr's: the ordinary text
run other text JOURNAL_STREAM=1:1
grep -Eq '^<[0-9]>' "$T/other.log" && fail "JOURNAL_STREAM of another file gave journal lines"
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$T/other.log" || fail "JOURNAL_STREAM of another file: no time stamps"
pass "journal: <N> priority prefixes and no time; another file's JOURNAL_STREAM is ignored"
