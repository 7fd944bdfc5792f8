#!/usr/bin/env bash
# harness_selftest.sh - the server test harness (tests/lib/serve-lib.sh,
# tests/lib/receiver.py) checked against independent tools: unbound answers
# the fixture's records (dig), the receiver accepts mail from swaks (plain
# and STARTTLS) and Python's smtplib, spools message + sidecar, applies its
# tempfail / reject behaviours, smtp-sink counts, and nothing is left running.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/serve-lib.sh"
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
eq() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }

# every peer is required (README): a missing one fails, never skips
for tool in /usr/sbin/unbound /usr/bin/dig /usr/bin/swaks /usr/sbin/smtp-sink; do
  [ -x "$tool" ] || { echo "FAIL: $tool not installed (scripts/install-deps.sh --test)"; exit 1; }
done
"$HL_PY" -c 'import aiosmtpd' 2>/dev/null ||
  { echo "FAIL: $HL_PY lacks aiosmtpd (scripts/install-deps.sh --test)"; exit 1; }

hl_tmpdir
T=$HL_TMP

# --- loopback addresses beyond 127.0.0.1 need no configuration -----------
check "127.0.0.3 is bindable" "$HL_PY" -c 'import socket; socket.socket().bind(("127.0.0.3", 0))'

# --- unbound from a zone fixture --------------------------------------------
long=$(head -c 300 /dev/zero | tr '\0' 'k')
cat > "$T/zone.txt" <<ZONE
; test fixture (docs/zone-format.md)
\$TTL 120
example.net.            IN MX   10 mx.example.net.
example.net.            IN MX   20 mx2.example.net.
mx.example.net.         IN A    127.0.0.2
mx2.example.net         IN A    127.0.0.3   ; no trailing dot
example.net.            IN TXT  "v=spf1 ip4:127.0.0.0/8 -all"
s1._domainkey.example.net. IN TXT "v=DKIM1; k=rsa; p=${long:0:200}" "${long:200}"
s2._domainkey.example.net. IN TXT "v=DKIM1; p=${long}"
2.0.0.127.in-addr.arpa. IN PTR  mx.example.net.
dead.example.net.       TIMEOUT
broken.example.net.     SERVFAIL
ZONE
dns=$(hl_free_port)
hl_unbound_start "$T/zone.txt" "$dns"
d() { dig @127.0.0.1 -p "$dns" +time=1 +tries=1 "$@"; }
eq "MX" "$(d example.net MX +short | sort | paste -sd,)" "10 mx.example.net.,20 mx2.example.net."
eq "A" "$(d mx.example.net A +short)" "127.0.0.2"
eq "A, name without trailing dot" "$(d mx2.example.net A +short)" "127.0.0.3"
eq "SPF TXT" "$(d example.net TXT +short)" '"v=spf1 ip4:127.0.0.0/8 -all"'
txt=$(d s1._domainkey.example.net TXT +short | sed 's/" "//g; s/"//g')
eq "long TXT split in two strings" "${#txt}" "$(( ${#long} + 18 ))"
txt=$(d s2._domainkey.example.net TXT +short)
eq "a TXT string over 255 bytes is split" "$(echo "$txt" | grep -o "\"[^\"]*\"" | wc -l)" "2"
eq "... and concatenates back" "$(echo "$txt" | sed 's/" "//g; s/"//g')" "v=DKIM1; p=$long"
eq "PTR" "$(d -x 127.0.0.2 +short)" "mx.example.net."
eq "unknown name is NXDOMAIN" "$(d nowhere.example.com A | sed -n 's/.*status: \([A-Z]*\).*/\1/p')" "NXDOMAIN"
eq "known name, other type: NOERROR/no data" "$(d mx.example.net AAAA | sed -n 's/.*status: \([A-Z]*\).*/\1/p')" "NOERROR"
eq "TIMEOUT name gets no answer" "$(d dead.example.net A > /dev/null 2>&1 && echo answered || echo timeout)" "timeout"
eq "SERVFAIL name is refused" "$(d broken.example.net A | sed -n 's/.*status: \([A-Z]*\).*/\1/p')" "REFUSED"
# records given as text instead of a file, on another address
dns2=$(hl_free_port 127.0.0.3)
hl_unbound_start "example.org. 60 IN MX 5 mx.example.org.
mx.example.org. A 127.0.0.2" "$dns2" 127.0.0.3
eq "records as text" "$(dig @127.0.0.3 -p "$dns2" +time=1 +tries=1 example.org MX +short)" "5 mx.example.org."

