#!/usr/bin/env bash
# bench/verify.sh - full verification (SPF + DKIM + ARC + DMARC + Authentication-Results) of a
# corpus with warm caches, messages/s, beside DKIM verification alone of the same corpus, and
# beside the peers on the same corpus, in one run. No network: every DNS answer comes from a
# zone fixture / fake resolver in the measuring process.
#
# usage: bench/verify.sh [SECONDS]   (default 2: seconds per timed figure)
#   env: VERIFY_N (1000 messages), VERIFY_REPS (3: rounds; each figure is the median)
# Needs: a build in build/ (herald, bench/bench_verify), /usr/bin/python3 with python3-dkim,
# python3-spf, python3-authres; perl with libmail-dkim-perl, libmail-spf-perl, libmail-dmarc-perl.
#
# Corpus (bench/verify/make-corpus.sh): VERIFY_N bench/corpus/gen-corpus.py messages (half ~2 KB, half ~50 KB
# bodies) signed by `herald dkim sign` RSA-2048; half of them (half the small, half the big)
# forwarded by fwd.example.net, which adds a Received field and seals with `herald arc seal`
# (RSA-2048, --authres = the verdict on arrival); facts.txt gives each message's client IP, HELO
# and MAIL FROM (direct: SPF pass for example.org, aligned; forwarded: SPF pass for
# fwd.example.net, unaligned). Every message: DKIM pass, DMARC pass (p=reject); forwarded: arc=pass.
#
# Measured:
#   herald  bench_verify: in process; dkim-only (hd_dkim_verify_run, warm key cache), dkim+arc,
#           and full (From domain, SPF, DKIM, ARC, DMARC, AR field; shared hd_dkim_keycache,
#           hd_dns_cache, hd_spf_records); also the half without ARC sets alone.
#   python  bench/verify/py_peer.py: dkimpy dkim.verify alone; and "full" = From (email.utils) +
#           pyspf spf.check2 + dkim.verify + dkim.arc_verify + authres AR field, one process,
#           fake DNS hooks. No DMARC evaluator for Python in Debian: Mail::DMARC's per-message
#           cost (perl dmarc, below) is added to it: 1/(1/python_full + 1/perl_dmarc).
#   perl    bench/verify/perl_peer.pl: Mail::DKIM::Verifier alone; Mail::DMARC::PurePerl->validate
#           alone (given the results); and "full" = Mail::SPF + Mail::DKIM + Mail::DKIM::ARC +
#           Mail::DMARC + AR text, all in one process, fake resolver.
# All are one core, messages in memory before the clock starts, a warm-up pass first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-2}
n=${VERIFY_N:-1000}
reps=${VERIFY_REPS:-3}
herald=$root/build/herald
bench=$root/build/bench/bench_verify
[ -x "$bench" ] && [ -x "$herald" ] || { echo "bench/verify.sh: build first (scripts/build.sh build -DHERALD_BENCH=ON)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
echo "# $(date -u +%FT%TZ); cpu: $cpu; $(nproc) cores; $(openssl version); dkimpy $(ver python3-dkim)," \
     "pyspf $(ver python3-spf), Mail::DKIM $(ver libmail-dkim-perl), Mail::SPF $(ver libmail-spf-perl)," \
     "Mail::DMARC $(ver libmail-dmarc-perl)"

echo "## corpus: $n messages, signing and sealing with the herald CLI"
bash "$root/bench/verify/make-corpus.sh" "$herald" "$work" "$n" >/dev/null 2>&1
echo "$(ls "$work/corpus" | grep -c '^msg-') messages, $(du -sb "$work/corpus" | cut -f1) bytes," \
     "$(grep -lc '^ARC-Seal:' "$work"/corpus/msg-*.eml | wc -l) with an ARC set"

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
val() { sed -n "s/^RESULT $1 \([0-9.]*\) .*/\1/p" "$2" | tail -1; }
rate() { sed -n 's/.*= \([0-9.]*\) msg\/s.*/\1/p' | tail -1; }
j() { local IFS=/; echo "$*"; }
hd=() ha=() hf=() hpd=() hpf=() pyd=() pyf=() pld=() plm=() plf=()
for round in $(seq 1 "$reps"); do
  echo "## round $round/$reps: herald (bench_verify, ${secs}s per figure)"
  "$bench" "$work/corpus" "$work/zone" "$secs" 1 | tee "$work/herald.txt"
  hd+=("$(val 'herald verify dkim-only' "$work/herald.txt")")
  ha+=("$(val 'herald verify dkim[+]arc' "$work/herald.txt")")
  hf+=("$(val 'herald verify full' "$work/herald.txt")")
  hpd+=("$(val 'herald verify no-arc dkim-only' "$work/herald.txt")")
  hpf+=("$(val 'herald verify no-arc full' "$work/herald.txt")")
  echo "## round $round/$reps: peers"
  for run in "py dkim" "py full" "pl dkim" "pl dmarc" "pl full"; do
    set -- $run
    if [ "$1" = py ]; then
      line=$(/usr/bin/python3 "$root/bench/verify/py_peer.py" "$2" "$work/corpus" "$work/dns.json" "$secs")
    else
      line=$(perl "$root/bench/verify/perl_peer.pl" "$2" "$work/corpus" "$work/dns.json" "$secs")
    fi
    echo "$line"
    r=$(echo "$line" | rate)
    case "$run" in
      "py dkim") pyd+=("$r") ;; "py full") pyf+=("$r") ;;
      "pl dkim") pld+=("$r") ;; "pl dmarc") plm+=("$r") ;; "pl full") plf+=("$r") ;;
    esac
  done
