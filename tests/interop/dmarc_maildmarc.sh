#!/usr/bin/env bash
# dmarc_maildmarc.sh - differential test of herald's DMARC evaluation in RFC 7489 mode
# (`herald dmarc evaluate --rfc7489`: Public Suffix List organizational domains, pct, sp)
# against Mail::DMARC::PurePerl (Debian's libmail-dmarc-perl), driven in process.
#
# dmarc/dmarc_diff.py makes fixed and seeded-random cases: From domains at depths 0-3 under
# com/net/org/co.uk/org.uk and two private-section suffixes (where libpsl and Mail::DMARC read
# the same Debian list the same way), records at the From domain, its Organizational Domain,
# an intermediate name or nowhere, p/sp/adkim/aspf/pct/rua values and malformed records,
# SPF and DKIM identifiers aligned, sub, parent, sibling or unrelated, pass and other results,
# and a fixed pct roll (herald --pct-roll N; Mail::DMARC's rand() returns N). Both sides read
# the same records: herald from a zone fixture, Mail::DMARC through a fake resolver
# (dmarc/maildmarc_eval.pl). No network.
# Results, dispositions, the record and policy applied and the Organizational Domain must
# agree. A disagreement counts as "explained" only when it comes from a listed Mail::DMARC
# deviation from RFC 7489 and Mail::DMARC, run again on the case rewritten to the RFC's
# reading, then gives herald's answer; any other disagreement fails.
#
# env: HERALD (the herald binary, required); DMARC_DIFF_N (random cases, default 300),
# DMARC_DIFF_SEED (default 7489), DMARC_DIFF_VERBOSE=1 (print explained cases in full),
# KEEP_TMP=1 keeps the zone files.
# Prints each disagreement, "dmarc differential: N agree, K explained, M disagree" and
# "N passed, M failed"; exits non-zero when M > 0.
set -euo pipefail

HERALD=${HERALD:?set HERALD to the herald binary}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3

for need in "$HERALD" "$PY" /usr/bin/perl; do
    [[ -x $need ]] || { echo "dmarc_maildmarc: $need not found or not executable" >&2; exit 1; }
done
/usr/bin/perl -MMail::DMARC::PurePerl -e 1 2>/dev/null ||
    { echo "dmarc_maildmarc: Mail::DMARC (libmail-dmarc-perl) is not installed" >&2; exit 1; }
[[ -r /usr/share/publicsuffix/public_suffix_list.dat ]] ||
    { echo "dmarc_maildmarc: Debian's publicsuffix list is not installed" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dmarc_maildmarc.XXXXXX")
if [[ ${KEEP_TMP:-0} == 1 ]]; then
    echo "dmarc_maildmarc: keeping $WORK"
else
    trap 'rm -rf "$WORK"' EXIT
fi

PYTHONDONTWRITEBYTECODE=1 "$PY" "$HERE/dmarc/dmarc_diff.py" --herald "$HERALD" --work "$WORK" \
    --n "${DMARC_DIFF_N:-300}" --seed "${DMARC_DIFF_SEED:-7489}"
