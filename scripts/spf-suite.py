#!/usr/bin/python3
"""spf-suite.py - convert one openspf SPF test-suite YAML file (rfc7208-tests.yml,
rfc4408-tests.yml, pyspf-test.yml from tests/data/openspf/) into a line format
that tests/unit/spf_suite_test.c reads without a YAML library.

usage: spf-suite.py SUITE.yml > SUITE.txt      (needs python3-yaml)

The zone data follows the suite's driver conventions, as pyspf's driver implements them:
  * TXT/SPF values are a string or a list of strings (one character-string each; an
    empty list is a record of no strings, which the fixture holds as it is);
  * SPF-type records are also served as TXT unless the name has TXT entries ("TXT: NONE"
    suppresses the copy); they are written as the fixture's SPF (type 99) records too,
    which herald never asks for but which make the name exist;
  * a value NONE means "no record"; a bare TIMEOUT entry makes every query for a type
    without records time out (the fixture's TIMEOUT pseudo-type);
  * MX [prio, host], A, AAAA, PTR, CNAME as they are.
TXT values written in the YAML as "\\xNN" are the byte NN (the suite's meaning; pyspf's
driver UTF-8-encodes them instead, which no expected result depends on).

Output: one record per line, the first word its kind; every value field is
percent-encoded (bytes outside 0x21-0x7e and '%' as %XX) and written "=VALUE", or "-"
when absent, so no field holds a blank and an empty value ("=") differs from none ("-").

  suite     =NAME                               rfc7208, rfc4408, pyspf (from the file name)
  scenario  =DESCRIPTION
  z         ZONE-LINE                           one line of the zone fixture, verbatim
                                                (docs/zone-format.md)
  test      =NAME =SPEC|- =HOST =HELO =MAILFROM =RESULT[,RESULT...] =EXPLANATION|-
  count     SCENARIOS TESTS                     last line: a check that nothing was lost

Names are written into the zone with RFC 1035 §5.1 escapes (a blank as \\032, '"' as
\\", ...), so a name with blanks or '%' is served by the fixture exactly as the suite has
it. Nothing is altered to fit: a name or record the fixture cannot hold (an empty label,
a label over 63 bytes, a name over 253 bytes, a wildcard owner, the root as a PTR or
CNAME target) stops the conversion with an error.

A name whose only records are SPF-type ones with "TXT: NONE" exists in the suite: its
SPF records keep it in the zone, so its TXT and other questions answer NODATA, as the
suite's data says, never NXDOMAIN.
"""
import os
import re
import sys

try:
    import yaml
except ImportError:
    sys.stderr.write("spf-suite.py: python3-yaml is missing (apt-get install python3-yaml)\n")
    sys.exit(3)

TXT_STRING_MAX = 255            # RFC 1035 §3.3: one <character-string>
NAME_MAX = 253                  # RFC 1035 §2.3.4, as text without the trailing dot
LABEL_MAX = 63
NAME_SPECIAL = b'"();\\@$'      # written \X in a name (RFC 1035 §5.1); '.' separates


class SuiteError(Exception):
    pass


def pct(value):
    """'=' + percent-encoded value, or '-' for None."""
    if value is None:
        return "-"
    data = value if isinstance(value, bytes) else str(value).encode("utf-8")
    out = []
    for b in data:
        if 0x21 <= b <= 0x7E and b != 0x25:
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "=" + "".join(out)


def txt_bytes(s):
    """A YAML TXT/SPF string as the bytes the suite means: \\xNN escapes are the byte NN,
    so code points up to U+00FF are single bytes; anything beyond is UTF-8."""
    s = str(s)
    if all(ord(c) <= 0xFF for c in s):
        return s.encode("latin-1")
    return s.encode("utf-8")


def zone_string(data):
    """One quoted <character-string> for the fixture, RFC 1035 §5.1 escapes."""
    out = ['"']
    for b in data:
        if b in (0x22, 0x5C):
            out.append("\\" + chr(b))
        elif 0x20 <= b <= 0x7E:
            out.append(chr(b))
        else:
            out.append("\\%03d" % b)
    out.append('"')
    return "".join(out)


def zone_name(name):
    """A name as an absolute zone-file name: its bytes (UTF-8) with RFC 1035 §5.1 escapes,
    \\DDD for blanks, controls and bytes over 126, \\X for the characters the format gives a
    meaning to; each '.' separates labels. The root is '.'."""
    out = []
    for b in str(name).rstrip(".").encode("utf-8"):
        if b <= 0x20 or b >= 0x7F:
            out.append("\\%03d" % b)
        elif b in NAME_SPECIAL:
            out.append("\\" + chr(b))
        else:
            out.append(chr(b))
    return "".join(out) + "."


def fixture_name_problem(name, allow_root=False):
    """Why the fixture parser would refuse this name, written with zone_name(), or None."""
    n = name[:-1] if name.endswith(".") else name
    if n == "":
        return None if allow_root else "the root (empty name)"
    raw = n.encode("utf-8")
    if len(raw) > NAME_MAX:
        return "longer than %d bytes" % NAME_MAX
    for label in n.split("."):
        if label == "":
            return "an empty label"
        if len(label.encode("utf-8")) > LABEL_MAX:
            return "a label longer than %d bytes" % LABEL_MAX
    if n == "*" or n.startswith("*."):
        return "a wildcard owner (the fixture does not synthesize)"
    return None


def norm(name):
    return str(name).lower().rstrip(".")


