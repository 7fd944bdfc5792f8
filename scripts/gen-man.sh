#!/usr/bin/env bash
# gen-man.sh - the manual pages in man/, made from the Markdown documents
# in docs/ so that the two never drift apart.
#   scripts/gen-man.sh           write the pages into man/
#   scripts/gen-man.sh --check   make them in a temporary folder and fail,
#                                with a diff, when man/ is not what the
#                                documents give (the test suite runs this)
#
# A document declares a page with a marker comment under a heading, e.g.
#   <!-- man: herald(1) 2026-12-07: email authentication and delivery ... -->
# (scripts/gen-man.lua says how the page is made from the heading's
# section). The pages are committed, so that building and installing herald
# never needs pandoc: after changing a document, run this and commit both.
# Needs pandoc (Debian: pandoc); the pages in man/ were made with the
# version their "Generated from" comment names, and another version may
# write them differently.
#
# The output depends only on the documents, the version in CMakeLists.txt
# and pandoc's version: the date of a page is the one in its marker (update
# it with the text; a commit date cannot be used, as the page is committed
# together with the document it comes from).
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: scripts/gen-man.sh [--check]" >&2; exit 64 ;;
esac

if ! command -v pandoc >/dev/null; then
  echo "gen-man: pandoc is needed (Debian: apt-get install pandoc)" >&2
  exit 69
fi
pandoc_version=$(pandoc --version | sed -n '1s/^pandoc[^ ]* //p')
version=$(sed -n 's/^project(herald VERSION \([0-9][0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || { echo "gen-man: no version in CMakeLists.txt's project()" >&2; exit 70; }

# every page: "NAME SECTION SOURCE", from the markers
pages=()
while IFS= read -r hit; do
  src=${hit%%:*}
  ref=$(sed -n 's/^<!-- man: \([A-Za-z0-9._-]*\)(\([0-9a-z]*\)).*/\1 \2/p' <<< "${hit#*:}")
  [ -n "$ref" ] || { echo "gen-man: $src: bad marker: ${hit#*:}" >&2; exit 65; }
  pages+=("$ref $src")
done < <(grep -H '^<!-- man:' docs/*.md)
[ ${#pages[@]} -gt 0 ] || { echo "gen-man: no <!-- man: --> marker in docs/*.md" >&2; exit 65; }

all=""
for p in "${pages[@]}"; do
  read -r name sec src <<< "$p"
  all+="$name($sec)=$src "
done

# made in a temporary folder: man/ changes only when every page was made
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for p in "${pages[@]}"; do
  read -r name sec src <<< "$p"
  pandoc --from=gfm --to=man --standalone --columns=72 \
    --template=scripts/gen-man.template --lua-filter=scripts/gen-man.lua \
    -M page="$name" -M section="$sec" -M source="$src" -M version="$version" \
    -M pages="$all" -V generator="pandoc $pandoc_version" \
    "$src" |
  # Two fixes to what pandoc writes:
  # - it starts every paragraph with .PP, also right after a heading, where
  #   it means nothing (mandoc -Tlint: "skipping paragraph macro");
  # - groff 1.22.4 draws a man page on a terminal as one long page (register
  #   cR) that grows at each .ne; tbl does not ask for room, and wrongly
  #   warns "table text block will not fit on one page" where a row meets
  #   the page's current end: an .ne before each table makes the room.
  awk '$0 == ".PP" && prev ~ /^\.S[HS] / { prev = $0; next }
       $0 == ".TS" { print ".if \\n[cR] .ne 300v" }
       { print; prev = $0 }' > "$out/$name.$sec"
done

stale() {
  local page status=0
  for page in man/*.[1-9]; do
    [ -e "$page" ] || continue
    if [ ! -f "$out/$(basename "$page")" ]; then
      echo "gen-man: $page comes from no document's marker (remove it, or restore the marker)" >&2
      status=1
    fi
  done
  return $status
}

if [ $check = 0 ]; then
  mkdir -p man
  cp "$out"/* man/
  stale
  exit
fi

# --check: the committed pages must be exactly these, and no others
status=0
for f in "$out"/*; do
  page=man/$(basename "$f")
  if [ ! -f "$page" ]; then
    echo "gen-man: $page is missing (run scripts/gen-man.sh)" >&2
    status=1
  elif ! diff -u --label "$page (committed)" --label "$page (from the documents)" "$page" "$f"; then
    status=1
  fi
done
stale || status=1
if [ $status != 0 ]; then
  made_with=$(sed -n 's/^\.\\" Generated from .* (pandoc \(.*\))\.$/\1/p' man/*.[1-9] | sort -u | tr '\n' ' ')
  echo "gen-man: man/ is not what docs/ gives: run scripts/gen-man.sh and commit the pages" >&2
  if [ -n "$made_with" ] && [ "$made_with" != "$pandoc_version " ]; then
    echo "gen-man: (the pages were made with pandoc $made_with; this is pandoc $pandoc_version)" >&2
  fi
fi
exit $status
