#!/usr/bin/env bash
# install-deps.sh - install what herald needs on Debian 12, if missing.
#   scripts/install-deps.sh          build dependencies only
#   scripts/install-deps.sh --test   also the test tools and the peer
#                                    implementations the tests judge against
# Idempotent; noninteractive; starts no service (a temporary policy-rc.d
# blocks service starts during the install).
set -euo pipefail

BUILD_PKGS=(build-essential cmake pkg-config libssl-dev libunbound-dev libevent-dev
            libjansson-dev libsqlite3-dev libexpat1-dev libpsl-dev publicsuffix zlib1g-dev)
TEST_PKGS=(libcmocka-dev clang libclang-rt-14-dev unbound bind9-dnsutils openssl
           python3 python3-dkim python3-nacl libmail-dkim-perl libcryptx-perl
           opendkim opendkim-tools python3-yaml python3-spf libmail-dmarc-perl
           postfix swaks python3-aiosmtpd python3-jsonschema curl wrk)

pkgs=("${BUILD_PKGS[@]}")
[ "${1:-}" = "--test" ] && pkgs+=("${TEST_PKGS[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
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
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
