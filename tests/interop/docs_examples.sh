#!/usr/bin/env bash
# docs_examples.sh - every shell example in README.md and docs/*.md is run
# against a herald started here, or is marked as illustrative.
#
# The rule for writers of the docs:
#   - A shell example is a fenced block tagged sh, bash, shell, zsh or
#     console. It is run (from a working directory whose ./herald-data is
#     the test server's data directory, the default data_dir) unless the
#     last non-blank line before its fence is <!-- illustrative -->.
#   - An `sh` block is run as one bash script (set -e): it must exit 0.
#     A `console` block is commands after "$ " (continued by a trailing
#     "\" or an open quote) each followed by its output; each command must exit 0, and
#     where the documented output is a JSON object the real output must be
#     one with the same keys.
#   - Every curl call must answer 2xx, or the status of a marker
#     <!-- expect status=NNN --> before the fence; <!-- expect exit=N -->
#     sets the exit code instead of 0.
#   - Placeholders: http://127.0.0.1:8026 becomes the test server's API,
#     hk_... and $HERALD_API_KEY a real key for every domain, `herald send`
#     without --api or --config gets the test API; the fixtures
#     receipt.pdf, message.eml and body.json (with $SIG and $SECRET) are in
#     the working directory; example.com is a sending domain and mail to
#     any domain goes to a local receiver.
#   - Shell commands must not hide elsewhere: an indented block or an
#     untagged fence starting with "$ ", curl, sudo, scripts/, export, swaks,
#     cmake or NAME=value is a failure (put it in a tagged fence).
# Failures name FILE:LINE. Prints: run N, illustrative M, failed K.
set -euo pipefail
: "${HERALD:?}" "${HERALD_SOURCE_DIR:?}"
. "$HERALD_SOURCE_DIR/tests/lib/serve-lib.sh"
hl_tmpdir
T=$HL_TMP
fail() { echo "FAIL: $*" >&2; tail -n 30 "$T/herald.log" >&2 || true; exit 1; }

rxport=$(hl_free_port 127.0.0.2)
hl_receiver_start 127.0.0.2 "$rxport" "$T/rx" ""
smtp=$(hl_free_port); status=$(hl_free_port); api=$(hl_free_port); inbound=$(hl_free_port)
mkdir -p "$T/work" "$T/bin"
ln -s "$HERALD" "$T/bin/herald"
echo 'unused.test. IN A 127.0.0.9' > "$T/zone"
cat > "$T/herald.conf" <<C
hostname = mail.example.com
data_dir = $T/work/herald-data
[smtp]
listen = 127.0.0.1:$smtp
[status]
listen = 127.0.0.1:$status
[api]
listen = 127.0.0.1:$api
[inbound]
listen = 127.0.0.1:$inbound
[delivery]
mode = real
[dns]
zone_file = $T/zone
[route *]
next_hop = 127.0.0.2:$rxport
C
"$HERALD" domain add --dns-zone /dev/null example.com --data-dir "$T/work/herald-data" --hostname mail.example.com > /dev/null
KEY=$("$HERALD" apikey create --name docs-test --all-domains --data-dir "$T/work/herald-data" 2> /dev/null)
[ -n "$KEY" ] || fail "no API key"
# fixtures the examples name
printf '%%PDF-1.4\n%%%%EOF\n' > "$T/work/receipt.pdf"
printf 'From: Shop <receipts@example.com>\nTo: ann@example.net\nSubject: Your receipt\n\nThank you!\n' \
  > "$T/work/message.eml"
SECRET=docs-example-secret-0123456789abcdef0123
printf '{"id":1,"type":"accepted","at":"2026-11-27T08:00:00.000Z"}' > "$T/work/body.json"
now=$(date +%s)
SIG="t=$now,v1=$( { printf '%s.' "$now"; cat "$T/work/body.json"; } |
        openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)"
hl_herald_start "$T/herald.conf" "$smtp"
hl_wait_port 127.0.0.1 "$api" 10 tcp "$(hl_pid herald)"

cd "$T/work"
PATH=$T/bin:$PATH HERALD_API_KEY=$KEY SIG=$SIG SECRET=$SECRET DOCS_API=http://127.0.0.1:$api \
  /usr/bin/python3 - "$HERALD_SOURCE_DIR" <<'PY'
import glob, json, os, re, shlex, subprocess, sys, tempfile

src = sys.argv[1]
api = os.environ["DOCS_API"]
key = os.environ["HERALD_API_KEY"]
SHELL = {"sh", "bash", "shell", "zsh", "console"}
HIDDEN = re.compile(r"^(\$ |curl |sudo |scripts/|export |swaks |cmake |[A-Z_][A-Z0-9_]*=\S)")
MARK = re.compile(r"^<!--\s*(illustrative|expect\s+(status|exit)=(\d+))\s*-->$")
# curl records each status in $DOCS_STATUS and prints the body as curl would
PRELUDE = r'''
curl() {
  local out code rc=0
  out=$(mktemp)
  code=$(command curl -o "$out" -w '%{http_code}' "$@") || rc=$?
  cat "$out"; rm -f "$out"
  echo "$code" >> "$DOCS_STATUS"
  return $rc
}
'''

