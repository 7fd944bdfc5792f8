#!/usr/bin/python3
"""dkim_peer.py — helper of tests/interop/dkim_interop.sh: test corpus, dkimpy as
signer and verifier, OpenDKIM test mode (`opendkim -t`) driving, and herald's
`dkim verify --json` run over many files, all with the same result lines.

Run with Debian's /usr/bin/python3 (python3-dkim, python3-nacl).

Every verifying subcommand prints one line per check on stdout:
    pass|fail <TAB> FILE[#signature index] <TAB> detail
and nothing else there, so the shell script only counts lines. A missing file
(its signer failed) is a failed check, never a skipped one.

subcommands
  corpus DIR                      write the deterministic test messages
  records ZONE DNS TESTKEYS       herald's `keygen --zone` lines -> "name value"
                                  lines (dkimpy, Mail::DKIM) and opendkim's
                                  TestPublicKeys (name<TAB>value)
  crlf [--lf] --out DIR FILE...   copy FILEs with CRLF (or, --lf, LF) line ends
  check-output [--sigs N] ORIG SIGNED [ORIG SIGNED...]
                                  herald sign's output = N DKIM-Signature fields
                                  in the input's line ends + the input unchanged
  dkimpy-sign --rsa-key PEM --ed-seed B64 JOBS
                                  JOBS lines: in out rsa|ed hcanon/bcanon headers|-
                                  (tab-separated; signs the CRLF form of "in")
  dkimpy-verify --dns F [--sigs N] [--expect pass|fail] FILE...
  odk-verify --conf C [--cwd DIR] [--expect pass|fail] FILE...
                                  opendkim -t in DIR (FILEs relative to it)
  odk-sign --conf C --out DIR FILE...                 (opendkim -t, Mode s)
  herald-verify --herald H --zone Z [--sigs N] [--want RESULT[:REASON]]
                [--want-rc RC] FILE...
  canon --dns F FILE [IDX]        dkimpy's canonicalized body and signed header
                                  block of a signed FILE (to debug a mismatch)
"""
import argparse
import json
import logging
import os
import re
import subprocess
import sys

import dkim

DOMAIN = b"example.org"


def out(ok, name, detail=""):
    detail = detail.replace("\t", " ").replace("\r", "\\r").replace("\n", " | ")
    print(f"{'pass' if ok else 'fail'}\t{name}\t{detail}", flush=True)


def read(path):
    with open(path, "rb") as fh:
        return fh.read()


def write(path, data):
    with open(path, "wb") as fh:
        fh.write(data)


# ---------------------------------------------------------------- corpus
# Every message is fixed text (no clock, no randomness) so a failure can be
# reproduced byte for byte. "nl" is the line end used for the file.

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo "
         "lima mike november oscar papa quebec romeo sierra tango uniform "
         "victor whiskey xray yankee zulu").split()


def text_lines(n, width, salt):
    lines = []
    for i in range(n):
        words, j = [], 0
        while len(" ".join(words)) < width:
            words.append(WORDS[(i * 7 + j * 13 + salt) % len(WORDS)])
            j += 1
        lines.append(" ".join(words))
    return lines


def std_headers(subject, mid, to="Bob <bob@example.net>"):
    return [
        "From: Alice <alice@example.org>",
        f"To: {to}",
        f"Subject: {subject}",
        "Date: Fri, 27 Nov 2026 10:00:00 +0000",
        f"Message-ID: <{mid}@example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
    ]


