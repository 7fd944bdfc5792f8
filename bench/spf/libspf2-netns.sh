#!/usr/bin/env bash
# bench/spf/libspf2-netns.sh WORKDIR [REPS] - time libspf2's `spfquery -file` on the SPF
# benchmark's workload (gen-workload.py output in WORKDIR) through a real resolver.
#
# libspf2's CLI has no DNS hook: it asks the system resolver. So this script re-runs itself
# inside `unshare --mount --net` (a private network namespace: its own loopback only, nothing
# outside reachable), starts unbound on 127.0.0.1:53 there with WORKDIR/unbound.conf (the
# workload's records as local-data, `local-zone: "." static`: it never sends a query out),
# bind-mounts a resolv.conf saying "nameserver 127.0.0.1" over /etc/resolv.conf (in the
# namespace only), then runs `spfquery.libspf2 -file WORKDIR/queries.txt` REPS times (default 3),
# one process each, output to a file. unbound is stopped by its PID on every exit path.
# Prints "libspf2 run K: N queries in T s" and "RESULT libspf2 spf R evals/s reps a/b/c" (median),
# "RESULT libspf2 rss M KB"; writes WORKDIR/libspf2-results.txt ("ip result" a line, last run).
# Needs root (CAP_SYS_ADMIN for unshare); exits 77 when unshare is refused.
set -euo pipefail
work=$(cd "$1" && pwd)
reps=${2:-3}
if [ "${HERALD_SPF_NETNS:-}" != 1 ]; then
  unshare --mount --net --propagation private true 2>/dev/null || exit 77
  exec unshare --mount --net --propagation private env HERALD_SPF_NETNS=1 bash "$0" "$work" "$reps"
fi

ip link set lo up
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:2\n' > "$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf
/usr/sbin/unbound-checkconf "$work/unbound.conf" >/dev/null
/usr/sbin/unbound -d -c "$work/unbound.conf" > "$work/unbound.log" 2>&1 &
ub=$!
stop() { kill "$ub" 2>/dev/null && wait "$ub" 2>/dev/null; true; }
trap stop EXIT
trap 'exit 130' INT TERM
for _ in $(seq 1 50); do
  dig +time=1 +tries=1 @127.0.0.1 sender.test TXT +short 2>/dev/null | grep -q v=spf1 && break
  kill -0 "$ub" 2>/dev/null || { echo "libspf2-netns: unbound died, see $work/unbound.log" >&2; exit 1; }
  sleep 0.1
done
dig +time=1 +tries=1 @127.0.0.1 sender.test TXT +short | grep -q v=spf1 \
  || { echo "libspf2-netns: unbound does not answer" >&2; exit 1; }

n=$(wc -l < "$work/queries.txt")
rates=()
rss=0
for k in $(seq 1 "$reps"); do
  t0=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$work/libspf2.rss" /usr/bin/spfquery.libspf2 -file "$work/queries.txt" \
    > "$work/libspf2.out" 2>/dev/null || true     # exit status = the last query's result
  t1=$(date +%s.%N)
  r=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", n/(b-a)}')
  rss=$(tail -1 "$work/libspf2.rss")
  echo "libspf2 run $k: $n queries in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s = $r evals/s (max RSS $rss KB)"
  rates+=("$r")
done
got=$(grep -c '^Received-SPF: ' "$work/libspf2.out" || true)
[ "$got" = "$n" ] || { echo "libspf2-netns: $got Received-SPF lines for $n queries" >&2; exit 1; }
sed -n 's/^Received-SPF: \([a-z]*\) .*/\1/p' "$work/libspf2.out" \
  | paste -d' ' <(cut -d' ' -f1 "$work/queries.txt") - > "$work/libspf2-results.txt"
med=$(printf '%s\n' "${rates[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
echo "RESULT libspf2 spf $med evals/s reps $(IFS=/; echo "${rates[*]}")"
echo "RESULT libspf2 rss $rss KB"
