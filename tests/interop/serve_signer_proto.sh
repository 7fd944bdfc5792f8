#!/usr/bin/env bash
# serve_signer_proto.sh - the signer (src/signer) driven as a buggy or
# compromised server could (tests/interop/serve/signer_drive.c): a sign
# request for a key id its own database reading gave it is granted, one
# for an unknown key id and one with a 20-byte digest are refused and
# logged; an empty packet, a truncated frame, a frame with a tail, an
# oversized packet and 300 random packets (seed printed;
# SIGNER_DRIVE_SEED replays) are each refused without crashing it: the
# same signer process signs afterwards. And a key row pointing outside
# DATA/keys (a database written by a compromised server) is not loaded.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
DRIVE=${HERALD_SIGNER_DRIVE:-$(dirname "$HERALD")/tests/signer_drive}
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; cat "$T/drive.err" >&2 2>/dev/null || true; exit 1; }

"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null
printf 'data_dir = %s\n' "$T/data" > "$T/herald.conf"
sql() { "$HL_PY" -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for r in c.execute(sys.argv[2]): print(*r)
c.commit()' "$T/data/herald.db" "$1"; }
rsa=$(sql "select id from dkim_keys where alg = 'rsa'")

"$DRIVE" "$T/herald.conf" "$rsa" > "$T/drive.out" 2> "$T/drive.err" || { cat "$T/drive.out"; fail "signer_drive failed"; }
cat "$T/drive.out"
grep -q 'signer: channel [0-9]: refused: request [0-9]*: key id 999999 is not one of' "$T/drive.err" ||
  fail "the unknown key id was not logged"
grep -q 'signer: channel [0-9]: refused: request 77: a digest of 20 bytes' "$T/drive.err" ||
  fail "the 20-byte digest was not logged"
grep -q 'signer: channel 1: refused: an empty packet' "$T/drive.err" ||
  fail "the bad packets were not logged"
# rate-limited: 305 bad packets on one channel, one line of their kind a minute
n=$(grep -c 'signer: channel 1: refused: ' "$T/drive.err" || true)
[ "$n" -le 3 ] || fail "$n refusal lines for one channel within a minute: not rate-limited"

# a copied data directory: its database names the first one's key files
cp -a "$T/data" "$T/copy"
printf 'data_dir = %s\n' "$T/copy" > "$T/copy.conf"
"$DRIVE" "$T/copy.conf" "$rsa" > "$T/drive-copy.out" 2> "$T/drive-copy.err" ||
  { cat "$T/drive-copy.out" "$T/drive-copy.err" >&2; fail "the copied data directory's keys were not used"; }
grep -q '^reload: 2 keys$' "$T/drive-copy.out" || fail "the copy: $(head -1 "$T/drive-copy.out")"

# a key row the database points outside DATA/keys (at a copy of the real
# key, so only the place is wrong) is refused by the signer; one whose
# directory is another data directory's (a copied data directory) is read
# from DATA/keys/DOMAIN/ under its file name
cp "$T/data/keys/example.com/"*-rsa.pem "$T/elsewhere.pem"
sql "update dkim_keys set path = '$T/elsewhere.pem' where id = $rsa"
if "$DRIVE" "$T/herald.conf" "$rsa" > "$T/drive2.out" 2> "$T/drive2.err"; then
  fail "the signer signed with a key file outside DATA/keys"
fi
grep -q "elsewhere.pem is not inside $T/data/keys (nor is elsewhere.pem there)" "$T/drive2.err" ||
  { cat "$T/drive2.err" >&2; fail "the key outside DATA/keys was not refused with its reason"; }
grep -q '^reload: 1 key (some unusable' "$T/drive2.out" || { cat "$T/drive2.out" >&2; fail "reload summary"; }
echo "serve_signer_proto: refusals logged and rate-limited ($n lines for 305 bad packets); a copied data directory's keys read from its own keys/; a key outside DATA/keys refused"
