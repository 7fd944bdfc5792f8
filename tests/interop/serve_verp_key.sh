#!/usr/bin/env bash
# serve_verp_key.sh - data_dir/verp.key, which signs the bounce address of
# every message sent (issue 14 item 10):
#   - the first start makes it, mode 0600;
#   - once a message was sent, a missing key is refused at start (exit 75,
#     the file named, the way out said) rather than silently replaced, which
#     would refuse at RCPT the bounces of all mail sent before; nothing is
#     made in its place;
#   - `--new-verp-key` accepts that loss: a new key and a warning line;
#   - a key others can read is refused (exit 77): whoever reads it can forge
#     bounces and complaints.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 20 "$T"/*.log >&2 || true; exit 1; }
pass() { echo "ok: $*"; }

smtp=$(hl_free_port)
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $T/data
[smtp]
listen = 127.0.0.1:$smtp
trusted_networks = 127.0.0.0/8
[status]
listen = 127.0.0.1:$(hl_free_port)
[api]
listen = 127.0.0.1:$(hl_free_port)
C
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" \
  --hostname mail.herald.test > /dev/null
key=$T/data/verp.key

# a start with nothing sent yet makes the key, 0600
hl_herald_start "$T/herald.conf" "$smtp" first
[ "$(stat -c %a "$key")" = 600 ] && [ "$(stat -c %s "$key")" = 32 ] ||
  fail "verp.key is not 32 bytes, mode 600: $(stat -c '%s %a' "$key")"
pass "the first start makes verp.key, 32 bytes, mode 600"
id=$(hl_smtp_send "$smtp" alice@example.com bob@far.test)
hl_stop "$(hl_pid first)"

start_rc() {   # LOG [ARGS]: run serve in the foreground; its exit code
  local log=$1; shift
  set +e
  timeout 10 "$HERALD" serve --config "$T/herald.conf" "$@" > "$log" 2>&1
  local rc=$?
  set -e
  echo "$rc"
}

# message $id was sent with this key: losing it is refused
rm "$key"
rc=$(start_rc "$T/missing.log")
[ "$rc" = 75 ] || fail "a missing verp.key after mail was sent: exit $rc, not 75"
grep -q "verp.key is missing but the database holds messages" "$T/missing.log" &&
  grep -q -- "--new-verp-key" "$T/missing.log" || fail "the refusal does not say what and how: $(cat "$T/missing.log")"
[ ! -e "$key" ] || fail "a new verp.key was made though the start was refused"
pass "a missing verp.key after mail was sent: exit 75, $(tail -1 "$T/missing.log" | cut -c1-110)..."

# told: a new key, and the log says what it costs
hl_spawn told "$T/told.log" "$HERALD" serve --config "$T/herald.conf" --new-verp-key
hl_wait_port 127.0.0.1 "$smtp" 15 tcp "$(hl_pid told)" || fail "--new-verp-key did not start"
[ "$(stat -c %a "$key")" = 600 ] || fail "the new key is not mode 600"
grep -q "a new VERP key (--new-verp-key): bounces to mail sent before are refused" "$T/told.log" ||
  fail "no warning for the new key"
hl_stop "$(hl_pid told)"
pass "--new-verp-key makes a new key (mode 600) and logs what it costs"

# a key others can read is refused, the server does not start
chmod 644 "$key"
rc=$(start_rc "$T/exposed.log")
[ "$rc" = 77 ] || fail "a world-readable verp.key: exit $rc, not 77"
grep -q "others may read or change the VERP key (mode 0644): chmod 600 it" "$T/exposed.log" ||
  fail "the refusal does not say what: $(cat "$T/exposed.log")"
pass "a verp.key others can read is refused: exit 77"
chmod 600 "$key"
hl_herald_start "$T/herald.conf" "$smtp" again || fail "the server does not start with the key at 600"
hl_stop "$(hl_pid again)"
echo "serve_verp_key: passed"
