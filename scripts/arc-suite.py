#!/usr/bin/python3
"""arc-suite.py - convert the ValiMail ARC test suite (tests/data/arc-test-suite/
arc-draft-validation-tests.yml and arc-draft-sign-tests.yml) into a line format that
tests/unit/arc_suite_test.c reads without a YAML library.

usage: arc-suite.py SUITE.yml > SUITE.txt      (needs python3-yaml)

Messages are given with CRLF line ends (the suite writes LF). Every value field is
percent-encoded (bytes outside 0x21-0x7e and '%' as %XX) and written "=VALUE", so no
field holds a blank; an empty value is "=".

  scenario  =DESCRIPTION
  txt       =NAME =RECORD                      a key record (TXT) of the scenario
  key       =PEM                               sign suite: the private key
  signer    =DOMAIN =SELECTOR                  sign suite
  vtest     =NAME =CV =MESSAGE                 validation: CV is Pass, Fail, None or ""
  stest     =NAME =T =SIGHEADERS =SRVID =MESSAGE =AS =AMS =AAR
  count     SCENARIOS TESTS                    last line
"""
import sys

try:
    import yaml
except ImportError:
    sys.stderr.write("arc-suite.py: python3-yaml is missing (apt-get install python3-yaml)\n")
    sys.exit(3)


def pct(value):
    data = str(value if value is not None else "").encode("utf-8")
    return "=" + "".join(chr(b) if 0x21 <= b <= 0x7E and b != 0x25 else "%%%02X" % b
                         for b in data)


def crlf(text):
    return str(text).replace("\r\n", "\n").replace("\n", "\r\n")


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    out, ntests = [], 0
    for d in docs:
        out.append("scenario " + pct(d.get("description", "")))
        for name, rec in d.get("txt-records", {}).items():
            out.append("txt %s %s" % (pct(name), pct("".join(str(rec).split("\n")))))
        if "privatekey" in d:
            out.append("key " + pct(d["privatekey"]))
            out.append("signer %s %s" % (pct(d["domain"]), pct(d["sel"])))
        for name, t in d["tests"].items():
            ntests += 1
            if "cv" in t:
                out.append("vtest %s %s %s" % (pct(name), pct(t["cv"] or ""),
                                               pct(crlf(t["message"]))))
            else:
                out.append("stest " + " ".join(pct(x) for x in (
                    name, t["t"], t["sig-headers"], t["srv-id"], crlf(t["message"]),
                    t["AS"] or "", t["AMS"] or "", t["AAR"] or "")))
    out.append("count %d %d" % (len(docs), ntests))
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
