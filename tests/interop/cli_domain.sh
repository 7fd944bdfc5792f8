#!/usr/bin/env bash
# cli_domain.sh - `herald domain` and `herald user` as an operator meets
# them: the data directory and key file modes, the records printed (a zone
# file), mail signed with the stored keys verified by dkimpy against those
# records (RSA and Ed25519), SPF against them, rotation and retirement,
# removal, users and their passwords (never stored or echoed in clear);
# the DMARC record add suggests after looking up the live one (zone
# fixtures and a real unbound), and read-only commands that create nothing;
# staged rotation (pending keys, their DNS records checked by show, a
# mismatch named), --now that never writes, the stored hostname.
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
  "$@" > "$work/out" 2> "$work/err" < /dev/null || got=$?
  if [ "$got" = "$want" ]; then ok; else bad "$what: exit $got, want $want; stderr: $(head -c 300 "$work/err")"; fi
}
grep_err() { if grep -q -- "$1" "$work/err"; then ok; else bad "$2: stderr lacks \"$1\": $(head -c 300 "$work/err")"; fi; }
grep_out() { if grep -q -- "$1" "$work/out"; then ok; else bad "$2: stdout lacks \"$1\": $(head -c 300 "$work/out")"; fi; }
mode_is() { local m; m=$(stat -c %a "$1"); [ "$m" = "$2" ] && ok || bad "$1: mode $m, want $2"; }

cd "$work"
D="$work/data"
H="$herald"
common=(--data-dir "$D" --hostname mail.example.net)
# add looks up the live DMARC record: never the network in a test
printf 'example.com. 3600 IN A 192.0.2.1\n' > nodmarc.zone
nodns=(--dns-zone "$work/nodmarc.zone")
now=1800000000            # 2027-01-15 08:00 UTC
cat > msg.eml <<'MSG'
From: Receipts <billing@example.com>
To: customer@example.org
Subject: Your receipt
Date: Fri, 15 Jan 2027 08:00:00 +0000
Message-ID: <r-1@example.com>

Thank you for your order.
MSG

# dkimpy verdicts, one line per signature ("SELECTOR pass|fail"), with DNS
# answered from a zone file as herald printed it (quoted strings joined).
cat > dkimpy_verify.py <<'PY'
import dkim, re, sys
recs = {}
for line in open(sys.argv[1]):
    if line.startswith(';'):
        continue
    parts = line.split(' IN TXT ', 1)
    if len(parts) == 2:
        name = parts[0].split()[0].rstrip('.').lower()
        recs[name] = ''.join(re.findall(r'"((?:[^"\\]|\\.)*)"', parts[1])).encode()
def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    return recs.get(name.rstrip('.').lower())
msg = open(sys.argv[2], 'rb').read().replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
d = dkim.DKIM(msg)
sigs = [h for h in d.headers if h[0].lower() == b'dkim-signature']
for i, (_, value) in enumerate(sigs):
    sel = re.search(rb's=([^;\s]+)', value).group(1).decode()
    try:
        good = d.verify(idx=i, dnsfunc=dnsfunc)
    except Exception as e:
        print('dkimpy:', e, file=sys.stderr)
        good = False
    print(sel, 'pass' if good else 'fail')
PY
# selector and key file of the domain's keys in a state: "SEL PATH" lines
keys_in_state() {
  "$H" domain show example.com "${common[@]}" --no-dns --now "$2" --json |
    /usr/bin/python3 -c 'import json,sys; [print(k["selector"], k["path"]) for k in json.load(sys.stdin)["keys"] if k["state"] == sys.argv[1]]' "$1"
}
# sign msg.eml with every key in state $1 (as at time $2) into $3; t= is
# the real time, since dkimpy refuses signatures from its future
sign_with() {
  local args=() sel path
  while read -r sel path; do args+=(-s "$sel" -k "$path"); done < <(keys_in_state "$1" "$2")
  "$H" dkim sign -d example.com "${args[@]}" --timestamp now msg.eml > "$3"
}

# --- help -------------------------------------------------------------------
expect 0 "help lists domain" -- "$H" help
grep_out "domain" "help names domain"
grep_out "user" "help names user"
for c in add list show remove rotate-key; do
  expect 0 "domain $c --help" -- "$H" domain "$c" --help
  grep_out "Exit:" "domain $c --help gives exit codes"
