#!/usr/bin/env bash
# cli_dkim.sh - the `herald dkim` commands as a user meets them: exit
# codes, error messages that name the file, key file modes, JSON fields,
# LF/CRLF, and verification through a real unbound on 127.0.0.1.
set -euo pipefail
herald=${HERALD:?HERALD must name the herald binary}
work=$(mktemp -d)
unbound_pid=
cleanup() { [ -n "$unbound_pid" ] && kill "$unbound_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
# expect CODE DESCRIPTION -- CMD...: run CMD, check its exit code
expect() {
  local want=$1 what=$2; shift 3
  local got=0
  "$@" > "$work/out" 2> "$work/err" || got=$?
  if [ "$got" = "$want" ]; then ok; else bad "$what: exit $got, want $want; stderr: $(head -c 300 "$work/err")"; fi
}
# grep_err PATTERN DESCRIPTION: the last command's stderr says PATTERN
grep_err() { if grep -q -- "$1" "$work/err"; then ok; else bad "$2: stderr lacks \"$1\": $(head -c 300 "$work/err")"; fi; }
grep_out() { if grep -q -- "$1" "$work/out"; then ok; else bad "$2: stdout lacks \"$1\": $(head -c 300 "$work/out")"; fi; }

cd "$work"
cat > msg.eml <<'MSG'
From: Receipts <billing@example.com>
To: customer@example.net
Subject: Your receipt
Date: Fri, 27 Nov 2026 09:00:00 +0000
Message-ID: <r-1@example.com>

Thank you for your order.
MSG
sed 's/$/\r/' msg.eml > msg-crlf.eml

# --- help and usage ------------------------------------------------------
expect 0 "help" -- "$herald" help
grep_out "dkim" "help lists dkim"
expect 0 "dkim verify --help" -- "$herald" dkim verify --help
grep_out "Exit:" "verify --help documents exit codes"
expect 0 "dkim sign --help" -- "$herald" dkim sign --help
grep_out "Exit:" "sign --help documents exit codes"
expect 64 "unknown command" -- "$herald" frobnicate
grep_err "unknown command" "unknown command is named"
expect 64 "unknown option" -- "$herald" dkim sign --frobnicate
expect 64 "sign without key" -- "$herald" dkim sign -d example.com -s s msg.eml

# --- keygen --------------------------------------------------------------
expect 0 "keygen rsa2048" -- "$herald" dkim keygen -d example.com -s rsa -o keys --zone
cp out zone
expect 0 "keygen ed25519" -- "$herald" dkim keygen -d example.com -s ed -a ed25519 -o keys --zone
cat out >> zone
mode=$(stat -c %a keys/rsa.private)
[ "$mode" = 600 ] && ok || bad "private key mode is $mode, want 600"
mode=$(stat -c %a keys)
[ "$mode" = 700 ] && ok || bad "key directory mode is $mode, want 700"
expect 73 "keygen never overwrites" -- "$herald" dkim keygen -d example.com -s rsa -o keys
grep_err "keys/rsa.private" "overwrite refusal names the file"
expect 64 "keygen bad algorithm" -- "$herald" dkim keygen -d example.com -s x -a dsa -o keys
# RFC 8301 §3.2: under 2048 bits only when asked for, and never under 1024
expect 64 "keygen rsa1024 without --allow-weak" -- "$herald" dkim keygen -d example.com -s weak -a rsa1024 -o keys
grep_err "add --allow-weak" "the refusal says how to make one anyway"
[ ! -e keys/weak.private ] && ok || bad "a refused weak key was written"
expect 0 "keygen rsa1024 --allow-weak" -- "$herald" dkim keygen -d example.com -s weak -a rsa1024 -o keys --allow-weak --json
grep_out '"bits": 1024' "keygen rsa1024 bits"
expect 64 "keygen rsa512 even with --allow-weak" -- "$herald" dkim keygen -d example.com -s weaker -a rsa512 -o keys --allow-weak
expect 64 "keygen bad domain" -- "$herald" dkim keygen -d 'exa mple.com' -s x -o keys
expect 0 "keygen json" -- "$herald" dkim keygen -d example.com -s j -a rsa4096 -o keys --json
grep_out '"name": "j._domainkey.example.com"' "keygen json name"
grep_out '"strings"' "keygen json strings"
# TXT strings are at most 255 bytes
long=$(grep -o '"[^"]*"' zone | awk '{ if (length($0) - 2 > 255) print }' | wc -l)
[ "$long" = 0 ] && ok || bad "a TXT string longer than 255 bytes in the keygen output"

# --- sign: key file errors name the file ----------------------------------
expect 66 "missing key file" -- "$herald" dkim sign -d example.com -s rsa -k nonexistent.pem msg.eml
grep_err "nonexistent.pem" "missing key is named"
openssl pkey -in keys/rsa.private -pubout -out pub.pem 2>/dev/null
expect 66 "public key given as private" -- "$herald" dkim sign -d example.com -s rsa -k pub.pem msg.eml
grep_err "pub.pem" "public key file is named"
grep_err "public key" "public key is called a public key"
echo "not a key" > junk.pem
expect 66 "junk key file" -- "$herald" dkim sign -d example.com -s rsa -k junk.pem msg.eml
grep_err "junk.pem" "junk key is named"
expect 66 "rsa key for ed25519-sha256" -- "$herald" dkim sign -d example.com -s rsa -k keys/rsa.private -a ed25519-sha256 msg.eml
grep_err "keys/rsa.private" "algorithm mismatch names the file"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:512 -out small.pem 2>/dev/null
expect 66 "512-bit key refused for signing" -- "$herald" dkim sign -d example.com -s rsa -k small.pem msg.eml
grep_err "1024" "small key refusal gives the minimum"
printf 'To: a@example.net\n\nno From here\n' > nofrom.eml
expect 65 "message without From" -- "$herald" dkim sign -d example.com -s rsa -k keys/rsa.private nofrom.eml
grep_err "From" "no-From refusal says From"

# --- sign and verify -------------------------------------------------------
expect 0 "dual sign" -- "$herald" dkim sign -d example.com -s rsa -k keys/rsa.private -s ed -k keys/ed.private --timestamp 1800000000 msg.eml
cp out signed.eml
n=$(grep -c '^DKIM-Signature:' signed.eml)
[ "$n" = 2 ] && ok || bad "dual signing gave $n signatures"
if grep -q $'\r' signed.eml; then bad "LF input gave CRLF output"; else ok; fi
expect 0 "verify both" -- "$herald" dkim verify --dns-zone zone --now 1800000100 signed.eml
[ "$(grep -c '^dkim=pass' out)" = 2 ] && ok || bad "verify: $(cat out)"
expect 0 "verify json" -- "$herald" dkim verify --dns-zone zone --now 1800000100 --json signed.eml
for f in result reason reason_code domain selector algorithm header_b key_bits; do grep_out "\"$f\"" "json has $f"; done
# LF and CRLF spellings sign alike
"$herald" dkim sign -d example.com -s rsa -k keys/rsa.private --timestamp 1800000000 --signature-only msg.eml > sig-lf
"$herald" dkim sign -d example.com -s rsa -k keys/rsa.private --timestamp 1800000000 --signature-only msg-crlf.eml | tr -d '\r' > sig-crlf
cmp -s sig-lf sig-crlf && ok || bad "LF and CRLF inputs gave different signatures"
# exit codes of verify
expect 2 "no signature" -- "$herald" dkim verify --dns-zone zone msg.eml
grep_out "dkim=none" "no signature prints dkim=none"
sed 's/Thank you/Thanks/' signed.eml > tampered.eml
expect 1 "tampered" -- "$herald" dkim verify --dns-zone zone --now 1800000100 tampered.eml
grep_out "body hash did not verify" "tampered body is explained"
printf 'rsa._domainkey.example.com. TIMEOUT\ned._domainkey.example.com. SERVFAIL\n' > zone-fail
expect 75 "dns failure" -- "$herald" dkim verify --dns-zone zone-fail --now 1800000100 signed.eml
grep_out "dkim=temperror" "dns failure is temperror"
expect 66 "missing message" -- "$herald" dkim verify --dns-zone zone nothere.eml
grep_err "nothere.eml" "missing message is named"
printf 'x. IN TXT "unterminated\n' > zone-bad
expect 65 "bad zone file" -- "$herald" dkim verify --dns-zone zone-bad signed.eml
grep_err "zone-bad:1" "zone error gives file and line"
printf 'From: a@example.com\n no colon line\nthis line has no colon\n\nbody\n' > broken.eml
expect 65 "unparseable message" -- "$herald" dkim verify --dns-zone zone broken.eml
grep_err "line 3" "message error gives the line"

# --- a real resolver: unbound on 127.0.0.1 -----------------------------------
port=$(( 20000 + RANDOM % 20000 ))
{
  echo "server:"
  echo "  interface: 127.0.0.1"; echo "  port: $port"; echo "  do-ip6: no"
  echo "  username: \"\""; echo "  chroot: \"\""; echo "  directory: \"$work\""
  echo "  pidfile: \"$work/unbound.pid\""; echo "  use-syslog: no"; echo "  logfile: \"$work/unbound.log\""
  echo "  do-daemonize: no"; echo "  access-control: 127.0.0.0/8 allow"
  echo "  module-config: \"iterator\""; echo "  local-zone: \".\" static"
  # the keygen records, as local-data (strings kept as they are)
  sed -n 's/^\([^ ]*\) IN TXT \(.*\)$/  local-data: '"'"'\1 300 IN TXT \2'"'"'/p' zone
} > unbound.conf
/usr/sbin/unbound -d -c unbound.conf & unbound_pid=$!
for _ in $(seq 1 50); do dig +short +time=1 +tries=1 -p "$port" @127.0.0.1 ed._domainkey.example.com TXT 2>/dev/null | grep -q DKIM1 && break; sleep 0.1; done
expect 0 "verify through unbound" -- "$herald" dkim verify --dns-server "127.0.0.1@$port" --now 1800000100 signed.eml
[ "$(grep -c '^dkim=pass' out)" = 2 ] && ok || bad "verify through unbound: $(cat out) $(cat err)"
kill "$unbound_pid"; wait "$unbound_pid" 2>/dev/null || true; unbound_pid=
# nobody listens now: a timeout is a temporary error
expect 75 "dns server gone" -- "$herald" dkim verify --dns-server "127.0.0.1@$port" --dns-timeout 300 --now 1800000100 signed.eml

echo "cli_dkim: $passed passed, $failed failed"
[ "$failed" = 0 ]
