#!/usr/bin/env bash
# bench/spf.sh - SPF evaluations/s of herald beside pyspf and libspf2, warm cache, one run.
#
# usage: bench/spf.sh [SECONDS]     (default 3: seconds of each herald timed run)
#   env: SPF_CLIENTS (100000), SPF_PY_N (2000: pyspf's subset), SPF_REPS (3: peer repetitions)
# Needs: a build in build/ (cmake -S . -B build && cmake --build build), /usr/bin/python3 with
# python3-spf, spfquery (libspf2), unbound, bind9-dnsutils; root for the network namespace.
#
# Workload (bench/spf/gen-workload.py, seed 7208): sender.test, whose record authorizes 30
# ip4/ip6 ranges through 5 provider records (one _spf.google.com-style with two nested
# includes) and one `mx`; SPF_CLIENTS client IPs, half passing, half failing, 20 % IPv6.
#   herald   bench_spf: in process, zone fixture, one hd_dns_cache shared by every
#            evaluation, warm-up pass then timed passes for SECONDS (and again with the
#            Received-SPF field formatted); max RSS before/after the timed passes.
#   pyspf    pyspf_bench.py: in process, spf.check2() with spf.DNSLookup replaced by a
#            dictionary of the same records (DNS free, no cache needed), over the first
#            SPF_PY_N clients, extrapolated to evaluations/s.
#   libspf2  spfquery.libspf2 -file over all clients, one process (its in-process DNS cache
#            asks unbound only ~11 questions in all), through unbound on 127.0.0.1:53 in a
#            private network namespace (libspf2-netns.sh); includes its start and output.
# The three run in turn, SPF_REPS rounds (the VM is noisy); each figure is the median.
# The results of the three are compared client by client with what the workload expects.
# Every daemon started (unbound) is stopped by its PID; ~45 s with the defaults.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-3}
clients=${SPF_CLIENTS:-100000}
pyn=${SPF_PY_N:-2000}
reps=${SPF_REPS:-3}
bench=$root/build/bench/bench_spf
[ -x "$bench" ] || { echo "bench/spf.sh: build first (scripts/build.sh build -DHERALD_BENCH=ON)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
echo "# $(date -u +%FT%TZ); cpu: $cpu; $(nproc) cores; pyspf $(ver python3-spf), libspf2 $(ver libspf2-2), unbound $(ver unbound)"

/usr/bin/python3 "$root/bench/spf/gen-workload.py" -n "$clients" "$work"

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
val() { sed -n "s/^RESULT $1 \([0-9.]*\) .*/\1/p" "$2" | tail -1; }
# The VM is noisy: the three are run in turn, SPF_REPS rounds, and each figure is the median.
hs_r=() hr_r=() py_r=() lib_r=()
lib_rss=NA lib_skip=""
for round in $(seq 1 "$reps"); do
  echo "## round $round/$reps: herald (bench_spf, in process, warm hd_dns_cache, ${secs}s timed)"
  "$bench" "$work/zone" sender.test "$work/ips.txt" "$secs" "$work/herald-results.txt" | tee "$work/herald.txt"
  hs_r+=("$(val 'herald spf' "$work/herald.txt")")
  hr_r+=("$(val 'herald spf+received-spf' "$work/herald.txt")")

  echo "## round $round/$reps: pyspf (in process, fake DNS hook, first $pyn clients)"
  /usr/bin/python3 "$root/bench/spf/pyspf_bench.py" "$work/records.json" "$work/queries.txt" "$pyn" \
    "$work/pyspf-results.txt" | tee "$work/pyspf.txt"
  py_r+=("$(val 'pyspf spf' "$work/pyspf.txt")")

  [ -n "$lib_skip" ] && continue
  echo "## round $round/$reps: libspf2 (spfquery -file, one process, all $clients clients, unbound in a netns)"
  set +e
  timeout 60 bash "$root/bench/spf/libspf2-netns.sh" "$work" 1 > "$work/libspf2.txt" 2>&1
  rc=$?
  set -e
  cat "$work/libspf2.txt"
  if [ "$rc" = 0 ]; then
    lib_r+=("$(val 'libspf2 spf' "$work/libspf2.txt")")
    lib_rss=$(val 'libspf2 rss' "$work/libspf2.txt")
  elif [ "$rc" = 77 ]; then
    lib_skip="unshare --mount --net refused (needs root / CAP_SYS_ADMIN): libspf2 skipped; its CLI has no DNS hook, so it cannot run on the workload without the private resolver"
    echo "# $lib_skip"
  else
    lib_skip="libspf2 run failed (exit $rc): skipped"
    echo "# $lib_skip"
  fi
done
hs=$(median "${hs_r[@]}") hr=$(median "${hr_r[@]}") py=$(median "${py_r[@]}") lib=NA
[ "${#lib_r[@]}" -gt 0 ] && [ -z "$lib_skip" ] && lib=$(median "${lib_r[@]}")
j() { local IFS=/; echo "$*"; }

echo "## agreement (each result compared with the workload's expected one)"
/usr/bin/python3 - "$work" "$pyn" <<'PY'
import collections, os, sys
work, pyn = sys.argv[1], int(sys.argv[2])
def load(name):
    p = os.path.join(work, name)
    return [l.split() for l in open(p)] if os.path.exists(p) else None
exp, her, py, lib = (load(n) for n in ("expected.txt", "herald-results.txt", "pyspf-results.txt",
                                       "libspf2-results.txt"))
def report(label, rows, upto):
    if rows is None:
        print(f"{label}: not run"); return
    rows = rows[:upto]
    same = sum(1 for a, b in zip(rows, exp) if a == b)
    c = collections.Counter(r for _, r in rows)
    print(f"{label}: {same}/{len(rows)} as expected ({', '.join(f'{k} {v}' for k, v in sorted(c.items()))})")
report(f"herald,  all {len(exp)}", her, len(exp))
report(f"libspf2, all {len(exp)}", lib, len(exp))
n = len(py)
report(f"herald,  first {n}", her, n)
report(f"pyspf,   first {n}", py, n)
report(f"libspf2, first {n}", lib, n)
if lib is not None:
    agree = sum(1 for i in range(n) if her[i] == py[i] == lib[i])
    print(f"all three agree on {agree}/{n} of the common subset")
else:
    print(f"herald and pyspf agree on {sum(1 for i in range(n) if her[i] == py[i])}/{n}")
PY

x() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b=="NA"||b==0) print "-"; else printf "%.1fx", a/b }'; }
met() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN{ if (b=="NA"||b==0) print "-"; else if (a/b >= t) print "met"; else print "NOT met" }'; }
h() { grep "^RESULT herald $1 " "$work/herald.txt" | awk '{print $4}'; }
echo
echo "## summary (one core; evaluations/s with a warm cache; median of $reps rounds)"
echo "rounds: herald $(j "${hs_r[@]}"); herald+Received-SPF $(j "${hr_r[@]}"); pyspf $(j "${py_r[@]}"); libspf2 $(j "${lib_r[@]:-NA}")"
printf '%-44s %12s  %-12s %-12s %s\n' "figure" "evals/s" "herald/peer" "+Rcvd-SPF" "target"
printf '%-44s %12s\n' "herald (bench_spf, evaluation only)" "$hs"
printf '%-44s %12s\n' "herald (evaluation + Received-SPF field)" "$hr"
printf '%-44s %12s  %-12s %-12s %s\n' "pyspf (in process, fake DNS, $pyn clients)" "$py" "$(x "$hs" "$py")" \
  "$(x "$hr" "$py")" ">= 50x: $(met "$hs" "$py" 50)"
printf '%-44s %12s  %-12s %-12s %s\n' "libspf2 spfquery -file (1 process, unbound)" "$lib" "$(x "$hs" "$lib")" \
  "$(x "$hr" "$lib")" ">= 5x: $(met "$hs" "$lib" 5)"
nev=$(sed -n 's/^timed[a-zA-Z -]*: \([0-9]*\) evaluations.*/\1/p' "$work/herald.txt" | awk '{s+=$1} END{print s}')
echo "herald max RSS (last round): $(h rss-before) KB after the warm-up pass, $(h rss-after) KB after $nev more" \
     "evaluations; libspf2 max RSS: $lib_rss KB"