def corpus():
    m = {}
    # name: (header lines, body lines or raw body text, nl, final newline?)
    m["plain"] = (std_headers("Plain message", "plain"),
                  ["Hello Bob,", "", "this is a plain test message.", "", "-- ", "Alice"],
                  "\r\n", True)
    m["plain-lf"] = (std_headers("Plain message with LF line ends", "plain-lf"),
                     ["Hello Bob,", "", "this file uses bare LF line ends.", "Alice"],
                     "\n", True)
    m["folded"] = ([
        "From: Alice <alice@example.org>",
        "To: Bob <bob@example.net>,",
        "  Carol <carol@example.net>,",
        "\tDave <dave@example.net>",
        "Subject: a subject that is long enough that it",
        " has been folded over",
        "\tthree lines",
        "Date: Fri, 27 Nov 2026 10:00:00 +0000",
        "Message-ID: <folded@example.org>",
        "References: <one@example.org>",
        "  <two@example.org>",
        "\t<three@example.org>",
        "Received: from mx.example.net (mx.example.net [192.0.2.1])",
        "\tby mx.example.org with ESMTPS id 12345;",
        "\tFri, 27 Nov 2026 09:59:58 +0000",
        "MIME-Version: 1.0",
        "Content-Type: text/plain;",
        "\tcharset=us-ascii",
    ], ["Folded headers above.", "Body line two."], "\r\n", True)
    m["whitespace"] = ([
        "From:  Alice   <alice@example.org>  ",
        "To:\tBob <bob@example.net>\t",
        "Subject:   a   b  ",
        "Date:\t Fri, 27 Nov 2026 10:00:00 +0000",
        "Message-ID: <whitespace@example.org>",
        "X-Odd:  \t spaced \t value \t",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
    ], ["  leading spaces", "trailing spaces   ", "inner    runs\t\tof \t whitespace",
        "\ttab first", " ", "\t", "last text line  \t"], "\r\n", True)
    m["trailing-blank"] = (std_headers("Trailing blank lines", "trailing-blank"),
                           ["body text", "", "more text", "", "", "  ", "\t", "", ""],
                           "\r\n", True)
    m["empty-body"] = (std_headers("Empty body", "empty-body"), [], "\r\n", True)
    m["no-final-newline"] = (std_headers("Body without final newline", "no-final-newline"),
                             ["first line", "last line has no line end"], "\n", False)
    m["utf8"] = ([
        "From: =?utf-8?q?J=C3=BCrgen?= <juergen@example.org>",
        "To: Zoë Ünïcode <zoe@example.net>",
        "Subject: Grüße aus Köln — ünïcödé ✓ 日本語",
        "Date: Fri, 27 Nov 2026 10:00:00 +0000",
        "Message-ID: <utf8@example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ], ["Grüße, Zoë!", "Ça va ? — «ÿ» ½ € 日本語のテキスト", "  ünïcödé with trailing space  ",
        "✓ done"], "\r\n", True)
    long_hdr = "X-Long-Header: " + " ".join(text_lines(1, 880, 3))
    m["long-lines"] = (std_headers("Long lines", "long-lines") + [long_hdr],
                       ["short", " ".join(text_lines(1, 2000, 5)), "short again",
                        "x" * 10000, " ".join(text_lines(1, 1500, 9)) + "   "],
                       "\r\n", True)
    b64 = "".join(chr(65 + (i * 31) % 26) for i in range(76))
    m["multipart"] = ([
        "From: Alice <alice@example.org>",
        "To: Bob <bob@example.net>",
        "Subject: Multipart message",
        "Date: Fri, 27 Nov 2026 10:00:00 +0000",
        "Message-ID: <multipart@example.org>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="outer-b"',
    ], [
        "This is a multi-part message in MIME format.",
        "",
        "--outer-b",
        'Content-Type: multipart/alternative; boundary="inner-b"',
        "",
        "--inner-b",
        "Content-Type: text/plain; charset=us-ascii",
        "Content-Transfer-Encoding: 7bit",
        "",
        "Plain part.  ",
        "",
        "--inner-b",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "<html><body><p>HTML part with a soft=",
        " line break and =C3=BC</p></body></html>",
        "",
        "--inner-b--",
        "",
        "--outer-b",
        'Content-Type: application/octet-stream; name="data.bin"',
        "Content-Transfer-Encoding: base64",
        'Content-Disposition: attachment; filename="data.bin"',
        "",
        b64, b64, b64[:40] + "==",
        "",
        "--outer-b--",
        "",
    ], "\r\n", True)
    m["many-recipients"] = ([
        "Received: from relay2.example.net by mx.example.org; Fri, 27 Nov 2026 10:00:05 +0000",
        "Received: from relay1.example.net by relay2.example.net; Fri, 27 Nov 2026 10:00:04 +0000",
        "Received: from client.example.org by relay1.example.net; Fri, 27 Nov 2026 10:00:03 +0000",
        "From: Alice <alice@example.org>",
        "To: Bob <bob@example.net>",
        "To: Carol <carol@example.net>, Dave <dave@example.net>",
        "Cc: Erin <erin@example.net>",
        "Cc: Frank <frank@example.net>",
        "To: Grace <grace@example.net>",
        "Reply-To: Alice <alice@example.org>",
        "Subject: Several To, Cc and Received fields",
        "Date: Fri, 27 Nov 2026 10:00:00 +0000",
        "Message-ID: <many-recipients@example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
    ], ["To all of you."], "\n", True)
    big = text_lines(700, 70, 1)  # ~50 KB
    m["big"] = (std_headers("A 50 KB body", "big"), big, "\r\n", True)

    res = {}
    for name, (hdrs, body, nl, final) in m.items():
        text = nl.join(hdrs) + nl + nl + nl.join(body)
        if body and final:
            text += nl
        res[name] = text.encode("utf-8")
    return res


