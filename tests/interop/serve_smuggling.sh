#!/usr/bin/env bash
# serve_smuggling.sh - SMTP smuggling (SEC Consult, Dec 2023) never splits
# a message: each known end-of-data variant is sent with a second,
# smuggled transaction behind it; herald must refuse a message with a bare
# LF/CR or a NUL in it (550 5.6.0) and must never accept the smuggled one. The
# sandbox capture store is the receiver: we count what it captured.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
smtp=$(hl_free_port); status=$(hl_free_port)
cat > "$T/herald.conf" <<C
hostname = mail.herald.test
data_dir = $T/data
[smtp]
trusted_networks = 127.0.0.0/8
listen = 127.0.0.1:$smtp
[status]
listen = 127.0.0.1:$status
[api]
listen = 127.0.0.1:$(hl_free_port)
C
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/data" --hostname mail.herald.test > /dev/null
hl_spawn herald "$T/herald.log" "$HERALD" serve --config "$T/herald.conf"
hl_wait_port 127.0.0.1 "$smtp" 15 tcp "$(hl_pid herald)"

/usr/bin/python3 - "$smtp" "$T/data/herald.db" <<'P'
import socket, sqlite3, sys, time
port, db = int(sys.argv[1]), sys.argv[2]
variants = {
    "LF.LF": b"\n.\n", "CR.CR": b"\r.\r", "LF.CRLF": b"\n.\r\n", "CRLF.LF": b"\r\n.\n",
    "CRLF.CR": b"\r\n.\r", "CR.CRLF": b"\r.\r\n", "LF.CR": b"\n.\r", "CR.LF": b"\r.\n",
    "CRLF.NUL": b"\r\n.\x00\r\n",
}
def talk(payload):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    return out.decode("latin-1")
failures = 0
for i, (name, seq) in enumerate(variants.items()):
    smuggled = (b"MAIL FROM:<alice@example.com>\r\nRCPT TO:<victim@one.test>\r\nDATA\r\n"
                b"From: <ceo@example.com>\r\nSubject: SMUGGLED-" + name.encode() + b"\r\n\r\nsmuggled\r\n")
    payload = (b"EHLO client.test\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<user@one.test>\r\nDATA\r\n"
               b"From: <alice@example.com>\r\nSubject: carrier-" + name.encode() + b"\r\n\r\nfirst part" + seq +
               smuggled + b"\r\n.\r\nQUIT\r\n")
    out = talk(payload)
    queued = out.count("Ok: queued as")
    lines = [l for l in out.split("\r\n") if l[:1].isdigit()]
    if queued > 1:
        print(f"FAIL {name}: {queued} messages accepted from one DATA"); failures += 1
    elif not any(l.startswith("550 5.6.0") for l in lines):
        # bare CR or LF, or a NUL byte (issue 14): 550 5.6.0
        print(f"FAIL {name}: bare CR/LF or NUL not refused: {lines[-3:]}"); failures += 1
    else:
        print(f"ok {name}: {queued} accepted, replies {' | '.join(l[:40] for l in lines[4:])}")
# and a clean message, for the sandbox's verdict below
out = talk(b"EHLO client.test\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<user@one.test>\r\nDATA\r\n"
           b"From: <alice@example.com>\r\nSubject: clean\r\n\r\nclean\r\n.\r\nQUIT\r\n")
if out.count("Ok: queued as") != 1:
    print(f"FAIL: a clean message was not accepted: {out[-200:]}"); failures += 1
time.sleep(3)   # let the sandbox capture what was accepted
con = sqlite3.connect(db)
smug = con.execute("select count(*) from captures where data like '%SMUGGLED-%' and data not like '%carrier-%'").fetchone()[0]
if smug:
    print(f"FAIL: {smug} smuggled messages were captured as messages of their own"); failures += 1
total = con.execute("select count(*) from captures").fetchone()[0]
print(f"captured {total} message(s) in all; smuggled as separate messages: {smug}")
sys.exit(1 if failures else 0)
P
# the sandbox's verdict on what it captured: what a receiver would say
caps=$("$HERALD" captures --data-dir "$T/data")
echo "$caps" | tail -1
for want in spf=pass dkim=pass dmarc=pass; do
  [[ "$caps" == *"$want"* ]] || { echo "FAIL: the sandbox verdict lacks $want"; exit 1; }
done
[ "$(echo "$caps" | grep -o 'dkim=pass' | wc -l)" -eq 2 ] || { echo "FAIL: want two passing DKIM signatures (RSA, Ed25519)"; exit 1; }
echo "ok: the sandbox capture carries spf=pass, two dkim=pass and dmarc=pass"
echo "serve_smuggling: passed"
