#!/usr/bin/env bash
# man_pages.sh - the manual pages in man/: exactly what docs/ gives
# (scripts/gen-man.sh --check), free of warnings for mandoc, groff and man
# (what lintian runs), readable by whatis, and complete: herald(1) has a
# section for every command `herald --help` lists and names every
# environment variable the program reads; docs/config.md and herald.conf(5)
# have a section for every kind of configuration section the parser knows.
# Needs pandoc, mandoc, groff-base and man-db.
set -euo pipefail
herald=${HERALD:?HERALD must name the herald binary}
src=${HERALD_SOURCE_DIR:?HERALD_SOURCE_DIR must name the source tree}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

for tool in pandoc mandoc groff tbl man lexgrog; do
  command -v "$tool" >/dev/null || {
    echo "FAIL: $tool is not installed (Debian: pandoc mandoc groff-base man-db)"
    exit 1
  }
done
man1=$src/man/herald.1
man5=$src/man/herald.conf.5
pages=("$src"/man/*.[1-9])

# 1. The pages are what the documents give, byte for byte.
if "$src/scripts/gen-man.sh" --check > "$work/check" 2>&1; then ok; else
  bad "man/ differs from what docs/ gives (run scripts/gen-man.sh and commit man/):"
  head -c 6000 "$work/check"
fi
for page in herald.1 herald-serve.8 herald.conf.5; do
  [ -f "$src/man/$page" ] && ok || bad "man/$page is missing"
done

# 2. No warnings. mandoc at its strictest level, including style; groff
# with every warning, on an 80-column terminal; man --warnings as lintian
# runs it. Nothing is filtered.
for page in "${pages[@]}"; do
  name=man/$(basename "$page")
  head -3 "$page" | grep -q '^\.\\" Generated from docs/.* by scripts/gen-man.sh' && ok ||
    bad "$name does not say that it is generated"
  mandoc -Tlint -W style "$page" > "$work/lint" 2>&1 || true
  [ -s "$work/lint" ] && bad "mandoc -Tlint $name: $(head -c 2000 "$work/lint")" || ok
  groff -man -t -ww -z -Tutf8 -rLL=78n "$page" > "$work/lint" 2>&1 || true
  [ -s "$work/lint" ] && bad "groff -ww $name: $(head -c 2000 "$work/lint")" || ok
  MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2> "$work/lint" > /dev/null || true
  [ -s "$work/lint" ] && bad "man --warnings $name: $(head -c 2000 "$work/lint")" || ok
  # whatis and apropos read NAME as "name - description"
  base=$(basename "$page"); base=${base%.*}
  lexgrog "$page" > "$work/whatis" 2>&1 || true
  grep -q ": \"$base - ..*\"\$" "$work/whatis" && ok || bad "lexgrog $name: $(cat "$work/whatis")"
done

# 3. herald(1) documents every command, and no command that is gone.
"$herald" --help > "$work/help"
sed -n '/^commands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p' "$work/help" > "$work/commands"
[ "$(wc -l < "$work/commands")" -ge 10 ] && ok || bad "could not read the commands from herald --help: $(cat "$work/help")"
while read -r cmd; do
  grep -Eq "^\.SS herald $cmd( |\$)" "$man1" && ok ||
    bad "herald.1 has no section for \"herald $cmd\" (add \"## herald $cmd\" to docs/cli.md)"
done < "$work/commands"
sed -n 's/^\.SS herald \([a-z][a-z0-9-]*\).*/\1/p' "$man1" | sort -u > "$work/documented"
while read -r cmd; do
  grep -qx "$cmd" "$work/commands" && ok || bad "herald.1 documents \"herald $cmd\", which herald --help does not list"
done < "$work/documented"
for section in NAME SYNOPSIS DESCRIPTION COMMANDS "EXIT STATUS" ENVIRONMENT FILES "SEE ALSO"; do
  grep -qx "\.SH $section" "$man1" && ok || bad "herald.1 has no $section section"
done

# every environment variable the program reads is in ENVIRONMENT
sed -n '/^\.SH ENVIRONMENT$/,/^\.SH /p' "$man1" > "$work/environment"
grep -rhoE 'getenv\("[A-Za-z_0-9]+"\)' "$src/src" | sed 's/getenv("\(.*\)")/\1/' | sort -u > "$work/getenv"
[ -s "$work/getenv" ] || bad "found no getenv() in src/ (has the pattern changed?)"
while read -r var; do
  grep -q "$var" "$work/environment" && ok || bad "herald.1 ENVIRONMENT does not name $var (read by src/)"
done < "$work/getenv"

# 4. Every kind of configuration section is documented in docs/config.md
# (a heading "### `[kind ...]` ...") and so in herald.conf(5). The kinds
# come from the parser's table, and from the error herald gives for an
# unknown section, which lists them for the user.
sed -n '/^static const section_spec sections\[/,/^};/p' "$src/src/config/parse.c" |
  sed -n 's/^ *{"\([a-z][a-z0-9_-]*\)", S_.*/\1/p' > "$work/kinds"
[ "$(wc -l < "$work/kinds")" -ge 5 ] && ok ||
  bad "could not read the section table of src/config/parse.c (has it moved?)"
printf '[herald-no-such-section]\n' > "$work/bad.conf"
got=0
"$herald" serve --check --config "$work/bad.conf" > /dev/null 2> "$work/err" || got=$?
[ "$got" = 78 ] && ok || bad "an unknown section: exit $got, want 78"
grep -o 'sections are .*' "$work/err" | grep -o '\[[a-z][a-z0-9_-]*' | tr -d '[' >> "$work/kinds"
sort -u -o "$work/kinds" "$work/kinds"
while read -r kind; do
  grep -Eq "^#+ \`\[${kind}[] ]" "$src/docs/config.md" && ok ||
    bad "docs/config.md has no section for [$kind] (a heading \"### \`[$kind]\` ...\")"
  grep -Eq "^\.SS \\\\f\[B\]\[${kind}[] ]" "$man5" && ok || bad "herald.conf.5 has no section for [$kind]"
done < "$work/kinds"
# and every section docs/config.md documents is in herald.conf(5)
grep -oE '^#+ `\[[a-z][a-z0-9_-]*' "$src/docs/config.md" | sed 's/.*\[//' | sort -u > "$work/doc-kinds"
while read -r kind; do
  grep -qx "$kind" "$work/kinds" && ok || bad "docs/config.md documents [$kind], which the parser does not know"
done < "$work/doc-kinds"

echo "man_pages: $passed passed, $failed failed"
[ "$failed" = 0 ]
