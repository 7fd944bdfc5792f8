#!/usr/bin/env python3
"""dmarc_diff.py - differential test of herald's RFC 7489 DMARC evaluation against
Mail::DMARC::PurePerl (Debian's libmail-dmarc-perl).

Usage: dmarc_diff.py gen --work DIR [--n N] [--seed S]
       dmarc_diff.py run --herald BIN --work DIR [--dns-server ADDR@PORT]

`gen` makes fixed and seeded-random cases (From domains at several depths, some in upper
or mixed case, under registrable domains of Debian's Public Suffix List, which both sides
read: ICANN and private-section suffixes, and the wildcard and exception rules *.kawasaki.jp
with !city.kawasaki.jp and *.ck with !www.ck; DMARC records at the From domain, its
Organizational Domain, an intermediate name, or nowhere; p/sp/adkim/aspf/pct/rua variants;
malformed records and malformed terms inside records; SPF and DKIM identifiers aligned, sub,
parent, sibling, unrelated; pass and other results; a fixed pct roll). It writes DIR/cases.json
and DIR/unbound.zone: the records of the cases that are resolved through a real unbound (about a
quarter of the random ones and some fixed ones; each has names of its own, so one zone holds
them all). The caller starts unbound on that zone and calls `run`.

`run` sends each case through `herald dmarc evaluate --rfc7489 --pct-roll N --json`, with
--dns-zone (a zone file of the case's records) or, for the unbound cases, --dns-server; and
through Mail::DMARC (maildmarc_eval.pl, one process, a fake resolver over the same records, or
Net::DNS pointed at the same unbound; rand() replaced by the same roll).

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

# Registrable domains: ICANN com/net/org, the co.uk and org.uk second levels, two
# private-section suffixes, and under the wildcard rules *.kawasaki.jp and *.ck (nakahara.
# kawasaki.jp and co.ck are public suffixes). On these libpsl and Mail::DMARC agree.
ORGS = ["example.com", "example.net", "example.org", "example.co.uk", "example.org.uk",
        "myblog.blogspot.com", "proj.github.io", "example.nakahara.kawasaki.jp", "example.co.ck"]
# Registrable only through an exception rule (!city.kawasaki.jp, !www.ck): Mail::DMARC takes them
# for public suffixes (md-psl-exception). Their names cannot be made unique, so they stay out of
# the unbound cases.
EXCEPTION_ORGS = ["city.kawasaki.jp", "www.ck"]
PSL_EXCEPTIONS = {"*.kawasaki.jp": ("!city.kawasaki.jp", ["nakahara"]), "*.ck": ("!www.ck", ["co"])}
PSL_FILE = "/usr/share/publicsuffix/public_suffix_list.dat"
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


# A term is what lies between two ';' (a value cannot hold one). Well-formed: RFC 6376 3.2
# tag-spec (tag-name = ALPHA *ALNUMPUNC, then "=", no control characters); RFC 7489 6.3 and
# RFC 9989 4.8 have the others discarded.
TERM = re.compile(r"^[ \t]*([A-Za-z][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*?)[ \t]*$", re.S)
CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def term_kv(term):
    m = TERM.match(term)
    if not m or CTL.search(term):
        return None
    return m.group(1), m.group(2)


def terms_of(text):
    return text.split(";")


def rfc_tags(text):
    """The record as RFC 7489 6.3 reads it: well-formed terms only, the first of a repeated tag."""
    out, seen = [], set()
    for t in terms_of(text):
        kv = term_kv(t)
        if kv and kv[0] not in seen:
            seen.add(kv[0])
            out.append(kv)
    return out


def malformed_terms(text):
    return [t for t in terms_of(text) if t.strip() and term_kv(t) is None]


def has_dup_tag(rec):
    names = [kv[0] for kv in map(term_kv, terms_of(joined(rec))) if kv]
    return len(names) != len(set(names))


def edit_terms(rec, keep):
    """Rewrite a record term by term: keep(index, term, kv, seen) returns the new term text or None."""
    out, seen = [], set()
    for i, t in enumerate(terms_of(joined(rec))):
        kv = term_kv(t)
        new = keep(i, t, kv, seen)
        if kv:
            seen.add(kv[0])
        if new is not None:
            out.append(new)
    rec["data"] = [";".join(out)]


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
    return [r for r in case["records"] if is_dmarc_name(r) and rfc_is_dmarc(r)]


def under_exception(name):
    name = name.lower().rstrip(".")
    return any(name == e or name.endswith("." + e) for e in EXCEPTION_ORGS)


def case_names(case):
    names = [case["from"]] + [d["domain"] for d in case["dkim"]]
    if case["spf"]:
        names.append(case["spf"]["domain"])
    return names


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


def fix_terms(case):
    for r in dmarc_records(case):
        edit_terms(r, lambda i, t, kv, seen: t if kv or not t.strip() else None)


def fix_dup(case):
    for r in dmarc_records(case):
        edit_terms(r, lambda i, t, kv, seen: None if kv and kv[0] in seen else t)


def fix_policy(case):
    for r in dmarc_records(case):
        tags = rfc_tags(joined(r))
        if bad_policy(tags) and valid_rua(tags):
            edit_terms(r, lambda i, t, kv, seen: t + "; p=none" if i == 0
                       else None if kv and kv[0] in ("p", "sp") else t)


def fix_pct(case):
    for r in dmarc_records(case):
        if bad_pct(rfc_tags(joined(r))):
            edit_terms(r, lambda i, t, kv, seen: None if kv and kv[0] == "pct" else t)


def upper_policy(tags):
    d = dict(tags)
    return any(t in d and d[t].lower() in POLICIES and d[t] != d[t].lower() for t in ("p", "sp"))


def fix_policy_case(case):
    for r in dmarc_records(case):
        if upper_policy(rfc_tags(joined(r))):
            edit_terms(r, lambda i, t, kv, seen: f"{kv[0]}={kv[1].lower()}" if kv and kv[0] in ("p", "sp") else t)


def fix_psl(case):
    case["psl"] = "expanded"


def fix_from_case(case):
    case["from"] = case["from"].lower()


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
    dict(name="md-term-syntax",
         rfc="RFC 7489 6.3 (DKIM tag-value syntax: tag-name = ALPHA *ALNUMPUNC \"=\" value, RFC 6376 3.2; "
             "\"Syntax errors in the remainder of the record SHOULD be discarded in favor of default "
             "values (if any) or ignored outright\"), RFC 9989 4.8 (MUST)",
         what="Mail::DMARC::Policy::parse deletes all whitespace and splits each term at its first '=', "
              "':' or '-': p:reject, sp-none, adkim:s are read as p=reject, sp=none, adkim=s, and "
              "p-x=reject as p='x=reject', where the RFC discards the malformed term",
         trigger=lambda c, m: any(malformed_terms(joined(r)) for r in dmarc_records(c)),
         fix=fix_terms),
    dict(name="md-duplicate-tag",
         rfc="RFC 7489 6.3 (DMARC uses the DKIM tag-value syntax, where a repeated tag is an error, "
             "RFC 6376 3.2; syntax errors in the remainder are discarded): the repeated term is "
             "ignored and the first stands",
         what="Mail::DMARC::Policy::parse lets the last of repeated tags win",
         trigger=lambda c, m: any(has_dup_tag(r) for r in dmarc_records(c)),
         fix=fix_dup),
    dict(name="md-psl-exception",
         rfc="RFC 7489 3.2 (the Organizational Domain is the public suffix that matches most labels "
             "plus one label) with the Public Suffix List's exception rules (publicsuffix.org: an "
             "exception rule !city.kawasaki.jp prevails over *.kawasaki.jp, and the suffix is "
             "kawasaki.jp)",
         what="Mail::DMARC::Base::is_public_suffix knows the wildcard rules but not the exception "
              "rules: city.kawasaki.jp and www.ck are public suffixes to it, so a.city.kawasaki.jp is "
              "its own Organizational Domain and _dmarc.city.kawasaki.jp is never consulted; run again "
              "with a list in which those wildcards are spelled out without exceptions",
         trigger=lambda c, m: any(under_exception(n) for n in case_names(c)),
         fix=fix_psl),
    dict(name="md-invalid-p-sp",
         rfc="RFC 7489 6.6.3 step 6 (no valid p, or an invalid sp: with a syntactically valid rua act "
             "as if the record were p=none, otherwise apply no DMARC processing)",
         what="Mail::DMARC::Policy->new croaks on an invalid p even with a valid rua (no policy at all); "
              "an invalid sp with a valid rua sets p=none but keeps sp, and validate then dies in "
              "Result->disposition('<bad sp>') for a failing subdomain; its rua check also demands "
              "external-destination authorization (RFC 7489 7.1), not just syntax",
         trigger=lambda c, m: any(bad_policy(rfc_tags(joined(r))) for r in dmarc_records(c)),
         fix=fix_policy),
    dict(name="md-pct-invalid",
         rfc="RFC 7489 6.3 (pct: integer 0..100, default 100; syntax errors SHOULD be discarded in favor "
             "of default values) and 6.4 (dmarc-percent = 1*3DIGIT)",
         what="Mail::DMARC compares int(rand(100)) < pct with the raw value: pct=abc or pct=-5 samples "
              "every message out",
         trigger=lambda c, m: any(bad_pct(rfc_tags(joined(r))) for r in dmarc_records(c)),
         fix=fix_pct),
    dict(name="md-policy-case",
         rfc="RFC 7489 6.4 (dmarc-request = \"p\" *WSP \"=\" *WSP ( \"none\" / \"quarantine\" / \"reject\" ): "
             "ABNF literals are case-insensitive, RFC 5234 2.3) and 6.6.4 (reject not sampled: quarantine)",
         what="Mail::DMARC::PurePerl::validate lowers a sampled-out policy with "
              "($effective_p eq 'reject') ? 'quarantine' : 'none', case-sensitively: p=REJECT sampled out "
              "becomes none instead of quarantine",
         trigger=lambda c, m: any(upper_policy(rfc_tags(joined(r))) for r in dmarc_records(c)),
         fix=fix_policy_case),
    dict(name="md-from-case",
         rfc="RFC 7489 3.1 and RFC 4343 (domain names are case-insensitive); RFC 7489 6.6.1 (the "
             "RFC5322.From domain is the one to evaluate, however it is written)",
         what="Mail::DMARC::Base::is_valid_domain lower-cases the last label but not the last two: "
              "when only a two-label suffix makes the name valid to it (co.ck through *.ck, www.ck), "
              "header_from croaks 'invalid header_from' on MAIL.WWW.CK or MX1.EXAMPLE.CO.CK",
         trigger=lambda c, m: c["from"] != c["from"].lower(),
         fix=fix_from_case),
    dict(name="md-domain-existence",
         rfc="RFC 7489 Appendix A.4 (the domain existence test was removed from the protocol); 6.6.3 has none",
         what="Mail::DMARC::PurePerl::exists_in_dns answers 'none' when neither the From domain nor its "
              "Organizational Domain has MX, NS, A or AAAA",
         trigger=lambda c, m: m.get("exists") is not True,   # False, or never tested (an earlier croak)
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
    terms = [f"{k}={val}" for k, val in tags]
    if rng.random() < 0.2:             # malformed terms anywhere after v=
        for _ in range(rng.choice([1, 1, 2])):
            terms.insert(rng.randint(0, len(terms)), rng.choice(malformed_term_kinds(org)))
    v = rng.choices(["v=DMARC1", "v=dmarc1", "v = DMARC1", "v=DMARC1x", "v=DMARC2", None, "late"],
                    [86, 3, 3, 2, 2, 2, 2])[0]
    sep = rng.choice(["; ", ";", " ; "])
    body = sep.join(terms)
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


def malformed_term_kinds(org):
    """Terms that are not RFC 6376 3.2 tag-specs (no '=', ':' or '-' in its place, a bad name), and
    t=y=n, a well-formed term with a bad value."""
    return ["foo", "fo:1", "x-y=1", f"ruf mailto:f@{org}", f"rua mailto:d@{org}", "p:reject", "p reject",
            "sp:none", "p-x=reject", "adkim:s", "aspf-s", "pct:0", "=none", "1x=2", "p:none", "t=y=n"]


def mixed_case(rng, name):
    if rng.random() < 0.5:
        return name.upper()
    return "".join(c.upper() if rng.random() < 0.5 else c for c in name)


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


def gen_case(rng, i, unbound=False):
    """One random case; an unbound case gets names of its own (its org's first label is prefixed)."""
    if unbound:
        org = f"u{i}-" + rng.choice(ORGS)
    else:
        org = rng.choices([rng.choice(ORGS), rng.choice(EXCEPTION_ORGS)], [85, 15])[0]
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
    uniq = []                          # an RRset holds a record once (RFC 2181 5)
    for r in recs:
        if r not in uniq:
            uniq.append(r)
    recs = uniq
    if rng.random() < 0.12:            # the From domain as written in the header: any case
        from_dom = mixed_case(rng, from_dom)
    return {"id": f"{'u' if unbound else 'r'}{i:03d}", "from": from_dom, "roll": rng.randrange(100), "spf": spf,
            "dkim": dkim, "records": recs, "dns": "unbound" if unbound else "zone"}


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
        # PSL wildcard and exception rules: *.kawasaki.jp with !city.kawasaki.jp, *.ck with !www.ck
        ("f-psl-wildcard", "a.example.nakahara.kawasaki.jp", {"domain": "b.example.nakahara.kawasaki.jp", "result": "pass"}, [],
         [T("_dmarc.example.nakahara.kawasaki.jp", "v=DMARC1; p=reject"), A("example.nakahara.kawasaki.jp")], 0),
        ("f-psl-wildcard-suffix", "x.nakahara.kawasaki.jp", {"domain": "y.nakahara.kawasaki.jp", "result": "pass"}, [],
         [T("_dmarc.x.nakahara.kawasaki.jp", "v=DMARC1; p=reject"), A("x.nakahara.kawasaki.jp")], 0),
        ("f-psl-exception-record", "a.city.kawasaki.jp", nospf("other.com"), [],
         [T("_dmarc.city.kawasaki.jp", "v=DMARC1; p=reject"), A("city.kawasaki.jp")], 0),
        ("f-psl-exception-align", "mail.city.kawasaki.jp", {"domain": "bounce.city.kawasaki.jp", "result": "pass"}, [],
         [T("_dmarc.mail.city.kawasaki.jp", "v=DMARC1; p=reject"), A("city.kawasaki.jp")], 0),
        ("f-psl-ck-wildcard", "mail.example.co.ck", nospf("other.com"), [{"domain": "example.co.ck", "result": "pass"}],
         [T("_dmarc.example.co.ck", "v=DMARC1; p=quarantine"), A("example.co.ck")], 0),
        ("f-psl-ck-exception", "mail.www.ck", nospf("other.com"), [{"domain": "www.ck", "result": "pass"}],
         [T("_dmarc.www.ck", "v=DMARC1; p=reject"), A("www.ck")], 0),
        ("f-psl-ck-exception-fail", "MAIL.WWW.CK", nospf("other.com"), [],
         [T("_dmarc.www.ck", "v=DMARC1; p=reject"), A("www.ck")], 0),
        # upper-case From domains
        ("f-from-upper", "MAIL.EXAMPLE.COM", {"domain": "bounce.example.com", "result": "pass"}, [],
         [T("_dmarc.example.com", "v=DMARC1; p=reject"), A("example.com")], 0),
        ("f-from-mixed-fail", "Mail.Example.Co.UK", nospf("other.com"), [],
         [T("_dmarc.mail.example.co.uk", "v=DMARC1; p=quarantine"), T("_dmarc.example.co.uk", "v=DMARC1; p=none"),
          A("example.co.uk")], 0),
        ("f-from-upper-strict", "EXAMPLE.NET", nospf("other.com"), [{"domain": "example.net", "result": "pass"}],
         [T("_dmarc.example.net", "v=DMARC1; p=reject; adkim=s"), A("example.net")], 0),
    ]
    # issue 12: one malformed term must not discard the record (RFC 7489 6.3, RFC 9989 4.8); at the
    # From domain (the org domain's weaker record must not apply) and at the org domain
    for n, bad in enumerate(["foo", "fo:1", "x-y=1", "ruf mailto:f@example.com", "p:none", "sp-none",
                             "adkim:s", "=reject"]):
        cases.append((f"f-term{n}-from", "a.example.com", nospf("other.com"), [],
                      [T("_dmarc.a.example.com", f"v=DMARC1; p=reject; {bad}"), T("_dmarc.example.com", "v=DMARC1; p=none"),
                       A("example.com")], 0))
        cases.append((f"f-term{n}-org", "a.example.com", {"domain": "b.example.com", "result": "pass"}, [],
                      [T("_dmarc.example.com", f"v=DMARC1; {bad}; p=quarantine; sp=reject"), A("example.com")], 0))
    cases += [
        ("f-term-no-p-rua", "example.org", nospf("other.com"), [],
         [T("_dmarc.example.org", "v=DMARC1; p reject; rua=mailto:d@example.org"), A("example.org")], 0),
        ("f-term-rua-malformed", "example.org", nospf("other.com"), [],
         [T("_dmarc.example.org", "v=DMARC1; p=bogus; rua mailto:d@example.org"), A("example.org")], 0),
        ("f-term-first", "example.org", nospf("other.com"), [],
         [T("_dmarc.example.org", "foo; v=DMARC1; p=reject"), A("example.org")], 0),
        ("f-term-dup-later-bad", "example.org", nospf("other.com"), [],
         [T("_dmarc.example.org", "v=DMARC1; p=reject; p=none; rua=mailto:d@example.org"), A("example.org")], 0),
    ]
    out = []
    for cid, frm, spf, dkim, recs, roll in cases:
        out.append({"id": cid, "from": frm, "roll": roll, "spf": spf, "dkim": dkim, "records": recs, "dns": "zone"})
    # the malformed-term cases once more through unbound, with names of their own
    for c in [c for c in out if c["id"].startswith("f-term")]:
        u = json.loads(json.dumps(c).replace("example.", "uf-" + c["id"][2:] + "-example."))
        u["id"], u["dns"] = "u" + c["id"], "unbound"
        out.append(u)
    return out


