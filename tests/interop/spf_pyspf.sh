#!/usr/bin/env bash
# spf_pyspf.sh — differential test of herald's SPF evaluator (RFC 7208 check_host) against
# pyspf (Debian's python3-spf).
#
# spf/spf_diff.py generates N random but meaningful scenarios from a fixed seed: an SPF record
# for the sender's (or HELO) domain built from random terms (ip4/ip6 with prefixes, a and mx
# with and without a domain and dual CIDR, include of generated, missing, broken, TIMEOUT and
# SERVFAIL domains, exists with macros, ptr with PTR data, redirect, exp with macro text,
# syntax errors, records near the limits of 10 DNS terms, 2 void lookups and 10 MX names)
# plus the A/AAAA/MX/PTR/TXT/CNAME data behind it, and a client address (IPv4, IPv6 or
# IPv4-mapped) that hits or misses. Each scenario is written as a zone fixture for herald
# (--dns-zone) and served to pyspf through its DNS hook; no resolver, no network.
# Results must agree, and on "fail" the explanations too. Disagreements that are documented
# pyspf deviations from RFC 7208 (spf/spf_known.py, each with its RFC section and a check that
# herald's answer is the RFC's) count as "explained"; any other is a failure.
#
# env: HERALD (the herald binary, required); SPF_DIFF_N (default 1000), SPF_DIFF_SEED
# (default 7208), KEEP_TMP=1 keeps the zone files.
# Prints each disagreement, "spf differential: N agree, K explained, M disagree" and
# "N passed, M failed"; exits non-zero when M > 0.
set -euo pipefail

HERALD=${HERALD:?set HERALD to the herald binary}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3   # Debian's python: the one with python3-spf

for need in "$HERALD" "$PY"; do
    [[ -x $need ]] || { echo "spf_pyspf: $need not found or not executable" >&2; exit 1; }
done
"$PY" -c 'import spf' 2>/dev/null || { echo "spf_pyspf: python3-spf (pyspf) is not installed" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/spf_pyspf.XXXXXX")
if [[ ${KEEP_TMP:-0} == 1 ]]; then
    echo "spf_pyspf: keeping $WORK"
else
    trap 'rm -rf "$WORK"' EXIT
fi

rc=0
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$HERE/spf${PYTHONPATH:+:$PYTHONPATH}" \
    "$PY" "$HERE/spf/spf_diff.py" --herald "$HERALD" --workdir "$WORK" \
    --n "${SPF_DIFF_N:-1000}" --seed "${SPF_DIFF_SEED:-7208}" || rc=$?
exit "$rc"
