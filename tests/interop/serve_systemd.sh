#!/usr/bin/env bash
# serve_systemd.sh - herald under a service manager, as herald.service runs it:
#   - Type=notify: with $NOTIFY_SOCKET set (a path, or an @abstract name),
#     herald sends READY=1 (with its MAINPID) once its listeners are bound,
#     RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a reload (SIGHUP,
#     or the one `herald domain add` asks for over the control socket),
#     and STOPPING=1 on SIGTERM; this script plays systemd's side of the
#     socket (sd_notify(3)'s datagram protocol);
#   - the reload is real: a domain added while herald runs is taken;
#   - a NOTIFY_SOCKET that names no usable socket is a warning, not a failure;
#   - herald raises its soft open-file limit to the hard one, and refuses
#     the configuration (exit 78) when the hard limit is below its caps;
#   - the unit file that CMake makes from dist/herald.service.in passes
#     `systemd-analyze verify`, and sets what a mail daemon needs.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
PY=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; tail -n 20 "$T"/herald*.log >&2 || true; exit 1; }
pass() { echo "ok: $*"; }

# ---- the service manager's end: every datagram becomes one line of $2 ----
# (newlines inside a datagram become '|')
notify_listen() {   # SOCKET-NAME OUT-FILE
  "$PY" - "$1" "$2" <<'P' &
import socket, sys
name, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + name[1:] if name.startswith("@") else name)
open(out + ".ready", "w").close()
while True:
    data = s.recv(4096)
    with open(out, "a") as f:
        f.write(data.decode().replace("\n", "|") + "\n")
P
  hl_register notify $!
  hl_wait_for 10 test -e "$2.ready"
}
# has FILE PATTERN: a line of FILE matches the extended regex
has() { grep -Eq -- "$2" "$1" 2>/dev/null; }

write_conf() {   # FILE SMTP-PORT DATA-DIR
  printf 'hostname = mail.herald.test\ndata_dir = %s\n[smtp]\ntrusted_networks = 127.0.0.0/8\nlisten = 127.0.0.1:%s\n[status]\nlisten = 127.0.0.1:%s\n[api]\nlisten = 127.0.0.1:%s\n[inbound]\nlisten =\n' \
    "$3" "$2" "$(hl_free_port)" "$(hl_free_port)" > "$1"
}

# ---- 1. READY after the listeners, RELOADING/READY around SIGHUP, STOPPING ----
smtp=$(hl_free_port)
write_conf "$T/herald.conf" "$smtp" "$T/data"
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null
notify_listen "$T/notify.sock" "$T/notes"
NOTIFY_SOCKET=$T/notify.sock hl_spawn herald "$T/herald.log" "$HERALD" serve --config "$T/herald.conf"
pid=$(hl_pid herald)
hl_wait_for 15 has "$T/notes" '^READY=1' || fail "no READY=1 from herald"
# READY means every listener is bound: the port answers now, without waiting
hl_listening 127.0.0.1 "$smtp" || fail "READY=1 came before the SMTP listener was bound"
has "$T/notes" "^READY=1\|MAINPID=$pid\|STATUS=serving from $T/data" ||
  fail "READY=1 without MAINPID=$pid and STATUS: $(cat "$T/notes")"
pass "READY=1 with MAINPID=$pid once the listeners are bound"

# a domain added while herald runs: `domain add` asks for a reload over
# the control socket, which tells systemd as a SIGHUP does
"$HERALD" domain add --dns-zone /dev/null late.example --data-dir "$T/data" --hostname mail.herald.test > "$T/add.out"
grep -q '^; herald: the running server has reloaded' "$T/add.out" || fail "domain add did not reload: $(head -3 "$T/add.out")"
hl_wait_for 10 has "$T/notes" '^READY=1\|STATUS=serving$' || fail "no READY=1 after the reload: $(cat "$T/notes")"
has "$T/notes" '^RELOADING=1\|MONOTONIC_USEC=[0-9]+$' || fail "no RELOADING=1 with MONOTONIC_USEC: $(cat "$T/notes")"
[ "$(grep -n '^RELOADING=1' "$T/notes" | head -1 | cut -d: -f1)" -lt "$(grep -n '^READY=1|STATUS=serving$' "$T/notes" | head -1 | cut -d: -f1)" ] ||
  fail "READY=1 came before RELOADING=1: $(cat "$T/notes")"
hl_smtp_send "$smtp" alice@late.example bob@rx.test "after reload" > /dev/null ||
  fail "the domain added while the server runs is refused"
grep -q 'reload (control socket): sending domains and keys reloaded' "$T/herald.log" || fail "the reload is not logged"
# SIGHUP: the same reload
kill -HUP "$pid"
two_reloads() { [ "$(grep -c '^RELOADING=1' "$T/notes")" -ge 2 ] && [ "$(grep -c '^READY=1|STATUS=serving$' "$T/notes")" -ge 2 ]; }
hl_wait_for 10 two_reloads || fail "no RELOADING=1 and READY=1 after SIGHUP: $(cat "$T/notes")"
hl_wait_for 10 grep -q 'reload (SIGHUP): sending domains and keys reloaded' "$T/herald.log" || fail "the SIGHUP reload is not logged"
pass "domain add and SIGHUP reload: RELOADING=1, the new domain taken, READY=1"

kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 0 ] || fail "herald exited $rc on SIGTERM"
has "$T/notes" '^STOPPING=1' || fail "no STOPPING=1 on SIGTERM: $(cat "$T/notes")"
pass "SIGTERM: STOPPING=1, exit 0"

