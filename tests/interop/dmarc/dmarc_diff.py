#!/usr/bin/env python3
"""dmarc_diff.py - differential test of herald's RFC 7489 DMARC evaluation against
Mail::DMARC::PurePerl (Debian's libmail-dmarc-perl).

Usage: dmarc_diff.py --herald BIN --work DIR [--n N] [--seed S]

Generates fixed and seeded-random cases (From domains at several depths under
registrable domains where Debian's Public Suffix List, which both sides read, is
unambiguous; DMARC records at the From domain, its Organizational Domain, an
intermediate name, or nowhere; p/sp/adkim/aspf/pct/rua variants; malformed records;
SPF and DKIM identifiers aligned, sub, parent, sibling, unrelated; pass and other results;
a fixed pct roll). Each case is run through `herald dmarc evaluate --rfc7489 --pct-roll N
--dns-zone Z --json` and through Mail::DMARC (maildmarc_eval.pl, one process, fake
resolver over the same records, rand() replaced by the same roll).

Compared: the result (pass/fail/none/temperror), the disposition to apply, and, when both applied a
record, where it was found, the requested policy (p or sp) and the Organizational Domain.
A disagreement is "explained" only when it is caused by a documented Mail::DMARC deviation
from RFC 7489 (KNOWN below): the case is rewritten so that the deviation cannot matter (the
rewrite encodes the RFC's reading, e.g. a record with an invalid p and a valid rua becomes
p=none, RFC 7489 6.6.3 step 6), Mail::DMARC is run again, and its answer must then equal
herald's. Every other disagreement fails the test.
"""

import argparse
import concurrent.futures
import itertools
import json
import os
import random
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Registrable domains on which libpsl and Mail::DMARC's PSL code agree (ICANN com/net/org,
# the co.uk and org.uk second levels, and two private-section suffixes).
ORGS = ["example.com", "example.net", "example.org", "example.co.uk", "example.org.uk",
        "myblog.blogspot.com", "proj.github.io"]
UNRELATED = ["other.com", "unrelated.net", "thirdparty.co.uk", "otherblog.blogspot.com"]
LABELS = ["a", "b", "mail", "news", "x", "y", "z", "eu", "bounce", "mx1"]

RFC_V = re.compile(r"^v[ \t]*=[ \t]*DMARC1[ \t]*(;|$)")   # RFC 7489 6.4 dmarc-version dmarc-sep
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
POLICIES = ("none", "quarantine", "reject")


# --- record text helpers ------------------------------------------------------------------

def joined(rec):
    return "".join(rec["data"])


def is_dmarc_name(rec):
    return rec["type"] == "TXT" and rec["name"].lower().startswith("_dmarc.")


def rfc_is_dmarc(rec):
    """RFC 7489 6.6.3 steps 2/4 with 6.1 (strings concatenated) and the 6.4 grammar."""
    return bool(RFC_V.match(joined(rec)))


def md_is_dmarc(rec):
    """Mail::DMARC::PurePerl::fetch_dmarc_record: lc(substr($rr->txtdata, 0, 8)) eq
    'v=dmarc1', where txtdata in scalar context joins the strings with a space."""
    return " ".join(rec["data"])[:8].lower() == "v=dmarc1"


def tags_of(text):
    out = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        k, _, v = part.partition("=")
        out.append((k.strip(), v.strip()))
    return out


def build(tags):
    return "; ".join(f"{k}={v}" for k, v in tags)


def has_dup_tag(rec):
    names = [k for k, _ in tags_of(joined(rec))]
    return len(names) != len(set(names))


def valid_rua(tags):
    for k, v in tags:
        if k == "rua":
            for u in v.split(","):
                u = u.strip().split("!")[0]
                if URI.match(u) and (not u.lower().startswith("mailto:") or "@" in u):
                    return True
    return False


def bad_policy(tags):
    d = dict(tags)
    p_bad = "p" not in d or d["p"].lower() not in POLICIES
    sp_bad = "sp" in d and d["sp"].lower() not in POLICIES
    return p_bad or sp_bad


def bad_pct(tags):
    d = dict(tags)
    return "pct" in d and not (re.fullmatch(r"\d{1,3}", d["pct"]) and int(d["pct"]) <= 100)


