#!/usr/bin/env bash
# serve_config_check.sh - `herald serve --check` and the start of `herald
# serve` judge what the configuration names, not only its syntax:
#   - a missing TLS certificate or key, zone file, bounce rules file or
#     webhook CA file; a certificate and a key that do not belong together;
#     a zone file or rules file that does not parse; a data_dir that is a
#     file; a listen or pool address the machine does not have: exit 78
#     with FILE:LINE: [section] key: reason, at --check and
#     at the start (before anything is bound or created);
#   - a [domain NAME] that names no sending domain of the data directory
#     (a typo in the cut-over to real delivery): exit 78, FILE:LINE;
#   - real delivery with hostname = localhost, or with a data directory
#     that has no sending domain: a warning at --check (standard error)
#     and in the log at the start;
#   - what is right passes, and --check creates nothing.
# No server is left running: every start here fails before it listens,
# but the last one, which is stopped.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
n_ok=0

# expect78 NAME CONF WANT-REGEX: --check and serve both exit 78, and say WANT
# (an extended regex) on standard error
expect78() {
  local name=$1 conf=$2 want=$3 mode r
  for mode in --check start; do
    r=0
    if [ "$mode" = --check ]; then
      "$HERALD" serve --check --config "$conf" > "$T/out" 2> "$T/err" || r=$?
    else
      timeout 20 "$HERALD" serve --config "$conf" > "$T/out" 2> "$T/err" || r=$?
    fi
    [ "$r" = 78 ] || fail "$name ($mode): exit $r, want 78; stderr: $(cat "$T/err")"
    grep -Eq -- "$want" "$T/err" || fail "$name ($mode): want /$want/ on stderr, got: $(cat "$T/err")"
    grep -q 'configuration ok' "$T/out" && fail "$name ($mode): says configuration ok"
    n_ok=$((n_ok + 1))
  done
  pass "$name: exit 78 at --check and at the start: $(head -n 1 "$T/err")"
}

base() {   # the part every file here shares; data in $T/data
  printf 'hostname = mail.herald.test\ndata_dir = %s\n[smtp]\nlisten = 127.0.0.1:%s\n[status]\nlisten = 127.0.0.1:%s\n[api]\nlisten = 127.0.0.1:%s\n[inbound]\nlisten =\n' \
    "$T/data" "$(hl_free_port)" "$(hl_free_port)" "$(hl_free_port)"
}

hl_self_signed_cert "$T/tls" mail.herald.test
cert=$HL_CERT key=$HL_KEY
hl_self_signed_cert "$T/tls2" other.herald.test
key2=$HL_KEY

# ---- files that are missing or do not parse ----
{ printf 'hostname = mail.herald.test\ndata_dir = %s\n[smtp]\nlisten = 127.0.0.1:%s\ntls_cert = %s\ntls_key = %s\n' \
    "$T/data" "$(hl_free_port)" "$T/no-cert.pem" "$key"; } > "$T/c1.conf"
expect78 "missing tls_cert" "$T/c1.conf" "^herald: $T/c1.conf:5: \[smtp\] tls_cert: $T/no-cert.pem: No such file or directory$"

printf 'hostname = mail.herald.test\ndata_dir = %s\n[smtp]\ntls_cert = %s\n\ntls_key = %s\n' \
  "$T/data" "$cert" "$T/no-key.pem" > "$T/c2.conf"
expect78 "missing tls_key" "$T/c2.conf" "^herald: $T/c2.conf:6: \[smtp\] tls_key: $T/no-key.pem: No such file"

printf 'hostname = mail.herald.test\ndata_dir = %s\n[smtp]\ntls_cert = %s\ntls_key = %s\n' \
  "$T/data" "$cert" "$key2" > "$T/c3.conf"
expect78 "a key that is not the certificate's" "$T/c3.conf" "^herald: $T/c3.conf:5: \[smtp\] tls_key: $key2 is not the key of the certificate"

printf 'hostname = mail.herald.test\ndata_dir = %s\n[smtp]\ntls_cert = %s\ntls_key = %s\n' \
  "$T/data" "$T/c3.conf" "$key" > "$T/c4.conf"
expect78 "a tls_cert that is no certificate" "$T/c4.conf" "^herald: $T/c4.conf:4: \[smtp\] tls_cert: $T/c3.conf: not a PEM certificate"

{ base; printf '[dns]\nzone_file = %s\n' "$T/no-zone"; } > "$T/z1.conf"
expect78 "missing zone_file" "$T/z1.conf" "^herald: $T/z1.conf:12: \[dns\] zone_file: $T/no-zone: No such file or directory$"