done
for c in add list remove passwd; do
  expect 0 "user $c --help" -- "$H" user "$c" --help
  grep_out "Exit:" "user $c --help gives exit codes"
done

# --- add ----------------------------------------------------------------------
expect 64 "bad domain name" -- "$H" domain add 'exa_mple.com' "${common[@]}"
grep_err "exa_mple.com" "bad name is named"
[ ! -e "$D" ] && ok || bad "a refused add made the data directory"
expect 64 "bad hostname" -- "$H" domain add example.com --data-dir "$D" --hostname nodots
grep_err "hostname" "bad hostname is explained"
expect 64 "bad address" -- "$H" domain add example.com "${common[@]}" --address 192.0.2.300
grep_err "192.0.2.300" "bad address is named"
expect 64 "bounce domain = domain" -- "$H" domain add example.com "${common[@]}" --bounce-domain example.com
expect 64 "unknown option" -- "$H" domain add example.com --frobnicate
# the refusals above left no domain behind
expect 0 "list after refusals" -- "$H" domain list --data-dir "$D" --json
[ "$(tr -d ' \n' < out)" = "[]" ] && ok || bad "refused adds left domains: $(cat out)"

expect 0 "add" -- "$H" domain add Example.COM "${common[@]}" "${nodns[@]}" --address 192.0.2.10 --address 2001:db8::10 --now "$now"
cp out add.zone
mode_is "$D" 700
mode_is "$D/keys" 700
mode_is "$D/keys/example.com" 700
mode_is "$D/keys/example.com/hd20270115-rsa.pem" 600
mode_is "$D/keys/example.com/hd20270115-ed.pem" 600
mode_is "$D/herald.db" 600
grep_out '^hd20270115-rsa._domainkey.example.com. 3600 IN TXT "v=DKIM1; k=rsa; p=' "RSA DKIM record"
grep_out '^hd20270115-ed._domainkey.example.com. 3600 IN TXT "v=DKIM1; k=ed25519; p=' "Ed25519 DKIM record"
grep_out '^bounce.example.com. 3600 IN TXT "v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 -all"' "SPF record"
grep_out '^bounce.example.com. 3600 IN MX 10 mail.example.net.' "bounce MX record"
# no DMARC record published: p=none, reports to the bounce domain (herald's MX)
grep_out '^_dmarc.example.com. 3600 IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@bounce.example.com"' "DMARC record"
grep -q 'dmarc@example.com' out && bad "the DMARC reports go to the domain's own MX" || ok
grep -q '_report._dmarc' out && bad "an authorisation record for a bounce domain under the domain" || ok
grep_out '^; DKIM key hd20270115-rsa' "each record has a comment"
grep_out "Next steps" "next steps"
# every line is a record or a comment or blank (a zone file as it stands)
others=$(grep -cvE '^(;.*|)$|^[^ ]+\. 3600 IN (TXT|MX) ' add.zone || true)
[ "$others" = 0 ] && ok || bad "add output has $others lines that are neither records nor comments"
long=$(grep -o '"[^"]*"' add.zone | awk '{ if (length($0) - 2 > 255) print }' | wc -l)
[ "$long" = 0 ] && ok || bad "a TXT string longer than 255 bytes"
expect 65 "add twice" -- "$H" domain add example.com "${common[@]}" "${nodns[@]}"
grep_err "already exists" "duplicate is explained"