def dmarc_records(case):
    return [r for r in case["records"] if is_dmarc_name(r) and rfc_is_dmarc(r) and not has_dup_tag(r)]


# --- known Mail::DMARC deviations from RFC 7489 ---------------------------------------------
# Each: trigger(case, md_out) -> bool; fix(case) -> a case rewritten to the RFC's reading
# (structural fixes), or out_fix(md_out) -> output mapped to the RFC's reading.

def fix_v(case):
    for r in case["records"]:
        if not is_dmarc_name(r):
            continue
        m = RFC_V.match(joined(r))
        if m:
            rest = joined(r)[m.end():]
            r["data"] = ["v=DMARC1" + (";" + rest if m.group(1) == ";" else "")]
        elif md_is_dmarc(r):
            r["data"] = ["x-not-dmarc"]


def fix_dup(case):
    for r in case["records"]:
        if is_dmarc_name(r) and rfc_is_dmarc(r) and has_dup_tag(r):
            r["data"] = ["x-not-dmarc"]


def fix_policy(case):
    for r in dmarc_records(case):
        tags = tags_of(joined(r))
        if bad_policy(tags) and valid_rua(tags):
            tags = [(k, v) for k, v in tags if k not in ("p", "sp")]
            tags.insert(1, ("p", "none"))
            r["data"] = [build(tags)]


def fix_pct(case):
    for r in dmarc_records(case):
        tags = tags_of(joined(r))
        if bad_pct(tags):
            r["data"] = [build([(k, v) for k, v in tags if k != "pct"])]


def upper_policy(tags):
    d = dict(tags)
    return any(t in d and d[t].lower() in POLICIES and d[t] != d[t].lower() for t in ("p", "sp"))


def fix_policy_case(case):
    for r in dmarc_records(case):
        tags = tags_of(joined(r))
        if upper_policy(tags):
            r["data"] = [build([(k, v.lower() if k in ("p", "sp") else v) for k, v in tags])]


def fix_exists(case):
    case["records"].append({"name": case["from"], "type": "A", "data": "192.0.2.99"})


def fix_spf_case(case):
    case["spf"]["domain"] = case["spf"]["domain"].lower()


def has_temperror(case):
    return (case["spf"] is not None and case["spf"]["result"] == "temperror") or \
        any(d["result"] == "temperror" for d in case["dkim"])


def fix_temperror_as_pass(case):
    """Read every temperror as pass: Mail::DMARC then says whether one of those identifiers
    aligns (a pass), which is what decides temperror under RFC 7489 6.6.2."""
    if case["spf"] is not None and case["spf"]["result"] == "temperror":
        case["spf"]["result"] = "pass"
    for d in case["dkim"]:
        if d["result"] == "temperror":
            d["result"] = "pass"


def out_temperror(md):
    md = dict(md)
    md["result"], md["disposition"] = "temperror", "none"
    return md


def out_nopolicy(md):
    md = dict(md)
    md["result"], md["disposition"] = "none", "none"
    return md


