#!/usr/bin/env bash
# fresh-check.sh - prove the README's two commands on a machine that has only
# Debian 12 and the clone, and the Debian package on one that has only Debian.
# Run it before every release (as root: debootstrap, chroot, mounts); it takes
# about 11 minutes on 2 cores and downloads about 350 MB of packages.
#
#   scripts/fresh-check.sh [--first-only] [--keep] [WORKDIR]
#
#   1. debootstrap --variant=minbase bookworm into WORKDIR/rootA (WORKDIR
#      must be new or empty; default: a new folder under /var/tmp), from
#      the Debian mirror this machine's apt sources name;
#   2. copy the clone in (its tracked and new files, not build output) and
#      run the first command, scripts/run.sh, there until herald answers on
#      127.0.0.1:2525 and a message submitted over SMTP is captured;
#   3. run the second command, scripts/test.sh, there (skipped with
#      --first-only);
#   4. build the Debian package in that root, install it with apt into a
#      second fresh root B (so its Depends must be complete), and check what
#      its maintainer scripts made (the herald user, /var/lib/herald 0750,
#      /etc/herald/herald.conf root:herald 0640, the unit not enabled);
#   5. boot root B with systemd (systemd-nspawn) and run herald.service as
#      shipped: `systemctl start` (Type=notify), a message submitted and
#      captured, reload, stop, and a bad configuration that must fail with
#      exit 78 and not be restarted.
# Prints the time each step took. The roots share this machine's network
# (apt needs it), so ports 2525, 2526, 8025 and 8026 must be free here.
# Everything it starts is stopped, and its mounts live in a private mount
# namespace; WORKDIR is removed unless --keep.
set -euo pipefail
root_dir=$(cd "$(dirname "$0")/.." && pwd)

first_only=0 keep=0 work=""
for arg in "$@"; do
  case "$arg" in
    --first-only) first_only=1 ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    -*) echo "fresh-check: unknown option $arg" >&2; exit 64 ;;
    *) work=$arg ;;
  esac
done
die() { echo "fresh-check: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot and mounts)"
for tool in debootstrap unshare chroot nsenter systemd-nspawn; do
  command -v "$tool" >/dev/null ||
    die "$tool is missing (apt-get install debootstrap util-linux coreutils systemd-container)"
done

# ---- the mount namespace: every mount made below vanishes with it ----
if [ -z "${FRESH_CHECK_IN_NS:-}" ]; then
  FRESH_CHECK_IN_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi

# The Debian mirror, from this machine's apt sources (deb822 .sources files
# or one-line sources.list), never a host name written here.
debian_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
      { uri = ""; ok = 0; deb = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { split($i, a, " "); uri = a[2] }
          if ($i ~ /^Suites:/ && $i ~ /[ \t]bookworm([ \t]|$)/) ok = 1
          if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
        }
        if (uri != "" && ok && deb) { print uri; exit } }' "$f"
  done
  if [ -f /etc/apt/sources.list ]; then
    awk '$1 == "deb" && $3 == "bookworm" { u = $2; if (u ~ /^\[/) u = $3; print u; exit }' \
      /etc/apt/sources.list
  fi
}
mirror=$(debian_mirror | head -n 1)
[ -n "$mirror" ] || die "no bookworm 'deb' source in /etc/apt/sources.list{,.d}: which mirror?"

for port in 2525 2526 8025 8026; do
  if ss -ltnH "sport = :$port" 2>/dev/null | grep -q .; then
    die "port $port is taken on this machine; herald in the fresh root needs it"
  fi
done

if [ -n "$work" ]; then
  # canonical, so that /proc/PID/root and the mount table name it alike;
  # new or empty, since everything in it is removed at the end
  work=$(realpath -m -- "$work")
  [ ! -e "$work" ] || [ -z "$(ls -A "$work")" ] || die "$work is not empty: give a new or empty folder"
  mkdir -p "$work"
else
  work=$(mktemp -d /var/tmp/herald-fresh.XXXXXX)
fi
log=$work/fresh-check.log
: > "$log"
times=()
note() { echo "== $*" | tee -a "$log"; }
took() { times+=("$(printf '%-58s %5d s' "$1" "$2")"); echo "   ($2 s)" | tee -a "$log"; }

