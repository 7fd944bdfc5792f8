#!/usr/bin/python3
"""memscan.py KEY.pem... -- PID... : look for the private halves of the
given keys in the memory of each process (/proc/PID/maps and
/proc/PID/mem, every readable mapping). The secrets, taken out with
openssl: an RSA key's private exponent d and first prime p, an Ed25519
key's 32-byte seed, each searched as a 32-byte window from its middle in
both byte orders (OpenSSL's BIGNUMs keep limbs little-endian, DER and the
raw seed are big-endian), and a 48-character run of the PEM file's base64
text. Prints one line per process: PID, its name, and the secrets found
("none" when none)."""
import re
import subprocess
import sys


def openssl_fields(path):
    text = subprocess.run(["openssl", "pkey", "-in", path, "-noout", "-text"], check=True,
                          capture_output=True, text=True).stdout
    fields, name = {}, None
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z0-9]+):\s*$", line)
        if m:
            name = m.group(1)
            fields[name] = ""
        elif name and re.match(r"^\s+[0-9a-f:]+$", line):
            fields[name] += line.strip().replace(":", "")
        else:
            name = None
    return {k: bytes.fromhex(v).lstrip(b"\0") for k, v in fields.items() if v}


def secrets_of(path):
    f = openssl_fields(path)
    out = []
    for name in ("privateExponent", "prime1", "priv"):
        if name in f:
            b = f[name]
            mid = len(b) // 2 - 16
            win = b[mid:mid + 32]
            out.append((f"{path.rsplit('/', 1)[-1]}:{name}", [win, win[::-1]]))
    pem = open(path).read()
    body = "".join(l for l in pem.splitlines() if l and not l.startswith("-----"))
    mid = len(body) // 2
    out.append((f"{path.rsplit('/', 1)[-1]}:pem", [body[mid:mid + 48].encode()]))
    return out


def scan(pid, secrets):
    found = set()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if "r" not in parts[1] or (len(parts) > 5 and parts[5] in ("[vvar]", "[vsyscall]")):
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            for name, needles in secrets:
                if any(n in data for n in needles):
                    found.add(name)
    return sorted(found)


def main():
    sep = sys.argv.index("--")
    secrets = [s for p in sys.argv[1:sep] for s in secrets_of(p)]
    for pid in sys.argv[sep + 1:]:
        comm = open(f"/proc/{pid}/comm").read().strip()
        found = scan(pid, secrets)
        print(pid, comm, ",".join(found) if found else "none")


main()
