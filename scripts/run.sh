#!/usr/bin/env bash
# run.sh - install what is missing, build, and run herald's main job on
# embedded defaults: `herald serve` with data in ./herald-data, SMTP
# submission on 127.0.0.1:2525, status on http://127.0.0.1:8025/, and
# sandbox delivery (mail is signed and queued, then captured locally with
# the verdict a receiver would give it; nothing leaves the machine).
#
# The first time, when the data directory has no sending domain yet, it
# adds example.com (with its DKIM keys) and a submission login "demo" so
# there is something to try (every client authenticates by default):
#   swaks --server 127.0.0.1:2525 --auth PLAIN --auth-user demo --auth-password PASSWORD \
#     --from you@example.com --to someone@example.net
#   build/herald events
# Stop it with Ctrl-C; the queue stays on disk.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
# a user's build: no tests, warnings not errors, whatever build/ held before
"$root/scripts/build.sh" build -DHERALD_TESTS=OFF -DHERALD_BENCH=OFF -DHERALD_WERROR=OFF >/dev/null
herald="$root/build/herald"
data=./herald-data

# no database yet (listing creates none), or one without a sending domain
if [ ! -e "$data/herald.db" ] || [ "$("$herald" domain list --json --data-dir "$data")" = "[]" ]; then
  echo "== first run: adding the demo sending domain example.com (records to publish below)"
  "$herald" domain add example.com --data-dir "$data" --hostname mail.example.com
  echo
  echo "== an HTTP API key for the demo (shown only now; docs/api.md):"
  "$herald" apikey create --name demo --domains example.com --data-dir "$data"
  echo "   try: HERALD_API_KEY=<the key above> $herald send --from you@example.com --to someone@example.net --text hi --wait"
  echo
  echo "== a submission login for the demo, user demo (its password, shown only now):"
  "$herald" user add demo --domains example.com --data-dir "$data"
  echo
fi
echo "== herald serve (Ctrl-C stops; try: swaks --server 127.0.0.1:2525 --auth PLAIN --auth-user demo --auth-password <its password> --from you@example.com --to someone@example.net)"
exec "$herald" serve