printf 'example.test. IN TXT "ok"\nbad line here\n' > "$T/bad.zone"
{ base; printf '[dns]\nzone_file = %s\n' "$T/bad.zone"; } > "$T/z2.conf"
expect78 "a zone_file that does not parse" "$T/z2.conf" "^herald: $T/z2.conf:12: \[dns\] zone_file: .*2"

{ base; printf 'bounce_rules = %s\n' "$T/no-rules"; } > "$T/r1.conf"
expect78 "missing bounce_rules" "$T/r1.conf" "^herald: $T/r1.conf:11: \[inbound\] bounce_rules: $T/no-rules: No such file or directory$"

printf 'this is not a rule\n' > "$T/bad.rules"
{ base; printf 'bounce_rules = %s\n' "$T/bad.rules"; } > "$T/r2.conf"
expect78 "bounce_rules that do not parse" "$T/r2.conf" "^herald: $T/r2.conf:11: \[inbound\] bounce_rules: $T/bad.rules: line 1"

{ base; printf '[webhook app]\nurl = https://127.0.0.1:9/hook\nsecret = %s\nca_file = %s\n' \
    0123456789abcdef0123456789abcdef "$T/no-ca.pem"; } > "$T/w1.conf"
chmod 600 "$T/w1.conf"
expect78 "missing webhook ca_file" "$T/w1.conf" "^herald: $T/w1.conf:14: \[webhook app\] ca_file: $T/no-ca.pem: No such file"

touch "$T/a-file"
printf 'hostname = mail.herald.test\n\ndata_dir = %s\n' "$T/a-file" > "$T/d1.conf"
expect78 "data_dir that is a file" "$T/d1.conf" "^herald: $T/d1.conf:3: data_dir: $T/a-file: not a directory$"

# ---- addresses the machine does not have (192.0.2.0/24: TEST-NET-1) ----
printf 'hostname = mail.herald.test\ndata_dir = %s\n[smtp]\nlisten = 127.0.0.1:%s 192.0.2.77:2525\n' \
  "$T/data" "$(hl_free_port)" > "$T/l1.conf"
expect78 "a listen address of another machine" "$T/l1.conf" "^herald: $T/l1.conf:4: \[smtp\] listen: 192.0.2.77 is not an address of this machine$"
printf 'hostname = mail.herald.test\ndata_dir = %s\n[pool bulk]\naddresses = 127.0.0.1 192.0.2.78\n' "$T/data" > "$T/l2.conf"
expect78 "a pool address of another machine" "$T/l2.conf" "^herald: $T/l2.conf:4: \[pool bulk\] addresses: 192.0.2.78 is not an address of this machine$"

# ---- [domain NAME] must be a sending domain ----
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null
{ base; printf '[domain example.com]\ndelivery = sandbox\n\n[domain exmaple.com]\ndelivery = real\n'; } > "$T/dom.conf"
expect78 "[domain] naming no sending domain" "$T/dom.conf" "^herald: $T/dom.conf:14: \[domain exmaple.com\]: no such sending domain"
ls "$T/data" > "$T/data.before"

# ---- what is right passes; --check creates nothing ----
{ base; printf '[domain example.com]\ndelivery = real\n'; } > "$T/good.conf"
"$HERALD" serve --check --config "$T/good.conf" > "$T/out" 2> "$T/err" || fail "a good file: $(cat "$T/err")"
grep -q "configuration ok" "$T/out" || fail "a good file: no 'configuration ok'"
[ -s "$T/err" ] && fail "a good file with a full hostname and a sending domain: warnings: $(cat "$T/err")"
{ printf 'hostname = mail.herald.test\ndata_dir = %s\n[smtp]\ntls_cert = %s\ntls_key = %s\n[dns]\nzone_file = %s\n' \
    "$T/data" "$cert" "$key" "$T/ok.zone"; } > "$T/good2.conf"
printf 'example.test. IN TXT "ok"\n' > "$T/ok.zone"
"$HERALD" serve --check --config "$T/good2.conf" > "$T/out" 2> "$T/err" || fail "certificate, key and zone: $(cat "$T/err")"
n_ok=$((n_ok + 2))
"$HERALD" serve --check --config "$T/good.conf" > /dev/null 2>&1
[ "$(ls "$T/data")" = "$(cat "$T/data.before")" ] || fail "--check changed the data directory"
{ printf 'hostname = mail.herald.test\ndata_dir = %s\n' "$T/never-made"; } > "$T/fresh.conf"
"$HERALD" serve --check --config "$T/fresh.conf" > /dev/null 2>&1 || fail "--check with a data_dir not made yet"
[ -e "$T/never-made" ] && fail "--check made the data directory"
pass "good files pass (certificate and key match, zone parses); --check creates and changes nothing"