# --- the stored keys sign; the printed records verify them -----------------------
sign_with active "$now" signed.eml
[ "$(grep -c '^DKIM-Signature:' signed.eml)" = 2 ] && ok || bad "dual signing gave $(grep -c '^DKIM-Signature:' signed.eml) signatures"
/usr/bin/python3 dkimpy_verify.py add.zone signed.eml > dkimpy.out
grep -qx "hd20270115-rsa pass" dkimpy.out && ok || bad "dkimpy: RSA signature: $(cat dkimpy.out)"
grep -qx "hd20270115-ed pass" dkimpy.out && ok || bad "dkimpy: Ed25519 signature: $(cat dkimpy.out)"
expect 0 "herald verifies against the printed zone" -- "$H" dkim verify --dns-zone add.zone --now "$((now + 60))" signed.eml
[ "$(grep -c '^dkim=pass' out)" = 2 ] && ok || bad "herald dkim verify: $(cat out)"
# a changed body fails with dkimpy too: the check can fail
sed 's/Thank you/Thanks/' signed.eml > tampered.eml
/usr/bin/python3 dkimpy_verify.py add.zone tampered.eml > dkimpy.out
[ "$(grep -c ' fail$' dkimpy.out)" = 2 ] && ok || bad "dkimpy passed a tampered message: $(cat dkimpy.out)"
expect 0 "SPF pass for a listed address" -- "$H" spf check --dns-zone add.zone --ip 192.0.2.10 --sender b-1@bounce.example.com
expect 1 "SPF fail for another address" -- "$H" spf check --dns-zone add.zone --ip 192.0.2.99 --sender b-1@bounce.example.com

# --- list and show ------------------------------------------------------------------
expect 0 "list" -- "$H" domain list --data-dir "$D" --now "$now"
grep_out "^example.com .*bounce.example.com" "list shows the domain"
grep_out "hd20270115-rsa" "list shows the keys"
expect 0 "show" -- "$H" domain show example.com "${common[@]}" --no-dns --address 192.0.2.10 --now "$now"
grep_out "hd20270115-ed  *ed25519  *active" "show gives key states"
grep_out '^_dmarc.example.com. ' "show prints the records"
expect 0 "show json" -- "$H" domain show example.com "${common[@]}" --no-dns --json --now "$now"
for f in domain bounce_domain keys records selector state purpose; do grep_out "\"$f\"" "show json has $f"; done
expect 65 "show unknown" -- "$H" domain show example.net "${common[@]}"
grep_err "example.net" "unknown domain is named"

# --- the hostname given at add is stored ----------------------------------------------
expect 0 "show without --hostname uses the stored one" -- "$H" domain show example.com --data-dir "$D" --no-dns --now "$now"
grep_out '^bounce.example.com. 3600 IN MX 10 mail.example.net.' "stored hostname names the bounce MX"
expect 0 "--hostname still overrides" -- "$H" domain show example.com --data-dir "$D" --hostname mx2.example.net --no-dns --now "$now"
grep_out '^bounce.example.com. 3600 IN MX 10 mx2.example.net.' "--hostname overrides the stored one"
expect 0 "show json hostname and times" -- "$H" domain show example.com --data-dir "$D" --no-dns --json --now "$now"
/usr/bin/python3 - out <<'PY' && ok || bad "show --json: hostname, RFC 3339 times, dns not_checked: $(head -c 600 out)"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["hostname"] == "mail.example.net", d["hostname"]
assert d["created"] == "2027-01-15T08:00:00Z" and d["created_unix"] == 1800000000, d["created"]
for k in d["keys"]:
    assert k["created"] == "2027-01-15T08:00:00Z" and k["created_unix"] == 1800000000, k
    assert k["state"] == "active" and k["dns"] == "not_checked", k
    assert k["retire_at"] is None and k["retire_at_unix"] is None, k
PY

