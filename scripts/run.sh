#!/usr/bin/env bash
# run.sh - install what is missing, build, and run herald's main job on
# embedded defaults. Today that is a DKIM demonstration: make an RSA-2048
# and an Ed25519 key in a temporary folder, sign a sample message with
# both, and verify it through a zone fixture holding the printed records.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" build >/dev/null
herald="$root/build/herald"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== herald dkim keygen (keys in $work/keys)"
"$herald" dkim keygen -d example.com -s rsa2048 -a rsa2048 -o "$work/keys" --zone > "$work/zone"
"$herald" dkim keygen -d example.com -s ed25519 -a ed25519 -o "$work/keys" --zone >> "$work/zone"
cat "$work/zone"
cat > "$work/msg.eml" <<'MSG'
From: Appointments <reminders@example.com>
To: patient@example.net
Subject: Your appointment tomorrow at 10:00
Date: Fri, 27 Nov 2026 09:00:00 +0000
Message-ID: <demo-1@example.com>

Hello,

this is a reminder of your appointment tomorrow at 10:00.
MSG
echo
echo "== herald dkim sign (RSA and Ed25519)"
"$herald" dkim sign -d example.com -s rsa2048 -k "$work/keys/rsa2048.private" \
                    -s ed25519 -k "$work/keys/ed25519.private" "$work/msg.eml" > "$work/signed.eml"
cat "$work/signed.eml"
echo
echo "== herald dkim verify --dns-zone (the records above)"
"$herald" dkim verify --dns-zone "$work/zone" "$work/signed.eml"
echo
echo "== the same message with its body changed in transit"
sed 's/10:00\./11:00./' "$work/signed.eml" > "$work/tampered.eml"
"$herald" dkim verify --dns-zone "$work/zone" "$work/tampered.eml" || echo "(exit $?: no signature passed)"