def load_zone(zonedata, where):
    """zonedata -> ordered list of (owner, [(TYPE, value)], timeout) as the driver serves
    them: SPF copied to TXT unless the name has TXT entries, NONE dropped."""
    names = []
    for owner, recs in (zonedata or {}).items():
        owner = str(owner)
        out, spf_txt, has_txt, timeout = [], [], False, False
        for r in recs or []:
            if r == "TIMEOUT":
                timeout = True
                continue
            if not isinstance(r, dict):
                raise SuiteError("%s: %s: unknown entry %r" % (where, owner, r))
            if timeout:
                # spf_suite.py ignores entries after TIMEOUT; the fixture would serve them.
                raise SuiteError("%s: %s: records after TIMEOUT are not supported" % (where, owner))
            for t, v in r.items():
                t = str(t).upper()
                if t in ("TXT", "SPF") and isinstance(v, str):
                    v = [v]
                if t == "TXT":
                    has_txt = True
                if v == "NONE" or v == ["NONE"]:
                    continue
                if v == "TIMEOUT" or v == ["TIMEOUT"]:
                    raise SuiteError("%s: %s: per-type TIMEOUT (%s) has no fixture form" % (where, owner, t))
                if t not in ("A", "AAAA", "MX", "PTR", "CNAME", "TXT", "SPF"):
                    raise SuiteError("%s: %s: record type %s is not supported" % (where, owner, t))
                if t == "SPF":
                    spf_txt.append(("TXT", v))
                out.append((t, v))
        if not has_txt:
            out.extend(spf_txt)
        names.append((owner, out, timeout))
    seen = {}
    for owner, _, _ in names:
        if norm(owner) in seen:
            raise SuiteError("%s: %s appears twice (as %s)" % (where, owner, seen[norm(owner)]))
        seen[norm(owner)] = owner
    return names


def record_problem(t, v):
    """Why the fixture cannot hold this record, or None."""
    if t == "MX":
        return fixture_name_problem(str(v[1]), allow_root=True)
    if t in ("PTR", "CNAME"):
        p = fixture_name_problem(str(v))
        return None if p is None else "%s target is %s" % (t, p)
    return None


def zone_line(owner, t, v):
    if t in ("TXT", "SPF"):
        strings = []
        for s in v:
            data = txt_bytes(s)
            if len(data) == 0:
                strings.append('""')
            for i in range(0, len(data), TXT_STRING_MAX):
                strings.append(zone_string(data[i:i + TXT_STRING_MAX]))
        # no strings at all: a TXT record of zero character-strings
        return " ".join(["%s IN %s" % (zone_name(owner), t)] + strings)
    if t == "MX":
        pref, host = v
        return "%s IN MX %d %s" % (zone_name(owner), int(pref), zone_name(host))
    if t in ("PTR", "CNAME"):
        return "%s IN %s %s" % (zone_name(owner), t, zone_name(v))
    return "%s IN %s %s" % (zone_name(owner), t, str(v))


def scenario_lines(doc, where):
    lines = []
    for owner, recs, timeout in load_zone(doc.get("zonedata"), where):
        problem = fixture_name_problem(owner)
        if problem is not None:
            problem = "the name has " + problem
        for t, v in recs:
            if problem is None:
                problem = record_problem(t, v)
        if problem is not None:
            raise SuiteError("%s: %s: the fixture cannot hold it: %s" % (where, owner, problem))
        if not recs and not timeout:
            # the suite says the name exists; a zone without a line for it
            # would answer NXDOMAIN
            raise SuiteError("%s: %s: a name with no record cannot be written in a zone"
                             % (where, owner))
        for t, v in recs:
            lines.append("z " + zone_line(owner, t, v))
        if timeout:
            lines.append("z %s TIMEOUT" % zone_name(owner))
    return lines


def test_line(name, t, where):
    for key in ("host", "helo", "mailfrom", "result"):
        if key not in t:
            raise SuiteError("%s: test %s has no %s" % (where, name, key))
    results = t["result"] if isinstance(t["result"], list) else [t["result"]]
    results = [str(r).lower() for r in results]
    spec = t.get("spec")
    explanation = t.get("explanation")
    return " ".join([
        "test", pct(name), pct(None if spec is None else str(spec)),
        pct(str(t["host"])), pct(str(t["helo"] if t["helo"] is not None else "")),
        pct(str(t["mailfrom"] if t["mailfrom"] is not None else "")),
        pct(",".join(results)), pct(None if explanation is None else str(explanation)),
    ])


def convert(path):
    suite = os.path.basename(path)
    suite = re.sub(r"(-tests?)?\.ya?ml$", "", suite)
    lines = ["suite " + pct(suite)]
    scenarios = tests = 0
    with open(path, "rb") as fh:
        docs = list(yaml.safe_load_all(fh))
    for index, doc in enumerate(docs):
        if not doc:
            continue
        scenarios += 1
        desc = doc.get("description") or str(doc.get("comment") or "").strip().splitlines()[0:1]
        if isinstance(desc, list):
            desc = desc[0] if desc else "scenario %d" % scenarios
        where = "%s: scenario %r" % (path, desc)
        lines.append("scenario " + pct(desc))
        lines.extend(scenario_lines(doc, where))
        for name, t in (doc.get("tests") or {}).items():
            lines.append(test_line(str(name), t, where))
            tests += 1
    lines.append("count %d %d" % (scenarios, tests))
    return lines


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    try:
        lines = convert(sys.argv[1])
    except (OSError, yaml.YAMLError, SuiteError) as e:
        sys.stderr.write("spf-suite.py: %s\n" % e)
        sys.exit(1)
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