KNOWN = [
    dict(name="md-version-tag",
         rfc="RFC 7489 6.4 (dmarc-version = \"v\" *WSP \"=\" *WSP %x44.4d.41.52.43.31, case-sensitive, "
             "then dmarc-sep), 6.1 (TXT strings concatenated), 6.6.3 steps 2/4",
         what="Mail::DMARC keeps any TXT whose first 8 characters, lower-cased and with the strings "
              "joined by a SPACE, are 'v=dmarc1' (so v=dmarc1, v=DMARC1x, v=DMARC10 are records; "
              "'v = DMARC1' and a record split inside its first 8 characters are not)",
         trigger=lambda c, m: any(is_dmarc_name(r) and rfc_is_dmarc(r) != md_is_dmarc(r) for r in c["records"]),
         fix=fix_v),
    dict(name="md-duplicate-tag",
         rfc="RFC 7489 6.3 (DMARC uses the DKIM tag-value syntax) + RFC 6376 3.2 (a duplicate tag "
             "makes the entire tag-list invalid)",
         what="Mail::DMARC::Policy::parse keeps the last of duplicate tags; herald discards the record",
         trigger=lambda c, m: any(is_dmarc_name(r) and rfc_is_dmarc(r) and has_dup_tag(r) for r in c["records"]),
         fix=fix_dup),
    dict(name="md-invalid-p-sp",
         rfc="RFC 7489 6.6.3 step 6 (no valid p, or an invalid sp: with a syntactically valid rua act "
             "as if the record were p=none, otherwise apply no DMARC processing)",
         what="Mail::DMARC::Policy->new croaks on an invalid p even with a valid rua (no policy at all); "
              "an invalid sp with a valid rua sets p=none but keeps sp, and validate then dies in "
              "Result->disposition('<bad sp>') for a failing subdomain; its rua check also demands "
              "external-destination authorization (RFC 7489 7.1), not just syntax",
         trigger=lambda c, m: any(bad_policy(tags_of(joined(r))) for r in dmarc_records(c)),
         fix=fix_policy),
    dict(name="md-pct-invalid",
         rfc="RFC 7489 6.3 (pct: integer 0..100, default 100; syntax errors SHOULD be discarded in favor "
             "of default values) and 6.4 (dmarc-percent = 1*3DIGIT)",
         what="Mail::DMARC compares int(rand(100)) < pct with the raw value: pct=abc or pct=-5 samples "
              "every message out",
         trigger=lambda c, m: any(bad_pct(tags_of(joined(r))) for r in dmarc_records(c)),
         fix=fix_pct),
    dict(name="md-policy-case",
         rfc="RFC 7489 6.4 (dmarc-request = \"p\" *WSP \"=\" *WSP ( \"none\" / \"quarantine\" / \"reject\" ): "
             "ABNF literals are case-insensitive, RFC 5234 2.3) and 6.6.4 (reject not sampled: quarantine)",
         what="Mail::DMARC::PurePerl::validate lowers a sampled-out policy with "
              "($effective_p eq 'reject') ? 'quarantine' : 'none', case-sensitively: p=REJECT sampled out "
              "becomes none instead of quarantine",
         trigger=lambda c, m: any(upper_policy(tags_of(joined(r))) for r in dmarc_records(c)),
         fix=fix_policy_case),
    dict(name="md-domain-existence",
         rfc="RFC 7489 Appendix A.4 (the domain existence test was removed from the protocol); 6.6.3 has none",
         what="Mail::DMARC::PurePerl::exists_in_dns answers 'none' when neither the From domain nor its "
              "Organizational Domain has MX, NS, A or AAAA",
         trigger=lambda c, m: m.get("exists") is False,
         fix=fix_exists),
    dict(name="md-spf-case",
         rfc="RFC 7489 3.1 (domain names compared case-insensitively, per RFC 4343)",
         what="Mail::DMARC::PurePerl::is_spf_aligned compares the SPF domain with the (lower-cased) "
              "From domain with a case-sensitive eq; in strict mode an upper-case SPF domain never aligns",
         trigger=lambda c, m: c["spf"] is not None and c["spf"]["domain"] != c["spf"]["domain"].lower(),
         fix=fix_spf_case),
    dict(name="md-temperror-is-fail",
         rfc="RFC 7489 6.6.2 (no aligned pass and a check that failed temporarily: the receiver cannot "
             "conclude that DMARC failed and cannot apply the policy), RFC 9989 5.3.6",
         what="Mail::DMARC counts an SPF or DKIM temperror as a failure like any other, so a message whose "
              "only chance of an aligned pass was a check that failed temporarily gets fail and the "
              "policy; the RFC's outcome is temperror with no disposition (checked by running Mail::DMARC "
              "with the temperrors read as pass: its pass then says that one of them aligns)",
         trigger=lambda c, m: has_temperror(c),
         fix=fix_temperror_as_pass,
         out_fix=out_temperror),
    dict(name="md-no-policy-is-fail",
         rfc="RFC 7489 6.6.3 steps 5 and 6.2 (multiple records, or an unusable one: DMARC processing is "
             "not applied) and 6.6.2 (no policy, no DMARC result but none)",
         what="when discovery ends without a usable policy (several records, a record that does not parse, "
              "an invalid p/sp without rua) Mail::DMARC::PurePerl::validate returns result 'fail' "
              "(its default) with disposition none; the RFC's outcome is none",
         trigger=lambda c, m: m.get("result") == "fail" and not m.get("discovered"),
         out_fix=out_nopolicy),
]
KNOWN_BY_NAME = {k["name"]: k for k in KNOWN}