def cmd_corpus(a):
    os.makedirs(a.dir, exist_ok=True)
    for name, data in corpus().items():
        write(os.path.join(a.dir, name + ".eml"), data)


# ---------------------------------------------------------------- DNS data

def parse_zone(path):
    """(name, value) of every TXT line of a zone file (strings concatenated)."""
    recs = []
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith(";") or line.startswith("$"):
            continue
        m = re.match(r'(\S+)\s+(?:\d+\s+)?IN\s+TXT\s+(.*)$', line)
        if not m:
            continue
        strings = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
        for s in strings:
            if len(s.encode()) > 255:
                sys.exit(f"records: string longer than 255 bytes in {path}: {line[:60]}...")
        val = "".join(re.sub(r'\\(.)', r'\1', s) for s in strings)
        recs.append((m.group(1).rstrip(".").lower(), val))
    return recs


def cmd_records(a):
    recs = parse_zone(a.zone)
    with open(a.dns, "w") as d, open(a.testkeys, "w") as t:
        for name, val in recs:
            d.write(f"{name} {val}\n")
            t.write(f"{name}\t{val}\n")
    for name, val in recs:
        print(f"{name} {val}")


def fake_dns(path):
    """dkimpy dnsfunc answering from "name value" lines; value TIMEOUT = a DNS timeout."""
    table = {}
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line:
            name, _, val = line.partition(" ")
            table[name.lower().rstrip(".")] = val.encode()

    def dnsfunc(name, timeout=5):
        n = (name.decode() if isinstance(name, bytes) else name).lower().rstrip(".")
        v = table.get(n)
        if v == b"TIMEOUT":
            raise dkim.DnsTimeoutError("fake DNS: timeout for " + n)
        return v
    return dnsfunc


# ---------------------------------------------------------------- line ends

def cmd_crlf(a):
    os.makedirs(a.out, exist_ok=True)
    for f in a.files:
        if not os.path.exists(f):
            continue  # its signer failed; the verifier reports the missing file
        data = read(f)
        data = re.sub(rb"\r?\n", b"\n" if a.lf else b"\r\n", data)
        write(os.path.join(a.out, os.path.basename(f)), data)


