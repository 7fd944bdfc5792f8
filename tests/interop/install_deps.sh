#!/usr/bin/env bash
# install_deps.sh - the README's commands on a machine where they cannot
# install: a user without root and without sudo (or whose sudo refuses)
# gets one line naming the missing packages and the command that installs
# them, exit 1, nothing on standard output, and no build left behind for
# the next run to trip on. A package is made to look missing with a
# dpkg-query stand-in first in PATH (every other tool is the machine's own).
# The same, with packages really missing on a fresh Debian root:
# scripts/fresh-check.sh.
set -euo pipefail
: "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# a tree with the scripts run.sh needs, so no build can land in the real one
mkdir -p "$T/tree/scripts" "$T/shims"
cp "$HERALD_SOURCE_DIR"/scripts/{run.sh,install-deps.sh,build.sh,test.sh} "$T/tree/scripts/"
cp "$HERALD_SOURCE_DIR/CMakeLists.txt" "$T/tree/"
# dpkg-query: every package installed but those in $MISSING
cat > "$T/shims/dpkg-query" <<'SH'
#!/bin/sh
for p in $MISSING; do [ "$p" = "$3" ] && exit 1; done
printf 'install ok installed'
SH
# a sudo that refuses, as for a user who is not in the sudoers file
printf '#!/bin/sh\necho "sorry, you may not run sudo" >&2\nexit 1\n' > "$T/shims/sudo"
chmod 755 "$T/shims/dpkg-query" "$T/shims/sudo"
chmod -R a+rX "$T"
chmod 777 "$T/tree"

# as_user CMD...: CMD as an unprivileged user (nobody when we are root),
# stdin not a terminal, so nothing can prompt for a password
as_user() {
  if [ "$(id -u)" = 0 ]; then
    setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@" < /dev/null
  else
    "$@" < /dev/null
  fi
}

check_refusal() {   # LABEL MISSING... : run with those packages missing
  local label=$1 rc=0; shift
  MISSING="$*" PATH="$T/shims:$PATH" as_user "$T/tree/scripts/$script" \
    > "$T/out" 2> "$T/err" || rc=$?
  [ "$rc" = 1 ] || fail "$label: exit $rc, want 1 (stderr: $(cat "$T/err"))"
  [ ! -s "$T/out" ] || fail "$label: wrote to standard output: $(cat "$T/out")"
  [ "$(wc -l < "$T/err")" = 1 ] || fail "$label: want one line, got: $(cat "$T/err")"
  grep -q "missing $*; install them as root: apt-get install $*\$" "$T/err" ||
    fail "$label: the line does not name $* and the install command: $(cat "$T/err")"
  [ ! -e "$T/tree/build" ] || fail "$label: a build directory was left behind"
  pass "$label: $(cat "$T/err")"
}

script=install-deps.sh
check_refusal "install-deps.sh, sudo refuses" nettle-dev
check_refusal "install-deps.sh, two missing" libunbound-dev nettle-dev
# no sudo at all: PATH without it (the shim dir holds only dpkg-query here)
rm "$T/shims/sudo"
nosudo=$T/nosudo-bin
mkdir -p "$nosudo"
for tool in bash env dirname id grep cat tee chmod rm; do ln -s "$(command -v "$tool")" "$nosudo/$tool"; done
rc=0
MISSING=nettle-dev as_user env PATH="$T/shims:$nosudo" bash "$T/tree/scripts/install-deps.sh" \
  > "$T/out" 2> "$T/err" || rc=$?
[ "$rc" = 1 ] && [ "$(wc -l < "$T/err")" = 1 ] &&
  grep -q 'missing nettle-dev; install them as root: apt-get install nettle-dev$' "$T/err" ||
  fail "install-deps.sh without sudo: exit $rc: $(cat "$T/err")"
pass "install-deps.sh, no sudo: $(cat "$T/err")"

# the README's commands: the first needs only build and run packages, the
# second the test packages too; neither leaves anything half-made
printf '#!/bin/sh\necho "sorry, you may not run sudo" >&2\nexit 1\n' > "$T/shims/sudo"
chmod 755 "$T/shims/sudo"
script=run.sh
check_refusal "run.sh (the first command)" libunbound-dev
script=test.sh
check_refusal "test.sh (the second command)" libcmocka-dev
# the first command installs no test package, the second every one
build_pkgs=$("$HERALD_SOURCE_DIR/scripts/install-deps.sh" --list)
test_pkgs=$("$HERALD_SOURCE_DIR/scripts/install-deps.sh" --list --test)
for p in libcmocka-dev clang unbound postfix lintian pandoc; do
  [[ " $build_pkgs " != *" $p "* ]] || fail "the first command would install the test package $p"
  [[ " $test_pkgs " == *" $p "* ]] || fail "the second command would not install $p"
done
for p in nettle-dev libunbound-dev libssl-dev libevent-dev publicsuffix; do
  [[ " $build_pkgs " == *" $p "* ]] || fail "the first command would not install $p"
done
pass "run.sh installs no test package; test.sh installs them all"

rc=0; "$HERALD_SOURCE_DIR/scripts/install-deps.sh" --bogus > /dev/null 2>&1 || rc=$?
[ "$rc" = 64 ] || fail "install-deps.sh --bogus: exit $rc, want 64"
pass "an unknown option: exit 64"
echo "install_deps: all passed"
