#!/usr/bin/env bash
# check-layers.sh - the layer rule of docs/architecture.md, checked on every
# #include of src/ and include/herald/ (and, given the build's objects, on
# the calls between the rooms of src/serve):
#
#   scripts/check-layers.sh [ROOT] [--allow FILE] [--objects BUILDDIR]
#
#   (a) library: a module includes only <herald/x.h> headers of its own
#       module or of a lower layer (modules on one layer are peers and do
#       not include each other), and internal "module/x.h" headers of its
#       own module only (one exception, written below: ARC reads DKIM's);
#   (b) program over library: net, signer (to come), serve and cli may include any
#       library header (never a library module's internal one); the
#       library never includes a program header; a program module includes
#       the doors of the program modules below it (serve's is serve.h);
#   (c) the rooms of src/serve: a file includes its own room's headers and
#       those of the rooms below (the engine: none but its own; rooms of one
#       layer are peers and do not include each other); a room's
#       *_int.h only from that room's files; with --objects, no file calls
#       a function (or reads a variable) defined in a room above its own;
#   (d) one form: <herald/x.h> for the library's public headers, "dir/x.h"
#       from src/ for the rest; no "../", no "herald/x.h" in quotes, no
#       bare "x.h".
#
# ROOT defaults to this repository. Each breach is printed as
# FILE:LINE: rule: what; the exit status is 1 if any is found. The
# allow-list (default ROOT/scripts/layers-allow.txt, one known breach a
# line: FILE WHAT REASON, WHAT the included path or the symbol called)
# names breaches being cut elsewhere; an entry without a reason is an
# error, an entry that matches nothing is reported so the list can be
# emptied. --objects BUILDDIR: the objects of src/serve under BUILDDIR
# (found as */src/serve/NAME.c.o) are read with nm.
set -euo pipefail

# ---- the library's layers, lowest first (docs/architecture.md) ----
# layer  module         its public headers (include/herald/NAME.h)
library_table='
1   base           err buf base64 json log limits ratelimit clientkey backoff httphead httproute
2   mail           mail mime mime7 report compose
2   dns            dns
3   key            key
4   signproto      signproto
5   auth/tag       tag
6   auth/authres   authres
7   auth/dkim      dkim
8   auth/spf       spf
9   auth/dmarc     dmarc
10  auth/arc       arc
11  auth/explain   explain
12  auth/verdict   verdict
13  smtpd          smtpd
13  smtpc          smtpc
14  route          route
15  submit         submit
15  verp           verp
16  apimsg         apimsg
17  spool          spool
17  store          store
18  config         config
19  passwd         passwd
19  apikey         apikey
21  domain         domain
22  webhook        webhook
'
# The one cross-module internal include of the library, on purpose:
# module  the header it may include
library_exceptions='
auth/arc  auth/dkim/dkim_keyrec.h   ARC is DKIM with other field names (architecture.md, auth/arc)
'

# ---- the program, over the whole library ----
# layer  module   its doors: the headers other program modules may include ("*": all)
program_table='
1   net      *
2   signer   *
3   serve    serve.h
4   cli      -
'

# ---- the rooms of src/serve, lowest first (architecture.md, "The rooms of serve") ----
# layer  room       its files (globs in src/serve/; *_int.h: the room's own)
room_table='
1   engine     engine.h engine.c work.c commit*.c domains*.c
2   delivery   delivery.h delivery_int.h queue*.c deliver.c deliver_*.c sandbox*.c metrics*.c policy*.c
3   feedback   feedback.h feedback_int.h inbound*.c webhook*.c
4   intake     intake.h intake_int.h api_int.h intake*.c accept*.c api*.c httpconn*.c
5   top        serve.h serve.c status.h status.c check.c
'

root=""
allow=""
objects=""
while [ $# -gt 0 ]; do
  case "$1" in
    --allow) allow=${2:?--allow needs a file}; shift 2 ;;
    --objects) objects=${2:?--objects needs a build directory}; shift 2 ;;
    -h|--help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "check-layers: unknown option $1" >&2; exit 2 ;;
    *) root=$1; shift ;;
  esac
done
[ -n "$root" ] || root=$(cd "$(dirname "$0")/.." && pwd)
[ -d "$root/src" ] || { echo "check-layers: no $root/src" >&2; exit 2; }
root=$(cd "$root" && pwd)
[ -n "$allow" ] || allow="$root/scripts/layers-allow.txt"
[ -z "$objects" ] || objects=$(cd "$objects" && pwd)
cd "$root"

declare -A lib_rank header_module prog_rank prog_doors room_rank exception
lib_modules=()
while read -r rank mod headers; do
  [ -n "$rank" ] || continue
  lib_rank[$mod]=$rank
  lib_modules+=("$mod")
  for h in $headers; do header_module[$h]=$mod; done
done <<< "$library_table"
while read -r rank mod doors; do
  [ -n "$rank" ] || continue
  prog_rank[$mod]=$rank
  prog_doors[$mod]=$doors
done <<< "$program_table"
while read -r mod header _; do
  [ -n "$mod" ] && exception["$mod $header"]=1
done <<< "$library_exceptions"