# --- receiver: behaviours, STARTTLS, spool -----------------------------------
hl_self_signed_cert "$T/tls" mx.example.net
cat > "$T/behaviour.json" <<'JSON'
{
  "tempfail@example.net": "tempfail 2",
  "reject@example.net": "reject",
  "baddata@example.net": "reject-data",
  "flaky@example.net": "tempfail-data 1",
  "blocked.example": "reject"
}
JSON
mx=$(hl_free_port 127.0.0.2)
rx=$T/rx
hl_receiver_start 127.0.0.2 "$mx" "$rx" "$T/behaviour.json" --tls-cert "$HL_CERT" --tls-key "$HL_KEY"
check "receiver PID file names a live process" kill -0 "$(cat "$rx.pid")"
eq "receiver PID file = registered PID" "$(cat "$rx.pid")" "$(hl_pid "receiver-127.0.0.2:$mx")"

sw() { timeout 20 swaks --server "127.0.0.2:$mx" --from sender@example.org --helo client.test "$@" > "$T/swaks.out" 2>&1; }
side() { "$HL_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); v=eval(sys.argv[2], {}, {"d": d}); print(v)' "$@"; }
last_json() { ls "$rx"/*.json | sort | tail -1; }

check "swaks plain" sw --to ok@example.net --header "Subject: plain one"
hl_wait_spool "$rx" 1 5 && ok || bad "plain message spooled"
j=$(last_json)
eq "sidecar mail_from" "$(side "$j" 'd["mail_from"]')" "sender@example.org"
eq "sidecar rcpts" "$(side "$j" '",".join(d["rcpts"])')" "ok@example.net"
eq "sidecar tls without STARTTLS" "$(side "$j" 'd["tls"]')" "None"
eq "sidecar peer" "$(side "$j" 'd["peer"][0]')" "127.0.0.1"
eq "sidecar helo" "$(side "$j" 'd["helo"]')" "client.test"
eq "sidecar size = file size" "$(side "$j" 'd["size"]')" "$(stat -c %s "${j%.json}.eml")"
check "message body kept" grep -q '^Subject: plain one' "${j%.json}.eml"
check "message kept with CRLF" grep -q $'\r$' "${j%.json}.eml"
eq "spool has no leftovers in .tmp" "$(ls -A "$rx/.tmp" | wc -l)" "0"

check "swaks STARTTLS" sw -tls --to ok@example.net --header "Subject: over tls"
hl_wait_spool "$rx" 2 5 && ok || bad "TLS message spooled"
j=$(last_json)
case "$(side "$j" 'd["tls"]')" in TLSv1.[23]) ok ;; *) bad "sidecar tls after STARTTLS: $(side "$j" 'd["tls"]')" ;; esac
check "TLS message body kept" grep -q '^Subject: over tls' "${j%.json}.eml"

check "swaks STARTTLS + PIPELINING" sw -tls --pipeline --to ok@example.net,reject@example.net --header "Subject: pipelined"
check "PIPELINING announced" grep -q '<~  250-PIPELINING' "$T/swaks.out"
hl_wait_spool "$rx" 3 5 && ok || bad "pipelined message spooled"
j=$(last_json)
eq "pipelined: accepted rcpt only" "$(side "$j" '",".join(d["rcpts"])')" "ok@example.net"

# Python smtplib: every behaviour, as a client sees it
cat > "$T/client.py" <<'PY'
import smtplib, sys
host, port = sys.argv[1], int(sys.argv[2])
msg = b"From: sender@example.org\r\nTo: x@example.net\r\nSubject: smtplib %s\r\n\r\nbody\r\n"
def send(rcpts, subject):
    try:
        with smtplib.SMTP(host, port, timeout=10) as s:
            s.ehlo("smtplib.test")
            refused = s.sendmail("sender@example.org", rcpts, msg % subject.encode())
            return "ok " + ",".join("%s=%d" % (r, c[0]) for r, c in sorted(refused.items()))
    except smtplib.SMTPRecipientsRefused as e:
        return "refused " + ",".join("%s=%d" % (r, c[0]) for r, c in sorted(e.recipients.items()))
    except smtplib.SMTPDataError as e:
        return "data %d" % e.smtp_code
out = [
    send(["ok2@example.net"], "ok2"),
    send(["tempfail@example.net"], "t1"),
    send(["tempfail@example.net"], "t2"),
    send(["tempfail@example.net"], "t3"),
    send(["reject@example.net"], "r"),
    send(["someone@blocked.example"], "domain"),
    send(["baddata@example.net"], "bd"),
    send(["flaky@example.net"], "f1"),
    send(["flaky@example.net"], "f2"),
    send(["ok3@example.net", "reject@example.net"], "mixed"),
]
print("\n".join(out))
PY
"$HL_PY" "$T/client.py" 127.0.0.2 "$mx" > "$T/client.out" 2>&1 || true
mapfile -t r < "$T/client.out"
eq "smtplib plain"                     "${r[0]:-}" "ok "
eq "tempfail 2: first try 451"         "${r[1]:-}" "refused tempfail@example.net=451"
eq "tempfail 2: second try 451"        "${r[2]:-}" "refused tempfail@example.net=451"
eq "tempfail 2: third try accepted"    "${r[3]:-}" "ok "
eq "reject: 550 at RCPT"               "${r[4]:-}" "refused reject@example.net=550"
eq "reject by domain"                  "${r[5]:-}" "refused someone@blocked.example=550"
eq "reject-data: 554 after DATA"       "${r[6]:-}" "data 554"
eq "tempfail-data 1: first 451"        "${r[7]:-}" "data 451"
eq "tempfail-data 1: then accepted"    "${r[8]:-}" "ok "
eq "mixed: one refused, one accepted"  "${r[9]:-}" "ok reject@example.net=550"
# spooled: 3 swaks + ok2, t3, f2, mixed = 7
hl_wait_spool "$rx" 7 5 && ok || bad "7 messages spooled"
eq "exactly 7 messages" "$(hl_spool_count "$rx")" "7"
eq "every message has its sidecar" "$(ls "$rx"/*.json | wc -l)" "7"
mixed=$(grep -l 'smtplib mixed' "$rx"/*.eml || true)
eq "mixed: only the accepted rcpt in the sidecar" "$(side "${mixed%.eml}.json" '",".join(d["rcpts"])' 2>/dev/null)" "ok3@example.net"
eq "journal: 3 RCPT attempts for tempfail@" "$(grep -c '"rcpt": "tempfail@example.net"' "$rx.journal")" "3"
eq "journal: 451s at RCPT" "$(grep '"stage": "rcpt"' "$rx.journal" | grep -c '"code": 451')" "2"
eq "journal: 451s at DATA" "$(grep '"stage": "data"' "$rx.journal" | grep -c '"code": 451')" "1"

# behaviour file re-read when it changes: now tempfail@ is rejected
sleep 0.01
echo '{"tempfail@example.net": "reject"}' > "$T/behaviour.json.new" && mv "$T/behaviour.json.new" "$T/behaviour.json"
sw --to tempfail@example.net && bad "changed behaviour: swaks should fail" || ok
check "changed behaviour: 550 seen" grep -q '550 5.1.1' "$T/swaks.out"

# --- smtp-sink -----------------------------------------------------------------
sink=$(hl_free_port)
hl_sink_start 127.0.0.1 "$sink" "$T/sinkdump"
for i in 1 2 3; do
  timeout 20 swaks --server "127.0.0.1:$sink" --from a@example.org --to b@example.net > "$T/swaks-sink.out" 2>&1 || bad "swaks -> sink $i"
done
sink_has() { [ "$(hl_sink_count 127.0.0.1 "$sink")" = "$1" ]; }
hl_wait_for 5 sink_has 3 && ok || bad "sink count 3, got $(hl_sink_count 127.0.0.1 "$sink")"
eq "sink dumped 3 files" "$(find "$T/sinkdump" -type f | wc -l)" "3"

# --- a bad behaviour file is refused at start -------------------------------------
echo '{"x@example.net": "explode"}' > "$T/bad.json"
bx=$(hl_free_port 127.0.0.2)
if hl_receiver_start 127.0.0.2 "$bx" "$T/rxbad" "$T/bad.json" 2> "$T/bad.err"; then
  bad "receiver started with a bad behaviour file"
else
  check "bad behaviour named" grep -q 'unknown behaviour' "$T/rxbad.stderr"
fi

# --- stop everything; nothing stays behind ------------------------------------------
pids=("${HL_PIDS[@]}")
hl_stop_all
left=0
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && { left=$((left + 1)); echo "still running: pid $p"; }; done
eq "no process left" "$left" "0"
for ep in "127.0.0.1 $dns udp" "127.0.0.3 $dns2 udp" "127.0.0.2 $mx tcp" "127.0.0.1 $sink tcp"; do
  set -- $ep
  hl_listening "$1" "$2" "$3" && bad "$1:$2/$3 still listening" || ok
done
check "receiver removed its PID file" test ! -e "$rx.pid"

echo "harness_selftest: $passed passed, $failed failed"
[ "$failed" = 0 ]