# --- case generation ------------------------------------------------------------------------

def gen_record(rng, org):
    p = rng.choices(["none", "quarantine", "reject", "REJECT", "bogus", None], [20, 25, 35, 3, 5, 5])[0]
    tags = []
    if p is not None:
        tags.append(("p", p))
    opt = []
    sp = rng.choices([None, "none", "quarantine", "reject", "bogus"], [45, 15, 15, 15, 6])[0]
    if sp:
        opt.append(("sp", sp))
    for t in ("adkim", "aspf"):
        a = rng.choices([None, "r", "s", "S", "x"], [50, 15, 25, 3, 3])[0]
        if a:
            opt.append((t, a))
    pct = rng.choices([None, "100", "0", "50", "25", "75", "1", "99", "abc", "150", "050", "-5"],
                      [50, 6, 5, 8, 4, 4, 3, 3, 2, 2, 2, 1])[0]
    if pct:
        opt.append(("pct", pct))
    rua = rng.choices([None, f"mailto:dmarc@{org}", "mailto:agg@reports.other.com", "bogus"], [55, 25, 10, 10])[0]
    if rua:
        opt.append(("rua", rua))
    for t, v in (("fo", "1"), ("ri", "3600"), ("rf", "afrf"), ("ruf", f"mailto:f@{org}")):
        if rng.random() < 0.08:
            opt.append((t, v))
    rng.shuffle(opt)
    tags += opt
    if rng.random() < 0.03 and tags:   # a duplicate tag
        k, v = rng.choice(tags)
        tags.append((k, "none" if v != "none" else "reject"))
    v = rng.choices(["v=DMARC1", "v=dmarc1", "v = DMARC1", "v=DMARC1x", "v=DMARC2", None, "late"],
                    [86, 3, 3, 2, 2, 2, 2])[0]
    sep = rng.choice(["; ", ";", " ; "])
    body = sep.join(f"{k}={val}" for k, val in tags)
    if v is None:
        text = body
    elif v == "late":
        text = body + sep + "v=DMARC1"
    else:
        text = v + (sep + body if body else "")
    if rng.random() < 0.2:
        text += ";"
    data = [text]
    if rng.random() < 0.06 and len(text) > 3:   # two strings, sometimes inside "v=DMARC1"
        cut = rng.randint(2, min(len(text) - 1, 20))
        data = [text[:cut], text[cut:]]
    return data


def gen_id(rng, from_dom, org, kind):
    if kind == "from":
        return from_dom
    if kind == "org":
        return org
    if kind == "sub_from":
        return rng.choice(LABELS) + "." + from_dom
    if kind == "sibling":
        return rng.choice(LABELS) + "-s." + org
    if kind == "parent":
        return from_dom.split(".", 1)[1] if from_dom != org else org
    if kind == "unrelated":
        return rng.choice(UNRELATED)
    if kind == "unrelated_sub":
        return rng.choice(LABELS) + "." + rng.choice(UNRELATED)
    if kind == "upper_from":
        return from_dom.upper()
    if kind == "upper_org":
        return org.upper()
    raise ValueError(kind)


ID_KINDS = ["from", "org", "sub_from", "sibling", "parent", "unrelated", "unrelated_sub", "upper_from", "upper_org"]


