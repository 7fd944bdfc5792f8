#!/usr/bin/env bash
# bench/relay.sh - a relay's throughput, latency and memory: smtp-source ->
# relay -> smtp-sink on 127.0.0.1, for herald serve and Postfix (with and
# without an OpenDKIM milter signing), beside the machine's limits
# (openssl speed rsa2048, smtp-source -> smtp-sink directly), in one run.
#
# usage: bench/relay.sh [REPS]          (default 3; each figure is the median)
#        bench/relay.sh --idle [N]      herald's memory with N idle SMTP sessions (1000)
# env:   HERALD (build/herald)  N_SMALL (2000 msgs of 2 KB)  N_BIG (1200 of 100 KB)
#        SESSIONS (20)  LOOP_X (5: the loopback limit sends LOOP_X times as many)
#        RUN_TIMEOUT (120 s per run)  PARTS ("limits postfix opendkim herald")
#        QUIET_WAIT (0: before each run wait up to this many seconds for the
#        machine to be >= 80 % idle; for a box shared with other work)
#
# For each message size and system: accepted/s (N / smtp-source's wall
# time), delivered/s (N / time until smtp-sink has counted all N, from its
# -c counters), p50/p99 accept-to-delivery latency (Postfix: delay= of the
# status=sent log lines; herald: delivered at - accepted at from
# `herald events --json`), peak memory (Postfix: VmRSS summed over master
# and its children, sampled every 250 ms, plus the OpenDKIM milter when it
# runs; herald: VmHWM of its process, started fresh for each run) and busy
# CPU-seconds per 1000 messages (whole machine, load tools included).
# Each relay also gets a 20-message sample dumped by a sink and checked
# with dkimpy (signed / verified). Work files live under one mktemp -d, on
# the repo's disk (not tmpfs), so fsync costs are real; every process is
# stopped by its PID on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/lib/serve-lib.sh"
py=/usr/bin/python3
load="$py $root/bench/relay/load.py"
herald=${HERALD:-$root/build/herald}
case "$herald" in /*) ;; *) herald=$PWD/$herald ;; esac
IDLE=0
if [ "${1:-}" = --idle ]; then IDLE=1; IDLE_N=${2:-1000}; REPS=1; else REPS=${1:-3}; fi
N_SMALL=${N_SMALL:-2000}; N_BIG=${N_BIG:-1200}; SESSIONS=${SESSIONS:-20}
LOOP_X=${LOOP_X:-5}; RUN_TIMEOUT=${RUN_TIMEOUT:-120}
PARTS=${PARTS:-limits postfix opendkim herald}
QUIET_WAIT=${QUIET_WAIT:-0}
SIZES="2048 102400"

hl_tmpdir
W=$HL_TMP
mkdir -p "$W/res"
[ "$(ulimit -n)" -ge 4096 ] || ulimit -n 4096 2>/dev/null || say "ulimit -n is $(ulimit -n): --idle may run out of descriptors"
label() { [ "$1" = 2048 ] && echo 2KB || echo "$(($1 / 1024))KB"; }
n_for() { [ "$1" = 2048 ] && echo "$N_SMALL" || echo "$N_BIG"; }
part() { case " $PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
say() { echo "# $*"; }

# ---- the sink -------------------------------------------------------------
SINK_PORT=$(hl_free_port)
COUNTER=$W/sink-127.0.0.1-$SINK_PORT.count
sink_up() { hl_sink_start 127.0.0.1 "$SINK_PORT" "$@"; }
sink_down() { hl_stop "$(hl_pid "sink-127.0.0.1:$SINK_PORT")"; hl_wait_gone 127.0.0.1 "$SINK_PORT"; }

quiet() { [ "$QUIET_WAIT" = 0 ] || $load quiet --wait "$QUIET_WAIT"; }

# run_load PORT N SIZE OUT [ROOT_PIDS]: one timed run; JSON appended to OUT
run_load() {
  quiet
  $load run --port "$1" --n "$2" --size "$3" --sessions "$SESSIONS" --counter "$COUNTER" \
    --timeout "$RUN_TIMEOUT" --rss-pids "${5:-}" --tool-pids "$(hl_pid "sink-127.0.0.1:$SINK_PORT")" >> "$4"
  if ! tail -1 "$4" | grep -q '"ok": true'; then
    say "WARNING: run did not complete: $(tail -1 "$4")"
  fi
}

# sample NAME PORT ZONE: 20 messages through the relay to a dumping sink,
# then checked with dkimpy against the TXT records in ZONE; the counting
# sink comes back
sample() {
  local name=$1 port=$2 zone=$3 dump=$W/dump-$1
  sink_down
  sink_up "$dump"
  $load run --port "$port" --n 20 --size 2048 --sessions 5 --counter "$COUNTER" --timeout 60 > "$W/sample-$name.json" || true
  sink_down
  $load dkimcheck "$dump" "$zone" > "$W/res/sample-$name.json"
  say "$name sample: $(cat "$W/res/sample-$name.json")"
  sink_up
}

# ---- physical limits ----------------------------------------------------------
limits() {
  say "limits: openssl speed rsa2048 (1 core and -multi 2), smtp-source -> smtp-sink"
  for rep in $(seq 1 "$REPS"); do
    quiet
    openssl speed -mr -seconds 2 rsa2048 2>/dev/null | $load speed >> "$W/res/openssl.x1"
    quiet
    openssl speed -mr -multi 2 -seconds 2 rsa2048 2>/dev/null | $load speed >> "$W/res/openssl.x2"
    for size in $SIZES; do
      run_load "$SINK_PORT" $(($(n_for "$size") * LOOP_X)) "$size" "$W/res/loopback.$(label "$size").$rep"
    done
  done
}

# ---- Postfix (own throwaway instance: hl_postfix_dirs/hl_postfix_start of tests/lib/serve-lib.sh) ----
PF_PORT=""; PF_DIR=""
pf_start() {  # pf_start NAME [MILTER]
  local name=$1 milter=${2:-} p=$W/postfix-$1
  PF_DIR=$p; PF_PORT=$(hl_free_port)
  hl_postfix_dirs "$p"
  cat > "$p/etc/main.cf" <<MAIN
# bench/relay.sh: throwaway instance, loopback only, relays everything to the sink
compatibility_level = 3.6
queue_directory = $p/spool
data_directory = $p/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mta.bench.invalid
mydomain = bench.invalid
myorigin = \$mydomain
mydestination =
local_recipient_maps =
local_transport = error:local delivery disabled
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:$SINK_PORT
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtp_tls_security_level = none
smtpd_tls_security_level = none
maillog_file_prefixes = $p/log
maillog_file = $p/log/postfix.log
delay_logging_resolution_limit = 3
biff = no
append_dot_mydomain = no
MAIN
  if [ -n "$milter" ]; then
    printf 'smtpd_milters = %s\nmilter_default_action = tempfail\nmilter_protocol = 6\n' "$milter" >> "$p/etc/main.cf"
  fi
  hl_postfix_start "postfix-$name" "$p" 127.0.0.1 "$PF_PORT" || return 1
  say "postfix[$name]: master pid $(hl_pid "postfix-$name"), 127.0.0.1:$PF_PORT -> 127.0.0.1:$SINK_PORT${milter:+, milter $milter}"
}
pf_flush() { /usr/sbin/postsuper -c "$PF_DIR/etc" -d ALL > /dev/null 2>&1 || true; }
pf_sent() { grep -c 'postfix/smtp\[.* status=sent' "$PF_DIR/log/postfix.log" 2>/dev/null || true; }
pf_logged() { [ "$(pf_sent)" -ge "$1" ]; }   # postlogd has written N sent lines

# pf_runs LABEL INSTANCE [EXTRA_PIDS]: REPS timed runs per size; latency from the log
pf_runs() {
  local name=$1 inst=$2 extra=${3:-} size rep n out off want
  for rep in $(seq 1 "$REPS"); do
    for size in $SIZES; do
      n=$(n_for "$size"); out=$W/res/$name.$(label "$size").$rep
      pf_flush
      off=$(stat -c %s "$PF_DIR/log/postfix.log")
      want=$(( $(pf_sent) + n ))
      run_load "$PF_PORT" "$n" "$size" "$out" "$(hl_pid "postfix-$inst")${extra:+,$extra}"
      hl_wait_for 10 pf_logged "$want" || say "WARNING: postfix logged $(pf_sent) sent, want $want"
      $load pflat "$PF_DIR/log/postfix.log" "$off" >> "$out"
    done
  done
}

postfix_part() {
  pf_start relay
  sample postfix "$PF_PORT" "$W/zone.txt"
  sleep 2.5   # let Postfix's cached connections to the sample sink expire (smtp_connection_cache_time_limit 2s)
  pf_runs postfix relay
  hl_stop "$(hl_pid postfix-relay)" 10
}

opendkim_part() {
  local mport; mport=$(hl_free_port)
  cat > "$W/opendkim.conf" <<CONF
Syslog no
Socket inet:$mport@127.0.0.1
PidFile $W/opendkim.pid
Mode s
Domain example.org
Selector rsa2048
KeyFile $W/rsa2048.private
SignatureAlgorithm rsa-sha256
Canonicalization relaxed/relaxed
InternalHosts 127.0.0.1
RequireSafeKeys false
UMask 007
CONF
  hl_spawn opendkim "$W/opendkim.log" /usr/sbin/opendkim -f -x "$W/opendkim.conf"
  hl_wait_port 127.0.0.1 "$mport" 10 tcp "$(hl_pid opendkim)"
  pf_start dkim "inet:127.0.0.1:$mport"
  sample postfix+opendkim "$PF_PORT" "$W/zone.txt"
  sleep 2.5
  pf_runs postfix+opendkim dkim "$(hl_pid opendkim)"
  hl_stop "$(hl_pid postfix-dkim)" 10
  hl_stop "$(hl_pid opendkim)"
}

# ---- herald serve ------------------------------------------------------------------
herald_skip() { say "herald: SKIPPED - $*"; echo "$*" > "$W/res/herald.skipped"; return 1; }
herald_check() {
  "$herald" serve --help > "$W/herald-help.txt" 2>&1 ||
    herald_skip "'$herald serve --help' failed: $(head -1 "$W/herald-help.txt"); herald serve is not in this build" || return 1
  "$herald" domain add --dns-zone /dev/null example.org --data-dir "$W/herald-template" --hostname relay.bench.invalid > "$W/herald-domain.out" 2> "$W/herald-domain.err" ||
    herald_skip "'herald domain add example.org --data-dir DIR' failed: $(head -3 "$W/herald-domain.err")" || return 1
  # keep the record lines (owner [ttl] [IN] TYPE data) for unbound and dkimpy
  grep -E '^[A-Za-z0-9_.@*-]+[[:space:]]+([0-9]+[[:space:]]+)?(IN[[:space:]]+)?[A-Z0-9]+[[:space:]]' \
    "$W/herald-domain.out" > "$W/herald-zone.txt" || true
  grep -q '_domainkey' "$W/herald-zone.txt" ||
    say "WARNING: no DKIM record in the output of herald domain add; the DKIM sample cannot be verified"
}

# herald_start DATA_DIR: fresh copy of the template data dir, config, start
HPORT=""; HPID=""
herald_start() {
  local d=$1 sport
  rm -rf "$d"; cp -a "$W/herald-template" "$d"
  HPORT=$(hl_free_port); sport=$(hl_free_port)
  cat > "$d.conf" <<CONF
# bench/relay.sh
hostname = relay.bench.invalid
data_dir = $d
[smtp]
trusted_networks = 127.0.0.0/8
listen = 127.0.0.1:$HPORT
[status]
listen = 127.0.0.1:$sport
[api]
listen = 127.0.0.1:$(hl_free_port)
[delivery]
mode = real
[route *]
next_hop = 127.0.0.1:$SINK_PORT
[dns]
resolver = 127.0.0.1@$DNS_PORT
CONF
  hl_spawn herald "$d.log" "$herald" serve --config "$d.conf"
  HPID=$(hl_pid herald)
  hl_wait_port 127.0.0.1 "$HPORT" 15 tcp "$HPID" || { cat "$d.log" >&2; return 1; }
}
herald_stop() { hl_stop "$HPID" 10; }

herald_part() {
  herald_check || return 0
  # herald's own DNS records (and nothing else) from a local unbound
  DNS_PORT=$(hl_free_port)
  hl_unbound_start "$W/herald-zone.txt" "$DNS_PORT"
  herald_start "$W/herald-sample" || return 1
  sample herald "$HPORT" "$W/herald-zone.txt"
  herald_stop
  local rep size n out hwm
  for rep in $(seq 1 "$REPS"); do
    for size in $SIZES; do
      n=$(n_for "$size"); out=$W/res/herald.$(label "$size").$rep
      herald_start "$W/herald-$rep-$size" || return 1
      run_load "$HPORT" "$n" "$size" "$out" "$HPID"
      hwm=$(awk '/^VmHWM:/{print $2}' "/proc/$HPID/status" 2>/dev/null || echo 0)
      echo "{\"hwm_kb\": ${hwm:-0}}" >> "$out"
      herald_stop
      if "$herald" events --json --data-dir "$W/herald-$rep-$size" > "$out.events" 2> "$out.events.err"; then
        $load hlat "$out.events" >> "$out"
      else
        say "WARNING: herald events failed: $(head -2 "$out.events.err")"
      fi
    done
  done
}

idle_part() {
  herald_check || exit 0
  DNS_PORT=$(hl_free_port)
  hl_unbound_start "$W/herald-zone.txt" "$DNS_PORT"
  herald_start "$W/herald-idle"
  sleep 1
  $load idle --port "$HPORT" --pid "$HPID" --n "$IDLE_N" --hold 2 > "$W/res/idle.json"
  herald_stop
  $py - "$W/res/idle.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(json.dumps(d))
def r(name, v, unit, detail=""):
    print("RESULT %-44s %12s %-8s %s" % (name, v, unit, detail))
r("herald idle sessions open", "%d/%d" % (d["opened"], d["sessions"]), "sessions",
  "failed %d, still open after the hold %d" % (d["failed"], d["alive_after_hold"]))
r("herald VmRSS before", d["rss_before_kb"], "kB")
r("herald VmRSS with %d idle sessions" % d["sessions"], d["rss_with_sessions_kb"], "kB",
  "%.1f kB per session" % d["kb_per_session"])
r("herald VmRSS after they closed", d["rss_after_close_kb"], "kB")
r("herald VmHWM", d["hwm_kb"], "kB")
PY
}

# ---- main -----------------------------------------------------------------------------
echo "# $(date -u +%FT%TZ) bench/relay.sh: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; $(openssl version | cut -d' ' -f1-2); postfix $(/usr/sbin/postconf -dh mail_version), opendkim $(dpkg-query -W -f='${Version}' opendkim 2>/dev/null || echo '?')"
echo "# work dir $W ($(df --output=fstype "$W" | tail -1)); herald: $herald"
sink_up
if [ "$IDLE" = 1 ]; then idle_part; exit 0; fi
echo "# $SESSIONS sessions, new connection per message; ${N_SMALL} x 2 KB and ${N_BIG} x 100 KB per run (loopback: ${LOOP_X}x); reps $REPS"

# the OpenDKIM key, and the zone the Postfix samples are checked against
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/rsa2048.private" 2>/dev/null
printf 'rsa2048._domainkey.example.org. IN TXT "v=DKIM1; k=rsa; p=%s"\n' \
  "$(openssl pkey -in "$W/rsa2048.private" -pubout -outform DER 2>/dev/null | base64 -w0)" > "$W/zone.txt"

t_start=$(date +%s)
part limits && limits
part postfix && postfix_part
part opendkim && opendkim_part
rc=0
if part herald; then herald_part || { rc=1; say "herald: FAILED, see the messages above (HL_KEEP=1 keeps the work dir)"; }; fi
say "measured in $(( $(date +%s) - t_start )) s"

$load summary "$W/res" --reps "$REPS" --sessions "$SESSIONS"
exit $rc