def blocks(path):
    """(line of the fence, lang, body lines, marker) of every fenced
    block; and (line, first line) of every indented block."""
    lines = open(path, encoding="utf-8").read().split("\n")
    fenced, indented = [], []
    i, prev_blank = 0, True
    while i < len(lines):
        m = re.match(r"^(```+|~~~+)\s*([\w-]*)", lines[i])
        if m:
            fence, lang = m.group(1), m.group(2).lower()
            j = i + 1
            while j < len(lines) and not lines[j].startswith(fence):
                j += 1
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            marker = lines[k].strip() if k >= 0 else ""
            fenced.append((i + 1, lang, lines[i + 1:j], marker))
            i, prev_blank = j + 1, False
            continue
        if prev_blank and lines[i].startswith("    ") and lines[i].strip():
            indented.append((i + 1, lines[i][4:]))
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                i += 1
            prev_blank = True
            continue
        prev_blank = not lines[i].strip()
        i += 1
    return fenced, indented

def substitute(text):
    text = text.replace("http://127.0.0.1:8026", api).replace("127.0.0.1:8026", api[7:])
    text = text.replace("hk_...", key)
    return re.sub(r"\bherald send\b(?![^\n]*--(api|config)\b)", "herald send --api " + api, text)

def run(script):
    """exit code, stdout, stderr, the HTTP statuses of its curl calls"""
    with tempfile.NamedTemporaryFile("r", delete=False) as st:
        env = dict(os.environ, DOCS_STATUS=st.name)
        p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", PRELUDE + script],
                           capture_output=True, text=True, timeout=120, env=env)
        statuses = [int(x) for x in open(st.name).read().split()]
    os.unlink(st.name)
    return p.returncode, p.stdout, p.stderr, statuses

def complete(cmd):
    """False while a quote is still open (the command goes on)"""
    try:
        shlex.split(cmd)
        return True
    except ValueError:
        return False

def console_commands(body, first):
    """(line, command, documented output) of a console block"""
    out, i = [], 0
    while i < len(body):
        if not body[i].startswith("$ "):
            i += 1
            continue
        line, cmd = first + i, [body[i][2:]]
        while (cmd[-1].endswith("\\") or not complete("\n".join(cmd))) and i + 1 < len(body):
            i += 1
            cmd.append(body[i])
        i += 1
        doc = []
        while i < len(body) and not body[i].startswith("$ "):
            doc.append(body[i])
            i += 1
        out.append((line, "\n".join(cmd), "\n".join(doc).strip()))
    return out

def json_object(text):
    try:
        v = json.loads(text)
    except ValueError:
        return None
    return v if isinstance(v, dict) else None

n_run = n_ill = n_cmds = 0
failed = []
files = [os.path.join(src, "README.md")] + sorted(glob.glob(os.path.join(src, "docs", "*.md")))
for path in files:
    rel = os.path.relpath(path, src)
    fenced, indented = blocks(path)
    for line, first in indented:
        if HIDDEN.match(first):
            failed.append("%s:%d: a shell example in an indented block: put it in a ```sh or "
                          "```console fence (run by this test) or mark it <!-- illustrative -->"
                          % (rel, line))
    for line, lang, body, marker in fenced:
        if lang == "" and body and HIDDEN.match(body[0]):
            failed.append("%s:%d: a shell example in an untagged fence: tag it sh or console"
                          % (rel, line))
        if lang not in SHELL:
            continue
        m = MARK.match(marker)
        if m and m.group(1) == "illustrative":
            n_ill += 1
            continue
        want_status = int(m.group(3)) if m and m.group(2) == "status" else None
        want_exit = int(m.group(3)) if m and m.group(2) == "exit" else 0
        n_run += 1
        if lang == "console":
            cmds = console_commands(body, line + 1)
            if not cmds:
                failed.append("%s:%d: a console block without a \"$ \" command" % (rel, line))
        else:
            cmds = [(line + 1, "\n".join(body), "")]
        for cline, cmd, doc in cmds:
            n_cmds += 1
            rc, out, err, statuses = run(substitute(cmd))
            where = "%s:%d" % (rel, cline)
            bad = [s for s in statuses if (s != want_status if want_status else not 200 <= s < 300)]
            if rc != want_exit:
                failed.append("%s: exit %d, the docs say %d: %s" % (where, rc, want_exit,
                                                                    (err or out).strip()[-300:]))
            elif bad:
                failed.append("%s: HTTP %s, the docs say %s: %s" % (where, bad, want_status or "2xx",
                                                                   out.strip()[-300:]))
            elif json_object(doc) is not None:
                got = json_object(out.strip().split("\n")[-1] if out.strip() else "")
                if got is None or sorted(got) != sorted(json_object(doc)):
                    failed.append("%s: the output is not the documented JSON (keys %s): %s"
                                  % (where, sorted(json_object(doc)), out.strip()[-300:]))
for f in failed:
    print("FAIL: " + f)
print("docs_examples: run %d (%d commands), illustrative %d, failed %d"
      % (n_run, n_cmds, n_ill, len(failed)))
sys.exit(1 if failed else 0)
PY
