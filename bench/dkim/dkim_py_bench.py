#!/usr/bin/python3
"""dkim_py_bench.py — dkimpy (python3-dkim) throughput + DKIM interop helper.

subcommands (all print one summary line to stdout):
  sign   --alg rsa|ed --keys KEYDIR --in CORPUS --out DIR   sign every msg-*.eml (timed in memory)
  verify --keys KEYDIR --in DIR [--expect-fail]              verify every msg-*.eml with a fake DNS
  assemble --in CORPUS --out DIR < opendkim-t-output         build signed files from `opendkim -t` output
  assemble-rspamd --in CORPUS --out DIR < sigs               same from `rspamadm mime sign -o signature`
                                                             (one "v=1; ..." record per file, in ls order)

The fake DNS (dkimpy's dnsfunc hook) serves KEYDIR/dns.txt ("name TXT-value" lines, see gen-keys.sh),
so verification is pure CPU: no resolver, no network.

Written by the herald team for the peer measurements; this copy in bench/dkim/ is the one
bench/dkim.sh runs. bench/dkim.sh makes KEYDIR itself, in the layout gen-keys.sh (the team's
key recipe, not part of the repository) gives it: rsa2048.private, ed25519.seed.b64, dns.txt.
"""
import argparse
import os
import sys
import time

import dkim

CANON = (b"relaxed", b"relaxed")
DOMAIN = b"example.org"


def load_dir(d):
    names = sorted(f for f in os.listdir(d) if f.startswith("msg-") and f.endswith(".eml"))
    out = []
    for n in names:
        with open(os.path.join(d, n), "rb") as fh:
            out.append((n, fh.read()))
    return out


def fake_dns(keydir):
    table = {}
    with open(os.path.join(keydir, "dns.txt")) as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                continue
            name, val = line.split(" ", 1)
            table[name.lower().rstrip(".")] = val.encode()

    def dnsfunc(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        return table.get(n.lower().rstrip("."))
    return dnsfunc


def cmd_sign(a):
    msgs = load_dir(a.inp)
    if a.alg == "rsa":
        with open(os.path.join(a.keys, "rsa2048.private"), "rb") as fh:
            key = fh.read()
        sel, alg = b"rsa2048", b"rsa-sha256"
    else:
        with open(os.path.join(a.keys, "ed25519.seed.b64"), "rb") as fh:
            key = fh.read().strip()
        sel, alg = b"ed25519", b"ed25519-sha256"
    out = []
    t0 = time.perf_counter()
    for n, m in msgs:
        sig = dkim.sign(m, sel, DOMAIN, key, canonicalize=CANON, signature_algorithm=alg)
        out.append((n, sig + m))
    dt = time.perf_counter() - t0
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        for n, m in out:
            with open(os.path.join(a.out, n), "wb") as fh:
                fh.write(m)
    nbytes = sum(len(m) for _, m in msgs)
    print(f"dkimpy sign {alg.decode()}: {len(msgs)} msgs {nbytes} bytes in {dt:.3f} s = {len(msgs)/dt:.1f} msg/s")


def cmd_verify(a):
    msgs = load_dir(a.inp)
    dnsfunc = fake_dns(a.keys)
    ok = 0
    t0 = time.perf_counter()
    for n, m in msgs:
        if dkim.verify(m, dnsfunc=dnsfunc):
            ok += 1
    dt = time.perf_counter() - t0
    print(f"dkimpy verify {a.label}: {ok}/{len(msgs)} pass in {dt:.3f} s = {len(msgs)/dt:.1f} msg/s")
    if not a.expect_fail and ok != len(msgs):
        sys.exit(1)


def cmd_assemble(a):
    """opendkim -t prints 'opendkim: PATH:' then the DKIM-Signature header (folded lines)."""
    sigs, cur = {}, None
    for line in sys.stdin.read().splitlines():
        if line.startswith("opendkim: ") and line.endswith(":"):
            cur = os.path.basename(line[len("opendkim: "):-1])
            sigs[cur] = []
        elif cur is not None and (line.startswith("DKIM-Signature:") or line[:1] in (" ", "\t")):
            sigs[cur].append(line)
        else:
            cur = None
    os.makedirs(a.out, exist_ok=True)
    n = 0
    for name, m in load_dir(a.inp):
        if name in sigs and sigs[name]:
            hdr = ("\r\n".join(sigs[name]) + "\r\n").encode()
            with open(os.path.join(a.out, name), "wb") as fh:
                fh.write(hdr + m)
            n += 1
    print(f"assemble: {n} signed messages written to {a.out}")


def cmd_assemble_rspamd(a):
    recs, cur = [], None
    for line in sys.stdin.read().splitlines():
        if line.startswith("v=1;"):
            cur = [line]
            recs.append(cur)
        elif cur is not None and line[:1] in (" ", "\t"):
            cur.append(line)
        else:
            cur = None
    msgs = load_dir(a.inp)
    os.makedirs(a.out, exist_ok=True)
    n = 0
    for (name, m), rec in zip(msgs, recs):
        hdr = ("DKIM-Signature: " + "\r\n".join(rec) + "\r\n").encode()
        with open(os.path.join(a.out, name), "wb") as fh:
            fh.write(hdr + m)
        n += 1
    print(f"assemble-rspamd: {n} signed messages written to {a.out} ({len(recs)} signatures for {len(msgs)} msgs)")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sign")
    s.add_argument("--alg", choices=["rsa", "ed"], required=True)
    s.add_argument("--keys", required=True)
    s.add_argument("--in", dest="inp", required=True)
    s.add_argument("--out")
    s.set_defaults(fn=cmd_sign)
    v = sub.add_parser("verify")
    v.add_argument("--keys", required=True)
    v.add_argument("--in", dest="inp", required=True)
    v.add_argument("--label", default="")
    v.add_argument("--expect-fail", action="store_true")
    v.set_defaults(fn=cmd_verify)
    m = sub.add_parser("assemble")
    m.add_argument("--in", dest="inp", required=True)
    m.add_argument("--out", required=True)
    m.set_defaults(fn=cmd_assemble)
    r = sub.add_parser("assemble-rspamd")
    r.add_argument("--in", dest="inp", required=True)
    r.add_argument("--out", required=True)
    r.set_defaults(fn=cmd_assemble_rspamd)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