# --- rotate: staged ---------------------------------------------------------------------
later=$((now + 86400))
expect 0 "rotate" -- "$H" domain rotate-key example.com "${common[@]}" --grace 2d --now "$later"
cp out rotate.out
grep_out "hd20270116-rsa._domainkey.example.com" "rotate prints the new RSA record"
grep_out "hd20270116-ed._domainkey.example.com" "rotate prints the new Ed25519 record"
grep_out "pending" "rotate says the new keys are pending"
grep_out "hd20270116-rsa  *rsa  *pending" "the new RSA key is pending"
grep_out "hd20270115-rsa  *rsa  *active" "the old RSA key is still active"
mode_is "$D/keys/example.com/hd20270116-rsa.pem" 600
expect 64 "rotate to a used selector" -- "$H" domain rotate-key example.com "${common[@]}" --selector hd20270116 --now "$later"
expect 64 "rotate bad grace" -- "$H" domain rotate-key example.com "${common[@]}" --grace 7y
expect 65 "rotate unknown" -- "$H" domain rotate-key example.net "${common[@]}"
# pending keys do not sign: the old ones still do
[ "$(keys_in_state pending "$later" | wc -l)" = 2 ] && ok || bad "want 2 pending keys: $(keys_in_state pending "$later")"
sign_with active "$later" signed-staged.eml
/usr/bin/python3 dkimpy_verify.py add.zone signed-staged.eml > dkimpy.out
grep -qx "hd20270115-rsa pass" dkimpy.out && grep -qx "hd20270115-ed pass" dkimpy.out && ok || bad "old keys sign while the new are pending: $(cat dkimpy.out)"
# show checks the records in the DNS: not yet published ...
"$H" domain show example.com "${common[@]}" --no-dns --now "$later" > staged.zone
state_dns() {  # SELECTOR ZONE: "STATE DNS" of that key, with show --json --dns-zone ZONE
  "$H" domain show example.com "${common[@]}" --dns-zone "$2" --json --now "$later" |
    /usr/bin/python3 -c 'import json,sys; [print(k["state"], k["dns"]) for k in json.load(sys.stdin)["keys"] if k["selector"] == sys.argv[1]]' "$1"
}
[ "$(state_dns hd20270116-rsa add.zone)" = "pending missing" ] && ok || bad "unpublished pending key: $(state_dns hd20270116-rsa add.zone)"
[ "$(state_dns hd20270115-rsa add.zone)" = "active matches" ] && ok || bad "published active key: $(state_dns hd20270115-rsa add.zone)"
expect 0 "show, text, records missing" -- "$H" domain show example.com "${common[@]}" --dns-zone add.zone --now "$later"
grep_out "DNS: not published: no TXT record at hd20270116-rsa._domainkey.example.com" "show says the record is not published"
# ... published and matching ...
[ "$(state_dns hd20270116-ed staged.zone)" = "pending matches" ] && ok || bad "published pending key: $(state_dns hd20270116-ed staged.zone)"
expect 0 "show, text, records published" -- "$H" domain show example.com "${common[@]}" --dns-zone staged.zone --now "$later"
grep_out "hd20270116-rsa  *rsa  *pending: its record is published" "show says a server will activate it"
# ... or another key at the name (the old RSA key's p=): a mismatch, named
oldp=$(grep '^hd20270115-rsa._domainkey' add.zone | sed 's/.*IN TXT //')
grep -v '^hd20270116-rsa._domainkey' staged.zone > mismatch.zone
echo "hd20270116-rsa._domainkey.example.com. 3600 IN TXT $oldp" >> mismatch.zone
[ "$(state_dns hd20270116-rsa mismatch.zone)" = "pending mismatch" ] && ok || bad "other key published: $(state_dns hd20270116-rsa mismatch.zone)"
expect 0 "show, text, mismatch" -- "$H" domain show example.com "${common[@]}" --dns-zone mismatch.zone --now "$later"
grep_out "DNS: does not match: the record at hd20270116-rsa._domainkey.example.com has another key" "the mismatch is explained"
# listing as of a later time never writes: states are computed, the database unchanged
db_state() { /usr/bin/python3 -c 'import sqlite3,sys; print(list(sqlite3.connect(sys.argv[1]).execute("select selector, state, retire_at, activated from dkim_keys order by id")))' "$D/herald.db"; }
db_sum() { cat "$D"/herald.db* | sha256sum; }
before=$(db_state) before_sum=$(db_sum)
far=$((later + 400 * 86400))
expect 0 "list far ahead" -- "$H" domain list --data-dir "$D" --json --now "$far"
expect 0 "show far ahead" -- "$H" domain show example.com "${common[@]}" --no-dns --json --now "$far"
expect 0 "list, text" -- "$H" domain list --data-dir "$D" --now "$later"
grep_out "hd20270116-rsa(pending)" "list marks pending keys"
[ "$(db_state)" = "$before" ] && ok || bad "--now wrote to the database: $before -> $(db_state)"
[ "$(db_sum)" = "$before_sum" ] && ok || bad "--now changed the database files"