# ---- 2. an abstract socket name (what systemd itself uses) ----
smtp2=$(hl_free_port)
write_conf "$T/herald2.conf" "$smtp2" "$T/data"
name="@herald-test-$$-$RANDOM"
notify_listen "$name" "$T/notes2"
NOTIFY_SOCKET=$name hl_spawn herald2 "$T/herald2.log" "$HERALD" serve --config "$T/herald2.conf"
hl_wait_for 15 has "$T/notes2" '^READY=1' || fail "no READY=1 on the abstract socket $name"
hl_stop "$(hl_pid herald2)"
pass "READY=1 on an abstract socket ($name)"

# ---- 3. a NOTIFY_SOCKET that names nothing usable: a warning, herald serves ----
smtp3=$(hl_free_port)
write_conf "$T/herald3.conf" "$smtp3" "$T/data"
NOTIFY_SOCKET=relative/name hl_spawn herald3 "$T/herald3.log" "$HERALD" serve --config "$T/herald3.conf"
hl_wait_port 127.0.0.1 "$smtp3" 15 tcp "$(hl_pid herald3)" || fail "herald did not serve with a bad NOTIFY_SOCKET"
hl_wait_for 5 grep -q 'service manager: NOTIFY_SOCKET="relative/name": not a socket path' "$T/herald3.log" ||
  fail "no warning for NOTIFY_SOCKET=relative/name: $(tail -n 5 "$T/herald3.log")"
hl_stop "$(hl_pid herald3)"
pass "a bad NOTIFY_SOCKET is a warning; herald serves"

# ---- 4. the open-file limit: the soft one raised to the hard one, or a refusal ----
# the default caps: 2000 + 200 SMTP sessions, 500 connections, 512 spare,
# and 3 for each thread's database connection (a worker per CPU, up to 4
# password checkers, the committer, the main thread): at most this
need=$((2000 + 200 + 500 + 512 + 3 * ($(nproc) + 4 + 2)))
smtp4=$(hl_free_port)
write_conf "$T/herald4.conf" "$smtp4" "$T/data"
hl_spawn herald4 "$T/herald4.log" bash -c "ulimit -Sn 1024; ulimit -Hn $((need * 2)); exec \"\$0\" serve --config \"\$1\"" \
  "$HERALD" "$T/herald4.conf"
hl_wait_port 127.0.0.1 "$smtp4" 15 tcp "$(hl_pid herald4)" || fail "herald with ulimit -n 1024 did not serve"
soft=$(awk '/^Max open files/ {print $4}' "/proc/$(hl_pid herald4)/limits")
[ "$soft" = $((need * 2)) ] || fail "soft open-file limit $soft, want it raised from 1024 to the hard $((need * 2))"
grep -q 'open files limited' "$T/herald4.log" && fail "a warning although the limit could be raised"
hl_stop "$(hl_pid herald4)"
smtp5=$(hl_free_port)
write_conf "$T/herald5.conf" "$smtp5" "$T/data"
set +e
bash -c "ulimit -n 2000; exec \"\$0\" serve --config \"\$1\"" "$HERALD" "$T/herald5.conf" \
  > "$T/herald5.log" 2>&1
rc=$?
set -e
[ "$rc" = 78 ] && grep -q "the caps need about [0-9]* open files but the hard limit is 2000" "$T/herald5.log" ||
  fail "under a hard limit of 2000 (exit $rc): no refusal with the numbers: $(head -n 3 "$T/herald5.log")"
pass "open files: soft limit raised from 1024 to the hard $((need * 2)); under a hard limit of 2000, refused (exit 78)"

# ---- 5. the unit file ----
unit=$(dirname "$HERALD")/herald.service
[ -f "$unit" ] || fail "no herald.service next to $HERALD (CMake makes it from dist/herald.service.in)"
for want in '^Type=notify$' '^User=herald$' '^ExecReload=/bin/kill -HUP \$MAINPID$' \
    '^ExecStart=/.*/herald serve --config /.*/herald/herald.conf$' '^LimitNOFILE=[0-9]+:[0-9]+$' \
    '^RestartPreventExitStatus=64 66 78$' \
    '^ProtectSystem=strict$' '^ReadWritePaths=/var/lib/herald$' '^StateDirectory=herald$' \
    '^NoNewPrivileges=yes$' '^PrivateTmp=yes$' '^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$' \
    '^AmbientCapabilities=CAP_NET_BIND_SERVICE$'; do
  grep -Eq "$want" "$unit" || fail "herald.service lacks $want"
done
# LimitNOFILE's soft limit must cover what herald asks for with the default
# caps (SMTP + inbound sessions + delivery connections + 512 + the
# threads' database files, as above), and its hard limit leave room above it
lim=$(sed -n 's/^LimitNOFILE=//p' "$unit")
[ "${lim%%:*}" -ge "$need" ] || fail "LimitNOFILE=$lim: the soft limit is below the $need descriptors the default caps need"
[ "${lim#*:}" -ge "${lim%%:*}" ] || fail "LimitNOFILE=$lim: the hard limit is below the soft one"
# systemd-analyze checks every directive, and that ExecStart's program
# exists: the copy it checks runs the herald just built, the rest unchanged
sed "s|^ExecStart=[^ ]*/herald |ExecStart=$HERALD |" "$unit" > "$T/herald.service"
systemd-analyze verify --man=no "$T/herald.service" > "$T/verify.out" 2>&1 ||
  fail "systemd-analyze verify: $(cat "$T/verify.out")"
[ ! -s "$T/verify.out" ] || fail "systemd-analyze verify warns: $(cat "$T/verify.out")"
pass "herald.service passes systemd-analyze verify ($(systemd-analyze --version | head -n 1))"
echo "serve_systemd: all passed"
