#!/usr/bin/env bash
# serve_pools.sh - source-address pools (docs/config.md "[pool NAME]"):
# example.com sends from the pool 127.0.0.6 / 127.0.0.7 with the EHLO
# names a.pool.test / b.pool.test; other.org has no pool and sends from
# the system's default address (127.0.0.1 towards loopback) with the
# server's hostname. A receiver records the peer address and the HELO
# name of every transaction; with one message per connection the pool's
# addresses must alternate and each must come with its own EHLO name.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 30 "$T/herald.log" >&2 || true; exit 1; }
pass() { echo "ok: $*"; }

port=$(hl_free_port 127.0.0.2)
hl_receiver_start 127.0.0.2 "$port" "$T/rx" ""
smtp=$(hl_free_port); status=$(hl_free_port)
echo 'unused.test. IN A 127.0.0.9' > "$T/zone"
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $T/data
log_level = debug
[smtp]
trusted_networks = 127.0.0.0/8
listen = 127.0.0.1:$smtp
[status]
listen = 127.0.0.1:$status
[api]
listen = 127.0.0.1:$(hl_free_port)
[queue]
retry_min = 1s
retry_max = 2s
[delivery]
mode = real
max_messages_per_connection = 1
[dns]
zone_file = $T/zone
[pool p]
addresses = 127.0.0.6 127.0.0.7
ehlo = a.pool.test b.pool.test
[domain example.com]
pool = p
[domain other.org]
delivery = real
[route rx.test]
next_hop = 127.0.0.2:$port
C
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null
"$HERALD" domain add --dns-zone /dev/null other.org --data-dir "$T/data" --hostname mail.herald.test > /dev/null
hl_herald_start "$T/herald.conf" "$smtp"

# one message at a time, each delivered before the next is sent, so each
# goes over a connection of its own, in order
n=0
for i in 1 2 3 4 5 6; do
  hl_smtp_send "$smtp" alice@example.com "pool$i@rx.test" "pool $i" > /dev/null || fail "submission $i"
  n=$((n + 1))
  hl_wait_spool "$T/rx" "$n" 15 || fail "message $i (pool) not delivered"
done
for i in 1 2; do
  hl_smtp_send "$smtp" bob@other.org "plain$i@rx.test" "plain $i" > /dev/null || fail "submission plain $i"
  n=$((n + 1))
  hl_wait_spool "$T/rx" "$n" 15 || fail "message $i (no pool) not delivered"
done
pass "8 messages delivered"

/usr/bin/python3 - "$T/rx" <<'P' || fail "peer addresses / HELO names"
import glob, json, sys
side = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/*.json"))]
side.sort(key=lambda j: j["received_at_ms"])
pool = [j for j in side if j["rcpts"][0].startswith("pool")]
plain = [j for j in side if j["rcpts"][0].startswith("plain")]
assert len(pool) == 6 and len(plain) == 2, (len(pool), len(plain))
names = {"127.0.0.6": "a.pool.test", "127.0.0.7": "b.pool.test"}
bad = 0
for j in pool:
    ip, helo = j["peer"][0], j["helo"]
    print("  %-16s %-15s %s" % (j["rcpts"][0], ip, helo))
    assert j["mail_from"].endswith("@bounce.example.com"), j["mail_from"]
    if ip not in names:
        print("FAIL: %s came from %s, not from the pool" % (j["rcpts"][0], ip)); bad += 1
    elif names[ip] != helo:
        print("FAIL: %s came from %s with HELO %s, want %s" % (j["rcpts"][0], ip, helo, names[ip])); bad += 1
ips = [j["peer"][0] for j in pool]
if any(a == b for a, b in zip(ips, ips[1:])):
    print("FAIL: the pool's addresses do not alternate:", ips); bad += 1
if sorted(ips).count("127.0.0.6") != 3:
    print("FAIL: want 3 messages from each address:", ips); bad += 1
for j in plain:
    ip, helo = j["peer"][0], j["helo"]
    print("  %-16s %-15s %s" % (j["rcpts"][0], ip, helo))
    assert j["mail_from"].endswith("@bounce.other.org"), j["mail_from"]
    if ip != "127.0.0.1" or helo != "mail.herald.test":
        print("FAIL: a domain without a pool sent from %s as %s, want 127.0.0.1 as mail.herald.test" % (ip, helo)); bad += 1
sys.exit(1 if bad else 0)
P
pass "pool addresses alternate, each with its EHLO name; no pool: default address and hostname"
grep -q 'from 127.0.0.6' "$T/herald.log" && grep -q 'from 127.0.0.7' "$T/herald.log" ||
  fail "the debug log does not name the source addresses"
pass "the log names the source address of each connection"
echo "serve_pools: passed"