def gen_case(rng, i):
    org = rng.choice(ORGS)
    depth = rng.choices([0, 1, 2, 3], [30, 35, 25, 10])[0]
    labels = rng.sample(LABELS, depth)
    from_dom = ".".join(labels + [org])
    recs = []

    def dmarc_at(name):
        recs.append({"name": f"_dmarc.{name}", "type": "TXT", "data": gen_record(rng, org)})

    if depth > 0 and rng.random() < 0.35:
        dmarc_at(from_dom)
    if rng.random() < 0.7:
        dmarc_at(org)
    if depth >= 2 and rng.random() < 0.3:
        dmarc_at(from_dom.split(".", 1)[1])
    if recs and rng.random() < 0.05:   # a second record at the same name
        name = rng.choice(recs)["name"]
        recs.append({"name": name, "type": "TXT", "data": [f"v=DMARC1; p={rng.choice(POLICIES)}"]})
    if rng.random() < 0.06:            # a TXT at _dmarc that is not DMARC
        recs.append({"name": f"_dmarc.{rng.choice([from_dom, org])}", "type": "TXT",
                     "data": [rng.choice(["v=spf1 -all", "hello world", "v=DKIM1; p="])]})
    if rng.random() < 0.95:
        recs.append({"name": org, "type": "A", "data": "192.0.2.1"})
    if depth > 0 and rng.random() < 0.3:
        recs.append({"name": from_dom, "type": "A", "data": "192.0.2.2"})
    for u in UNRELATED:                # unrelated domains have strict records of their own
        recs.append({"name": f"_dmarc.{u}", "type": "TXT", "data": ["v=DMARC1; p=reject"]})

    kind_w = [22, 18, 8, 8, 8, 14, 8, 7, 7]
    spf = {"domain": gen_id(rng, from_dom, org, rng.choices(ID_KINDS, kind_w)[0]),
           "result": rng.choices(["pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"],
                                 [55, 15, 8, 5, 7, 5, 5])[0]}
    dkim = []
    for _ in range(rng.choices([0, 1, 2, 3], [30, 40, 20, 10])[0]):
        kind = rng.choices(ID_KINDS[:7], kind_w[:7])[0]
        dkim.append({"domain": gen_id(rng, from_dom, org, kind),
                     "result": rng.choices(["pass", "fail", "temperror", "permerror", "neutral"], [55, 25, 8, 6, 6])[0]})
    return {"id": f"r{i:03d}", "from": from_dom, "roll": rng.randrange(100), "spf": spf, "dkim": dkim,
            "records": recs}


