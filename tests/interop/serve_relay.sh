#!/usr/bin/env bash
# serve_relay.sh - no open relay: a client outside trusted_networks must
# authenticate before MAIL (530 5.7.0), may only send as its own domains
# (550 5.7.1), and repeated AUTH failures are cut off (421). Also: a bad
# configuration file is refused at start with its line and reason.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 30 "$T/herald.log" >&2 || true; exit 1; }

# a bad config: refused with FILE:LINE: reason, exit 78
printf 'hostname = mail.herald.test\n[smtp]\nlisten = 127.0.0.1:notaport\n' > "$T/bad.conf"
set +e
"$HERALD" serve --config "$T/bad.conf" > "$T/bad.out" 2>&1
rc=$?
set -e
[ "$rc" -eq 78 ] || fail "bad config: exit $rc, want 78"
grep -q 'bad.conf:3:' "$T/bad.out" || { cat "$T/bad.out"; fail "bad config: no FILE:LINE in the message"; }
echo "ok: a bad configuration is refused at start: $(head -1 "$T/bad.out")"

smtp=$(hl_free_port); status=$(hl_free_port)
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $T/data
[smtp]
listen = 127.0.0.1:$smtp
trusted_networks = 10.255.255.0/24
auth_failures_per_minute = 3
[status]
listen = 127.0.0.1:$status
[api]
listen = 127.0.0.1:$(hl_free_port)
C
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null
"$HERALD" domain add --dns-zone /dev/null other.org --data-dir "$T/data" --hostname mail.herald.test > /dev/null
echo 'right-password' | "$HERALD" user add alice --domains example.com --password-stdin --data-dir "$T/data" > /dev/null
hl_spawn herald "$T/herald.log" "$HERALD" serve --config "$T/herald.conf"
hl_wait_port 127.0.0.1 "$smtp" 15 tcp "$(hl_pid herald)"

/usr/bin/python3 - "$smtp" <<'P' || fail "relay checks"
import smtplib, sys
port = int(sys.argv[1])
msg = lambda frm: f"From: <{frm}>\r\nSubject: t\r\n\r\nbody\r\n".encode()
# 1. unauthenticated, to a foreign domain
s = smtplib.SMTP("127.0.0.1", port, timeout=10); s.ehlo("c.test")
code, text = s.mail("alice@example.com")
assert code == 530 and b"5.7.0" in text, (code, text)
print("ok: unauthenticated MAIL refused:", code, text.decode())
s.quit()
# 2. authenticated, but From a domain the user may not use
s = smtplib.SMTP("127.0.0.1", port, timeout=10); s.ehlo("c.test")
s.login("alice", "right-password")
try:
    s.sendmail("alice@example.com", ["x@elsewhere.test"], msg("boss@other.org"))
    raise SystemExit("FAIL: sent as other.org")
except smtplib.SMTPDataError as e:
    assert e.smtp_code == 550 and b"5.7.1" in e.smtp_error, e
    print("ok: From outside the user's domains refused:", e.smtp_code, e.smtp_error.decode())
# ... and a domain herald does not sign for at all
try:
    s.sendmail("alice@example.com", ["x@elsewhere.test"], msg("someone@gmail.test"))
    raise SystemExit("FAIL: sent as an unmanaged domain")
except smtplib.SMTPDataError as e:
    assert e.smtp_code == 550, e
    print("ok: unmanaged From domain refused:", e.smtp_code, e.smtp_error.decode())
r = s.sendmail("alice@example.com", ["x@elsewhere.test"], msg("alice@example.com"))
assert r == {}
print("ok: authenticated user sends as its own domain")
s.quit()
# a quoted local part with an angle bracket: legal in RFC 5321's qtext, but
# a path the next hop could split; refused at RCPT
s = smtplib.SMTP("127.0.0.1", port, timeout=10); s.ehlo("c.test")
s.login("alice", "right-password")
s.mail("alice@example.com")
code, text = s.rcpt('"a>b"@elsewhere.test')
assert code in (501, 553), (code, text)
print("ok: angle bracket in a quoted local part refused:", code, text.decode())
s.quit()
# 3. AUTH failures are cut off after auth_failures_per_minute
codes = []
for i in range(5):
    s = smtplib.SMTP("127.0.0.1", port, timeout=10); s.ehlo("c.test")
    s.user, s.password = "alice", f"wrong-{i}"
    try:
        s.auth("PLAIN", s.auth_plain)   # one mechanism per try (login() would try two)
        codes.append(235)
    except smtplib.SMTPAuthenticationError as e:
        codes.append(e.smtp_code)
    except smtplib.SMTPServerDisconnected:
        codes.append(421)
    try:
        s.quit()
    except Exception:
        pass
print("AUTH failure replies:", codes)
assert codes[:3] == [535, 535, 535], codes
assert all(c == 421 for c in codes[3:]), codes
# even the right password is refused while the address is cut off
s = smtplib.SMTP("127.0.0.1", port, timeout=10); s.ehlo("c.test")
try:
    s.login("alice", "right-password")
    raise SystemExit("FAIL: login accepted during the lock-out")
except (smtplib.SMTPAuthenticationError, smtplib.SMTPServerDisconnected):
    print("ok: locked out for the rest of the minute")
P
grep -q 'right-password' "$T/herald.log" && fail "a password was logged"
grep -q 'wrong-0' "$T/herald.log" && fail "a password was logged"
echo "serve_relay: passed"
