"""spf_known.py — known pyspf (python3-spf 2.0.14) deviations from RFC 7208.

Each entry is a predicate known(g, h, p) over a scenario g (spf_diff.Gen) and the two outcomes
h (herald) and p (pyspf), dicts with "result", "exp", "why" (and for herald "mechanism",
"voids"). It returns a short label when the disagreement is that deviation, else None. Each is
narrow on purpose: it checks the pyspf diagnostic that marks the deviation AND that herald's
answer is the one RFC 7208 gives, so an unrelated herald bug is never hidden. Every citation
was checked against RFC 7208.
"""
import re

import spf


def _terms(rec):
    return [t for t in rec.split(" ")[1:] if t]


def _top_terms(g):
    dom = g.top if g.sender else g.helo
    return _terms(g.records.get(dom, "v=spf1"))


def dup_unknown_modifier(g, h, p):
    """RFC 7208 §6: "Unrecognized modifiers MUST be ignored no matter where, or how often, they
    appear in a record." Only redirect= and exp= may not repeat. pyspf (strict mode) raises
    permerror for any repeated modifier name ("foo= MUST appear at most once")."""
    m = re.match(r"(\S+)= MUST appear at most once", p["why"] or "")
    if p["result"] != "permerror" or not m or m.group(1).lower() in ("redirect", "exp"):
        return None
    if h["result"] == "permerror":
        return None
    return "RFC 7208 §6: a repeated unknown modifier is ignored; pyspf permerrors"


def include_self_upfront(g, h, p):
    """RFC 7208 §4.6.2: "If it matches, processing ends and the qualifier value is returned as
    the result of that record." An include of the record's own domain is no syntax error (§4.6,
    §5.2); it only recurses (and then runs into the §4.6.4 limit) if it is reached. pyspf rejects
    "include:<own domain>" while parsing ("include has trivial recursion"), before evaluating
    the terms in front of it. Explained only when herald's trace shows that it never re-entered
    a self-including domain's record (so the include was not reached) and herald's result is
    not permerror."""
    if p["result"] != "permerror" or "trivial recursion" not in (p["why"] or ""):
        return None
    if h["result"] == "permerror":
        return None
    selfdoms = [d for d, rec in g.records.items()
                if any(t.lstrip("+-~?").lower() == "include:" + d for t in _terms(rec))]
    if not selfdoms:
        return None
    lines = [ln.strip() for ln in h.get("trace", "").splitlines()]
    for d in selfdoms:
        if sum(1 for ln in lines if ln.lower().startswith(d + ': "')) > 1:
            return None                      # herald did evaluate the self-include
    return "RFC 7208 §4.6.2: terms before an include of the own domain decide; pyspf rejects it upfront"


def ptr_dns_error(g, h, p):
    """RFC 7208 §5.5: "If a DNS error occurs while doing the PTR RR lookup, then this mechanism
    fails to match." pyspf returns temperror when the reverse (in-addr.arpa / ip6.arpa) query
    times out or fails."""
    if p["result"] != "temperror" or not re.search(r"\.(in-addr|ip6)\.arpa", p["why"] or ""):
        return None
    if h["result"] == "temperror":
        return None
    return "RFC 7208 §5.5: a DNS error on the PTR lookup is no match; pyspf temperrors"


def voids_after_match(g, h, p):
    """RFC 7208 §5.4/§5.5: "mx" matches if <ip> is one of the MX hosts' addresses; "ptr" matches
    if any validated name is within the target ("If any do, this mechanism matches"). §4.6.4
    counts void lookups per *term* ("limit the number of 'terms' for which DNS queries return
    ..."). pyspf first resolves every MX host (all of them) and every PTR name (the first 10)
    and counts each empty answer as one void lookup, so a term that matches can still exceed
    the limit of 2. Explained only when herald's trace shows an mx or ptr term that matched (at any
    depth) and herald saw at most 2 void lookups."""
    if p["result"] != "permerror" or "Void lookup limit" not in (p["why"] or ""):
        return None
    if h["result"] in ("permerror", "temperror") or h.get("voids", 99) > 2:
        return None
    trace = h.get("trace", "")
    if not re.search(r"(?m)^\s*[+\-~?]?(mx|ptr)\S*: match$", trace):
        return None
    return "RFC 7208 §4.6.4/§5.4/§5.5: void lookups after a matching mx/ptr; pyspf counts them"


