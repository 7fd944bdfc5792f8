#!/usr/bin/python3
"""dkim_check.py ZONE MESSAGE... - verify every DKIM-Signature of each
message with dkimpy (the independent verifier), answering its key lookups
from the zone fixture text that `herald domain add` printed. Prints one
line per signature and exits 1 if any signature of any message fails."""
import re
import sys

import dkim


def load_zone(path):
    txt = {}
    for line in open(path, encoding="utf-8"):
        line = line.split(";", 1)[0].strip() if not '"' in line else line.strip()
        m = re.match(r'^(\S+)\s+(?:\d+\s+)?IN\s+TXT\s+(.*)$', line)
        if not m:
            continue
        name = m.group(1).rstrip(".").lower()
        strings = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
        txt.setdefault(name, []).append("".join(strings).encode())
    return txt


def main():
    zone = load_zone(sys.argv[1])

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        vals = zone.get(name.rstrip(".").lower())
        return vals[0] if vals else None

    bad = 0
    for path in sys.argv[2:]:
        msg = open(path, "rb").read()
        sigs = [m for m in re.finditer(rb"(?im)^DKIM-Signature:", msg)]
        if not sigs:
            print(f"{path}: no DKIM-Signature")
            bad += 1
            continue
        for i in range(len(sigs)):
            d = dkim.DKIM(msg)
            ok = d.verify(idx=i, dnsfunc=dnsfunc)
            alg = re.search(rb"a=([a-z0-9-]+)", d.signature_fields.get(b"a", b"a=?") and b"a=" + d.signature_fields.get(b"a", b"?")).group(1).decode()
            print(f"{path}: signature {i} ({alg}): {'pass' if ok else 'FAIL'}")
            bad += 0 if ok else 1
    sys.exit(1 if bad else 0)


main()
