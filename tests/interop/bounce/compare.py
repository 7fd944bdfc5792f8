#!/usr/bin/env python3
"""compare.py - herald's bounce reader against Sisimai on one corpus.

Only failed and delayed recipients are counted (Sisimai's default: its
"delivered" option is off; herald's delivered, relayed and expanded
recipients are left out). Complaints and auto-replies (Sisimai's reasons "feedback", "vacation")
are counted apart: herald reads RFC 5965 feedback reports only, and an
auto-reply is no bounce.

Usage: compare.py HERALD DATA_DIR SISIMAI_JSONL CHECKED DISAGREEMENTS

Reads every DATA_DIR/bsd/*.eml and DATA_DIR/not/*.eml with
`herald inbound parse --json` and compares with Sisimai's dump (one JSON
line per file, from sisimai_dump.pl). Prints:
  - recipients found by herald and by Sisimai; "correct" herald recipients
    (those Sisimai also finds, plus those in CHECKED: addresses Sisimai
    misses that were checked by hand in the message);
  - hard/soft agreement over the recipients both find where Sisimai gives
    a reason (not undefined/onhold/delivered/feedback/vacation), with the
    disagreements (those listed in DISAGREEMENTS, with their RFC 3463
    reason, are printed as intentional);
  - the files where herald finds fewer addresses than Sisimai.
Fails when a not/ message is read as a bounce, when herald's correct
recipients are fewer than Sisimai's, or when agreement is below 90 %.
"""
import json
import os
import subprocess
import sys

NO_CLASS = {"undefined", "onhold", "delivered", "feedback", "vacation", ""}


def read_table(path):
    """'file address rest...' lines ('#' comments) -> {(file, addr): rest}."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 2)
            out[(parts[0], parts[1].lower())] = parts[2] if len(parts) > 2 else ""
    return out


def herald_read(herald, data, rel):
    p = subprocess.run([herald, "inbound", "parse", "--json", os.path.join(data, rel)],
                       capture_output=True, text=True, errors="replace")
    try:
        j = json.loads(p.stdout.splitlines()[0]) if p.stdout else {}
    except (ValueError, IndexError):
        j = {}
    if p.returncode not in (0, 65) or (p.returncode == 0 and "type" not in j):
        print(f"  {rel}: herald exit {p.returncode}: {p.stderr.strip()[:200]}")
    return p.returncode, j


def main():
    herald, data, sis_path, checked_path, dis_path = sys.argv[1:6]
    checked = read_table(checked_path)
    intended = read_table(dis_path)
    sis = {}
    with open(sis_path, encoding="utf-8") as f:
        for line in f:
            j = json.loads(line)
            sis[j["file"]] = j["recipients"]
    files = sorted(sis)
    failures = []
    h_total = s_total = correct = s_found_by_h = 0
    fb_sis = fb_herald = 0
    agree = compared = 0
    fewer, disagree, extra_unchecked = [], [], []
    for rel in files:
        rc, j = herald_read(herald, data, rel)
        if rel.startswith("not/"):
            if rc == 0:
                failures.append(f"{rel}: not a bounce, read as {j.get('type')}")
            continue
        # feedback (complaints) and auto-replies are compared apart: they
        # name no failed address
        if any(r["reason"] in ("feedback", "vacation") for r in sis[rel]):
            fb_sis += 1
            fb_herald += 1 if rc == 0 and j.get("type") == "arf" else 0
            continue
        hr = {}
        for r in (j.get("recipients") or []) if rc == 0 else []:
            a = (r.get("address") or "").lower()
            if a and r.get("reason") != "delivered":  # failed and delayed ones
                hr.setdefault(a, r)
        sr = {}
        for r in sis[rel]:
            if r["address"]:
                sr.setdefault(r["address"], r)
        h_total += len(hr)
        s_total += len(sr)
        for a in hr:
            if a in sr or (rel, a) in checked:
                correct += 1
            else:
                extra_unchecked.append(f"{rel} {a}")
        s_found_by_h += sum(1 for a in sr if a in hr)
        if len(set(hr) & set(sr)) < len(sr):
            missing = sorted(set(sr) - set(hr))
            fewer.append(f"{rel}: herald {len(hr)}, sisimai {len(sr)}; missing {' '.join(missing)}")
        for a, s in sr.items():
            if s["reason"] in NO_CLASS or a not in hr:
                continue
            compared += 1
            h = hr[a]
            if h.get("kind") == s["kind"]:
                agree += 1
                continue
            why = intended.get((rel, a))
            line = (f"{rel} {a}: herald {h.get('kind')} ({h.get('reason')}, {h.get('status')}), "
                    f"sisimai {s['kind']} ({s['reason']}, {s['status']})")
            disagree.append(line + (f"  [intended: {why}]" if why is not None else ""))

    print("files where herald finds fewer addresses than Sisimai:")
    for line in fewer:
        print("  " + line)
    print("hard/soft disagreements:")
    for line in disagree:
        print("  " + line)
    if extra_unchecked:
        print("addresses herald finds that Sisimai does not (not checked by hand, not counted):")
        for line in extra_unchecked:
            print("  " + line)
    pct = 100.0 * agree / compared if compared else 0.0
    print(f"recipients: herald {h_total} (correct {correct}: {s_found_by_h} also found by Sisimai,"
          f" {correct - s_found_by_h} checked by hand), sisimai {s_total}")
    print(f"hard/soft agreement: {agree}/{compared} = {pct:.1f} % "
          f"({sum(1 for d in disagree if '[intended' in d)} of {len(disagree)} disagreements intended)")
    print(f"files where herald finds fewer: {len(fewer)}")
    print(f"feedback reports and auto-replies (not counted above): Sisimai {fb_sis}, "
          f"herald reads {fb_herald} (herald reads RFC 5965 ARF only; auto-replies are no bounces)")
    not_files = [f for f in files if f.startswith("not/")]
    print(f"not/: {len(not_files) - sum(1 for f in failures if f.startswith('not/'))}"
          f"/{len(not_files)} not read as a bounce")
    if correct < s_total:
        failures.append(f"herald's correct recipients {correct} < Sisimai's {s_total}")
    if pct < 90.0:
        failures.append(f"hard/soft agreement {pct:.1f} % < 90 %")
    for f in failures:
        print("FAIL: " + f)
    checks = {"not": not any(f.startswith("not/") for f in failures),
              "recipients": correct >= s_total, "agreement": pct >= 90.0}
    print(f"{sum(checks.values())} passed, {len(checks) - sum(checks.values())} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
