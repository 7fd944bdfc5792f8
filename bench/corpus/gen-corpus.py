#!/usr/bin/python3
"""gen-corpus.py — deterministic test-message corpus for the DKIM / SMTP peer measurements.

Writes N RFC 5322 messages (CRLF line endings, 7-bit text/plain, lines <= 76 chars) to OUTDIR
as msg-00000.eml ...; every message alternates between a ~2 KB body and a ~50 KB body
(--big-every K: every K-th message is big; default 2 = half 2 KB, half 50 KB).
Same seed -> byte-identical corpus. Idempotent: rewrites OUTDIR/msg-*.eml.

usage: gen-corpus.py [-n 1000] [--small 2048] [--big 51200] [--big-every 2]
                     [--domain example.org] [--seed 7208] OUTDIR

Written by the herald team for the peer measurements; this copy in bench/corpus/ is the one
bench/dkim.sh and bench/verify/make-corpus.sh run, so the benchmarks need nothing outside the
repository. Keep the output byte-identical for a given seed: published figures depend on it.
"""
import argparse
import os
import random
import sys

WORDS = ("the quick brown fox jumps over lazy dog mail server queue deliver relay "
         "signature domain key selector header body canonical relaxed simple policy "
         "report aggregate forensic envelope sender recipient message transfer agent "
         "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor").split()


def body(rng, size):
    lines, n = [], 0
    while n < size:
        line, ll = [], 0
        while ll < 60:
            w = rng.choice(WORDS)
            line.append(w)
            ll += len(w) + 1
        s = " ".join(line)
        lines.append(s)
        n += len(s) + 2
    return "\r\n".join(lines) + "\r\n"


def message(rng, i, size, domain):
    hdr = [
        f"From: Sender {i} <sender{i % 50}@{domain}>",
        f"To: Recipient <rcpt{i % 97}@example.net>",
        f"Subject: peer corpus message {i} ({size} byte body)",
        f"Date: Mon, 01 Jan 2024 00:{(i // 60) % 60:02d}:{i % 60:02d} +0000",
        f"Message-ID: <corpus.{i}.{rng.getrandbits(48):012x}@{domain}>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "Content-Transfer-Encoding: 7bit",
    ]
    return "\r\n".join(hdr) + "\r\n\r\n" + body(rng, size)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--small", type=int, default=2048)
    ap.add_argument("--big", type=int, default=51200)
    ap.add_argument("--big-every", type=int, default=2)
    ap.add_argument("--domain", default="example.org")
    ap.add_argument("--seed", type=int, default=7208)
    ap.add_argument("outdir")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    for f in os.listdir(a.outdir):
        if f.startswith("msg-") and f.endswith(".eml"):
            os.unlink(os.path.join(a.outdir, f))
    rng = random.Random(a.seed)
    total = 0
    for i in range(a.n):
        size = a.big if a.big_every > 0 and i % a.big_every == a.big_every - 1 else a.small
        data = message(rng, i, size, a.domain).encode("ascii")
        with open(os.path.join(a.outdir, f"msg-{i:05d}.eml"), "wb") as fh:
            fh.write(data)
        total += len(data)
    print(f"gen-corpus: {a.n} messages, {total} bytes, in {a.outdir}", file=sys.stderr)


if __name__ == "__main__":
    main()