# --- rotate --activate-now: the previous behaviour; the pending keys are superseded -------
expect 0 "rotate --activate-now" -- "$H" domain rotate-key example.com "${common[@]}" --grace 2d --activate-now --now "$later"
grep_out "sign from now on" "activate-now says the new keys sign"
grep_out "hd20270116b-rsa  *rsa  *active" "the newest RSA key is active"
grep_out "hd20270116-rsa  *rsa  *retired" "the superseded pending key is retired"
grep_out "hd20270115-rsa  *rsa  *retiring" "the old key is retiring"
# during the grace period both generations are published
"$H" domain show example.com "${common[@]}" --address 192.0.2.10 --no-dns --now "$later" > grace.zone
sign_with active "$later" signed-new.eml
/usr/bin/python3 dkimpy_verify.py grace.zone signed.eml > dkimpy.out
[ "$(grep -c ' pass$' dkimpy.out)" = 2 ] && ok || bad "old mail during the grace period: $(cat dkimpy.out)"
/usr/bin/python3 dkimpy_verify.py grace.zone signed-new.eml > dkimpy.out
grep -qx "hd20270116b-rsa pass" dkimpy.out && grep -qx "hd20270116b-ed pass" dkimpy.out && ok || bad "new keys: $(cat dkimpy.out)"
grep -q "hd20270116-rsa._domainkey" grace.zone && bad "a superseded key is still in the records" || ok
# after it, the old keys show retired and leave the records
after=$((later + 2 * 86400))
sum_before=$(sha256sum "$D/herald.db" | cut -d' ' -f1)
expect 0 "list after grace" -- "$H" domain list --data-dir "$D" --json --now "$after"
[ "$(grep -c '"state": "retired"' out)" = 4 ] && ok || bad "old keys not retired: $(cat out)"
"$H" domain show example.com "${common[@]}" --no-dns --now "$after" > after.zone
grep -q "hd20270115-rsa._domainkey" after.zone && bad "a retired key is still in the records" || ok
/usr/bin/python3 dkimpy_verify.py after.zone signed.eml > dkimpy.out
[ "$(grep -c ' fail$' dkimpy.out)" = 2 ] && ok || bad "retired keys still verify: $(cat dkimpy.out)"
# list and show only read (issue 13 item 10): as at a time after the grace
# period they change nothing in the database (the server retires keys)
[ "$(sha256sum "$D/herald.db" | cut -d' ' -f1)" = "$sum_before" ] && ok || bad "list/show --now changed the database"
[ ! -e "$D/herald.db-wal" ] && [ ! -e "$D/herald.db-shm" ] && ok || bad "list/show left -wal/-shm files"
expect 0 "list now" -- "$H" domain list --data-dir "$D" --json
[ "$(grep -c '"state": "retiring"' out)" = 2 ] && ok || bad "list --now retired keys for good: $(cat out)"

# --- remove ---------------------------------------------------------------------------
expect 0 "remove" -- "$H" domain remove example.com --data-dir "$D"
grep_out "removed" "remove says so"
[ ! -e "$D/keys/example.com" ] && ok || bad "the domain's key directory stays"
n=$(find "$D/keys/removed/example.com" -name '*.pem' | wc -l)
[ "$n" = 6 ] && ok || bad "$n key files kept aside, want 6"
expect 65 "remove twice" -- "$H" domain remove example.com --data-dir "$D"
expect 0 "list after remove" -- "$H" domain list --data-dir "$D" --json
[ "$(tr -d ' \n' < out)" = "[]" ] && ok || bad "list after remove: $(cat out)"

# --- read-only commands create nothing ------------------------------------------------
for cmd in "domain list" "domain show example.com --hostname mail.example.net" "user list" "events" "inbound list" \
           "queue list" "captures" "apikey list" "webhooks list"; do
  # shellcheck disable=SC2086
  expect 66 "$cmd on a mistyped data directory" -- "$H" $cmd --data-dir "$work/TYPO"
  grep_err "$work/TYPO" "$cmd names the directory"
  [ ! -e "$work/TYPO" ] && ok || { bad "$cmd created $work/TYPO"; rm -rf "$work/TYPO"; }
