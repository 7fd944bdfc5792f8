#!/usr/bin/env bash
# bounce_sisimai.sh - differential test of herald's bounce reader
# (`herald inbound parse --json`) against Sisimai (Debian's libsisimai-perl,
# Sisimai->make), the reference bounce classifier, on the Sisimai project's
# own corpus: tests/data/sisimai-set-of-emails/bsd (629 real bounces from
# about 80 MTAs and providers) and not/ (mail that is not a bounce).
#
# The corpus is fixed and read whole, so there is no random draw and no seed.
# bounce/compare.py prints the recipients each finds, the hard/soft agreement
# (over recipients where Sisimai gives a reason), the intended disagreements
# (bounce/disagreements.txt, each with its RFC 3463 reason), the addresses
# only herald finds (counted as correct only when listed, checked by hand, in
# bounce/checked-extra.txt) and the files where herald finds fewer. It fails
# when a not/ message is read as a bounce, when herald's correct recipients
# are fewer than Sisimai's, or when agreement is under 90 %.
#
# env: HERALD (the herald binary, required), HERALD_TESTDATA (tests/data).
set -euo pipefail

HERALD=${HERALD:?set HERALD to the herald binary}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DATA=${HERALD_TESTDATA:-$HERE/../data}/sisimai-set-of-emails
for need in "$HERALD" /usr/bin/python3 /usr/bin/perl; do
  [ -x "$need" ] || { echo "bounce_sisimai: $need is missing" >&2; exit 1; }
done
if ! perl -MSisimai -e1 2>/dev/null; then
  echo "bounce_sisimai: Sisimai is missing (apt-get install libsisimai-perl)" >&2
  exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/bounce-sisimai.XXXXXX")
trap 'rm -rf "$work"' EXIT

(cd "$DATA" && perl "$HERE/bounce/sisimai_dump.pl" bsd/*.eml not/*.eml) > "$work/sisimai.jsonl"
python3 "$HERE/bounce/compare.py" "$HERALD" "$DATA" "$work/sisimai.jsonl" \
  "$HERE/bounce/checked-extra.txt" "$HERE/bounce/disagreements.txt"
