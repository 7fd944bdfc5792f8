#!/usr/bin/env bash
# cli_spf.sh - `herald spf check` as a user meets it: exit codes per
# result, --json fields, --trace, usage errors, and the same evaluation
# through a real unbound on 127.0.0.1.
set -euo pipefail
herald=${HERALD:?HERALD must name the herald binary}
work=$(mktemp -d)
unbound_pid=
cleanup() { [ -n "$unbound_pid" ] && kill "$unbound_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
expect() {
  local want=$1 what=$2; shift 3
  local got=0
  "$@" > "$work/out" 2> "$work/err" || got=$?
  if [ "$got" = "$want" ]; then ok; else bad "$what: exit $got, want $want; out: $(head -c 300 "$work/out") err: $(head -c 300 "$work/err")"; fi
}
grep_out() { if grep -q -- "$1" "$work/out"; then ok; else bad "$2: stdout lacks \"$1\": $(head -c 400 "$work/out")"; fi; }
grep_err() { if grep -q -- "$1" "$work/err"; then ok; else bad "$2: stderr lacks \"$1\": $(head -c 400 "$work/err")"; fi; }
cd "$work"

cat > zone <<'ZONE'
example.com. IN TXT "v=spf1 ip4:192.0.2.0/24 include:_spf.example.net mx ?ip4:203.0.113.99 ~ip4:203.0.113.98 -all exp=why.example.com"
why.example.com. IN TXT "%{i} is not one of %{d}'s senders"
_spf.example.net. IN TXT "v=spf1 ip6:2001:db8::/32 -all"
example.com. IN MX 10 mx.example.com.
mx.example.com. IN A 198.51.100.25
mail.example.org. IN TXT "v=spf1 a -all"
mail.example.org. IN A 198.51.100.77
broken.example. IN TXT "v=spf1 ip4:192.0.2.1/33 -all"
slow.example. TIMEOUT
ZONE

expect 0 "help" -- "$herald" spf check --help
grep_out "Exit:" "help documents exit codes"
expect 64 "no --ip" -- "$herald" spf check --sender a@example.com --dns-zone zone
expect 64 "bad ip" -- "$herald" spf check --ip 300.1.1.1 --sender a@example.com --dns-zone zone
grep_err "300.1.1.1" "bad ip is named"

expect 0 "pass ip4" -- "$herald" spf check --ip 192.0.2.10 --sender a@example.com --dns-zone zone
grep_out "^pass (ip4:192.0.2.0/24)" "pass names the mechanism"
expect 0 "pass via include (ip6)" -- "$herald" spf check --ip 2001:db8::5 --sender a@example.com --dns-zone zone
grep_out "include:_spf.example.net" "include decided"
expect 0 "pass via mx, IPv4-mapped" -- "$herald" spf check --ip ::ffff:198.51.100.25 --sender a@example.com --dns-zone zone
expect 3 "neutral" -- "$herald" spf check --ip 203.0.113.99 --sender a@example.com --dns-zone zone
expect 2 "softfail" -- "$herald" spf check --ip 203.0.113.98 --sender a@example.com --dns-zone zone
expect 1 "fail" -- "$herald" spf check --ip 203.0.113.7 --sender a@example.com --dns-zone zone --json
grep_out '"result": "fail"' "json result"
grep_out '"mechanism": "-all"' "json mechanism"
grep_out "203.0.113.7 is not one of example.com's senders" "exp= explanation expanded"
grep_out '"dns_lookups": 2' "json lookups"
grep_out '"void_lookups": 0' "json void lookups"
grep_out 'Received-SPF: fail' "json has Received-SPF"
grep_out 'spf=fail' "json has the AR fragment"
expect 4 "none" -- "$herald" spf check --ip 192.0.2.1 --sender a@nospf.example --dns-zone zone
expect 5 "permerror names the term" -- "$herald" spf check --ip 192.0.2.1 --sender a@broken.example --dns-zone zone
grep_out "ip4:192.0.2.1/33" "permerror says which term"
expect 75 "temperror" -- "$herald" spf check --ip 192.0.2.1 --sender a@slow.example --dns-zone zone
# a reason citing "(RFC 7208 §4.3)": the header fields say "section 4.3" in
# a nested comment, in ASCII; the human line keeps the § (terminal text)
expect 4 "single-label domain" -- "$herald" spf check --ip 192.0.2.1 --sender a@localhost --dns-zone zone
grep_out 'Received-SPF: none ("localhost" is not a valid multi-label domain name (RFC 7208 section 4.3)) client-ip=' "Received-SPF comment in ASCII"
grep_out 'spf=none ("localhost" is not a valid multi-label domain name (RFC 7208 section 4.3)) smtp.mailfrom=a@localhost' "AR comment in ASCII"
grep_out '(RFC 7208 §4.3)$' "the human line keeps the section sign"
if LC_ALL=C grep -q '^Received-SPF:.*[^ -~]' "$work/out" || grep -q '^Received-SPF:.*?' "$work/out"; then
  bad "Received-SPF holds non-ASCII or '?': $(grep '^Received-SPF' "$work/out")"; else ok; fi
expect 0 "helo identity for the null sender" -- "$herald" spf check --ip 198.51.100.77 --sender "" --helo mail.example.org --dns-zone zone
grep_out "smtp.helo=mail.example.org" "helo identity in AR"
expect 0 "trace" -- "$herald" spf check --ip 2001:db8::5 --sender a@example.com --dns-zone zone --trace
grep_err "DNS TXT _spf.example.net" "trace shows DNS questions"
grep_err "  ip6:2001:db8::/32: match" "trace indents the include"

# the same through a real resolver
port=$(( 20000 + RANDOM % 20000 ))
{
  echo "server:"
  echo "  interface: 127.0.0.1"; echo "  port: $port"; echo "  do-ip6: no"
  echo "  username: \"\""; echo "  chroot: \"\""; echo "  directory: \"$work\""
  echo "  pidfile: \"$work/unbound.pid\""; echo "  use-syslog: no"; echo "  logfile: \"$work/unbound.log\""
  echo "  do-daemonize: no"; echo "  access-control: 127.0.0.0/8 allow"
  echo "  module-config: \"iterator\""; echo "  local-zone: \".\" static"
  echo "  local-data: 'example.com. 300 IN TXT \"v=spf1 ip4:192.0.2.0/24 include:_spf.example.net mx -all\"'"
  echo "  local-data: '_spf.example.net. 300 IN TXT \"v=spf1 ip6:2001:db8::/32 -all\"'"
  echo "  local-data: 'example.com. 300 IN MX 10 mx.example.com.'"
  echo "  local-data: 'mx.example.com. 300 IN A 198.51.100.25'"
} > unbound.conf
/usr/sbin/unbound -d -c unbound.conf & unbound_pid=$!
for _ in $(seq 1 50); do dig +short +time=1 +tries=1 -p "$port" @127.0.0.1 example.com TXT 2>/dev/null | grep -q spf1 && break; sleep 0.1; done
expect 0 "unbound: pass via mx" -- "$herald" spf check --ip 198.51.100.25 --sender a@example.com --dns-server "127.0.0.1@$port"
grep_out "^pass (mx)" "unbound: mx decided"
expect 1 "unbound: fail" -- "$herald" spf check --ip 203.0.113.7 --sender a@example.com --dns-server "127.0.0.1@$port"
expect 4 "unbound: none (NXDOMAIN)" -- "$herald" spf check --ip 203.0.113.7 --sender a@nothing.example --dns-server "127.0.0.1@$port"
kill "$unbound_pid"; wait "$unbound_pid" 2>/dev/null || true; unbound_pid=
expect 75 "server gone: temperror" -- "$herald" spf check --ip 203.0.113.7 --sender a@example.com --dns-server "127.0.0.1@$port" --dns-timeout 300

echo "cli_spf: $passed passed, $failed failed"
[ "$failed" = 0 ]
