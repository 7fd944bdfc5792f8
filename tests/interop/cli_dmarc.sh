#!/usr/bin/env bash
# cli_dmarc.sh - `herald dmarc check` and `herald dmarc record` as a user meets
# them with a malformed DMARC record (issue 12): the record still applies,
# each malformed term is listed with its number and text, the exit codes.
set -euo pipefail
herald=${HERALD:?HERALD must name the herald binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
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
cd "$work"

expect 0 "help" -- "$herald" dmarc check --help
grep_out "malformed terms" "help names malformed terms"
expect 0 "clean record" -- "$herald" dmarc check 'v=DMARC1; p=reject; rua=mailto:d@example.com'
grep_out "no problems" "clean record: no problems"

# RFC 9989 4.8: the malformed term is ignored, the rest stands
expect 1 "no '='" -- "$herald" dmarc check 'v=DMARC1; p=reject; foo'
grep_out "p=reject" "no '=': p=reject kept"
grep_out "problem: term 3 \"foo\"" "no '=': term 3 listed"
expect 1 "colon" -- "$herald" dmarc check 'v=DMARC1; fo:1; p=quarantine'
grep_out "p=quarantine" "colon: p kept"
grep_out "term 2 \"fo:1\": ':'" "colon: term 2 and the character"
expect 1 "hyphen" -- "$herald" dmarc check 'v=DMARC1; p=reject; x-y=1; adkim=s'
grep_out "adkim=s" "hyphen: a later tag kept"
grep_out "term 3 \"x-y=1\"" "hyphen: term 3 listed"
expect 1 "missing '=' before a URI" -- "$herald" dmarc check 'v=DMARC1; p=reject; ruf mailto:f@example.com; rua=mailto:d@example.com'
grep_out "rua: mailto:d@example.com" "missing '=': rua after it kept"
grep_out "term 3 \"ruf mailto:f@example.com\"" "missing '=': term 3 listed"
expect 1 "repeated tag" -- "$herald" dmarc check 'v=DMARC1; p=reject; p=none'
grep_out "p=reject" "repeated tag: the first stands"
grep_out "term 3 \"p=none\": a second \"p\" tag" "repeated tag listed"
expect 1 "invalid value" -- "$herald" dmarc check 'v=DMARC1; p=reject; adkim=x'
grep_out "term 3: adkim=x" "invalid value: its term"
expect 1 "json" -- "$herald" dmarc check --json 'v=DMARC1; p=reject; foo'
grep_out '"valid": true' "json: valid"
grep_out '"p": "reject"' "json: p"
grep_out 'term 3 \\"foo\\"' "json: problem"

# the first term is not tolerant
expect 65 "junk first" -- "$herald" dmarc check 'foo; v=DMARC1; p=reject'
grep_out "must start with v=DMARC1" "junk first: why"
expect 65 "no ';' after v" -- "$herald" dmarc check 'v=DMARC1 p=reject'
expect 65 "json not a record" -- "$herald" dmarc check --json 'v=DMARC2; p=reject'
grep_out '"valid": false' "json not a record"
# bounded: 65 terms, or more than 8192 bytes, is not a record
many="v=DMARC1; p=reject"
for i in $(seq 2 65); do many+="; junk$i"; done
expect 65 "65 terms" -- "$herald" dmarc check "$many"
grep_out "more than 64 terms" "65 terms: why"
long="v=DMARC1; p=reject; x=$(head -c 8200 /dev/zero | tr '\0' a)"
expect 65 "8 KB" -- "$herald" dmarc check "$long"
grep_out "longer than 8192 bytes" "8 KB: why"

# policy discovery: the From domain's own record applies despite its malformed term
cat > zone <<'ZONE'
_dmarc.a.example.com. IN TXT "v=DMARC1; p=reject; fo:1"
_dmarc.example.com. IN TXT "v=DMARC1; p=none"
ZONE
expect 0 "record" -- "$herald" dmarc record a.example.com --dns-zone zone
grep_out "record at _dmarc.a.example.com applies" "record: the From domain's"
grep_out "problem: term 3 \"fo:1\"" "record: the problem listed"
expect 1 "evaluate" -- "$herald" dmarc evaluate --from a.example.com --spf-domain other.example --spf pass --dns-zone zone
grep_out "dmarc=fail (p=reject dis=reject)" "evaluate: p=reject applies"

echo "cli_dmarc: $passed passed, $failed failed"
[ "$failed" = 0 ]
