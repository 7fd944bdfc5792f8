#!/usr/bin/env bash
# install_tree.sh - `cmake --install` of this build (into DESTDIR, a
# temporary tree) puts the program, the man pages, the systemd unit, the
# sysusers entry and the example configurations where an admin looks for
# them under the build's prefix (/usr/local by default), and a commented
# herald.conf under its sysconfdir that herald takes; a second install
# keeps an admin's edited herald.conf. The prefix /usr (with /etc) is what
# the Debian package builds: tests/interop/package_deb.sh.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

build=$(dirname "$HERALD")
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
prefix=$(cache CMAKE_INSTALL_PREFIX)
[ -n "$prefix" ] || fail "no CMAKE_INSTALL_PREFIX in $build/CMakeCache.txt"
case "$prefix" in /usr) etc=/etc ;; *) etc=$prefix/etc ;; esac   # GNUInstallDirs

DESTDIR=$T/root cmake --install "$build" > "$T/install.out" 2>&1 ||
  fail "cmake --install: $(cat "$T/install.out")"
R=$T/root
for f in "$prefix/bin/herald" "$prefix/share/man/man1/herald.1" \
    "$prefix/share/man/man8/herald-serve.8" "$prefix/share/man/man5/herald.conf.5" \
    "$prefix/lib/systemd/system/herald.service" "$prefix/lib/sysusers.d/herald.conf" \
    "$prefix/share/doc/herald/examples/herald.conf.example" \
    "$prefix/share/doc/herald/examples/herald.conf.default" "$etc/herald/herald.conf"; do
  [ -f "$R$f" ] || fail "cmake --install did not make $f"
done
[ -x "$R$prefix/bin/herald" ] || fail "$prefix/bin/herald is not executable"
pass "program, 3 man pages, unit, sysusers entry, examples and herald.conf under $prefix"

grep -qx "ExecStart=$prefix/bin/herald serve --config $etc/herald/herald.conf" \
  "$R$prefix/lib/systemd/system/herald.service" ||
  fail "the unit does not run the installed program with the installed configuration"
grep -qx 'u herald - "herald mail server" /var/lib/herald' "$R$prefix/lib/sysusers.d/herald.conf" ||
  fail "the sysusers entry does not make the herald user"
"$R$prefix/bin/herald" serve --check --config "$R$etc/herald/herald.conf" > "$T/check.out" 2>&1 ||
  fail "serve --check on the installed herald.conf: $(cat "$T/check.out")"
MANPATH=$R$prefix/share/man man -w herald.conf > /dev/null 2>&1 ||
  fail "man does not find herald.conf(5) under $prefix/share/man"
pass "the unit runs $prefix/bin/herald with $etc/herald/herald.conf, which herald takes"

# an admin's configuration is never replaced
echo "# edited by the admin" >> "$R$etc/herald/herald.conf"
DESTDIR=$T/root cmake --install "$build" > "$T/install2.out" 2>&1 || fail "second cmake --install"
grep -q '^# edited by the admin$' "$R$etc/herald/herald.conf" || fail "a second install replaced herald.conf"
grep -q 'Kept: .*herald.conf' "$T/install2.out" || fail "the second install does not say it kept herald.conf"
pass "a second install keeps an edited herald.conf and says so"
echo "install_tree: all passed"
