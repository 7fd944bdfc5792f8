#!/usr/bin/env bash
# cli_readonly.sh - commands that only read the database open it read-only
# and create nothing, whether a writer (the server) has it open or not and
# when the reader is another user who may only read; errors say "permission
# denied" and name the file (issue 13 items 10, 14). And the smaller
# truths of item 21: an empty inbound list says so, `dmarc record` refuses
# a name that is not a domain name, a mistyped command gets "did you mean".
#
# The permission cases run as the user nobody (setpriv) when the test runs
# as root; otherwise they are skipped, and the test says so.
set -euo pipefail
herald=${HERALD:?HERALD must name the herald binary}
work=$(mktemp -d)
writer_pid=
cleanup() { [ -n "$writer_pid" ] && kill "$writer_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
expect() {
  local want=$1 what=$2; shift 3
  local got=0
  "$@" > "$work/out" 2> "$work/err" < /dev/null || got=$?
  if [ "$got" = "$want" ]; then ok; else bad "$what: exit $got, want $want; stderr: $(head -c 300 "$work/err")"; fi
}
grep_err() { if grep -q -- "$1" "$work/err"; then ok; else bad "$2: stderr lacks \"$1\": $(head -c 300 "$work/err")"; fi; }
grep_out() { if grep -q -- "$1" "$work/out"; then ok; else bad "$2: stdout lacks \"$1\": $(head -c 300 "$work/out")"; fi; }
files_of() { (cd "$1" && ls -A | sort | tr '\n' ' '); }

H="$herald"
D="$work/data"
printf 'example.com. 3600 IN A 192.0.2.1\n' > "$work/nodmarc.zone"
"$H" domain add example.com --data-dir "$D" --hostname mail.example.net --dns-zone "$work/nodmarc.zone" > /dev/null
"$H" user add app --domains '*' --data-dir "$D" > /dev/null 2>&1

# --- item 21: the smaller truths -------------------------------------------------
expect 0 "inbound list, empty" -- "$H" inbound list --data-dir "$D"
grep_out "^no inbound messages$" "an empty inbound list says so"
expect 0 "inbound list --kind dmarc, empty" -- "$H" inbound list --kind dmarc --data-dir "$D"
grep_out "^no inbound messages of kind dmarc$" "an empty list of a kind says so"
expect 0 "inbound list --json, empty" -- "$H" inbound list --json --data-dir "$D"
[ "$(tr -d ' \n' < "$work/out")" = "[]" ] && ok || bad "inbound list --json when empty: $(cat "$work/out")"
for name in bad..domain -bad.example 'a b.example' .example exa_mple.com "$(printf 'b\303\274cher.example')"; do
  expect 64 "dmarc record $name" -- "$H" dmarc record --dns-zone "$work/nodmarc.zone" -- "$name"
  grep_err "is not a domain name" "dmarc record $name: said not a domain name"
done
grep_err "A-labels" "a name that is not ASCII: IDN advice"
expect 4 "dmarc record of a good name without a record" -- "$H" dmarc record example.com --dns-zone "$work/nodmarc.zone"
expect 64 "mistyped command" -- "$H" domian list
grep_err 'did you mean "herald domain"' "top-level did you mean"
expect 64 "mistyped subcommand" -- "$H" domain lsit
grep_err 'did you mean "herald domain list"' "subcommand did you mean"
expect 64 "mistyped inbound subcommand" -- "$H" inbound lst --data-dir "$D"
grep_err 'did you mean "herald inbound list"' "inbound did you mean"
expect 64 "mistyped apikey subcommand" -- "$H" apikey lsit --data-dir "$D"
grep_err 'did you mean "herald apikey list"' "apikey did you mean"
expect 64 "mistyped queue subcommand" -- "$H" queue lsit --data-dir "$D"
grep_err 'did you mean "herald queue list"' "queue did you mean"
expect 64 "mistyped webhooks subcommand" -- "$H" webhooks faild --data-dir "$D"
grep_err 'did you mean "herald webhooks failed"' "webhooks did you mean"
expect 64 "far from every command" -- "$H" zzzzzz
grep -q "did you mean" "$work/err" && bad "a suggestion for a name far from every command" || ok
printf 'data_dir = %s\n' "$D" > "$work/herald.conf"
expect 0 "user list --config" -- "$H" user list --config "$work/herald.conf"
grep_out "^app " "user list --config reads the config's data_dir"

# --- readers create nothing, with and without a writer -----------------------------
before=$(files_of "$D")
for cmd in "domain list" "user list" "events" "queue list" "captures" "inbound list" "apikey list" "webhooks list"; do
  # shellcheck disable=SC2086
  expect 0 "$cmd" -- "$H" $cmd --data-dir "$D"
done
[ "$(files_of "$D")" = "$before" ] && ok || bad "readers made files: $(files_of "$D"), before: $before"

# a writer holding the database open (what a running server does): WAL and
# its shared memory exist; a row it committed is seen through the WAL
cat > "$work/writer.py" <<'PY'
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("pragma journal_mode=wal")
c.execute("pragma wal_autocheckpoint=0")
c.execute("insert into users values ('fromwal', 'x', '*', 1800000000)")
open(sys.argv[2], "w").close()
time.sleep(60)
PY
/usr/bin/python3 "$work/writer.py" "$D/herald.db" "$work/ready" & writer_pid=$!
for _ in $(seq 1 100); do [ -e "$work/ready" ] && break; sleep 0.1; done
[ -e "$D/herald.db-wal" ] && ok || bad "the writer has no WAL"
expect 0 "user list while a writer runs" -- "$H" user list --data-dir "$D"
grep_out "^fromwal " "a reader sees the writer's committed row"

# events --follow opened while no writer runs sees a writer that starts
# later and the events it commits (the read-only connection is reopened)
F="$work/follow"
"$H" domain add example.com --data-dir "$F" --hostname mail.example.net --dns-zone "$work/nodmarc.zone" > /dev/null
[ ! -e "$F/herald.db-wal" ] && ok || bad "a WAL stayed after domain add"
"$H" events --follow --data-dir "$F" > "$work/follow.out" 2> "$work/follow.err" & follow_pid=$!
sleep 0.5
cat > "$work/events.py" <<'PY'
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("pragma journal_mode=wal")
for i in range(3):
    c.execute("insert into events (at_ms, type, recipient, reply) values (?, 'delivered', ?, '250 ok')",
              (1800000000000 + i, "r%d@example.org" % i))
    time.sleep(0.3)
time.sleep(1)
c.close()
PY
/usr/bin/python3 "$work/events.py" "$F/herald.db"
# and events committed after the writer closed (checkpointed, no WAL)
/usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute("insert into events (at_ms, type, recipient) values (1800000001000, '"'"'expired'"'"', '"'"'late@example.org'"'"')"); c.close()' "$F/herald.db"
for _ in $(seq 1 30); do grep -q late@example.org "$work/follow.out" && break; sleep 0.1; done
kill "$follow_pid"; wait "$follow_pid" 2>/dev/null || true
[ "$(grep -c 'example.org' "$work/follow.out")" = 4 ] && ok || bad "events --follow saw: $(cat "$work/follow.out") $(cat "$work/follow.err")"

# --- another user who may only read (run as nobody) -------------------------------
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null && id nobody > /dev/null 2>&1; then
  as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
  chmod 755 "$work"
  chmod 644 "$work/herald.conf" "$work/nodmarc.zone"
  # the data directory closed (0700, as the package makes it): say which
  expect 77 "events, data directory closed" -- as_nobody "$H" events --data-dir "$D"
  grep_err "$D/herald.db: permission denied" "the database is named with permission denied"
  grep_err "its directory $D is closed" "the closed directory is named"
  grep -q "no herald database" "$work/err" && bad "'no herald database' for a closed directory" || ok
  # the database readable, the directory not writable, the writer running:
  # read through the WAL and the shared memory, read-only
  chmod 755 "$D"
  chmod 644 "$D/herald.db" "$D/herald.db-wal" "$D/herald.db-shm"
  before=$(files_of "$D")
  expect 0 "user list as nobody, writer running" -- as_nobody "$H" user list --data-dir "$D"
  grep_out "^fromwal " "nobody sees the writer's row"
  expect 0 "domain list as nobody, writer running" -- as_nobody "$H" domain list --data-dir "$D"
  grep_out "^example.com " "nobody lists the domain"
  # the shared memory closed: it is named
  chmod 600 "$D/herald.db-shm"
  expect 77 "shm closed" -- as_nobody "$H" events --data-dir "$D"
  grep_err "$D/herald.db-shm: permission denied" "the -shm file is named"
  chmod 644 "$D/herald.db-shm"
  kill "$writer_pid"; wait "$writer_pid" 2>/dev/null || true; writer_pid=
  # a killed writer leaves its WAL: still readable
  expect 0 "user list as nobody after the writer died" -- as_nobody "$H" user list --data-dir "$D"
  grep_out "^fromwal " "the row survives in the WAL"
  # the writer closed cleanly (no WAL): read as it stands, nothing made
  /usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("pragma journal_mode=wal"); c.close()' "$D/herald.db"
  rm -f "$D/herald.db-wal" "$D/herald.db-shm"
  [ ! -e "$D/herald.db-wal" ] && ok || bad "the WAL stayed after a clean close"
  before=$(files_of "$D")
  expect 0 "user list as nobody, no writer" -- as_nobody "$H" user list --data-dir "$D"
  grep_out "^fromwal " "nobody reads the checkpointed row"
  expect 0 "user list as root, no writer" -- "$H" user list --data-dir "$D"
  [ "$(files_of "$D")" = "$before" ] && ok || bad "a reader without a writer made files: $(files_of "$D")"
  # the database itself closed (0600, as herald makes it)
  chmod 600 "$D/herald.db"
  expect 77 "events, database closed" -- as_nobody "$H" events --data-dir "$D"
  grep_err "$D/herald.db: permission denied (it may not be read" "the closed database is named"
  # a change by a user who may not write is refused, naming the file
  chmod 644 "$D/herald.db"
  expect 77 "user remove by nobody" -- as_nobody "$H" user remove app --data-dir "$D"
  grep_err "$D/herald.db: permission denied" "a refused change names the database"
  # a configuration closed to the user
  chmod 600 "$work/herald.conf"
  expect 77 "user list, config closed" -- as_nobody "$H" user list --config "$work/herald.conf"
  grep_err "$work/herald.conf" "the closed configuration is named"
  grep -qi "permission denied" "$work/err" && ok || bad "config: no 'permission denied': $(cat "$work/err")"
else
  echo "cli_readonly: not root or no setpriv/nobody: the other-user cases are skipped"
fi

echo "cli_readonly: $passed passed, $failed failed"
[ "$failed" = 0 ]