done
HD=$(median "${hd[@]}") HA=$(median "${ha[@]}") HF=$(median "${hf[@]}")
HPD=$(median "${hpd[@]}") HPF=$(median "${hpf[@]}")
PYD=$(median "${pyd[@]}") PYF=$(median "${pyf[@]}") PLD=$(median "${pld[@]}") PLM=$(median "${plm[@]}")
PLF=$(median "${plf[@]}")
PYSUM=$(awk -v a="$PYF" -v b="$PLM" 'BEGIN{printf "%.1f", 1/(1/a + 1/b)}')
pct() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f %%", 100*a/b}'; }
x() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1fx", a/b}'; }
met() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a/b >= 0.8) print "met"; else print "NOT met" }'; }

echo
echo "## summary (one core, msg/s, median of $reps rounds; whole corpus unless said)"
echo "rounds: herald dkim-only $(j "${hd[@]}"); dkim+arc $(j "${ha[@]}"); full $(j "${hf[@]}");" \
     "no-arc dkim-only $(j "${hpd[@]}"); no-arc full $(j "${hpf[@]}")"
echo "        dkimpy $(j "${pyd[@]}"); dkimpy+pyspf full $(j "${pyf[@]}"); Mail::DKIM $(j "${pld[@]}");" \
     "Mail::DMARC alone $(j "${plm[@]}"); perl full $(j "${plf[@]}")"
printf '%-58s %10s %12s %12s\n' "figure" "msg/s" "herald/this" "full/dkim"
printf '%-58s %10s\n' "herald DKIM verify only" "$HD"
printf '%-58s %10s\n' "herald DKIM + ARC verify" "$HA"
printf '%-58s %10s %12s %12s\n' "herald full verdict (SPF+DKIM+ARC+DMARC+AR)" "$HF" "" "$(pct "$HF" "$HD")"
printf '%-58s %10s\n' "herald DKIM verify only, the $((n / 2)) without ARC" "$HPD"
printf '%-58s %10s %12s %12s\n' "herald full verdict, the $((n / 2)) without ARC" "$HPF" "" "$(pct "$HPF" "$HPD")"
printf '%-58s %10s %12s\n' "dkimpy DKIM verify only" "$PYD" "$(x "$HD" "$PYD")"
printf '%-58s %10s %12s %12s\n' "dkimpy+pyspf full minus DMARC (one process)" "$PYF" "$(x "$HF" "$PYF")" "$(pct "$PYF" "$PYD")"
printf '%-58s %10s %12s\n' "Mail::DMARC validate alone" "$PLM"
printf '%-58s %10s %12s\n' "dkimpy+pyspf full + Mail::DMARC cost (summed per msg)" "$PYSUM" "$(x "$HF" "$PYSUM")"
printf '%-58s %10s %12s\n' "Mail::DKIM verify only" "$PLD" "$(x "$HD" "$PLD")"
printf '%-58s %10s %12s %12s\n' "Mail::SPF+DKIM+DKIM::ARC+DMARC full (one process)" "$PLF" "$(x "$HF" "$PLF")" "$(pct "$PLF" "$PLD")"
echo "target full >= 80 % of DKIM-only: whole corpus $(pct "$HF" "$HD") $(met "$HF" "$HD");" \
     "without ARC $(pct "$HPF" "$HPD") $(met "$HPF" "$HPD"); full/(DKIM+ARC) $(pct "$HF" "$HA")"