roots=()
# stop every process whose root is one of ours, then leave the namespace
cleanup() {
  local rc=$? r p
  set +e
  # root B's booted processes see a root of their own (not "$B"): killing
  # the container's init ends its whole PID namespace, then nspawn (each
  # only while it is still nspawn's, not a reused PID)
  if [ -n "${nspawn_pid:-}" ] && grep -qa systemd-nspawn "/proc/$nspawn_pid/cmdline" 2>/dev/null; then
    if [ -n "${init:-}" ] && [ "$(awk '{print $4}' "/proc/$init/stat" 2>/dev/null)" = "$nspawn_pid" ]; then
      kill -KILL "$init" 2>/dev/null
    fi
    kill -KILL "$nspawn_pid" 2>/dev/null
  fi
  for r in "${roots[@]}"; do
    for p in /proc/[0-9]*; do
      [ "$(readlink "$p/root" 2>/dev/null)" = "$r" ] && kill -KILL "${p#/proc/}" 2>/dev/null
    done
  done
  sleep 1
  for r in "${roots[@]}"; do umount -R "$r/dev" "$r/sys" "$r/proc" 2>/dev/null; done
  if [ "$keep" = 1 ] || [ $rc != 0 ]; then
    echo "fresh-check: kept $work (log: $log)" >&2
  elif awk -v w="$work/" 'index($2, w) == 1 { f = 1 } END { exit !f }' /proc/self/mounts; then
    # never rm -rf through a mount of the machine's /dev
    echo "fresh-check: $work still has mounts; not removed" >&2
  else
    # only what this script made (the folder was new or empty)
    rm -rf --one-file-system "$work/rootA" "$work/rootB" "$work/pristine.tar"
    rm -f "$work"/*.log "$work"/*.out "$work"/*.err
    rmdir "$work" 2>/dev/null || echo "fresh-check: $work holds files it did not make; kept" >&2
  fi
  exit $rc
}
trap cleanup EXIT

# mount_root DIR: /proc, /sys, /dev and the resolver, ready to chroot into
mount_root() {
  local r=$1
  cp /etc/resolv.conf "$r/etc/resolv.conf"
  roots+=("$r")
  mount -t proc proc "$r/proc"
  mount -t sysfs sys "$r/sys"
  mount --rbind /dev "$r/dev"
}
# in_root DIR COMMAND: run COMMAND with bash in DIR as a fresh login would
in_root() {
  chroot "$1" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c "$2"
}
# smtp_send USER PASSWORD: submit one message to 127.0.0.1:2525 (the roots
# share this machine's network) with bash's /dev/tcp, logged in with AUTH
# PLAIN (every client authenticates by default); prints the server's last
# reply
smtp_send() {
  local auth
  auth=$(printf '\0%s\0%s' "$1" "$2" | base64 -w0)
  (
    exec 3<>/dev/tcp/127.0.0.1/2525
    r() { local l; while IFS= read -r -t 20 l <&3; do echo "$l"; [ "${l:3:1}" = " " ] && return 0; done; return 1; }
    r > /dev/null
    for c in "EHLO fresh.test" "AUTH PLAIN $auth" "MAIL FROM:<you@example.com>" "RCPT TO:<someone@example.net>" "DATA"; do
      printf '%s\r\n' "$c" >&3; r > /dev/null
    done
    printf 'From: <you@example.com>\r\nTo: <someone@example.net>\r\nSubject: fresh-check\r\n\r\nHello from a fresh Debian 12.\r\n.\r\n' >&3
    r | tail -n 1
    printf 'QUIT\r\n' >&3; r > /dev/null || true
  )
}
# submit_and_capture USER PASSWORD LIST-CMD...: submit a message
# (smtp_send), then wait until LIST-CMD (which lists the sandbox's
# captures) names its queue id; prints the server's reply
submit_and_capture() {
  local reply id
  reply=$(smtp_send "$1" "$2")
  shift 2
  case "$reply" in 250*queued\ as*) ;; *) die "submission refused: $reply" ;; esac
  id=${reply##*queued as }
  id=${id%%[[:space:]]*}
  for _ in $(seq 1 30); do
    if "$@" 2>/dev/null | grep -q -- "$id"; then echo "$reply"; return 0; fi
    sleep 1
  done
  die "message $id was queued but never captured"
}
# wait_smtp SECONDS PID: until 127.0.0.1:2525 answers (PID must live)
wait_smtp() {
  local i
  for ((i = 0; i < $1; i++)); do
    (exec 3<>/dev/tcp/127.0.0.1/2525) 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 1
  done
  return 1
}
# copy_clone DIR: the clone's files (tracked and new, not build output)
copy_clone() {
  mkdir -p "$1"
  if git -C "$root_dir" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$root_dir" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) |
      tar -C "$1" -xf -
  else
    tar -C "$root_dir" --exclude='./build*' --exclude=./herald-data -cf - . | tar -C "$1" -xf -
  fi
}

echo "fresh-check: mirror $mirror; work in $work; log $log"

# ---- 1. a fresh Debian 12 ----
note "1. debootstrap --variant=minbase bookworm (root A)"
t0=$(date +%s)
A=$work/rootA
debootstrap --variant=minbase bookworm "$A" "$mirror" >> "$log" 2>&1 || die "debootstrap failed (log: $log)"
took "debootstrap --variant=minbase bookworm" $(($(date +%s) - t0))
pristine=$work/pristine.tar     # root B starts from the same fresh system
tar -C "$A" -cf "$pristine" .
mount_root "$A"

# ---- 2. the first command ----
note "2. scripts/run.sh in root A (install, build, herald serve)"
copy_clone "$A/root/herald"
# first as a user without root or sudo: one line naming what to install,
# exit 1, and nothing left that the run as root below would trip on
in_root "$A" 'useradd -m newcomer && cp -r /root/herald /home/newcomer/herald &&
  chown -R newcomer: /home/newcomer/herald' >> "$log" 2>&1
rc=0
in_root "$A" 'cd /home/newcomer/herald && exec setpriv --reuid=newcomer --regid=newcomer \
  --init-groups env HOME=/home/newcomer scripts/run.sh < /dev/null' > "$work/run-user.out" 2> "$work/run-user.err" || rc=$?
[ "$rc" = 1 ] && [ "$(wc -l < "$work/run-user.err")" = 1 ] && [ ! -s "$work/run-user.out" ] &&
  grep -q 'install-deps: missing .*build-essential.*; install them as root: apt-get install ' "$work/run-user.err" ||
  die "scripts/run.sh without root or sudo: exit $rc, stderr: $(cat "$work/run-user.err")"
[ ! -e "$A/home/newcomer/herald/build" ] || die "scripts/run.sh without root left a build directory"
echo "   without root or sudo: $(cut -c1-110 "$work/run-user.err")..." | tee -a "$log"
t0=$(date +%s)
in_root "$A" 'cd /root/herald && exec scripts/run.sh' > "$work/run.log" 2>&1 &
run_pid=$!
wait_smtp 1800 "$run_pid" || { tail -n 30 "$work/run.log" >&2; die "herald never answered on 127.0.0.1:2525 (log: $work/run.log)"; }
took "scripts/run.sh: until herald answers on 127.0.0.1:2525" $(($(date +%s) - t0))
# the demo login's password: run.sh prints it once under its heading (the
# line of 24 letters and digits; herald's note about it goes to stderr)
demo_pass=$(grep -A3 '^== a submission login for the demo' "$work/run.log" | grep -E -m1 '^[A-Za-z0-9]{24}$' || true)
[ -n "$demo_pass" ] || die "scripts/run.sh printed no password for the demo login (log: $work/run.log)"
reply=$(submit_and_capture demo "$demo_pass" in_root "$A" 'cd /root/herald && build/herald captures --data-dir herald-data')
echo "   '$reply', then captured" | tee -a "$log"
took "first command: a submitted message captured" $(($(date +%s) - t0))
kill -TERM "$run_pid" 2>/dev/null || true
for p in /proc/[0-9]*; do   # run.sh exec'd herald inside the chroot
  [ "$(readlink "$p/root" 2>/dev/null)" = "$A" ] && kill -TERM "${p#/proc/}" 2>/dev/null || true
done
wait "$run_pid" 2>/dev/null || true
grep -q 'first run: adding the demo sending domain' "$work/run.log" || die "run.sh did not add the demo domain"

# ---- 3. the second command ----
if [ "$first_only" = 0 ]; then
  note "3. scripts/test.sh in root A (install the test packages, build, the whole suite)"
  t0=$(date +%s)
  in_root "$A" 'cd /root/herald && scripts/test.sh' > "$work/test.log" 2>&1 ||
    { tail -n 40 "$work/test.log" >&2; die "scripts/test.sh failed in the fresh root (log: $work/test.log)"; }
  grep -q 'test.sh: all passed' "$work/test.log" || die "test.sh did not finish (log: $work/test.log)"
  grep -E 'tests passed|tests failed' "$work/test.log" | sed 's/^/   /' | tee -a "$log"
  took "second command: scripts/test.sh, every test passed" $(($(date +%s) - t0))
fi

# ---- 4. the Debian package, installed into a second fresh root ----
note "4. dpkg-buildpackage in root A, apt install into a fresh root B"
t0=$(date +%s)
in_root "$A" 'export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends dpkg-dev debhelper > /dev/null &&
  rm -rf /root/pkg && mkdir -p /root/pkg && cp -a /root/herald /root/pkg/herald &&
  rm -rf /root/pkg/herald/build* /root/pkg/herald/herald-data &&
  cd /root/pkg/herald && dpkg-buildpackage -us -uc -b' > "$work/package.log" 2>&1 ||
  { tail -n 30 "$work/package.log" >&2; die "dpkg-buildpackage failed (log: $work/package.log)"; }
deb=$(ls "$A"/root/pkg/herald_*_amd64.deb)
took "dpkg-buildpackage -us -uc -b ($(basename "$deb"))" $(($(date +%s) - t0))

t0=$(date +%s)
B=$work/rootB
mkdir -p "$B"
tar -C "$B" -xf "$pristine"
mount_root "$B"
cp "$deb" "$B/root/"
in_root "$B" "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq &&
  apt-get install -y -qq /root/$(basename "$deb")" > "$work/install.log" 2>&1 ||
  { tail -n 30 "$work/install.log" >&2; die "apt-get install of the package failed (log: $work/install.log)"; }
took "apt-get install ./$(basename "$deb") in fresh root B" $(($(date +%s) - t0))
check() { in_root "$B" "$1" || die "in root B: $2 (command: $1)"; }
check 'getent passwd herald | grep -q ":/var/lib/herald:"' "no herald system user with home /var/lib/herald"
check '[ "$(stat -c "%U:%G %a" /var/lib/herald)" = "herald:herald 750" ]' "/var/lib/herald is not herald:herald 0750"
check '[ "$(stat -c "%U:%G %a" /etc/herald/herald.conf)" = "root:herald 640" ]' "/etc/herald/herald.conf is not root:herald 0640"
check '[ ! -e /etc/systemd/system/multi-user.target.wants/herald.service ]' "herald.service was enabled on install"
check 'grep -qx /etc/herald/herald.conf /var/lib/dpkg/info/herald.conffiles' "the configuration is not a conffile"
check 'herald --version | head -n 1 | grep -q "^herald "' "herald --version"
check 'herald serve --check --config /etc/herald/herald.conf' "serve --check on the packaged configuration"
check 'man -w herald.conf >/dev/null 2>&1 || [ -e /usr/share/man/man5/herald.conf.5.gz ]' "no herald.conf(5)"
in_root "$B" 'herald --version' | sed 's/^/   /' | tee -a "$log"
echo "   herald user, /var/lib/herald herald:herald 0750, herald.conf root:herald 0640, unit not enabled" | tee -a "$log"

# ---- 5. herald.service under systemd, in root B booted with systemd-nspawn ----
# The unit as shipped: the herald user, Type=notify (`systemctl start`
# returns once herald says READY=1), the sandbox, reload, a bad
# configuration that must not restart forever, stop.
note "5. herald.service under systemd (root B booted with systemd-nspawn)"
t0=$(date +%s)
in_root "$B" 'export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends systemd dbus' >> "$log" 2>&1 ||
  die "cannot install systemd in root B (log: $log)"
umount -R "$B/dev" "$B/sys" "$B/proc"    # nspawn mounts its own
# nspawn keeps its state under /run/systemd/nspawn, which must be a tmpfs
# (this mount is private to the namespace this script runs in)
mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn
systemd-nspawn -q -D "$B" -b --register=no --keep-unit --console=pipe > "$work/nspawn.log" 2>&1 &
nspawn_pid=$!
init=""
for _ in $(seq 1 50); do
  init=$(pgrep -P "$nspawn_pid" | head -n 1 || true)
  [ -n "$init" ] && break
  sleep 0.2
done
[ -n "$init" ] || die "systemd-nspawn did not start root B (log: $work/nspawn.log)"
# in_ct COMMAND: run COMMAND with bash inside the booted root B
in_ct() {
  nsenter -t "$init" -a /usr/bin/env -i LANG=C.UTF-8 SYSTEMD_PAGER= \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c "$1"
}
state=""
for _ in $(seq 1 60); do
  state=$(in_ct 'systemctl is-system-running' 2>/dev/null || true)
  case "$state" in running|degraded) break ;; esac
  sleep 1
done
case "$state" in running|degraded) ;; *) die "root B did not boot (state: $state)" ;; esac
took "root B booted with systemd ($state)" $(($(date +%s) - t0))

t0=$(date +%s)
ct() { in_ct "$1" || die "in booted root B: $2 (command: $1)"; }
ct '[ "$(systemctl is-enabled herald)" = disabled ]' "herald.service is enabled after install"
ct '[ "$(systemctl is-active herald)" = inactive ]' "herald.service runs after install"
ct 'runuser -u herald -- herald domain add example.com --data-dir /var/lib/herald --hostname mail.example.com > /dev/null' \
  "herald domain add as the herald user"
ct 'systemctl start herald' "systemctl start herald (Type=notify: READY=1 must come)"
ct '[ "$(systemctl show -P StatusText herald)" = "serving from /var/lib/herald" ]' "no STATUS= from herald"
fresh_pass=$(in_ct 'runuser -u herald -- herald user add fresh --domains example.com --data-dir /var/lib/herald 2> /dev/null') ||
  die "in booted root B: herald user add as the herald user"
reply=$(submit_and_capture fresh "$fresh_pass" in_ct 'runuser -u herald -- herald captures --data-dir /var/lib/herald')
ct '[ "$(stat -c %U:%G /var/lib/herald/herald.db)" = herald:herald ]' "the database is not the herald user's"
echo "   herald.service: '$reply', then captured" | tee -a "$log"
ct 'systemctl reload herald && sleep 1 && [ "$(systemctl is-active herald)" = active ] &&
    journalctl -u herald --no-pager | grep -q "reload (SIGHUP): sending domains and keys reloaded"' \
  "systemctl reload herald"
ct 'systemctl stop herald && [ "$(systemctl show -P Result herald)" = success ]' "systemctl stop herald"
# a bad configuration: exit 78, and no restart every 5 s
ct 'cp -p /etc/herald/herald.conf /root/herald.conf.good && echo "no_such_key = 1" >> /etc/herald/herald.conf' "editing herald.conf"
in_ct 'systemctl start herald' > /dev/null 2>&1 && die "herald.service started with a bad configuration"
sleep 7
ct '[ "$(systemctl show -P ExecMainStatus herald)" = 78 ] && [ "$(systemctl show -P NRestarts herald)" = 0 ] &&
    [ "$(systemctl is-active herald)" = failed ]' "a bad configuration: want exit 78, no restart, failed"
ct 'cp -p /root/herald.conf.good /etc/herald/herald.conf && systemctl reset-failed herald' "restoring herald.conf"
echo "   start (READY=1), reload, stop; a bad configuration: exit 78, not restarted" | tee -a "$log"
in_ct 'systemd-analyze security herald --no-pager 2>/dev/null | tail -n 1' | sed 's/^/   /' | tee -a "$log"
took "herald.service: start, mail, reload, stop, bad configuration" $(($(date +%s) - t0))
in_ct 'systemctl poweroff' > /dev/null 2>&1 || true
for _ in $(seq 1 30); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 1; done
kill -KILL "$nspawn_pid" 2>/dev/null || true

echo
echo "fresh-check: all passed ($(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ))" | tee -a "$log"
printf '  %s\n' "${times[@]}" | tee -a "$log"
