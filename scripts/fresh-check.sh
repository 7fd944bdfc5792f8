#!/usr/bin/env bash
# fresh-check.sh - prove the README's two commands on a machine that has only
# Debian 12 and the clone, and the Debian package on one that has only Debian.
# Run it before every release (as root: debootstrap, chroot, mounts); it takes
# about 20 minutes on 2 cores and downloads about 400 MB of packages.
#
#   scripts/fresh-check.sh [--first-only] [--keep] [WORKDIR]
#
#   1. debootstrap --variant=minbase bookworm into WORKDIR/root (default
#      WORKDIR: a new folder under /var/tmp), from the Debian mirror this
#      machine's apt sources name;
#   2. copy the clone in (its tracked and new files, not build output) and
#      run the first command, scripts/run.sh, there until herald answers on
#      127.0.0.1:2525 and a message submitted over SMTP is captured;
#   3. run the second command, scripts/test.sh, there (skipped with
#      --first-only);
#   4. build the Debian package in that root, install it with apt into a
#      second fresh root (so its Depends must be complete), and check what its
#      maintainer scripts made (the herald user, /var/lib/herald 0750,
#      /etc/herald/herald.conf root:herald 0640, the unit not enabled); then
#      run `herald serve --config /etc/herald/herald.conf` as the herald user,
#      as herald.service does, and submit a message to it.
# Prints the time each step took. Both roots share this machine's network
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
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    -*) echo "fresh-check: unknown option $arg" >&2; exit 64 ;;
    *) work=$arg ;;
  esac
done
die() { echo "fresh-check: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot and mounts)"
for tool in debootstrap unshare chroot; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install debootstrap util-linux coreutils)"
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

[ -n "$work" ] || work=$(mktemp -d /var/tmp/herald-fresh.XXXXXX)
mkdir -p "$work"
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
  for r in "${roots[@]}"; do
    for p in /proc/[0-9]*; do
      [ "$(readlink "$p/root" 2>/dev/null)" = "$r" ] && kill -KILL "${p#/proc/}" 2>/dev/null
    done
  done
  sleep 1
  for r in "${roots[@]}"; do umount -R "$r/dev" "$r/sys" "$r/proc" 2>/dev/null; done
  if [ "$keep" = 1 ] || [ $rc != 0 ]; then
    echo "fresh-check: kept $work (log: $log)" >&2
  elif grep -q " $work/" /proc/self/mounts; then
    # never rm -rf through a mount of the machine's /dev
    echo "fresh-check: $work still has mounts; not removed" >&2
  else
    rm -rf --one-file-system "$work"
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
# smtp_send DIR: submit one message to 127.0.0.1:2525 from inside DIR with
# bash's /dev/tcp (nothing else is there); prints the server's last reply
smtp_send() {
  in_root "$1" 'exec 3<>/dev/tcp/127.0.0.1/2525
    r() { local l; while IFS= read -r -t 20 l <&3; do echo "$l"; [ "${l:3:1}" = " " ] && return 0; done; return 1; }
    r > /dev/null
    for c in "EHLO fresh.test" "MAIL FROM:<you@example.com>" "RCPT TO:<someone@example.net>" "DATA"; do
      printf "%s\r\n" "$c" >&3; r > /dev/null
    done
    printf "From: <you@example.com>\r\nTo: <someone@example.net>\r\nSubject: fresh-check\r\n\r\nHello from a fresh Debian 12.\r\n.\r\n" >&3
    r | tail -n 1
    printf "QUIT\r\n" >&3; r > /dev/null || true'
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
reply=$(smtp_send "$A")
case "$reply" in 250*queued\ as*) ;; *) die "submission refused: $reply" ;; esac
id=${reply##*queued as }
id=${id%%[[:space:]]*}
captured=0
for _ in $(seq 1 30); do
  if in_root "$A" 'cd /root/herald && build/herald captures --data-dir herald-data' 2>/dev/null |
       grep -q -- "$id"; then captured=1; break; fi
  sleep 1
done
[ "$captured" = 1 ] || die "message $id was queued but never captured (log: $work/run.log)"
echo "   message $id: '$reply', then captured" | tee -a "$log"
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

# herald serve as herald.service runs it: the herald user, the packaged config
t0=$(date +%s)
in_root "$B" 'exec setpriv --reuid=herald --regid=herald --init-groups herald serve --config /etc/herald/herald.conf' \
  > "$work/serve-B.log" 2>&1 &
serve_pid=$!
wait_smtp 60 "$serve_pid" || { cat "$work/serve-B.log" >&2; die "the packaged herald did not serve"; }
in_root "$B" 'setpriv --reuid=herald --regid=herald --init-groups herald domain add example.com --data-dir /var/lib/herald --hostname mail.example.com' > /dev/null
in_root "$B" 'kill -HUP $(pidof herald | cut -d" " -f1)'
sleep 1
reply=$(smtp_send "$B")
case "$reply" in 250*queued\ as*) ;; *) die "the packaged herald refused the message: $reply" ;; esac
check '[ "$(stat -c %U /var/lib/herald/herald.db)" = herald ]' "the database is not the herald user's"
echo "   packaged herald as user herald: '$reply'" | tee -a "$log"
took "packaged herald serving and taking mail as user herald" $(($(date +%s) - t0))
kill -TERM "$serve_pid" 2>/dev/null || true
for p in /proc/[0-9]*; do
  [ "$(readlink "$p/root" 2>/dev/null)" = "$B" ] && kill -TERM "${p#/proc/}" 2>/dev/null || true
done

echo
echo "fresh-check: all passed ($(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ))" | tee -a "$log"
printf '  %s\n' "${times[@]}" | tee -a "$log"