# the room of a file of src/serve (by its name), or ""
room_of() {
  local name=$1 rank room globs g
  while read -r rank room globs; do
    [ -n "$rank" ] || continue
    for g in $globs; do
      # shellcheck disable=SC2053
      if [[ $name == $g ]]; then echo "$rank $room"; return; fi
    done
  done <<< "$room_table"
}

# the module of a path under src/ (the longest module directory it is in)
module_of() {
  local path=$1 m best=""
  for m in "${lib_modules[@]}" "${!prog_rank[@]}"; do
    if [[ $path == "$m"/* ]] && [ ${#m} -gt ${#best} ]; then best=$m; fi
  done
  echo "$best"
}

declare -A allowed_used=()
allowed_list=$(grep -vE '^[[:space:]]*(#|$)' "$allow" 2>/dev/null || true)
status=0
if [ -n "$allowed_list" ]; then
  if bad=$(grep -vE '^[^[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+[^[:space:]]' <<< "$allowed_list"); then
    echo "check-layers: $allow: entries without a reason:" >&2
    echo "$bad" >&2
    status=1
  fi
fi
is_allowed() {   # FILE WHAT
  if [ -n "$allowed_list" ] && awk -v f="$1" -v w="$2" '$1 == f && $2 == w {found = 1} END {exit !found}' <<< "$allowed_list"; then
    allowed_used["$1 $2"]=1
    return 0
  fi
  return 1
}

breach() {   # FILE LINE RULE WHAT TEXT
  if is_allowed "$1" "$4"; then
    echo "$1:$2: allowed (layers-allow.txt): $5"
  else
    echo "$1:$2: $3: $5"
    status=1
  fi
}

# ---- the files and their modules ----
files=$( (find src include/herald -name '*.[ch]' 2>/dev/null || true) | LC_ALL=C sort)
for f in $files; do
  if [[ $f == include/herald/* ]]; then
    base=${f#include/herald/}
    mod=${header_module[${base%.h}]:-}
    if [ -z "$mod" ]; then
      echo "$f:1: layers: a public header of no module: add it to the library table of scripts/check-layers.sh"
      status=1
      continue
    fi
  else
    mod=$(module_of "${f#src/}")
    if [ -z "$mod" ]; then
      echo "$f:1: layers: a file of no module: add its module to a table of scripts/check-layers.sh (and to docs/architecture.md)"
      status=1
      continue
    fi
  fi
  room="" room_r=""
  if [ "$mod" = serve ]; then
    read -r room_r room <<< "$(room_of "${f#src/serve/}")"
    if [ -z "$room" ]; then
      echo "$f:1: rooms: a file of no room of serve: add it to the room table of scripts/check-layers.sh"
      status=1
    fi
  fi
  is_lib=${lib_rank[$mod]:+yes}
  while IFS=: read -r line text; do
    [ -n "$line" ] || continue
    if [[ $text =~ \#[[:space:]]*include[[:space:]]*\<([^>]*)\> ]]; then
      inc=${BASH_REMATCH[1]}
      [[ $inc == herald/* ]] || continue       # the system's and other libraries' headers
      h=${inc#herald/}; h=${h%.h}
      to=${header_module[$h]:-}
      if [ -z "$to" ]; then
        breach "$f" "$line" "layers" "$inc" "<$inc> is a header of no module of the library table"
        continue
      fi
      [ -n "$is_lib" ] || continue             # (b) the program may include any library header
      if [ "$to" != "$mod" ] && [ "${lib_rank[$to]}" -ge "${lib_rank[$mod]}" ]; then
        if [ "${lib_rank[$to]}" -eq "${lib_rank[$mod]}" ]; then
          breach "$f" "$line" "layers" "$inc" "$mod includes <$inc> of $to, a module of its own layer (${lib_rank[$mod]}): peers do not include each other"
        else
          breach "$f" "$line" "layers" "$inc" "$mod (layer ${lib_rank[$mod]}) includes <$inc> of $to (layer ${lib_rank[$to]}): an upward include"
        fi
      fi
    elif [[ $text =~ \#[[:space:]]*include[[:space:]]*\"([^\"]*)\" ]]; then
      inc=${BASH_REMATCH[1]}
      # (d) one form
      if [[ $inc == herald/* ]]; then
        breach "$f" "$line" "form" "$inc" "\"$inc\": the library's public headers are included as <$inc>"
        continue
      fi
      if [[ $inc == */../* || $inc == ../* || $inc == ./* || $inc != */* ]]; then
        breach "$f" "$line" "form" "$inc" "\"$inc\": include from src/ by its full path (\"serve/engine.h\"), never relative"
        continue
      fi
      if [ ! -f "src/$inc" ]; then
        breach "$f" "$line" "form" "$inc" "\"$inc\": no such file under src/"
        continue
      fi
      to=$(module_of "$inc")
      if [ -n "$is_lib" ]; then
        if [ -n "${prog_rank[$to]:-}" ]; then
          breach "$f" "$line" "program" "$inc" "the library ($mod) includes \"$inc\", a header of the program ($to)"
        elif [ "$to" != "$mod" ] && [ -z "${exception["$mod $inc"]:-}" ]; then
          breach "$f" "$line" "layers" "$inc" "$mod includes \"$inc\", an internal header of $to: use <herald/...> (its module's door)"
        fi
        continue
      fi
      # a program module
      if [ -n "${lib_rank[$to]:-}" ]; then
        breach "$f" "$line" "program" "$inc" "$mod includes \"$inc\", an internal header of the library's $to: use its <herald/...> header"
        continue
      fi
      if [ "$to" != "$mod" ]; then
        name=${inc#"$to"/}
        if [ "${prog_rank[$to]}" -ge "${prog_rank[$mod]}" ]; then
          breach "$f" "$line" "program" "$inc" "$mod (program layer ${prog_rank[$mod]}) includes \"$inc\" of $to (layer ${prog_rank[$to]}): an upward include"
        elif [ "${prog_doors[$to]}" != "*" ] && [[ " ${prog_doors[$to]} " != *" $name "* ]]; then
          breach "$f" "$line" "program" "$inc" "$mod includes \"$inc\": from outside, $to is entered by ${prog_doors[$to]} only"
        fi
        continue
      fi
      # (c) within serve: the rooms
      if [ "$mod" = serve ] && [ -n "$room" ]; then
        read -r to_r to_room <<< "$(room_of "${inc#serve/}")"
        if [ -z "$to_room" ]; then
          breach "$f" "$line" "rooms" "$inc" "\"$inc\" is a header of no room of serve"
        elif [ "$to_r" -gt "$room_r" ]; then
          breach "$f" "$line" "rooms" "$inc" "$room (room $room_r) includes \"$inc\" of the $to_room room ($to_r): an upward include"
        elif [ "$to_r" -eq "$room_r" ] && [ "$to_room" != "$room" ]; then
          breach "$f" "$line" "rooms" "$inc" "$room includes \"$inc\" of the $to_room room, its peer (room $to_r): peers do not include each other"
        elif [[ $inc == *_int.h ]] && [ "$to_room" != "$room" ]; then
          breach "$f" "$line" "rooms" "$inc" "$room includes \"$inc\", the $to_room room's own header"
        fi
      fi
    fi
  done <<< "$(grep -nE '^[[:space:]]*#[[:space:]]*include' "$f" || true)"
done

# ---- (c) calls between the rooms, from the build's objects ----
if [ -n "$objects" ]; then
  declare -A obj_of defined_in
  while read -r o; do
    n=$(basename "$o" .o)                      # NAME.c
    [ -f "src/serve/$n" ] || continue          # an object of a file gone since
    [ -n "${obj_of[$n]:-}" ] || obj_of[$n]=$o
  done <<< "$( (find "$objects" -path '*/src/serve/*.c.o' 2>/dev/null || true) | LC_ALL=C sort)"
  if [ ${#obj_of[@]} -eq 0 ]; then
    echo "check-layers: no objects of src/serve under $objects (build herald first)" >&2
    status=1
  fi
  for n in "${!obj_of[@]}"; do
    while read -r _ kind sym; do
      [[ $kind =~ ^[TDBRCG]$ ]] && defined_in[$sym]=$n
    done <<< "$(nm --defined-only "${obj_of[$n]}")"
  done
  for n in $(printf '%s\n' "${!obj_of[@]}" | LC_ALL=C sort); do
    read -r r room <<< "$(room_of "$n")"
    [ -n "$room" ] || continue                  # reported above
    for sym in $(nm -u "${obj_of[$n]}" | awk '{print $2}'); do
      d=${defined_in[$sym]:-}
      [ -n "$d" ] && [ "$d" != "$n" ] || continue
      read -r dr droom <<< "$(room_of "$d")"
      [ -n "$droom" ] && [ "$droom" != "$room" ] && [ "$dr" -ge "$r" ] || continue
      # the first line in a function's body that names it (indented, not a
      # comment), else the first line that names it at all
      line=$( (grep -nw -- "$sym" "src/serve/$n" || true) | grep -E '^[0-9]+:[[:space:]]+[^[:space:]/*]' | head -1 | cut -d: -f1)
      [ -n "$line" ] || line=$( (grep -nw -- "$sym" "src/serve/$n" || true) | head -1 | cut -d: -f1)
      breach "src/serve/$n" "${line:-1}" "rooms" "$sym" "$room (room $r) calls $sym, defined in src/serve/$d of the $droom room ($dr): an upward call"
    done
  done
fi

# entries of the allow-list that matched nothing
if [ -n "$allowed_list" ]; then
  while read -r af aw _; do
    [ -n "${allowed_used["$af $aw"]:-}" ] && continue
    # a symbol entry is only checked with --objects
    if [ -z "$objects" ] && [[ $aw != */* ]]; then continue; fi
    echo "check-layers: note: $allow: '$af $aw' matches nothing any more: remove it"
  done <<< "$allowed_list"
fi

if [ $status = 0 ]; then
  if [ ${#allowed_used[@]} -gt 0 ]; then
    echo "check-layers: clean but for ${#allowed_used[@]} known breach(es) of $allow"
  else
    echo "check-layers: clean"
  fi
fi
exit $status
