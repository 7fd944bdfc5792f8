#!/usr/bin/env bash
# serve_auth_default.sh - AUTH everywhere by default (issue 14 item 8) and
# the submission listener's smaller refusals (item 13).
#
# 1. Without trusted_networks in the file, a local client that has not
#    authenticated is refused at MAIL (530 5.7.0): a local account can no
#    longer send DKIM-signed mail as every tenant without a password.
# 2. After AUTH: RCPT TO:<postmaster> without a domain gets 550 5.1.3 on
#    submission (no local postmaster there); a NUL byte in DATA gets
#    550 5.6.0 like a bare CR or LF; AUTH PLAIN with an authzid other than
#    the user gets 535 5.7.8 (RFC 4616 §2) even with the right password.
# 3. With a trusted network and two sending domains, a warning at start
#    and again at a reload (SIGHUP).
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 30 "$T"/herald*.log >&2 || true; exit 1; }

conf() {   # FILE SMTP-PORT [EXTRA-SMTP-LINE]
  printf 'hostname = mail.herald.test\ndata_dir = %s\n[smtp]\nlisten = 127.0.0.1:%s\n%s\n[status]\nlisten = 127.0.0.1:%s\n[api]\nlisten = 127.0.0.1:%s\n[inbound]\nlisten =\n' \
    "$T/data" "$2" "${3:-}" "$(hl_free_port)" "$(hl_free_port)" > "$1"
}
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null
"$HERALD" domain add --dns-zone /dev/null other.org --data-dir "$T/data" --hostname mail.herald.test > /dev/null
echo 'right-password' | "$HERALD" user add alice --domains example.com --password-stdin --data-dir "$T/data" > /dev/null

smtp=$(hl_free_port)
conf "$T/default.conf" "$smtp"
hl_herald_start "$T/default.conf" "$smtp" herald "$T/herald.log"

/usr/bin/python3 - "$smtp" <<'P' || fail "default: AUTH required"
import base64, smtplib, sys
port = int(sys.argv[1])
s = smtplib.SMTP("127.0.0.1", port, timeout=20); s.ehlo("local.test")
code, text = s.mail("alice@example.com")
assert code == 530 and b"5.7.0" in text, (code, text)
print("ok: unauthenticated local MAIL FROM refused by default:", code, text.decode())
code, text = s.rcpt("x@elsewhere.test")
assert code >= 500, (code, text)
s.quit()

# item 13 (c): an authzid other than the user, even with the right password
s = smtplib.SMTP("127.0.0.1", port, timeout=20); s.ehlo("local.test")
for authzid in (b"bob", b"Alice"):
    resp = base64.b64encode(authzid + b"\0alice\0right-password").decode()
    code, text = s.docmd("AUTH", "PLAIN " + resp)
    assert code == 535 and b"5.7.8" in text, (authzid, code, text)
    print(f"ok: AUTH PLAIN as {authzid.decode()!r} for alice refused:", code, text.decode())
resp = base64.b64encode(b"alice\0alice\0right-password").decode()
code, text = s.docmd("AUTH", "PLAIN " + resp)
assert code == 235, (code, text)
print("ok: authzid equal to the user accepted:", code)

# item 13 (a): <postmaster> without a domain on submission
s.mail("alice@example.com")
code, text = s.rcpt("postmaster")
assert code == 550 and b"5.1.3" in text, (code, text)
print("ok: RCPT TO:<postmaster> refused on submission:", code, text.decode())
code, text = s.rcpt("postmaster@elsewhere.test")
assert code == 250, (code, text)

# item 13 (b): a NUL byte in DATA
code, text = s.docmd("DATA")
assert code == 354, (code, text)
s.send(b"From: <alice@example.com>\r\nSubject: nul\r\n\r\nbefore\x00after\r\n.\r\n")
code, text = s.getreply()
assert code == 550 and b"5.6.0" in text and b"NUL" in text, (code, text)
print("ok: NUL in DATA refused:", code, text.decode())
# the session goes on: the same message without the NUL is taken
r = s.sendmail("alice@example.com", ["x@elsewhere.test"],
               b"From: <alice@example.com>\r\nSubject: clean\r\n\r\nclean\r\n")
assert r == {}, r
s.quit()
P
grep -q 'trusted_networks' "$T/herald.log" && fail "a warning about trusted_networks without one set"
hl_stop "$(hl_pid herald)"

# a trusted network with two sending domains: warned at start and reload
smtp=$(hl_free_port)
conf "$T/trusted.conf" "$smtp" "trusted_networks = 127.0.0.0/8"
hl_herald_start "$T/trusted.conf" "$smtp" herald-trusted "$T/herald-trusted.log"
warn='\[smtp\] trusted_networks: 127.0.0.0/8: clients there submit without AUTH and may send as any of the 2 sending domains'
grep -q "$warn" "$T/herald-trusted.log" || fail "no warning at start"
grep "$warn" "$T/herald-trusted.log" | head -1
kill -HUP "$(hl_pid herald-trusted)"
for _ in $(seq 100); do
  [ "$(grep -c "$warn" "$T/herald-trusted.log")" -ge 2 ] && break
  sleep 0.05
done
[ "$(grep -c "$warn" "$T/herald-trusted.log")" -eq 2 ] || fail "no warning again at the reload"
echo "ok: a trusted network with 2 sending domains is warned about at start and at reload"
echo "serve_auth_default: passed"
