#!/usr/bin/env bash
# cli_apikey.sh - `herald apikey`: the token is printed once and never
# stored, keys are scoped to sending domains, list and revoke work, and the
# exit codes say what went wrong.
set -euo pipefail
: "${HERALD:?}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/d" --hostname mail.example.com > /dev/null
tok=$("$HERALD" apikey create --name app --domains example.com --data-dir "$T/d" 2> "$T/err")
[[ "$tok" =~ ^hk_[0-9a-f]{16}_[a-z2-7]{52}$ ]] || fail "token form: $tok"
grep -q 'shown only now' "$T/err" || fail "no note on stderr"
secret=${tok:20}
! grep -aq "$secret" "$T/d/herald.db" "$T"/d/herald.db-wal 2>/dev/null || fail "the secret is stored"
"$HERALD" apikey list --data-dir "$T/d" | grep -q '^[0-9a-f]\{16\}  app .*example.com$' || fail "list"
"$HERALD" apikey list --json --data-dir "$T/d" | /usr/bin/python3 -c 'import json,sys; k=json.load(sys.stdin)[0]; assert k["name"]=="app" and k["revoked"] is None and k["revoked_unix"] is None; assert isinstance(k["domains"], list), k; import re; assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", k["created"]) and k["created_unix"] > 0, k' || fail "list --json"
set +e
"$HERALD" apikey create --name app --domains example.com --data-dir "$T/d" 2>/dev/null; [ $? -eq 65 ] || fail "duplicate name: want 65"
# a key for every domain only when asked for by name
"$HERALD" apikey create --name wide --data-dir "$T/d" 2> "$T/err"; [ $? -eq 64 ] || fail "no --domains: want 64"
grep -q -- '--all-domains' "$T/err" || fail "no --domains: the error names --all-domains"
"$HERALD" apikey list --data-dir "$T/d" | grep -q ' wide ' && fail "no --domains: a key was made"
"$HERALD" apikey create --name other --domains nosuch.test --data-dir "$T/d" 2>/dev/null; [ $? -eq 65 ] || fail "unknown domain: want 65"
"$HERALD" apikey create --data-dir "$T/d" 2>/dev/null; [ $? -eq 64 ] || fail "no --name: want 64"
"$HERALD" apikey list --data-dir "$T/none" 2>/dev/null; [ $? -eq 66 ] || fail "no database: want 66"
set -e
"$HERALD" apikey create --name all --all-domains --data-dir "$T/d" > /dev/null 2>&1
"$HERALD" apikey list --data-dir "$T/d" | grep -q '^[0-9a-f]\{16\}  all .*\*$' || fail "--all-domains: a key for '*'"
"$HERALD" apikey revoke app --data-dir "$T/d"
"$HERALD" apikey list --data-dir "$T/d" | grep -q 'revoked' || fail "revoke"
set +e
"$HERALD" apikey revoke app --data-dir "$T/d" 2>/dev/null; [ $? -eq 65 ] || fail "second revoke: want 65"
set -e
echo "cli_apikey: passed"
