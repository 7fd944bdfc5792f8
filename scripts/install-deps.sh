#!/usr/bin/env bash
# install-deps.sh - install what herald needs on Debian 12, if missing.
#   scripts/install-deps.sh          what building and running herald needs
#   scripts/install-deps.sh --test   also the test framework, the tools the
#                                    tests use, and the peer implementations
#                                    the tests judge against
#   scripts/install-deps.sh --list [--test]
#                                    print the package names, install nothing
# Idempotent; noninteractive; starts no service (a temporary policy-rc.d
# blocks service starts during the install). Needs root, or sudo; without
# either it names the missing packages and the command that installs them,
# and exits 1 having changed nothing.
set -euo pipefail

# Building: the compiler and CMake, and every library's -dev package with
# what its pkg-config file requires (libunbound.pc lists hogweed and nettle,
# whose .pc files come with nettle-dev, which libunbound-dev does not pull in).
BUILD_PKGS=(build-essential cmake pkg-config libssl-dev libunbound-dev nettle-dev
            libevent-dev libjansson-dev libsqlite3-dev libpsl-dev zlib1g-dev)
# Running: the public suffix list (DMARC's RFC 7489 mode) and the CA
# certificates that verify receivers and webhook endpoints.
RUN_PKGS=(publicsuffix ca-certificates)
# Testing: cmocka, clang and its sanitizer and libFuzzer runtimes, the peers
# (dkimpy, Mail::DKIM, OpenDKIM, pyspf, Mail::DMARC, Sisimai, Postfix,
# aiosmtpd, unbound, swaks), the tools the test scripts call (python3, curl, wrk, ss
# from iproute2, ps/pkill from procps), and what the packaging and man-page
# tests need (dpkg-dev, debhelper, lintian, fakeroot, pandoc, mandoc,
# systemd-analyze from systemd); and the peers bench/verify.sh measures
# (Mail::SPF, python3-authres).
TEST_PKGS=(libcmocka-dev clang libclang-rt-14-dev unbound bind9-dnsutils openssl
           python3 python3-dkim python3-nacl libmail-dkim-perl libcryptx-perl
           opendkim opendkim-tools python3-yaml python3-spf libmail-dmarc-perl
           postfix swaks python3-aiosmtpd python3-jsonschema curl wrk
           iproute2 procps git dpkg-dev debhelper lintian fakeroot pandoc mandoc
           groff-base man-db systemd libmail-spf-perl python3-authres
           libsisimai-perl)

test=0 list=0
for arg in "$@"; do
  case "$arg" in
    --test) test=1 ;;
    --list) list=1 ;;
    *) echo "usage: install-deps.sh [--test] [--list]" >&2; exit 64 ;;
  esac
done
pkgs=("${BUILD_PKGS[@]}" "${RUN_PKGS[@]}")
[ "$test" = 1 ] && pkgs+=("${TEST_PKGS[@]}")
if [ "$list" = 1 ]; then
  echo "${pkgs[*]}"
  exit 0
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
  # sudo without a password, or one it can ask for on a terminal
  if command -v sudo >/dev/null && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
    SUDO=sudo
  else
    echo "install-deps: missing ${missing[*]}; install them as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
# postfix: install the tools (smtp-source, smtp-sink, a throwaway instance
# for tests), never a system mail configuration
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
# an install cut short before (network, Ctrl-C) leaves packages unconfigured,
# and apt then refuses to do anything until they are
$SUDO dpkg --configure -a
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