def fixed_cases():
    """Hand-made cases for every known difference and the sharp edges of RFC 7489 6.6.3."""
    A = lambda n: {"name": n, "type": "A", "data": "192.0.2.1"}
    T = lambda n, *s: {"name": n, "type": "TXT", "data": list(s)}
    nospf = lambda d: {"domain": d, "result": "fail"}
    cases = [
        # several records at the From domain: RFC 7489 6.6.3 step 5 stops; no fallback to the org domain
        ("f-multi-at-from", "a.example.com", nospf("other.com"), [],
         [T("_dmarc.a.example.com", "v=DMARC1; p=none"), T("_dmarc.a.example.com", "v=DMARC1; p=quarantine"),
          T("_dmarc.example.com", "v=DMARC1; p=reject"), A("example.com")], 0),
        ("f-multi-at-org", "a.example.com", nospf("other.com"), [],
         [T("_dmarc.example.com", "v=DMARC1; p=none"), T("_dmarc.example.com", "v=DMARC1; p=reject"),
          A("example.com")], 0),
        # invalid sp, no rua: RFC 7489 6.6.3 step 6.2 -> no DMARC processing
        ("f-bad-sp-no-rua", "a.example.com", nospf("other.com"), [],
         [T("_dmarc.example.com", "v=DMARC1; p=reject; sp=bogus"), A("example.com")], 0),
        # invalid sp, valid rua: step 6.1 -> as if p=none
        ("f-bad-sp-rua", "a.example.com", nospf("other.com"), [],
         [T("_dmarc.example.com", "v=DMARC1; p=reject; sp=bogus; rua=mailto:d@example.com"), A("example.com")], 0),
        ("f-bad-sp-rua-pass", "a.example.com", {"domain": "a.example.com", "result": "pass"}, [],
         [T("_dmarc.example.com", "v=DMARC1; p=reject; sp=bogus; rua=mailto:d@example.com"), A("example.com")], 0),
        # invalid p with and without rua
        ("f-bad-p-rua", "example.net", nospf("other.com"), [],
         [T("_dmarc.example.net", "v=DMARC1; p=bogus; rua=mailto:d@example.net"), A("example.net")], 0),
        ("f-bad-p-no-rua", "example.net", nospf("other.com"), [],
         [T("_dmarc.example.net", "v=DMARC1; p=bogus"), A("example.net")], 0),
        ("f-no-p-rua", "example.net", nospf("other.com"), [],
         [T("_dmarc.example.net", "v=DMARC1; rua=mailto:d@example.net"), A("example.net")], 0),
        ("f-no-p-no-rua", "example.net", nospf("other.com"), [],
         [T("_dmarc.example.net", "v=DMARC1; adkim=s"), A("example.net")], 0),
        # version tag spellings
        ("f-v-lower", "a.example.org", nospf("other.com"), [],
         [T("_dmarc.a.example.org", "v=dmarc1; p=none"), T("_dmarc.example.org", "v=DMARC1; p=reject"),
          A("example.org")], 0),
        ("f-v-space", "example.org", nospf("other.com"), [],
         [T("_dmarc.example.org", "v = DMARC1 ; p = reject"), A("example.org")], 0),
        ("f-v-split", "example.org", nospf("other.com"), [],
         [T("_dmarc.example.org", "v=DMA", "RC1; p=reject"), A("example.org")], 0),
        ("f-v-split-late", "example.org", nospf("other.com"), [],
         [T("_dmarc.example.org", "v=DMARC1; p=qua", "rantine"), A("example.org")], 0),
        # pct
        ("f-pct-abc", "example.co.uk", nospf("other.com"), [],
         [T("_dmarc.example.co.uk", "v=DMARC1; p=reject; pct=abc"), A("example.co.uk")], 10),
        ("f-pct0", "example.co.uk", nospf("other.com"), [],
         [T("_dmarc.example.co.uk", "v=DMARC1; p=reject; pct=0"), A("example.co.uk")], 0),
        ("f-pct50-in", "example.co.uk", nospf("other.com"), [],
         [T("_dmarc.example.co.uk", "v=DMARC1; p=quarantine; pct=50"), A("example.co.uk")], 49),
        ("f-pct50-out", "example.co.uk", nospf("other.com"), [],
         [T("_dmarc.example.co.uk", "v=DMARC1; p=quarantine; pct=50"), A("example.co.uk")], 50),
        # duplicate tag
        ("f-dup-tag", "b.example.com", nospf("other.com"), [],
         [T("_dmarc.b.example.com", "v=DMARC1; p=none; p=reject"), T("_dmarc.example.com", "v=DMARC1; p=quarantine"),
          A("example.com")], 0),
        # no A/MX/NS anywhere
        ("f-nonexistent", "a.example.net", nospf("other.com"), [],
         [T("_dmarc.example.net", "v=DMARC1; p=reject")], 0),
        # SPF domain in upper case, strict alignment
        ("f-spf-upper-strict", "example.com", {"domain": "EXAMPLE.COM", "result": "pass"}, [],
         [T("_dmarc.example.com", "v=DMARC1; p=reject; aspf=s"), A("example.com")], 0),
        # an intermediate name's record is not consulted (RFC 7489 looks at From and org only)
        ("f-intermediate", "x.y.example.co.uk", nospf("other.com"), [],
         [T("_dmarc.y.example.co.uk", "v=DMARC1; p=none"), T("_dmarc.example.co.uk", "v=DMARC1; p=reject; sp=quarantine"),
          A("example.co.uk")], 0),
        # strict DKIM with a subdomain signature; relaxed SPF via the org domain
        ("f-adkim-s", "mail.example.com", nospf("other.com"), [{"domain": "example.com", "result": "pass"}],
         [T("_dmarc.example.com", "v=DMARC1; p=reject; adkim=s"), A("example.com")], 0),
        ("f-aspf-r", "mail.example.com", {"domain": "bounce.example.com", "result": "pass"}, [],
         [T("_dmarc.example.com", "v=DMARC1; p=reject; adkim=s"), A("example.com")], 0),
        # PSL private section: blogspot.com is a public suffix
        ("f-psl-private", "a.myblog.blogspot.com", {"domain": "otherblog.blogspot.com", "result": "pass"}, [],
         [T("_dmarc.myblog.blogspot.com", "v=DMARC1; p=reject"), A("myblog.blogspot.com")], 0),
    ]
    out = []
    for cid, frm, spf, dkim, recs, roll in cases:
        out.append({"id": cid, "from": frm, "roll": roll, "spf": spf, "dkim": dkim, "records": recs})
    return out


# --- running both sides -----------------------------------------------------------------------