def cmd_check_output(a):
    """herald sign's output must be N DKIM-Signature fields, in the input's line
    ends, followed by the input message byte for byte."""
    for orig, signed in zip(a.pairs[0::2], a.pairs[1::2]):
        if not os.path.exists(signed):
            out(False, signed, "missing (signing failed)")
            continue
        o, s = read(orig), read(signed)
        pos, n = 0, 0
        while s[pos:pos + 15].lower() == b"dkim-signature:":
            n += 1
            while True:
                e = s.find(b"\n", pos)
                pos = len(s) if e < 0 else e + 1
                if s[pos:pos + 1] not in (b" ", b"\t"):
                    break
        fields = s[:pos]
        crlf = b"\r\n" in o
        ends_ok = (fields.count(b"\n") == fields.count(b"\r\n") if crlf
                   else b"\r" not in fields)
        probs = []
        if n != a.sigs:
            probs.append(f"{n} DKIM-Signature fields at the top, expected {a.sigs}")
        if not ends_ok:
            probs.append(f"the fields' line ends differ from the input's ({'CRLF' if crlf else 'LF'})")
        if s[pos:] != o:
            rest = s[pos:]
            at = next((i for i in range(min(len(rest), len(o))) if rest[i] != o[i]), min(len(rest), len(o)))
            probs.append(f"the message after the fields differs from {orig} at byte {at}: "
                         f"{rest[max(0, at - 20):at + 20]!r} vs {o[max(0, at - 20):at + 20]!r}")
        out(not probs, signed, "; ".join(probs) or f"{n} field(s), {'CRLF' if crlf else 'LF'}, message unchanged")


# ---------------------------------------------------------------- dkimpy

class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.msgs = []

    def emit(self, record):
        self.msgs.append(record.getMessage())


def cmd_dkimpy_sign(a):
    rsa = read(a.rsa_key)
    ed = read(a.ed_seed).strip()
    bad = 0
    for line in open(a.jobs):
        if not line.strip():
            continue
        src, dst, alg, canon, hdrs = line.rstrip("\n").split("\t")
        hc, bc = canon.split("/")
        msg = re.sub(rb"\r?\n", b"\r\n", read(src))  # the wire form
        kw = {}
        if hdrs != "-":
            kw["include_headers"] = [h.encode() for h in hdrs.split(":")]
        try:
            sig = dkim.sign(msg, b"rsa2048" if alg == "rsa" else b"ed25519", DOMAIN,
                            rsa if alg == "rsa" else ed,
                            canonicalize=(hc.encode(), bc.encode()),
                            signature_algorithm=b"rsa-sha256" if alg == "rsa" else b"ed25519-sha256",
                            **kw)
        except Exception as e:  # noqa: BLE001 - reported, the verifier sees the missing file
            print(f"dkimpy sign {src} ({alg} {canon} {hdrs}): {e!r}", file=sys.stderr)
            bad += 1
            continue
        write(dst, sig + msg)
    if bad:
        print(f"dkimpy sign: {bad} messages could not be signed", file=sys.stderr)


def cmd_dkimpy_verify(a):
    dnsfunc = fake_dns(a.dns)
    for f in a.files:
        if not os.path.exists(f):
            for i in range(a.sigs if a.expect == "pass" else 1):
                out(False, f"{f}#{i}" if a.sigs > 1 else f, "missing (signing failed)")
            continue
        msg = read(f)
        h = ListHandler()
        log = logging.getLogger("dkimpy-" + f)
        log.propagate = False
        log.addHandler(h)
        log.setLevel(logging.DEBUG)
        try:
            d = dkim.DKIM(msg, logger=log, minkey=1024)
            n = sum(1 for k, _ in d.headers if k.lower() == b"dkim-signature")
            res = []
            for i in range(n):
                h.msgs.clear()
                try:
                    ok = bool(d.verify(idx=i, dnsfunc=dnsfunc))
                except dkim.DKIMException as e:
                    ok = False
                    h.msgs.append(repr(e))
                res.append((ok, [m for m in h.msgs if not m.startswith(("sig:", "sign headers", "hashed"))][-3:]))
        except dkim.DKIMException as e:
            n, res = 0, []
            h.msgs.append(repr(e))
        if a.expect == "fail":
            passed = [i for i, (ok, _) in enumerate(res) if ok]
            out(not passed, f, f"dkimpy passed signature(s) {passed}" if passed
                else "dkimpy: fail as expected: " + "; ".join(" ".join(m) for _, m in res))
            continue
        if n != a.sigs:
            for i in range(a.sigs):
                out(False, f"{f}#{i}" if a.sigs > 1 else f, f"dkimpy found {n} DKIM-Signature fields, expected {a.sigs}")
            continue
        for i, (ok, msgs) in enumerate(res):
            out(ok, f"{f}#{i}" if a.sigs > 1 else f, "dkimpy: " + ("pass" if ok else "fail: " + " / ".join(msgs)))