# ---- real delivery with hostname = localhost, or no sending domain: warnings ----
{ printf 'hostname = localhost\ndata_dir = %s\n[delivery]\nmode = real\n' "$T/empty"; } > "$T/warn.conf"
"$HERALD" serve --check --config "$T/warn.conf" > "$T/out" 2> "$T/err" || fail "warnings are not errors: $(cat "$T/err")"
grep -q 'configuration ok' "$T/out" || fail "warnings: no 'configuration ok'"
grep -Eq "^herald: warning: $T/warn.conf:1: hostname: \"localhost\" is not a fully qualified name" "$T/err" ||
  fail "no warning for hostname = localhost: $(cat "$T/err")"
grep -Eq "^herald: warning: $T/empty has no sending domain, but delivery is real" "$T/err" ||
  fail "no warning for a data directory without sending domains: $(cat "$T/err")"
n_ok=$((n_ok + 2))
# and in the log at the start
smtp=$(hl_free_port)
{ printf 'hostname = localhost\ndata_dir = %s\n[smtp]\nlisten = 127.0.0.1:%s\n[status]\nlisten = 127.0.0.1:%s\n[api]\nlisten = 127.0.0.1:%s\n[inbound]\nlisten =\n[delivery]\nmode = real\n' \
    "$T/empty2" "$smtp" "$(hl_free_port)" "$(hl_free_port)"; } > "$T/warn2.conf"
hl_spawn herald "$T/herald.log" "$HERALD" serve --config "$T/warn2.conf"
hl_wait_port 127.0.0.1 "$smtp" 15 tcp "$(hl_pid herald)" || fail "herald with warnings did not start: $(cat "$T/herald.log")"
grep -Eq " warn: $T/warn2.conf:1: hostname: \"localhost\" is not a fully qualified name" "$T/herald.log" ||
  fail "no logged warning for hostname = localhost: $(cat "$T/herald.log")"
grep -Eq " warn: $T/empty2 has no sending domain, but delivery is real" "$T/herald.log" ||
  fail "no logged warning for no sending domain: $(cat "$T/herald.log")"
hl_stop "$(hl_pid herald)"
n_ok=$((n_ok + 2))
# sandbox delivery: no warning for either
{ printf 'hostname = localhost\ndata_dir = %s\n' "$T/empty"; } > "$T/nowarn.conf"
"$HERALD" serve --check --config "$T/nowarn.conf" > /dev/null 2> "$T/err" || fail "sandbox: $(cat "$T/err")"
[ -s "$T/err" ] && fail "sandbox delivery with hostname = localhost warns: $(cat "$T/err")"
pass "real delivery with hostname = localhost or no sending domain: warnings at --check and in the log; none in the sandbox"

# ---- a domain removed while the server runs: a warning at the reload ----
"$HERALD" domain add --dns-zone /dev/null gone.example --data-dir "$T/data" --hostname mail.herald.test > /dev/null
smtp=$(hl_free_port)
{ printf 'hostname = mail.herald.test\ndata_dir = %s\n[smtp]\nlisten = 127.0.0.1:%s\n[status]\nlisten = 127.0.0.1:%s\n[api]\nlisten = 127.0.0.1:%s\n[inbound]\nlisten =\n[domain gone.example]\ndelivery = sandbox\n' \
    "$T/data" "$smtp" "$(hl_free_port)" "$(hl_free_port)"; } > "$T/stale.conf"
hl_spawn herald2 "$T/herald2.log" "$HERALD" serve --config "$T/stale.conf"
hl_wait_port 127.0.0.1 "$smtp" 15 tcp "$(hl_pid herald2)" || fail "herald did not start: $(cat "$T/herald2.log")"
# domain remove asks the running server to reload (control socket); that
# reload warns as a SIGHUP's does
"$HERALD" domain remove gone.example --data-dir "$T/data" > "$T/remove.out"
grep -q 'the running server has reloaded' "$T/remove.out" || fail "domain remove did not reload: $(cat "$T/remove.out")"
hl_wait_for 10 grep -q "warn: $T/stale.conf:11: \[domain gone.example\]: no longer a sending domain" "$T/herald2.log" ||
  fail "no warning at the reload for a [domain] whose domain was removed: $(cat "$T/herald2.log")"
hl_stop "$(hl_pid herald2)"
n_ok=$((n_ok + 1))
pass "a [domain] whose domain is removed while the server runs: a warning at the reload"

echo "serve_config_check: $n_ok checks passed"
