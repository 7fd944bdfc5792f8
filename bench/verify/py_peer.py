#!/usr/bin/python3
"""bench/verify/py_peer.py MODE CORPUS_DIR DNS_JSON [SECONDS] - dkimpy + pyspf, one process, in memory.

MODE dkim: dkim.verify alone (the DKIM-only rate of the same corpus).
MODE full: per message, as herald's bench_verify minus DMARC (no DMARC evaluator ships for Python
           in Debian; bench/verify.sh adds Mail::DMARC's per-message cost): the From domain
           (email.utils.parseaddr), pyspf spf.check2 (spf.DNSLookup replaced by the fake zone),
           dkim.verify, dkim.arc_verify (dnsfunc hook), and the Authentication-Results field built
           with python3-authres (authres.AuthenticationResultsHeader).
Facts (IP, HELO, MAIL FROM) from CORPUS_DIR/facts.txt. Whole passes until SECONDS (default 2);
prints "python MODE: N msgs in T s = R msg/s" and the verdict counts of a pass.
"""
import collections
import email.utils
import json
import os
import re
import sys
import time

import authres
import dkim
import spf

mode, cdir, dnsjson = sys.argv[1:4]
secs = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
Z = json.load(open(dnsjson))


def txt(name, timeout=5):
    n = (name.decode() if isinstance(name, bytes) else name).lower().rstrip(".")
    v = Z.get(n, {}).get("TXT")
    return v[0].encode() if v else None


def lookup(name, qtype, strict=True, timeout=None):
    n = name.lower().rstrip(".")
    recs = Z.get(n, {}).get(qtype, [])
    out = []
    for v in recs:
        if qtype == "TXT":
            b = v.encode()
            out.append(((n, qtype), [b[i:i + 255] for i in range(0, len(b), 255)]))
        elif qtype == "MX":
            out.append(((n, qtype), (int(v[0]), v[1])))
        else:
            out.append(((n, qtype), v))
    return out


spf.DNSLookup = lookup

names = sorted(f for f in os.listdir(cdir) if f.startswith("msg-") and f.endswith(".eml"))
msgs = [open(os.path.join(cdir, f), "rb").read() for f in names]
# dkimpy 1.1.4 finds the raw AMS by the bytes b" i=N;" (ARC.verify_instance), so an AMS whose
# i= tag opens a folded line ("\r\n\ti=1;", as herald folds it) raises IndexError there. The
# fold is FWS, and ARC hashes its fields relaxed: a space for that tab changes no hash, so it is
# put in here, before the clock starts, for dkimpy's sake.
AMS_FOLD = re.compile(rb"(ARC-Message-Signature:(?:[^\r\n]*\r?\n[ \t])*?[^\r\n]*\r?\n)\t(i=)", re.I)
msgs = [AMS_FOLD.sub(rb"\1 \2", m) for m in msgs]
facts = {}
if os.path.exists(os.path.join(cdir, "facts.txt")):
    for line in open(os.path.join(cdir, "facts.txt")):
        w = line.split()
        if len(w) == 4:
            facts[w[0]] = w[1:]
count = collections.Counter()
FROM_RE = re.compile(rb"^From:(.*(?:\r?\n[ \t].*)*)", re.M | re.I)
SIG_RE = re.compile(rb"\bd=([^;\s]+)")


def one_dkim(i):
    count["dkim=" + ("pass" if dkim.verify(msgs[i], dnsfunc=txt) else "fail")] += 1


def one_full(i):
    m = msgs[i]
    ip, helo, mf = facts.get(names[i], ("192.0.2.25", "mail.example.org", "bounce@example.org"))
    mf = "" if mf == "-" else mf
    hdr = m.split(b"\r\n\r\n", 1)[0]
    fm = FROM_RE.search(hdr)
    from_dom = email.utils.parseaddr(fm.group(1).decode())[1].rpartition("@")[2] if fm else ""
    spf_res, _ = spf.check2(i=ip, s=mf, h=helo)
    d = dkim.DKIM(m)
    ok = d.verify(dnsfunc=txt)
    cv, _, _ = dkim.arc_verify(m, dnsfunc=txt)
    results = [authres.SPFAuthenticationResult(result=spf_res, smtp_mailfrom=mf),
               authres.DKIMAuthenticationResult(result="pass" if ok else "fail",
                                                header_d=d.domain.decode() if d.domain else None,
                                                header_s=d.selector.decode() if d.selector else None)]
    arc = cv.decode() if isinstance(cv, bytes) else str(cv)
    if arc != "none":
        results.append(authres.AuthenticationResult(method="arc", result=arc))
    ar = str(authres.AuthenticationResultsHeader(authserv_id="mx.bench.test", results=results))
    count["spf=" + spf_res] += 1
    count["dkim=" + ("pass" if ok else "fail")] += 1
    count["arc=" + arc] += 1
    count["from=" + from_dom] += 1
    return ar


fn = {"dkim": one_dkim, "full": one_full}[mode]
for i in range(len(msgs)):      # warm-up pass
    fn(i)
count.clear()
n, t0 = 0, time.perf_counter()
while True:
    for i in range(len(msgs)):
        fn(i)
    n += len(msgs)
    t1 = time.perf_counter()
    if t1 - t0 >= secs:
        break
passes = n // len(msgs)
print(f"python {mode}: {n} msgs in {t1 - t0:.3f} s = {n / (t1 - t0):.1f} msg/s (verdicts per pass: "
      + ", ".join(f"{k} {v // passes}" for k, v in sorted(count.items())) + ")")