def cmd_canon(a):
    """dkimpy's canonicalized body and signed header block for signature IDX (debug_content)."""
    logging.basicConfig(level=logging.DEBUG, format="%(message)s", stream=sys.stdout)
    d = dkim.DKIM(read(a.file), logger=logging.getLogger("canon"), debug_content=True)
    print("dkimpy verify:", d.verify(idx=a.idx, dnsfunc=fake_dns(a.dns)))


# ---------------------------------------------------------------- opendkim -t

def run_opendkim(conf, files, cwd):
    """One `opendkim -x CONF -t f1,f2,...` over FILES (paths relative to cwd)."""
    p = subprocess.run(["/usr/sbin/opendkim", "-x", conf, "-t", ",".join(files)],
                       cwd=cwd, capture_output=True)
    return p.returncode, p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")


def cmd_odk_verify(a):
    present = [f for f in a.files if os.path.exists(os.path.join(a.cwd, f))]
    rc, text = run_opendkim(a.conf, present, a.cwd) if present else (0, "")
    said = {}
    for line in text.splitlines():
        m = re.match(r"opendkim: (.+?): (.*)$", line)
        if m:
            said.setdefault(m.group(1), []).append(m.group(2))
    for f in a.files:
        if f not in present:
            out(False, f, "missing (signing failed)")
            continue
        lines = said.get(f, [])
        ok = any(re.match(r"verification \(.*\) succeeded", x) for x in lines)
        if a.expect == "fail":
            out(not ok and bool(lines), f, "opendkim: " + (" | ".join(lines) or f"no output (rc {rc})"))
        else:
            out(ok, f, "opendkim: " + (" | ".join(lines) or f"no output for this file (rc {rc}): {text[-300:]}"))


def cmd_odk_sign(a):
    """opendkim -t in Mode s prints "opendkim: FILE:" and then the new header field."""
    os.makedirs(a.out, exist_ok=True)
    rc, text = run_opendkim(a.conf, a.files, ".")
    sigs, cur = {}, None
    for line in text.splitlines():
        if line.startswith("opendkim: ") and line.endswith(":"):
            cur = line[len("opendkim: "):-1]
            sigs[cur] = []
        elif cur is not None and (line.startswith("DKIM-Signature:") or line[:1] in (" ", "\t")):
            sigs[cur].append(line.rstrip("\r"))
        else:
            if line.strip():
                print(f"opendkim sign ({a.conf}): {line}", file=sys.stderr)
            cur = None
    for f in a.files:
        if sigs.get(f):
            hdr = ("\r\n".join(sigs[f]) + "\r\n").encode()
            write(os.path.join(a.out, os.path.basename(f)), hdr + read(f))
        else:
            print(f"opendkim sign: no signature for {f} (rc {rc})", file=sys.stderr)


# ---------------------------------------------------------------- herald