# --- running both sides -----------------------------------------------------------------------

def zone_text(cases):
    """A zone fixture (docs/zone-format.md) with the records of cases, each record once."""
    lines, seen = ["; generated by dmarc_diff.py", "$TTL 300"], set()
    for case in cases:
        for r in case["records"]:
            if r["type"] == "TXT":
                q = " ".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in r["data"])
                line = f"{r['name']}. IN TXT {q}"
            else:
                line = f"{r['name']}. IN {r['type']} {r['data']}"
            if line not in seen:
                seen.add(line)
                lines.append(line)
    return "\n".join(lines) + "\n"


def run_herald(herald, work, case, dns_server):
    cmd = [herald, "dmarc", "evaluate", "--from", case["from"], "--rfc7489", "--pct-roll", str(case["roll"])]
    if case.get("dns") == "unbound":
        cmd += ["--dns-server", dns_server]
    else:
        zpath = os.path.join(work, case["id"] + ".zone")
        with open(zpath, "w") as f:
            f.write(zone_text([case]))
        cmd += ["--dns-zone", zpath]
    cmd.append("--json")
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


def expanded_psl(work):
    """Debian's list with the wildcard rules that have exceptions spelled out for the labels the
    cases use (so Mail::DMARC, which does not know exception rules, reads what the list means):
    *.kawasaki.jp with !city.kawasaki.jp becomes nakahara.kawasaki.jp and kawasaki.jp (the suffix
    that the exception leaves city.kawasaki.jp under). Exact for every name the cases hold."""
    path = os.path.join(work, "psl-expanded.dat")
    if not os.path.exists(path):
        drop = set(PSL_EXCEPTIONS) | {exc for exc, _ in PSL_EXCEPTIONS.values()}
        with open(PSL_FILE, encoding="utf-8") as f, open(path, "w", encoding="utf-8") as out:
            for line in f:
                if line.strip() not in drop:
                    out.write(line)
            for wild, (_, labels) in PSL_EXCEPTIONS.items():
                for label in labels:
                    out.write(label + wild[1:] + "\n")
                out.write(wild[2:] + "\n")
    return path


