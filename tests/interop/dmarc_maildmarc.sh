#!/usr/bin/env bash
# dmarc_maildmarc.sh - differential test of herald's DMARC evaluation in RFC 7489 mode
# (`herald dmarc evaluate --rfc7489`: Public Suffix List organizational domains, pct, sp)
# against Mail::DMARC::PurePerl (Debian's libmail-dmarc-perl), driven in process.
#
# dmarc/dmarc_diff.py makes fixed and random cases: From domains at depths 0-3 (some in upper or
# mixed case) under com/net/org/co.uk/org.uk, two private-section suffixes and the Public Suffix
# List's wildcard and exception rules (*.kawasaki.jp with !city.kawasaki.jp, *.ck with !www.ck);
# records at the From domain, its Organizational Domain, an intermediate name or nowhere,
# p/sp/adkim/aspf/pct/rua values, malformed records and malformed terms inside records (issue 12:
# foo, fo:1, x-y=1, "ruf mailto:..."); SPF and DKIM identifiers aligned, sub, parent, sibling or
# unrelated, pass and other results, and a fixed pct roll (herald --pct-roll N; Mail::DMARC's
# rand() returns N). Both sides read the same records. Most cases: herald from a zone fixture,
# Mail::DMARC through a fake resolver (dmarc/maildmarc_eval.pl). About a quarter, with names of
# their own: both through a real unbound on 127.0.0.1 (tests/lib/serve-lib.sh), herald with
# --dns-server, Mail::DMARC with Net::DNS. No other network.
# Results, dispositions, the record and policy applied and the Organizational Domain must
# agree. A disagreement counts as "explained" only when it comes from a listed Mail::DMARC
# deviation from RFC 7489 and Mail::DMARC, run again on the case rewritten to the RFC's
# reading, then gives herald's answer; any other disagreement fails.
#
# env: HERALD (the herald binary, required); DMARC_DIFF_N (random cases, default 300),
# DMARC_DIFF_SEED (default: fresh from /dev/urandom each run; the seed is printed to replay it),
# DMARC_DIFF_VERBOSE=1 (print explained cases in full), KEEP_TMP=1 keeps the zone files.
# Prints the seed, each disagreement, the figures for the zone-file and unbound parts,
# "dmarc differential: N agree, K explained, M disagree" and "N passed, M failed"; exits
# non-zero when M > 0.
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

HL_KEEP=${KEEP_TMP:-0}
# shellcheck source=tests/lib/serve-lib.sh
. "$HERE/../lib/serve-lib.sh"
hl_tmpdir                       # HL_TMP, and an EXIT trap that stops unbound and removes it
[[ $HL_KEEP == 1 ]] && echo "dmarc_maildmarc: keeping $HL_TMP"

export PYTHONDONTWRITEBYTECODE=1
"$PY" "$HERE/dmarc/dmarc_diff.py" gen --work "$HL_TMP" --n "${DMARC_DIFF_N:-300}" \
    ${DMARC_DIFF_SEED:+--seed "$DMARC_DIFF_SEED"}
dns=$(hl_free_port 127.0.0.1)
hl_unbound_start "$HL_TMP/unbound.zone" "$dns"
"$PY" "$HERE/dmarc/dmarc_diff.py" run --herald "$HERALD" --work "$HL_TMP" --dns-server "127.0.0.1@$dns"