done
mkdir "$work/empty"
expect 66 "list on a directory without a database" -- "$H" domain list --data-dir "$work/empty"
grep_err "$work/empty/herald.db: no herald database" "the missing database is named"
[ -z "$(ls -A "$work/empty")" ] && ok || bad "list made files: $(ls -A "$work/empty")"
expect 66 "user list --config, no such file" -- "$H" user list --config "$work/typo.conf"
grep_err "$work/typo.conf" "the missing configuration is named"
printf 'data_dir = %s\n' "$work/TYPO" > typo.conf
expect 66 "user list --config" -- "$H" user list --config typo.conf
grep_err "$work/TYPO" "user list --config takes the config's data_dir"
expect 0 "user list --config, data dir given" -- "$H" user list --config typo.conf --data-dir "$D"

# --- DMARC: the live record first (issue 13 item 4) ----------------------------------------
dm() { rm -rf "$work/dm"; "$H" domain add "$@" --data-dir "$work/dm" --hostname mail.example.net --now "$now"; }
# an existing p=reject record: only herald's address is added to its rua
printf '_dmarc.shop.example. 3600 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc-reports@shop.example; adkim=s"\n' > reject.zone
expect 0 "add beside p=reject" -- dm shop.example --dns-zone reject.zone
grep_out '^_dmarc.shop.example. 3600 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc-reports@shop.example,mailto:dmarc@bounce.shop.example; adkim=s"' "rua extended, policy kept"
grep_out "already publishes a DMARC record (p=reject)" "says a record exists"
grep -q 'p=none' out && bad "p=none suggested beside p=reject" || ok
# the suggestion is a record herald itself reads back as the same policy
grep '^_dmarc' out > suggested.zone
expect 0 "suggested record keeps p=reject" -- "$H" dmarc record shop.example --dns-zone suggested.zone --json
grep_out '"policy": "reject"' "policy unchanged"
grep_out 'mailto:dmarc@bounce.shop.example' "herald in rua"
# with --config and no DNS option: the server's [dns] resolver or zone file
printf 'data_dir = %s\nhostname = mail.example.net\n[dns]\nzone_file = %s\n' "$work/dm" "$work/reject.zone" > dns.conf
rm -rf "$work/dm"
expect 0 "add with the config's [dns]" -- "$H" domain add shop.example --config dns.conf --now "$now"
grep_out 'rua=mailto:dmarc-reports@shop.example,mailto:dmarc@bounce.shop.example' "the config's zone file was asked"
# herald's address already there: nothing to do, no record printed
printf '_dmarc.shop.example. 3600 IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@bounce.shop.example"\n' > has.zone
expect 0 "add with herald already in rua" -- dm shop.example --dns-zone has.zone
grep_out "nothing to change" "nothing needed"
grep -q '^_dmarc' out && bad "a record printed though nothing is needed" || ok
# a subdomain under an organizational record: extend that one, never p=none below it
printf '_dmarc.example.org. 3600 IN TXT "v=DMARC1; p=reject; sp=quarantine"\n' > org.zone
expect 0 "add a subdomain under p=reject" -- dm news.example.org --dns-zone org.zone
grep_out '^_dmarc.example.org. 3600 IN TXT "v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@bounce.news.example.org"' "the applying record extended"
grep -q '^_dmarc.news.example.org' out && bad "a record below the organizational one suggested" || ok
# none published, bounce domain elsewhere: p=none + RFC 9990 §4 authorisation
expect 0 "add with an outside bounce domain" -- dm example.net --dns-zone nodmarc.zone --bounce-domain b.herald-mail.example --json
/usr/bin/python3 - out <<'PY' && ok || bad "JSON DMARC advice: $(cat out)"
import json, sys
o = json.load(open(sys.argv[1]))
d = o["dmarc"]
assert d["action"] == "publish" and d["checked"] is True, d
assert d["suggested"] == "v=DMARC1; p=none; rua=mailto:dmarc@b.herald-mail.example", d
assert d["authorization"] == {"name": "example.net._report._dmarc.b.herald-mail.example", "value": "v=DMARC1"}, d
recs = {(r["kind"], r["name"]): r["value"] for r in o["records"]}
assert recs[("dmarc", "_dmarc.example.net")] == d["suggested"], recs
assert recs[("dmarc-report-authorization", "example.net._report._dmarc.b.herald-mail.example")] == "v=DMARC1", recs
PY
expect 0 "add with an outside bounce domain (text)" -- dm example.net --dns-zone nodmarc.zone --bounce-domain b.herald-mail.example
grep_out '^example.net._report._dmarc.b.herald-mail.example. 3600 IN TXT "v=DMARC1"' "authorisation record"
# the output is still a zone file: the authorisation name resolves from it
grep -v '^;' out > all.zone
expect 0 "printed records parse as a zone" -- "$H" dmarc record example.net --dns-zone all.zone
# SERVFAIL: the safe record, with a warning, never silently
printf '_dmarc.example.com. SERVFAIL\n' > fail.zone
expect 0 "add when the DMARC lookup fails" -- dm example.com --dns-zone fail.zone
grep_err "warning: the DMARC record of example.com could not be checked" "warning on stderr"
grep_out "could not be checked" "warning in the output"
grep_out '^_dmarc.example.com. 3600 IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@bounce.example.com"' "safe record when unchecked"
# the same through a real resolver: unbound on 127.0.0.1 serving p=reject
if [ -x /usr/sbin/unbound ]; then
  port=$(( 20000 + RANDOM % 20000 ))
  {
    echo "server:"
    echo "  interface: 127.0.0.1"; echo "  port: $port"; echo "  do-ip6: no"
    echo "  username: \"\""; echo "  chroot: \"\""; echo "  directory: \"$work\""
    echo "  pidfile: \"$work/unbound.pid\""; echo "  use-syslog: no"; echo "  logfile: \"$work/unbound.log\""
    echo "  do-daemonize: no"; echo "  access-control: 127.0.0.0/8 allow"
    echo "  module-config: \"iterator\""; echo "  local-zone: \".\" static"
    echo "  local-data: '_dmarc.shop.example. 300 IN TXT \"v=DMARC1; p=reject; rua=mailto:d@shop.example\"'"
    echo "  local-data: 'shop.example. 300 IN A 192.0.2.7'"
  } > unbound.conf
  /usr/sbin/unbound -d -c unbound.conf & unbound_pid=$!
  for _ in $(seq 1 50); do dig +short +time=1 +tries=1 -p "$port" @127.0.0.1 _dmarc.shop.example TXT 2>/dev/null | grep -q DMARC1 && break; sleep 0.1; done
  expect 0 "add through unbound beside p=reject" -- dm shop.example --dns-server "127.0.0.1@$port"
  grep_out '^_dmarc.shop.example. 3600 IN TXT "v=DMARC1; p=reject; rua=mailto:d@shop.example,mailto:dmarc@bounce.shop.example"' "unbound: rua extended"
  kill "$unbound_pid"; wait "$unbound_pid" 2>/dev/null || true; unbound_pid=
  # nobody answers now: a timeout, said so
  expect 0 "add when the resolver is gone" -- dm shop.example --dns-server "127.0.0.1@$port" --dns-timeout 300
  grep_err "could not be checked" "timeout warned"