def macro_joiner(g, h, p):
    """RFC 7208 §7.3: "the parts are rejoined using "." and not the original splitting
    characters." pyspf rejoins with the original delimiter for every letter but l and s (its
    JOINERS table), e.g. %{o-} of ex-ample.net gives "ex-ample.net" instead of "ex.ample.net".
    Verified by re-running pyspf with "." as the joiner for every letter: it must then agree
    with herald."""
    if not any(re.search(r"%\{[a-zA-Z]\d*r?[.\-+,/_=]+\}", t) for t in g.all_text()):
        return None
    saved = dict(spf.JOINERS)
    spf.JOINERS.update({c: "." for c in "slodiphvcrt"})
    try:
        q = g.rerun_pyspf()
    finally:
        spf.JOINERS.clear()
        spf.JOINERS.update(saved)
    if q["result"] == h["result"] and (h["result"] != "fail" or q["exp"] == h["exp"]):
        return "RFC 7208 §7.3: macro parts are rejoined with '.'; pyspf keeps the delimiter"
    return None


def _strict_expand_one(orig):
    def expand_one(expansion, str, joiner):
        if not re.fullmatch(r"(0|[1-9][0-9]*)?[rR]?[.\-+,/_=]*", str or ""):
            raise spf.PermError("macro transformers/delimiters not in RFC 7208 §7.1", str)
        if re.match(r"0", str or ""):
            raise spf.PermError("macro digit transformer zero (RFC 7208 §7.3)", str)
        return orig(expansion, str, joiner)
    return expand_one


def macro_syntax(g, h, p):
    """RFC 7208 §7.1: transformers = *DIGIT [ "r" ], delimiter = "." / "-" / "+" / "," / "/" /
    "_" / "="; §7.3: "If a DIGIT is specified, the value MUST be nonzero." pyspf accepts any
    %{...} body (e.g. %{ir1}, %{d0}, %{d2!}). A malformed macro in a term is a permerror
    (§4.6); in explanation text it means no explanation (§6.2: "if there are syntax errors in
    the explanation string, then proceed as if no exp modifier was given"). Verified by
    re-running pyspf with its expand_one() refusing bodies outside the ABNF: it must then
    agree with herald."""
    bodies = [m for t in g.all_text() for m in re.findall(r"%\{[a-zA-Z]([^}]*)\}", t)]
    if all(re.fullmatch(r"([1-9][0-9]*)?[rR]?[.\-+,/_=]*", b) for b in bodies):
        return None
    orig = spf.expand_one
    spf.expand_one = _strict_expand_one(orig)
    try:
        q = g.rerun_pyspf()
    finally:
        spf.expand_one = orig
    if q["result"] == h["result"] and (h["result"] != "fail" or q["exp"] == h["exp"]):
        return "RFC 7208 §7.1/§7.3: malformed macro transformer; pyspf accepts it"
    return None


def redirect_counted_upfront(g, h, p):
    """RFC 7208 §4.6.4: the DNS-querying terms, the "redirect" modifier among them, are limited
    to 10 "during SPF evaluation"; §6.1: "If all mechanisms fail to match, and a "redirect"
    modifier is present, then processing proceeds as follows" -- a redirect that is not
    followed is not evaluated and queries nothing. pyspf counts redirect= while parsing the
    record, before any mechanism, so a record with 10 DNS mechanisms and a redirect exceeds the
    limit even when a mechanism matches. Verified by re-running pyspf with the redirect counted
    only when it is followed: it must then agree with herald."""
    if p["result"] != "permerror" or "Too many DNS lookups" not in (p["why"] or ""):
        return None
    if not any("redirect=" in rec.lower() for rec in g.records.values()):
        return None
    import linecache
    import sys
    orig_cl, orig_spf = spf.query.check_lookups, spf.query.dns_spf

    def check_lookups(self):
        f = sys._getframe(1)
        if f.f_code.co_name == "check0" and f.f_locals.get("mod") == "redirect" and \
                "self.check_lookups()" in linecache.getline(f.f_code.co_filename, f.f_lineno) \
                and f.f_locals.get("redirect") is None:
            return None                       # the parse-time count of redirect=
        return orig_cl(self)

    def dns_spf(self, domain):
        f = sys._getframe(1)
        if "redirect_record = self.dns_spf" in linecache.getline(f.f_code.co_filename,
                                                                f.f_lineno):
            orig_cl(self)                     # counted when followed
        return orig_spf(self, domain)

    spf.query.check_lookups, spf.query.dns_spf = check_lookups, dns_spf
    try:
        q = g.rerun_pyspf()
    finally:
        spf.query.check_lookups, spf.query.dns_spf = orig_cl, orig_spf
    if q["result"] == h["result"] and (h["result"] != "fail" or q["exp"] == h["exp"]):
        return "RFC 7208 §4.6.4/§6.1: an unfollowed redirect= is no lookup; pyspf counts it upfront"
    return None


KNOWN = [dup_unknown_modifier, include_self_upfront, ptr_dns_error, voids_after_match,
         macro_joiner, macro_syntax, redirect_counted_upfront]