def cmd_herald_verify(a):
    want_res, _, want_reason = (a.want or "pass").partition(":")
    want_rc = a.want_rc if a.want_rc is not None else (0 if want_res == "pass" else 1)
    for f in a.files:
        if not os.path.exists(f):
            for i in range(a.sigs if want_res == "pass" else 1):
                out(False, f"{f}#{i}" if a.sigs > 1 else f, "missing (signing failed)")
            continue
        cmd = [a.herald, "dkim", "verify", "--dns-zone", a.zone, "--json", f]
        p = subprocess.run(cmd, capture_output=True)
        where = f"`{' '.join(cmd)}` exit {p.returncode}"
        try:
            sigs = json.loads(p.stdout)["signatures"]
        except (ValueError, KeyError, TypeError):
            for i in range(max(a.sigs, 1) if want_res == "pass" else 1):
                out(False, f"{f}#{i}" if a.sigs > 1 else f,
                    f"{where}; unparseable output: {p.stdout[:300]!r} {p.stderr[:300]!r}")
            continue
        if a.sigs == 0:
            ok = not sigs and p.returncode == want_rc
            out(ok, f, f"herald: {len(sigs)} signatures, exit {p.returncode}" + ("" if ok else f"; wanted none, exit {want_rc}"))
            continue
        if len(sigs) != a.sigs:
            for i in range(a.sigs):
                out(False, f"{f}#{i}" if a.sigs > 1 else f,
                    f"{where}; {len(sigs)} signatures, expected {a.sigs}: {p.stdout.decode()[:600]}")
            continue
        for i, s in enumerate(sigs):
            name = f"{f}#{i}" if a.sigs > 1 else f
            got = f"{s.get('result')}:{s.get('reason_code')} ({s.get('reason')}; s={s.get('selector')} c={s.get('canonicalization')})"
            ok = (s.get("result") == want_res
                  and (not want_reason or s.get("reason_code") == want_reason)
                  and p.returncode == want_rc)
            out(ok, name, f"herald: {got}, exit {p.returncode}" +
                ("" if ok else f"; wanted {a.want or 'pass'} exit {want_rc}; {where}; stderr: {p.stderr.decode()[:300]}"))


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("corpus"); p.add_argument("dir"); p.set_defaults(fn=cmd_corpus)
    p = sub.add_parser("records"); p.add_argument("zone"); p.add_argument("dns"); p.add_argument("testkeys")
    p.set_defaults(fn=cmd_records)
    p = sub.add_parser("crlf"); p.add_argument("--lf", action="store_true"); p.add_argument("--out", required=True)
    p.add_argument("files", nargs="*"); p.set_defaults(fn=cmd_crlf)
    p = sub.add_parser("check-output"); p.add_argument("--sigs", type=int, default=1)
    p.add_argument("pairs", nargs="*"); p.set_defaults(fn=cmd_check_output)
    p = sub.add_parser("dkimpy-sign"); p.add_argument("--rsa-key", required=True)
    p.add_argument("--ed-seed", required=True); p.add_argument("jobs"); p.set_defaults(fn=cmd_dkimpy_sign)
    for n, fn in (("dkimpy-verify", cmd_dkimpy_verify), ("odk-verify", cmd_odk_verify)):
        p = sub.add_parser(n)
        p.add_argument("--dns"); p.add_argument("--conf"); p.add_argument("--cwd", default=".")
        p.add_argument("--sigs", type=int, default=1)
        p.add_argument("--expect", choices=["pass", "fail"], default="pass")
        p.add_argument("files", nargs="*"); p.set_defaults(fn=fn)
    p = sub.add_parser("odk-sign"); p.add_argument("--conf", required=True); p.add_argument("--out", required=True)
    p.add_argument("files", nargs="*"); p.set_defaults(fn=cmd_odk_sign)
    p = sub.add_parser("herald-verify"); p.add_argument("--herald", required=True); p.add_argument("--zone", required=True)
    p.add_argument("--sigs", type=int, default=1); p.add_argument("--want"); p.add_argument("--want-rc", type=int)
    p.add_argument("files", nargs="*"); p.set_defaults(fn=cmd_herald_verify)
    p = sub.add_parser("canon"); p.add_argument("--dns", required=True); p.add_argument("file")
    p.add_argument("idx", type=int, nargs="?", default=0)
    p.set_defaults(fn=cmd_canon)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