else
  echo "cli_domain: unbound not installed: the real-resolver DMARC case is skipped"
fi

# --- a bounce domain may not be another sending domain's name (issue 14 item 13) --------
B="$work/bt"
bt() { "$H" domain add "$@" --data-dir "$B" --hostname mail.example.net --now "$now" --ed25519-only --dns-zone "$work/nodmarc.zone"; }
expect 0 "add tenant-a.example" -- bt tenant-a.example
expect 65 "bounce domain under another tenant's domain" -- bt tenant-b.example --bounce-domain bounce.tenant-a.example
grep_err "bounce domain bounce.tenant-a.example for tenant-b.example: bounce.tenant-a.example is under the sending domain tenant-a.example" "the refusal names both domains"
expect 65 "bounce domain = another tenant's domain" -- bt tenant-b.example --bounce-domain Tenant-A.Example.
grep_err "is the sending domain tenant-a.example" "the refusal names the domain taken"
expect 65 "show the refused domain" -- "$H" domain show tenant-b.example --data-dir "$B" --no-dns
[ ! -e "$B/keys/tenant-b.example" ] && ok || bad "a refused add left a key directory"
expect 0 "a bounce domain of its own" -- bt tenant-b.example --bounce-domain bounce.tenant-b.example
expect 0 "a parent over its subdomain's bounce domain" -- bt shop.tenant-c.example
expect 0 "the parent may use a name under its own subdomain" -- bt tenant-c.example --bounce-domain b.shop.tenant-c.example