def run_md(work, cases, dns_server):
    """Mail::DMARC over cases: one process per Public Suffix List (the module keeps the list it
    read first)."""
    res = {}
    for psl in ("debian", "expanded"):
        group = [c for c in cases if c.get("psl", "debian") == psl]
        if not group:
            continue
        ini = os.path.join(work, f"mail-dmarc-{psl}.ini")
        with open(ini, "w") as f:
            f.write("[report_store]\nauto_save = 0\n[dns]\ntimeout = 2\n"
                    f"public_suffix_list = {PSL_FILE if psl == 'debian' else expanded_psl(work)}\n")
        inp = "".join(json.dumps(c) + "\n" for c in group)
        cmd = ["/usr/bin/perl", os.path.join(HERE, "maildmarc_eval.pl"), ini]
        if dns_server:
            cmd.append(dns_server)
        p = subprocess.run(cmd, input=inp, capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            sys.exit(f"dmarc_diff: maildmarc_eval.pl failed ({p.returncode}): {p.stderr}")
        for line in p.stderr.splitlines():
            if line.startswith("maildmarc_eval:") and psl == "debian":
                print(line)
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
    c["dns"] = "zone"   # rewritten records: Mail::DMARC reads them through its fake resolver
    return c


def gen(a):
    seed = a.seed if a.seed is not None else int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    n_unbound = a.n // 4
    cases = fixed_cases() + [gen_case(rng, i) for i in range(a.n - n_unbound)] + \
        [gen_case(rng, i, unbound=True) for i in range(n_unbound)]
    with open(os.path.join(a.work, "cases.json"), "w") as f:
        json.dump({"seed": seed, "cases": cases}, f)
    with open(os.path.join(a.work, "unbound.zone"), "w") as f:
        f.write(zone_text([c for c in cases if c["dns"] == "unbound"]))
    print(f"dmarc differential: seed {seed} (replay: DMARC_DIFF_SEED={seed} DMARC_DIFF_N={a.n})")
    return 0


def run(a):
    with open(os.path.join(a.work, "cases.json")) as f:
        cases = json.load(f)["cases"]
    n_ub = sum(c["dns"] == "unbound" for c in cases)
    print(f"dmarc differential: {len(cases)} cases ({n_ub} through unbound at {a.dns_server}), "
          "herald --rfc7489 vs Mail::DMARC::PurePerl")
    if n_ub and not a.dns_server:
        sys.exit("dmarc_diff: unbound cases need --dns-server")

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        hres = dict(zip([c["id"] for c in cases],
                        ex.map(lambda c: run_herald(a.herald, a.work, c, a.dns_server), cases)))
    mres = run_md(a.work, cases, a.dns_server)

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
    vres = run_md(a.work, variants, a.dns_server) if variants else {}

    agree = explained = disagree = 0
    by_known = {}
    by_dns = {}
    for c in cases:
        h, m = hres[c["id"]], mres[c["id"]]
        diffs = compare(h, m)
        tally = by_dns.setdefault(c["dns"], [0, 0, 0])
        if not diffs:
            agree += 1
            tally[0] += 1
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
            tally[1] += 1
            for n in why:
                by_known[n] = by_known.get(n, 0) + 1
            print(f"EXPLAINED {c['id']} [{', '.join(why)}]: " + "; ".join(diffs))
            if os.environ.get("DMARC_DIFF_VERBOSE") == "1":
                print(describe(c))
        else:
            disagree += 1
            tally[2] += 1
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
    feats = {
        "malformed terms": sum(any(malformed_terms(joined(r)) for r in dmarc_records(c)) for c in cases),
        "PSL exception names": sum(any(under_exception(n) for n in case_names(c)) for c in cases),
        "PSL wildcard names": sum(any(n.lower().endswith((".kawasaki.jp", ".ck")) and not under_exception(n)
                                      for n in case_names(c)) for c in cases),
        "non-lower-case From": sum(c["from"] != c["from"].lower() for c in cases),
    }
    print("cases with " + ", ".join(f"{k}: {v}" for k, v in feats.items()))
    for dns, (ag, ex, dis) in sorted(by_dns.items()):
        print(f"  through {'unbound' if dns == 'unbound' else 'the zone file'}: {ag} agree, {ex} explained, "
              f"{dis} disagree")
    print(f"dmarc differential: {agree} agree, {explained} explained, {disagree} disagree")
    print(f"{agree + explained} passed, {disagree} failed")
    return 1 if disagree else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--work", required=True)
    g.add_argument("--n", type=int, default=300)
    g.add_argument("--seed", type=int)
    r = sub.add_parser("run")
    r.add_argument("--herald", required=True)
    r.add_argument("--work", required=True)
    r.add_argument("--dns-server")
    a = ap.parse_args()
    return gen(a) if a.cmd == "gen" else run(a)


if __name__ == "__main__":
    sys.exit(main())
