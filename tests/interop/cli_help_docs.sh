#!/usr/bin/env bash
# cli_help_docs.sh - `--help` of every command and subcommand agrees with
# docs/cli.md (issue 13 item 21). For each command `herald --help` lists,
# and each subcommand its own `--help` lists under "commands:":
#   - every long option its --help names (--json, --data-dir, ...) appears
#     in the docs/cli.md section for that command ("## herald C S", a
#     "## herald C S1 / S2" that names it, else "## herald C"); the options
#     of "## DNS options" count for a command whose section gives
#     --dns-zone or --dns-server;
#   - every long option that section gives is in the --help of the command
#     (or, for a section covering several subcommands, of one of them);
#     an option inside `herald OTHER ...` in the section belongs to OTHER
#     and is not counted here, and a synopsis line "herald C S ..." counts
#     for S alone.
# Each failure names the command, the option and the section; the counts
# are printed. -h and --help themselves are not compared.
set -euo pipefail
herald=${HERALD:?HERALD must name the herald binary}
src=${HERALD_SOURCE_DIR:?HERALD_SOURCE_DIR must name the source tree}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- every command's and subcommand's --help, one file each ----
"$herald" --help > "$work/top" 2>&1 || true
sed -n '/^commands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p' "$work/top" > "$work/commands"
[ "$(wc -l < "$work/commands")" -ge 10 ] || { echo "FAIL: no commands read from herald --help:"; cat "$work/top"; exit 1; }
mkdir "$work/help"
while read -r cmd; do
  "$herald" "$cmd" --help > "$work/help/$cmd" 2>&1 || true
  subs=$(sed -n '/^commands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p' "$work/help/$cmd")
  for sub in $subs; do
    "$herald" "$cmd" "$sub" --help > "$work/help/$cmd $sub" 2>&1 || true
  done
done < "$work/commands"

/usr/bin/python3 - "$work/help" "$src/docs/cli.md" <<'P'
import os, re, sys

help_dir, doc_path = sys.argv[1], sys.argv[2]
OPT = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")
IGNORED = {"help"}

helps = {}
for name in sorted(os.listdir(help_dir)):
    text = open(os.path.join(help_dir, name), encoding="utf-8", errors="replace").read()
    helps[tuple(name.split(" "))] = text
groups = {k[0] for k in helps if len(k) == 2}
# the units compared: a group's subcommands, or the command itself
units = sorted(k for k in helps if len(k) == 2 or k[0] not in groups)

def opts(text):
    return {m.group(1) for m in OPT.finditer(text)} - IGNORED

# ---- docs/cli.md: its "## herald ..." sections ----
sections = []   # (heading, command, [subs] or None, text)
dns_opts = set()
cur = None
for line in open(doc_path, encoding="utf-8").read().split("\n"):
    if line.startswith("## "):
        cur = {"heading": line[3:].strip(), "lines": []}
        sections.append(cur)
    elif cur is not None:
        cur["lines"].append(line)
parsed = []
for s in sections:
    text = "\n".join(s["lines"])
    h = s["heading"]
    if h.startswith("DNS options"):
        dns_opts = opts(text)
    m = re.match(r"^herald ([a-z][a-z0-9-]*)(?: (.*))?$", h)
    if not m:
        continue
    subs = [x.strip() for x in m.group(2).split("/")] if m.group(2) else None
    parsed.append((h, m.group(1), subs, text))

def section_for(unit):
    cmd = unit[0]
    sub = unit[1] if len(unit) == 2 else None
    whole = None
    for sec in parsed:
        if sec[1] != cmd:
            continue
        if sec[2] is None:
            whole = sec
        elif sub is not None and sub in sec[2]:
            return sec
    return whole

ALL_CMDS = {k[0] for k in helps}

def doc_options(sec):
    """{option: set of subcommands it is given for (None: the section's)}"""
    h, cmd, subs, text = sec
    out = {}
    for line in text.split("\n"):
        stripped = line.strip()
        # a synopsis line: "herald C S ..." counts for S
        m = re.match(r"^herald ([a-z][a-z0-9-]*)(?: ([a-z][a-z0-9-]*))?", stripped)
        if line.startswith("    ") and m and m.group(1) == cmd:
            owner = m.group(2) if m.group(2) in (subs or []) or (
                subs is None and (cmd, m.group(2)) in helps) else None
            for o in opts(line):
                out.setdefault(o, set()).add(owner)
            continue
        # `herald OTHER ... --opt`: OTHER's option, not this section's
        spans = [(mm.start(), mm.end()) for mm in re.finditer(r"`[^`]*`", line)]
        for mo in OPT.finditer(line):
            o = mo.group(1)
            if o in IGNORED:
                continue
            foreign = False
            for a, b in spans:
                if a < mo.start() < b:
                    mh = re.search(r"herald ([a-z][a-z0-9-]*)", line[a:mo.start()])
                    if mh and mh.group(1) != cmd and mh.group(1) in ALL_CMDS:
                        foreign = True
            if not foreign:
                out.setdefault(o, set()).add(None)
    return out

failures = []
n_help = n_docs = 0
covered = {}
for unit in units:
    label = "herald " + " ".join(unit)
    sec = section_for(unit)
    if sec is None:
        failures.append("%s: no section \"## %s\" (or \"## herald %s\") in docs/cli.md"
                        % (label, label, unit[0]))
        continue
    covered.setdefault(sec[0], []).append(unit)
    documented = set(doc_options(sec))
    if documented & {"dns-zone", "dns-server"}:
        documented |= dns_opts
    for o in sorted(opts(helps[unit])):
        if o in documented:
            n_help += 1
        else:
            failures.append("%s: --%s is in its --help but not in docs/cli.md \"## %s\""
                            % (label, o, sec[0]))

for sec in parsed:
    units_here = covered.get(sec[0], [])
    if not units_here:
        continue
    for o, owners in sorted(doc_options(sec).items()):
        for owner in sorted(owners, key=lambda x: x or ""):
            cands = [u for u in units_here if owner is None or (len(u) == 2 and u[1] == owner)]
            if not cands:
                cands = units_here
            if any(o in opts(helps[u]) for u in cands):
                n_docs += 1
            else:
                who = " ".join(cands[0]) if len(cands) == 1 else "/".join(" ".join(u) for u in cands)
                failures.append("docs/cli.md \"## %s\": --%s is not in the --help of herald %s"
                                % (sec[0], o, who))

for f in failures:
    print("FAIL: " + f)
print("cli_help_docs: %d commands and subcommands; %d options of --help found in docs/cli.md, "
      "%d options of docs/cli.md found in --help; %d mismatches"
      % (len(units), n_help, n_docs, len(failures)))
sys.exit(1 if failures else 0)
P