# --- users ----------------------------------------------------------------------------
"$H" domain add example.com "${common[@]}" "${nodns[@]}" --ed25519-only > /dev/null
"$H" domain add example.org "${common[@]}" "${nodns[@]}" --rsa-only > /dev/null
expect 0 "user add, generated password" -- "$H" user add app --domains "example.com, example.org example.com" --data-dir "$D"
gen=$(cat out)
[ "${#gen}" = 24 ] && ok || bad "generated password \"$gen\" is not 24 characters"
grep_err "shown only now" "the generated password is announced on stderr"
grep -q -- "$gen" err && bad "the password is on stderr" || ok
typed="correct horse battery staple 42"
got=0
printf '%s\n' "$typed" | "$H" user add billing --domains '*' --password-stdin --data-dir "$D" > out 2> err || got=$?
[ "$got" = 0 ] && ok || bad "user add --password-stdin: exit $got: $(cat err)"
grep -q -- "$typed" out err && bad "a typed password was echoed" || ok
expect 65 "user add twice" -- "$H" user add app --domains '*' --data-dir "$D"
expect 65 "user add, unknown domain" -- "$H" user add carol --domains example.net --data-dir "$D"
grep_err "example.net" "the unknown domain is named"
expect 64 "user add, bad name" -- "$H" user add 'carol smith' --domains '*' --data-dir "$D"
expect 64 "user add, no domains" -- "$H" user add carol --data-dir "$D"
expect 64 "empty password on stdin" -- "$H" user add carol --domains '*' --password-stdin --data-dir "$D"
expect 0 "user list" -- "$H" user list --data-dir "$D"
grep_out "^app .*example.com example.org$" "list gives the domains, each once"
grep_out "^billing .*\*$" "list gives '*'"
grep -q 'scrypt' out && bad "user list shows a hash" || ok
expect 0 "user list json" -- "$H" user list --data-dir "$D" --json
grep_out '"name": "app"' "json list has the name"
/usr/bin/python3 -c '
import json, re, sys
u = {x["name"]: x for x in json.load(open(sys.argv[1]))}
assert u["app"]["domains"] == ["example.com", "example.org"], u
assert u["billing"]["domains"] == ["*"], u
assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", u["app"]["created"]), u
assert isinstance(u["app"]["created_unix"], int), u' out && ok || bad "user list --json: domains an array, created RFC 3339 with created_unix: $(cat out)"
expect 0 "user passwd, generated" -- "$H" user passwd billing --data-dir "$D"
gen2=$(cat out)
[ "${#gen2}" = 24 ] && [ "$gen2" != "$gen" ] && ok || bad "passwd gave \"$gen2\""
expect 65 "passwd unknown" -- "$H" user passwd nobody --data-dir "$D"
# no password in clear anywhere in the data directory; the hashes are there
for pw in "$gen" "$typed" "$gen2"; do
  if grep -rqa -- "$pw" "$D"; then bad "a password is stored in clear"; else ok; fi
done
/usr/bin/python3 - "$D/herald.db" <<'PY' > hashes
import sqlite3, sys
for (h,) in sqlite3.connect(sys.argv[1]).execute("select pwhash from users order by name"):
    print(h)
PY
[ "$(grep -c '^\$scrypt\$ln=15,r=8,p=1\$' hashes)" = 2 ] && ok || bad "stored hashes: $(cat hashes)"
expect 0 "user remove" -- "$H" user remove app --data-dir "$D"
expect 65 "user remove twice" -- "$H" user remove app --data-dir "$D"
expect 0 "user list after remove" -- "$H" user list --data-dir "$D" --json
grep -q '"app"' out && bad "removed user still listed" || ok

echo "cli_domain: $passed passed, $failed failed"
[ "$failed" = 0 ]
