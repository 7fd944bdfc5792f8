#!/usr/bin/env bash
# package_deb.sh - the Debian package: `dpkg-buildpackage -us -uc -b` on a
# copy of the source tree gives herald_<version>_amd64.deb; lintian finds no
# error in it; it holds the program, the man pages, the unit, the sysusers
# entry and /etc/herald/herald.conf as a conffile; its maintainer scripts
# make the herald user and a 0750 /var/lib/herald, set the configuration to
# root:herald 0640, and neither enable nor start the service on install;
# unpacked into a temporary tree (dpkg-deb -x), its herald runs `--version`
# (the changelog's version) and `serve --check --config .../herald.conf`,
# and its unit passes systemd-analyze verify. Installing it for real, with
# its maintainer scripts, in a fresh Debian root: scripts/fresh-check.sh.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
for tool in dpkg-buildpackage dpkg-parsechangelog lintian systemd-analyze; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh --test installs it)"
done

# ---- build from a copy: dpkg-buildpackage writes next to the tree ----
version=$(dpkg-parsechangelog -l "$HERALD_SOURCE_DIR/debian/changelog" -S Version)
cmake_version=$(sed -n 's/^project(herald VERSION \([0-9.]*\) .*/\1/p' "$HERALD_SOURCE_DIR/CMakeLists.txt")
[ "$version" = "$cmake_version" ] ||
  fail "debian/changelog says $version, CMakeLists.txt $cmake_version: give both the same version"
src=$T/herald-$version
mkdir -p "$src"
if git -C "$HERALD_SOURCE_DIR" rev-parse --git-dir >/dev/null 2>&1; then
  # the tree as git sees it: tracked and new files, no build output
  (cd "$HERALD_SOURCE_DIR" && git ls-files -z --cached --others --exclude-standard |
     tar --null -T - -cf -) | tar -C "$src" -xf -
  HERALD_GIT_COMMIT=$(git -C "$HERALD_SOURCE_DIR" rev-parse --short=12 HEAD)
  export HERALD_GIT_COMMIT
else
  tar -C "$HERALD_SOURCE_DIR" --exclude='./build*' --exclude=./herald-data -cf - . | tar -C "$src" -xf -
fi
start=$(date +%s)
(cd "$src" && dpkg-buildpackage -us -uc -b) > "$T/build.log" 2>&1 ||
  { tail -n 30 "$T/build.log" >&2; fail "dpkg-buildpackage failed"; }
deb=$T/herald_${version}_amd64.deb
[ -f "$deb" ] || fail "no $deb: $(ls "$T")"
pass "dpkg-buildpackage -us -uc -b made $(basename "$deb") in $(($(date +%s) - start)) s"
# the package build is a user's build: no -Werror, and no warning either;
# debhelper asks for the build type "None", which CMake does not know of:
# an unknown build type still builds, with the flags dpkg-buildflags gives
! grep -E 'warning:' "$T/build.log" || fail "the package build warns (above)"
grep -q -- '-DCMAKE_BUILD_TYPE=None' "$T/build.log" || fail "debhelper did not build with CMAKE_BUILD_TYPE=None"

# ---- lintian: no error (warnings are printed, for the reader) ----
lintian --fail-on error --tag-display-limit 0 "$T/herald_${version}_amd64.changes" > "$T/lintian.out" 2>&1 ||
  { cat "$T/lintian.out" >&2; fail "lintian found errors"; }
sed 's/^/  lintian: /' "$T/lintian.out"
pass "lintian: no error ($(grep -c '^E:' "$T/lintian.out" || true) E, $(grep -c '^W:' "$T/lintian.out" || true) W)"

# ---- what it holds ----
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' > "$T/files"
for f in /usr/bin/herald /lib/systemd/system/herald.service /usr/lib/sysusers.d/herald.conf \
    /etc/herald/herald.conf /usr/share/man/man1/herald.1.gz /usr/share/man/man5/herald.conf.5.gz \
    /usr/share/man/man8/herald-serve.8.gz /usr/share/doc/herald/copyright \
    /usr/share/doc/herald/examples/herald.conf.example; do
  grep -qx -- "$f" "$T/files" || fail "the package lacks $f"
done
dpkg-deb -e "$deb" "$T/control"
grep -qx /etc/herald/herald.conf "$T/control/conffiles" || fail "/etc/herald/herald.conf is not a conffile"
pass "program, man pages, unit, sysusers entry; /etc/herald/herald.conf is a conffile"

# ---- maintainer scripts ----
post=$T/control/postinst
grep -q 'adduser --system --group .*herald' "$post" || fail "postinst does not make the herald system user"
grep -q 'chmod 0750 /var/lib/herald' "$post" && grep -q 'chown herald:herald /var/lib/herald' "$post" ||
  fail "postinst does not make /var/lib/herald herald's, 0750"
grep -q 'chown root:herald /etc/herald/herald.conf' "$post" && grep -q 'chmod 0640 /etc/herald/herald.conf' "$post" ||
  fail "postinst does not make the configuration root:herald 0640"
# not enabled on install (dh_installsystemd --no-enable): the enable step
# runs only for a unit installed before (an upgrade keeps the admin's
# choice), and deb-systemd-invoke starts only enabled units
grep -q "if deb-systemd-helper debian-installed 'herald.service'; then" "$post" &&
  ! grep -q 'new installations run enable' "$post" ||
  fail "postinst enables herald.service on a new installation"
sh -n "$post" && sh -n "$T/control/postrm" || fail "a maintainer script is not valid sh"
pass "postinst: herald user, /var/lib/herald 0750, herald.conf root:herald 0640, unit not enabled"

# ---- the unpacked program ----
dpkg-deb -x "$deb" "$T/root"
bin=$T/root/usr/bin/herald
"$bin" --version > "$T/version.out"
head -n 1 "$T/version.out" | grep -Eq "^herald $version( \(git [0-9a-f]{12}(-dirty)?\))?$" ||
  fail "herald --version: $(head -n 1 "$T/version.out")"
for lib in OpenSSL libevent libunbound SQLite; do
  grep -q "^  $lib " "$T/version.out" || fail "herald --version does not name $lib: $(cat "$T/version.out")"
done
"$bin" serve --check --config "$T/root/etc/herald/herald.conf" > "$T/check.out" 2>&1 ||
  fail "herald serve --check on the packaged configuration: $(cat "$T/check.out")"
grep -q '^data_dir = /var/lib/herald$' "$T/root/etc/herald/herald.conf" || fail "the packaged configuration is not on /var/lib/herald"
pass "$(head -n 1 "$T/version.out"); serve --check takes /etc/herald/herald.conf"

unit=$T/root/lib/systemd/system/herald.service
grep -q '^ExecStart=/usr/bin/herald serve --config /etc/herald/herald.conf$' "$unit" ||
  fail "the unit does not run /usr/bin/herald with /etc/herald/herald.conf: $(grep ExecStart "$unit")"
sed "s|^ExecStart=/usr/bin/herald |ExecStart=$bin |" "$unit" > "$T/herald.service"
systemd-analyze verify --man=no "$T/herald.service" > "$T/verify.out" 2>&1 && [ ! -s "$T/verify.out" ] ||
  fail "systemd-analyze verify on the packaged unit: $(cat "$T/verify.out")"
pass "the packaged unit passes systemd-analyze verify"
echo "package_deb: all passed"
