#!/usr/bin/env bash
# data_sources.sh - the third-party test data under tests/data/<source>/ is
# still what its SOURCES says: every file has a row there, and its SHA-256
# equals the row's. The unit tests judge herald against these files' expected
# results, so a file edited in place (or an editor's line-end conversion)
# would quietly change what "pass" means; a file dropped in without a row
# would have no known origin or licence.
#
# SOURCES format: '#' lines are notes, the first other line names the
# columns, then one tab-separated row per file: file, origin_repo,
# origin_path, commit, license, bytes, sha256 (tests/data/README.md).
# The two sample folders described by a README.md instead (bounces: hand-made;
# reports: one sample that README credits) are listed in README_ONLY below;
# any other folder without SOURCES fails.
#
# env: HERALD_SOURCE_DIR (the source tree; default: this script's tree).
# Prints one line per folder and ends with "N files checked, M failed".
set -euo pipefail

src=${HERALD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
data=$src/tests/data
README_ONLY=(bounces reports)
command -v sha256sum >/dev/null || { echo "data_sources: sha256sum (coreutils) is missing" >&2; exit 1; }
[ -d "$data" ] || { echo "data_sources: no $data" >&2; exit 1; }

checked=0 failed=0
work=$(mktemp -d "${TMPDIR:-/tmp}/data-sources.XXXXXX")
trap 'rm -rf "$work"' EXIT

readme_only() {
  local h
  for h in "${README_ONLY[@]}"; do [ "$1" = "$h" ] && return 0; done
  return 1
}

# rows DIR: the SOURCES rows as "sha256  file" (sha256sum -c input); a row
# that is not 7 fields with a 64-hex-digit hash is reported and left out, and
# makes the folder fail
rows() {
  awk -F'\t' -v src="$1/SOURCES" '
    /^#/ { next }
    !header { header = 1; next }
    NF == 0 { next }
    NF != 7 || length($7) != 64 || $7 ~ /[^0-9a-f]/ { printf "bad row %d: %s\n", NR, $0 > "/dev/stderr"; bad = 1; next }
    { printf "%s  %s\n", $7, $1 }
    END { exit bad }' "$1/SOURCES"
}

check_folder() {  # check_folder DIR NAME: prints its line, adds to the totals
  local dir=$1 name=$2 n problems=0 unlisted dups
  if ! rows "$dir" > "$work/sums" 2> "$work/rows.err"; then
    sed "s|^|  $name/SOURCES: |" "$work/rows.err"
    problems=$((problems + $(wc -l < "$work/rows.err")))
  fi
  n=$(wc -l < "$work/sums")
  # every file of the folder has a row (SOURCES itself excepted), and one only
  (cd "$dir" && find . -type f ! -path ./SOURCES -printf '%P\n' | LC_ALL=C sort) > "$work/files"
  cut -c67- "$work/sums" | LC_ALL=C sort > "$work/listed"
  unlisted=$(LC_ALL=C comm -23 "$work/files" "$work/listed")
  if [ -n "$unlisted" ]; then
    printf '%s\n' "$unlisted" | sed "s|^|  $name/|; s|\$|: not in SOURCES|"
    problems=$((problems + $(printf '%s\n' "$unlisted" | wc -l)))
  fi
  dups=$(uniq -d "$work/listed")
  if [ -n "$dups" ]; then
    printf '%s\n' "$dups" | sed "s|^|  $name/|; s|\$|: listed twice in SOURCES|"
    problems=$((problems + $(printf '%s\n' "$dups" | wc -l)))
  fi
  # a changed file prints "FILE: FAILED", a missing one "FILE: FAILED open or read"
  if ! (cd "$dir" && sha256sum --check --quiet --strict "$work/sums") > "$work/check.out" 2>&1; then
    grep 'FAILED' "$work/check.out" | sed "s|^|  $name/|"
    problems=$((problems + $(grep -c ': FAILED' "$work/check.out" || true)))
  fi
  checked=$((checked + n))
  if [ "$problems" = 0 ]; then
    printf '%s: %d files match SOURCES\n' "$name" "$n"
  else
    printf '%s: FAIL: %d of %d files, or rows, do not match\n' "$name" "$problems" "$n"
    failed=$((failed + problems))
  fi
}

for dir in "$data"/*/; do
  dir=${dir%/}
  name=$(basename "$dir")
  if [ -f "$dir/SOURCES" ]; then
    check_folder "$dir" "$name"
  elif readme_only "$name"; then
    echo "$name: samples described in its README.md, not checked"
  else
    echo "$name: FAIL: no SOURCES (each upstream folder lists its files; see tests/data/README.md)"
    failed=$((failed + 1))
  fi
done

echo "$checked files checked, $failed failed"
[ "$failed" -eq 0 ]
