# shellcheck shell=bash
# serve-lib.sh - helpers for herald's server integration tests (source it;
# bash only). Everything listens on 127.0.0.0/8 only; every process started
# here is recorded and stopped by its PID (hl_stop_all, also run by the
# EXIT trap that hl_tmpdir installs). See tests/lib/README.md.
#
#   . "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
#   hl_tmpdir                                   # sets HL_TMP, trap cleanup
#   dns=$(hl_free_port); hl_unbound_start zone.txt "$dns"
#   mx=$(hl_free_port 127.0.0.2); hl_receiver_start 127.0.0.2 "$mx" "$HL_TMP/rx" behaviour.json
#   hl_spawn herald "$HL_TMP/herald.log" "$HERALD" serve --config cfg
#   hl_wait_spool "$HL_TMP/rx" 1 10
#
# Failures print "serve-lib: ..." on stderr and return non-zero.

HL_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HL_PY=${HL_PY:-/usr/bin/python3}   # Debian's python: has aiosmtpd and dkim
HL_TMP=${HL_TMP:-}
HL_NAMES=()                        # started processes, in start order
HL_PIDS=()

hl_die() { echo "serve-lib: $*" >&2; return 1; }

# hl_tmpdir: make HL_TMP (mode 0755, so that daemons that drop privileges
# can reach their files) and install an EXIT/INT/TERM trap that stops every
# process started here and removes HL_TMP (kept when HL_KEEP=1). Call it
# directly, not in $(...): the trap must live in the test's own shell.
hl_tmpdir() {
  HL_TMP=$(mktemp -d "${TMPDIR:-/tmp}/herald-test.XXXXXX") || return 1
  chmod 755 "$HL_TMP"
  trap hl_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

hl_cleanup() {
  local rc=$?
  set +e
  hl_stop_all
  if [ -n "$HL_TMP" ] && [ -d "$HL_TMP" ]; then
    if [ "${HL_KEEP:-0}" = 1 ]; then echo "serve-lib: kept $HL_TMP" >&2; else rm -rf "$HL_TMP"; fi
  fi
  return $rc
}

# hl_register NAME PID: remember a process for hl_stop_all.
hl_register() { HL_NAMES+=("$1"); HL_PIDS+=("$2"); }

# hl_pid NAME: the PID of the last process registered under NAME.
hl_pid() {
  local i
  for ((i = ${#HL_NAMES[@]} - 1; i >= 0; i--)); do
    [ "${HL_NAMES[$i]}" = "$1" ] && { echo "${HL_PIDS[$i]}"; return 0; }
  done
  return 1
}

# hl_stop PID [SECONDS]: SIGTERM, wait (default 5 s), then SIGKILL.
hl_stop() {
  local pid=$1 limit=${2:-5} i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < limit * 20; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "serve-lib: pid $pid ignored SIGTERM for ${limit}s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  return 0
}

# hl_stop_all: stop every registered process, the last started first.
hl_stop_all() {
  local i
  for ((i = ${#HL_PIDS[@]} - 1; i >= 0; i--)); do
    hl_stop "${HL_PIDS[$i]}"
  done
  HL_NAMES=(); HL_PIDS=()
}

# hl_spawn NAME LOGFILE CMD...: start CMD in the background (stdout and
# stderr to LOGFILE), register it, print nothing. The PID: hl_pid NAME.
hl_spawn() {
  local name=$1 log=$2; shift 2
  "$@" > "$log" 2>&1 &
  hl_register "$name" $!
}

# hl_free_port [IP]: print a port that is free for TCP and UDP on IP
# (default 127.0.0.1), never one it gave before in this test (after
# hl_tmpdir). Another process may take it before you bind it; ports come
# from the kernel's ephemeral range.
hl_free_port() {
  "$HL_PY" - "${1:-127.0.0.1}" "${HL_TMP:+$HL_TMP/.ports}" <<'PY'
import socket, sys
ip, memo = sys.argv[1], sys.argv[2]
fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
# the kernel may hand out a port again once its probe socket is closed:
# ports given before in this test (kept in HL_TMP, since each call runs in
# a subshell) are not given twice, else two listeners of one config clash
given = set()
if memo:
    try:
        given = set(open(memo).read().split())
    except OSError:
        pass
for _ in range(50):
    t = socket.socket(fam, socket.SOCK_STREAM)
    t.bind((ip, 0))
    port = t.getsockname()[1]
    u = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        u.bind((ip, port))
    except OSError:
        continue
    if f"{ip}:{port}" in given:
        continue
    if memo:
        with open(memo, "a") as f:
            f.write(f"{ip}:{port}\n")
    print(port)
    sys.exit(0)
sys.exit("no free port on " + ip)
PY
}

# hl_listening IP PORT [tcp|udp]: true if something listens there.
hl_listening() {
  local ip=$1 port=$2 flags=-ltnH
  [ "${3:-tcp}" = udp ] && flags=-lunH
  ss $flags "sport = :$port" 2>/dev/null | awk -v ip="$ip" -v p="$port" '
    $4 == ip ":" p || $4 == "[" ip "]:" p || $4 == "0.0.0.0:" p || $4 == "*:" p || $4 == "[::]:" p { f = 1 }
    END { exit !f }'
}

# hl_wait_port IP PORT [TIMEOUT_S] [tcp|udp] [PID]: wait until IP:PORT
# listens (default 10 s). With PID, give up early if that process died.
hl_wait_port() {
  local ip=$1 port=$2 limit=${3:-10} proto=${4:-tcp} pid=${5:-} i
  for ((i = 0; i < limit * 20; i++)); do
    hl_listening "$ip" "$port" "$proto" && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      hl_die "pid $pid exited before listening on $ip:$port/$proto"; return 1
    fi
    sleep 0.05
  done
  hl_die "nothing listens on $ip:$port/$proto after ${limit}s"
}

# hl_wait_gone IP PORT [TIMEOUT_S]: wait until nothing listens on IP:PORT.
hl_wait_gone() {
  local i
  for ((i = 0; i < ${3:-5} * 20; i++)); do
    hl_listening "$1" "$2" || return 0
    sleep 0.05
  done
  hl_die "$1:$2 still listening"
}

# hl_zone_to_unbound FILE: turn a zone fixture (docs/zone-format.md:
# RFC 1035 master-file lines, one record a line, $TTL, $ORIGIN, @,
# a blank owner repeats the last one) into unbound "server:" lines on
# stdout. Lines that already start with local-data:, local-data-ptr: or
# local-zone: pass through. TXT strings over 255 bytes are split. Fixture pseudo-records: "NAME TIMEOUT" ->
# local-zone deny (queries are dropped, the client times out; the whole
# subtree, and only when NAME has no records of its own), "NAME SERVFAIL" ->
# local-zone always_refuse (REFUSED: a forwarding resolver reports a failure).
hl_zone_to_unbound() {
  "$HL_PY" - "$1" <<'PY'
import re, sys
ttl, origin, last = "300", ".", None
owners, special, out = set(), [], []

def absname(n):
    if n == "@":
        return origin
    if n.endswith("."):
        return n.lower()
    return (n + "." + (origin if origin != "." else "")).lower()

def split_txt(rdata):
    """TXT strings longer than 255 bytes (no escapes) become several."""
    def cut(m):
        text = m.group(1)
        if len(text) <= 255 or "\\" in text:
            return m.group(0)
        return " ".join('"%s"' % text[i:i + 255] for i in range(0, len(text), 255))
    return re.sub(r'"((?:[^"\\]|\\.)*)"', cut, rdata)

def strip_comment(line):
    quoted = esc = False       # a ";" outside double quotes starts a comment
    for i, c in enumerate(line):
        if esc:
            esc = False
        elif c == "\\":
            esc = True
        elif c == '"':
            quoted = not quoted
        elif c == ";" and not quoted:
            return line[:i]
    return line

for n, raw in enumerate(open(sys.argv[1]), 1):
    line = raw.rstrip("\r\n")
    if not line.strip() or line.lstrip().startswith("#"):
        continue
    if re.match(r"\s*(local-data|local-data-ptr|local-zone):", line):
        out.append("    " + line.strip())
        continue
    body = strip_comment(line)
    toks = list(re.finditer(r"\S+", body))
    if not toks:
        continue
    word = toks[0].group()
    if word in ("$TTL", "$ORIGIN") and len(toks) == 2:
        if word == "$TTL":
            ttl = toks[1].group()
        else:
            origin = absname(toks[1].group().rstrip(".") + ".")
        continue
    if line[0] in " \t":
        owner = last
    else:
        owner = absname(toks.pop(0).group())
    if owner is None:
        sys.exit("zone line %d: no owner name: %s" % (n, line))
    last = owner
    rttl = ttl
    while toks and (toks[0].group().isdigit() or toks[0].group().upper() == "IN"):
        t = toks.pop(0).group()
        if t.isdigit():
            rttl = t
    if not toks:
        sys.exit("zone line %d: no type: %s" % (n, line))
    rtype = toks[0].group().upper()
    if rtype in ("TIMEOUT", "SERVFAIL"):
        special.append((owner, rtype))
        continue
    rdata = body[toks[0].end():].strip()
    if rtype == "TXT":
        rdata = split_txt(rdata)
    if "'" in rdata:
        sys.exit("zone line %d: a single quote in the data is not supported" % n)
    owners.add(owner)
    out.append("    local-data: '%s %s IN %s %s'" % (owner, rttl, rtype, rdata))

for owner, kind in special:
    if kind == "TIMEOUT" and owner in owners:
        print("serve-lib: %s TIMEOUT next to records cannot be served by unbound; skipped"
              % owner, file=sys.stderr)
        continue
    out.append('    local-zone: "%s" %s' % (owner, "deny" if kind == "TIMEOUT" else "always_refuse"))
print("server:")
print("\n".join(out))
PY
}

# hl_unbound_start ZONE PORT [IP]: unbound on IP:PORT (default 127.0.0.1)
# answering only from local data: ZONE is a zone fixture file or, if no
# such file exists, the records themselves (newline-separated text). Every
# other name is NXDOMAIN; unbound never sends a query anywhere.
hl_unbound_start() {
  local zone=$1 port=$2 ip=${3:-127.0.0.1} dir
  [ -n "$HL_TMP" ] || hl_die "hl_unbound_start: call hl_tmpdir first" || return 1
  dir=$HL_TMP/unbound-$ip-$port
  mkdir -p "$dir"
  if [ -f "$zone" ]; then
    cp "$zone" "$dir/zone.txt"
  else
    printf '%s\n' "$zone" > "$dir/zone.txt"
  fi
  hl_zone_to_unbound "$dir/zone.txt" > "$dir/zone.conf" || return 1
  cat > "$dir/unbound.conf" <<CONF
server:
    interface: $ip
    port: $port
    do-ip6: no
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$dir"
    pidfile: "$dir/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    num-threads: 1
    # answer only from local data below; everything else is NXDOMAIN
    local-zone: "." static
include: "$dir/zone.conf"
remote-control:
    control-enable: no
CONF
  /usr/sbin/unbound-checkconf "$dir/unbound.conf" > "$dir/checkconf.log" 2>&1 ||
    { cat "$dir/checkconf.log" >&2; hl_die "unbound config rejected ($dir/unbound.conf)"; return 1; }
  hl_spawn unbound "$dir/unbound.log" /usr/sbin/unbound -d -c "$dir/unbound.conf"
  hl_wait_port "$ip" "$port" 10 udp "$(hl_pid unbound)" ||
    { cat "$dir/unbound.log" >&2; return 1; }
}

# hl_receiver_start IP PORT SPOOL [BEHAVIOUR_FILE|""] [receiver.py args...]:
# start tests/lib/receiver.py (aiosmtpd) on IP:PORT spooling to SPOOL; its
# PID file, log and journal are SPOOL.pid, SPOOL.log, SPOOL.journal.
# STARTTLS: pass --tls-cert C --tls-key K (see hl_self_signed_cert).
hl_receiver_start() {
  local ip=$1 port=$2 spool=$3 behaviour=${4:-}
  shift 3; [ $# -gt 0 ] && shift
  local args=(--listen "$ip:$port" --spool "$spool")
  [ -n "$behaviour" ] && args+=(--behaviour "$behaviour")
  mkdir -p "$spool"
  hl_spawn "receiver-$ip:$port" "$spool.stderr" "$HL_PY" "$HL_LIB_DIR/receiver.py" "${args[@]}" "$@"
  hl_wait_port "$ip" "$port" 15 tcp "$(hl_pid "receiver-$ip:$port")" ||
    { cat "$spool.stderr" "$spool.log" >&2 2>/dev/null; return 1; }
}

# hl_sink_start IP PORT [DUMPDIR]: Postfix's smtp-sink on IP:PORT accepting
# everything; its running counters go to HL_TMP/sink-IP-PORT.count (read
# them with hl_sink_count). With DUMPDIR each message is dumped there.
hl_sink_start() {
  local ip=$1 port=$2 dump=${3:-} args=(-u nobody -c)
  if [ -n "$dump" ]; then
    mkdir -p "$dump"; chmod 1777 "$dump"
    args+=(-d "$dump/%Y%m%d%H%M%S.")
  fi
  hl_spawn "sink-$ip:$port" "$HL_TMP/sink-$ip-$port.count" /usr/sbin/smtp-sink "${args[@]}" "$ip:$port" 1024
  hl_wait_port "$ip" "$port" 10 tcp "$(hl_pid "sink-$ip:$port")"
}

# hl_sink_count IP PORT: messages the sink on IP:PORT has received so far.
hl_sink_count() {
  local f=$HL_TMP/sink-$1-$2.count
  [ -f "$f" ] || { echo 0; return; }
  local last
  last=$(tail -c 200 "$f" 2>/dev/null | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1) || true
  echo "${last:-0}"
}

# hl_self_signed_cert DIR [CN] [rsa|ec]: DIR/cert.pem + DIR/key.pem, valid
# two days, SAN = CN, localhost, 127.0.0.1-3. Sets HL_CERT and HL_KEY.
hl_self_signed_cert() {
  local dir=$1 cn=${2:-mx.test} alg=${3:-ec} key=()
  mkdir -p "$dir"
  case "$alg" in
    ec) key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) ;;
    rsa) key=(-newkey rsa:2048) ;;
    *) hl_die "hl_self_signed_cert: alg is rsa or ec"; return 1 ;;
  esac
  openssl req -x509 "${key[@]}" -nodes -days 2 -subj "/CN=$cn" \
    -addext "subjectAltName=DNS:$cn,DNS:localhost,IP:127.0.0.1,IP:127.0.0.2,IP:127.0.0.3" \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" > "$dir/openssl.log" 2>&1 ||
    { cat "$dir/openssl.log" >&2; hl_die "openssl req failed"; return 1; }
  HL_CERT=$dir/cert.pem HL_KEY=$dir/key.pem
}

# hl_spool_count SPOOL: messages (.eml files) in a receiver's spool.
hl_spool_count() { find "$1" -maxdepth 1 -name '*.eml' 2>/dev/null | wc -l; }

# hl_wait_spool SPOOL N [TIMEOUT_S]: wait until SPOOL holds at least N messages.
hl_wait_spool() {
  local i
  for ((i = 0; i < ${3:-10} * 20; i++)); do
    [ "$(hl_spool_count "$1")" -ge "$2" ] && return 0
    sleep 0.05
  done
  hl_die "$1: $(hl_spool_count "$1") messages after ${3:-10}s, want $2"
}

# hl_wait_for TIMEOUT_S CMD...: run CMD every 50 ms until it succeeds. CMD's
# arguments are expanded once, by the caller: to re-read a value on every
# try, wrap the test in a function (f() { [ "$(hl_sink_count IP P)" = 3 ]; }).
hl_wait_for() {
  local limit=$1 i; shift
  for ((i = 0; i < limit * 20; i++)); do
    "$@" && return 0
    sleep 0.05
  done
  hl_die "timed out after ${limit}s waiting for: $*"
}

# ---- herald itself (these need HERALD, the path of the herald program) ----

# hl_relay_conf CONF DATA_DIR SMTP_PORT NEXT_HOP_PORT: write CONF for a
# server that really delivers every domain to 127.0.0.1:NEXT_HOP_PORT,
# trying again each second, with submission on 127.0.0.1:SMTP_PORT open to
# loopback without AUTH (the other listeners on free ports); and add the
# sending domain example.com to DATA_DIR.
hl_relay_conf() {
  local conf=$1 data=$2 smtp=$3 mx=$4
  cat > "$conf" <<C
hostname = mail.herald.test
data_dir = $data
[smtp]
listen = 127.0.0.1:$smtp
trusted_networks = 127.0.0.0/8
[status]
listen = 127.0.0.1:$(hl_free_port)
[api]
listen = 127.0.0.1:$(hl_free_port)
[inbound]
listen = 127.0.0.1:$(hl_free_port)
[queue]
retry_min = 1s
retry_max = 1s
[delivery]
mode = real
[route *]
next_hop = 127.0.0.1:$mx
C
  "$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$data" --hostname mail.herald.test > /dev/null
}

# hl_herald_start CONF SMTP_PORT [NAME] [LOG]: start `herald serve --config
# CONF` (registered as NAME, default "herald"; output to LOG, default
# HL_TMP/NAME.log) and wait until it listens on 127.0.0.1:SMTP_PORT.
hl_herald_start() {
  local conf=$1 port=$2 name=${3:-herald}
  local log=${4:-$HL_TMP/$name.log}
  hl_spawn "$name" "$log" "$HERALD" serve --config "$conf"
  hl_wait_port 127.0.0.1 "$port" 15 tcp "$(hl_pid "$name")" || { tail -n 20 "$log" >&2; return 1; }
}

# hl_events DATA_DIR: `herald events --json`, one JSON object a line.
hl_events() { "$HERALD" events --json --data-dir "$1"; }

# hl_event_count DATA_DIR TYPE RECIPIENT: how many events of TYPE the
# recipient has (0 when none).
hl_event_count() {
  hl_events "$1" | "$HL_PY" -c '
import json, sys
t, r = sys.argv[1], sys.argv[2].lower()
n = 0
for line in sys.stdin:
    e = json.loads(line)
    n += e.get("type") == t and e.get("recipient", "").lower() == r
print(n)' "$2" "$3"
}

# hl_event_has DATA_DIR TYPE RECIPIENT: true when such an event exists
# (for hl_wait_for).
hl_event_has() { [ "$(hl_event_count "$@")" -gt 0 ]; }

# hl_smtp_send PORT FROM TO[,TO...] [SUBJECT] [IP]: submit one small message
# to herald on IP:PORT (default 127.0.0.1) with Python's smtplib; prints the
# queue id from "250 ... queued as ID"; fails unless every recipient was taken.
hl_smtp_send() {
  "$HL_PY" - "$@" <<'PY'
import smtplib, sys
port, frm, to = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(",")
subject = sys.argv[4] if len(sys.argv) > 4 else "test"
ip = sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1"
msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nA test message: %s\r\n"
       % (frm, to[0], subject, subject)).encode()
s = smtplib.SMTP(ip, port, timeout=20)
s.ehlo("client.test")
s.mail(frm)
for r in to:
    code, text = s.rcpt(r)
    if code != 250:
        sys.exit("serve-lib: RCPT %s: %d %s" % (r, code, text.decode()))
code, text = s.data(msg)
if code != 250 or b"queued as " not in text:
    sys.exit("serve-lib: DATA: %d %s" % (code, text.decode()))
print(text.decode().rsplit("queued as ", 1)[1].split()[0])
s.quit()
PY
}

# hl_postfix_dirs DIR: the directories of a throwaway Postfix instance
# (etc/ for its config, spool/ as queue_directory, data/, log/), owned as
# Postfix wants them. Write DIR/etc/main.cf (queue_directory = DIR/spool,
# data_directory = DIR/data, maillog_file = DIR/log/postfix.log, ...),
# then hl_postfix_start.
hl_postfix_dirs() {
  mkdir -p "$1/etc" "$1/spool" "$1/data" "$1/log"
  chown root:root "$1/spool"
  chown postfix:postfix "$1/data"
}

# hl_postfix_start NAME DIR IP PORT: write DIR/etc/master.cf (smtpd on
# IP:PORT, the standard services, local delivery for instances that keep
# mail), start that instance, register its master as NAME and wait for
# the port. A throwaway instance: its own config directory (postfix -c),
# queue and log, and no chroot, so it leaves the system's Postfix alone.
hl_postfix_start() {
  local name=$1 p=$2 ip=$3 port=$4
  cat > "$p/etc/master.cf" <<MASTER
$ip:$port inet n -     n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
MASTER
  /usr/sbin/postfix -c "$p/etc" check 2>&1 | grep -v 'not owned by\|group or other writable' >&2 || true
  /usr/sbin/postfix -c "$p/etc" start > "$p/start.log" 2>&1 || { cat "$p/start.log" >&2; return 1; }
  hl_wait_for 10 test -s "$p/spool/pid/master.pid" || { echo "serve-lib: postfix $name wrote no pid" >&2; return 1; }
  hl_register "$name" "$(tr -d ' \n' < "$p/spool/pid/master.pid")"
  hl_wait_port "$ip" "$port" 15 tcp "$(hl_pid "$name")"
}