def zone_text(case):
    lines = ["; generated by dmarc_diff.py", "$TTL 300"]
    for r in case["records"]:
        if r["type"] == "TXT":
            q = " ".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in r["data"])
            lines.append(f"{r['name']}. IN TXT {q}")
        else:
            lines.append(f"{r['name']}. IN {r['type']} {r['data']}")
    return "\n".join(lines) + "\n"


def run_herald(herald, work, case):
    zpath = os.path.join(work, case["id"] + ".zone")
    with open(zpath, "w") as f:
        f.write(zone_text(case))
    cmd = [herald, "dmarc", "evaluate", "--from", case["from"], "--rfc7489",
           "--pct-roll", str(case["roll"]), "--dns-zone", zpath, "--json"]
    if case["spf"]:
        cmd += ["--spf-domain", case["spf"]["domain"], "--spf", case["spf"]["result"]]
    for d in case["dkim"]:
        cmd += ["--dkim", f"{d['domain']}:{d['result']}"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if p.returncode not in (0, 1, 4, 75):
        return {"error": f"exit {p.returncode}: {p.stderr.strip()}", "cmd": cmd}
    try:
        out = json.loads(p.stdout)
    except ValueError:
        return {"error": f"bad JSON: {p.stdout[:200]!r}", "cmd": cmd}
    out["cmd"] = cmd
    return out


def run_md(work, cases):
    ini = os.path.join(work, "mail-dmarc.ini")
    with open(ini, "w") as f:
        f.write("[report_store]\nauto_save = 0\n[dns]\ntimeout = 1\n"
                "public_suffix_list = /usr/share/publicsuffix/public_suffix_list.dat\n")
    inp = "".join(json.dumps(c) + "\n" for c in cases)
    p = subprocess.run(["/usr/bin/perl", os.path.join(HERE, "maildmarc_eval.pl"), ini],
                       input=inp, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        sys.exit(f"dmarc_diff: maildmarc_eval.pl failed ({p.returncode}): {p.stderr}")
    for line in p.stderr.splitlines():
        if line.startswith("maildmarc_eval:"):
            print(line)
    res = {}
    for line in p.stdout.splitlines():
        o = json.loads(line)
        res[o["id"]] = o
    return res


def compare(h, m):
    """Differences between herald's and Mail::DMARC's verdicts, as strings."""
    if "error" in h:
        return [f"herald error: {h['error']}"]
    diffs = []
    if m.get("error"):
        diffs.append(f"Mail::DMARC died: {m['error']}")
    if h["result"] != m["result"]:
        diffs.append(f"result: herald {h['result']}, Mail::DMARC {m['result']}")
    if h["disposition"] != m["disposition"]:
        diffs.append(f"disposition: herald {h['disposition']}, Mail::DMARC {m['disposition']}")
    h_applied = h["result"] in ("pass", "fail")
    if h_applied and m.get("discovered"):
        if h["record_domain"].lower() != (m.get("record_domain") or "").lower():
            diffs.append(f"record at: herald _dmarc.{h['record_domain']}, Mail::DMARC _dmarc.{m.get('record_domain')}")
        if h["policy"] != m.get("policy"):
            diffs.append(f"policy: herald {h['policy_tag']}={h['policy']}, Mail::DMARC {m.get('policy')}")
    if h.get("organizational_domain") and h["organizational_domain"] != m.get("org"):
        diffs.append(f"organizational domain: herald {h['organizational_domain']}, Mail::DMARC {m.get('org')}")
    return diffs


def describe(case):
    s = [f"  From: {case['from']}   pct roll: {case['roll']}",
         f"  SPF: {case['spf']['domain']} {case['spf']['result']}" if case["spf"] else "  SPF: -",
         "  DKIM: " + (", ".join(f"{d['domain']}:{d['result']}" for d in case["dkim"]) or "-")]
    for r in case["records"]:
        if r["type"] == "TXT" and r["name"].lower() in {f"_dmarc.{u}" for u in UNRELATED}:
            continue
        s.append(f"  {r['name']} {r['type']} " + (" ".join(json.dumps(x) for x in r["data"])
                                                     if r["type"] == "TXT" else r["data"]))
    return "\n".join(s)


def variant(case, names):
    c = json.loads(json.dumps(case))
    for n in names:
        KNOWN_BY_NAME[n]["fix"](c)
    c["id"] = case["id"] + "~" + "+".join(names)
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--herald", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7489)
    a = ap.parse_args()

    rng = random.Random(a.seed)
    cases = fixed_cases() + [gen_case(rng, i) for i in range(a.n)]
    print(f"dmarc differential: {len(cases)} cases (seed {a.seed}), herald --rfc7489 vs Mail::DMARC::PurePerl")

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        hres = dict(zip([c["id"] for c in cases], ex.map(lambda c: run_herald(a.herald, a.work, c), cases)))
    mres = run_md(a.work, cases)

    # pass 2: for each disagreement, Mail::DMARC again on the case rewritten to the RFC's reading
    # for every subset of the structural deviations that the case triggers
    pending = {}
    variants = []
    for c in cases:
        h, m = hres[c["id"]], mres[c["id"]]
        if not compare(h, m):
            continue
        trig = [k["name"] for k in KNOWN if "fix" in k and k["trigger"](c, m)]
        subsets = [list(s) for n in range(0, len(trig) + 1) for s in itertools.combinations(trig, n)]
        pending[c["id"]] = subsets
        variants += [variant(c, s) for s in subsets if s]
    vres = run_md(a.work, variants) if variants else {}

    agree = explained = disagree = 0
    by_known = {}
    for c in cases:
        h, m = hres[c["id"]], mres[c["id"]]
        diffs = compare(h, m)
        if not diffs:
            agree += 1
            continue
        why = None
        for s in pending[c["id"]]:
            vm = vres[c["id"] + "~" + "+".join(s)] if s else m
            vc = variant(c, s) if s else c
            names = list(s)
            if "md-temperror-is-fail" in names:
                # the temperror reading holds when the case (with the other rewrites) does not
                # pass as it is and does pass once the temperrors are read as pass: then only an
                # identifier whose check failed temporarily could have aligned
                base = [n for n in s if n != "md-temperror-is-fail"]
                bm = vres[c["id"] + "~" + "+".join(base)] if base else m
                if bm.get("result") == "pass" or vm.get("result") != "pass":
                    continue
                vm = out_temperror(vm)
            nop = KNOWN_BY_NAME["md-no-policy-is-fail"]
            if nop["trigger"](vc, vm):
                vm = nop["out_fix"](vm)
                names.append(nop["name"])
            if names and not compare(h, vm):
                why = names
                break
        if why:
            explained += 1
            for n in why:
                by_known[n] = by_known.get(n, 0) + 1
            print(f"EXPLAINED {c['id']} [{', '.join(why)}]: " + "; ".join(diffs))
            if os.environ.get("DMARC_DIFF_VERBOSE") == "1":
                print(describe(c))
        else:
            disagree += 1
            print(f"DISAGREE {c['id']}: " + "; ".join(diffs))
            print(describe(c))
            print(f"  herald: result={h.get('result')} disposition={h.get('disposition')} "
                  f"{h.get('policy_tag')}={h.get('policy')} record=_dmarc.{h.get('record_domain')} "
                  f"org={h.get('organizational_domain')} reason: {h.get('reason')}")
            print(f"  Mail::DMARC: result={m.get('result')} disposition={m.get('disposition')} "
                  f"policy={m.get('policy')} record=_dmarc.{m.get('record_domain')} org={m.get('org')} "
                  f"reasons={m.get('reasons')}" + (f" died: {m['error']}" if m.get("error") else ""))
            print("  repro: " + " ".join(h.get("cmd", [])))
    if by_known:
        print("known Mail::DMARC deviations that explained disagreements:")
        for k in KNOWN:
            if k["name"] in by_known:
                print(f"  {k['name']} ({by_known[k['name']]}x): {k['what']}  [{k['rfc']}]")
    stat = {}
    for c in cases:
        h = hres[c["id"]]
        k = h.get("result", "error")
        if k == "fail" and h.get("disposition") != h.get("policy"):
            k = "fail (pct: one level down)"
        stat[k] = stat.get(k, 0) + 1
    print("herald verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(stat.items())))
    print(f"dmarc differential: {agree} agree, {explained} explained, {disagree} disagree")
    print(f"{agree + explained} passed, {disagree} failed")
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
