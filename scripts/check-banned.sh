#!/usr/bin/env bash
# check-banned.sh - refuse risky C functions in src/ (docs/style.md, "The mechanical gate"), and
# exit() below src/cli/ (errors are values there).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
status=0
if grep -nE '\b(strcpy|sprintf|vsprintf|strcat|atoi|atol|strtok|gets|system|sscanf)[[:space:]]*\(' \
     -r src include; then
  echo "check-banned: risky function above (use snprintf, hd_buf, cursor parsing)" >&2
  status=1
fi
if grep -nE '\bexit[[:space:]]*\(' -r src --include='*.c' | grep -v '^src/cli/'; then
  echo "check-banned: exit() below src/cli/" >&2
  status=1
fi
[ $status = 0 ] && echo "check-banned: clean"
exit $status
