#!/usr/bin/env bash
# check_layers.sh - scripts/check-layers.sh checked against planted cases:
# a copy of the tree's src/ and include/ passes; each planted breach (an
# upward include in the library, a peer include, a library including a
# program header, another module's internal header, each wrong include
# form, an upward include and another room's *_int.h inside serve, a serve
# file in no room, cli past serve's door) fails, named FILE:LINE with its
# rule; an allow-list entry lets a breach through, one without a reason is
# refused; with objects, a planted upward call between rooms fails. Then
# the repository itself passes (with HERALD_BUILD_DIR: its objects too).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${HERALD_SOURCE_DIR:-$here/../..}
check=$src/scripts/check-layers.sh
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# a fresh copy of the tree to plant in; the allow-list empty
fresh() {
  rm -rf "$T/tree"
  mkdir -p "$T/tree/scripts"
  cp -r "$src/src" "$src/include" "$T/tree/"
  cp "$src/scripts/layers-allow.txt" "$T/tree/scripts/"
}

# plant FILE LINE_TEXT: append an include to FILE (made if missing)
plant() {
  mkdir -p "$(dirname "$T/tree/$1")"
  printf '%s\n' "$2" >> "$T/tree/$1"
  wc -l < "$T/tree/$1"
}

# expect_fail NAME FILE LINE RULE: the checker fails and names FILE:LINE: RULE
expect_fail() {
  local out
  if out=$("$check" "$T/tree" 2>&1); then
    bad "$1: passed"
    return
  fi
  case "$out" in
    *"$2:$3: $4:"*) ok ;;
    *) bad "$1: not named as $2:$3: $4: $out" ;;
  esac
}

# the clean copy passes (with the repository's allow-list, as every case below)
fresh
if out=$("$check" "$T/tree" 2>&1); then ok; else bad "clean copy refused: $out"; fi

fresh
n=$(plant src/base/x.c '#include <herald/dkim.h>')
expect_fail "base includes dkim" src/base/x.c "$n" layers
fresh
n=$(plant src/mail/x.c '#include <herald/dns.h>')
expect_fail "peer include (mail, dns)" src/mail/x.c "$n" layers
fresh
n=$(plant include/herald/buf.h '#include <herald/store.h>')
expect_fail "public header upward" include/herald/buf.h "$n" layers
fresh
n=$(plant src/store/x.c '#include "serve/engine.h"')
expect_fail "library includes serve" src/store/x.c "$n" program
fresh
n=$(plant src/dns/x.c '#include "store/store_int.h"')
expect_fail "another module's internal header" src/dns/x.c "$n" layers
fresh
n=$(plant src/serve/queue.c '#include "config/config_int.h"')
expect_fail "program includes a library module's internal header" src/serve/queue.c "$n" program
fresh
n=$(plant src/serve/intake.c '#include "../serve/engine.h"')
expect_fail "relative include" src/serve/intake.c "$n" form
fresh
n=$(plant src/serve/intake.c '#include "engine.h"')
expect_fail "bare include" src/serve/intake.c "$n" form
fresh
n=$(plant src/base/x.c '#include "herald/err.h"')
expect_fail "quoted herald header" src/base/x.c "$n" form
fresh
n=$(plant src/serve/work.c '#include "serve/intake.h"')
expect_fail "engine includes intake" src/serve/work.c "$n" rooms
fresh
n=$(plant src/serve/queue.c '#include "serve/feedback.h"')
expect_fail "delivery includes feedback" src/serve/queue.c "$n" rooms
fresh
n=$(plant src/serve/inbound.c '#include "serve/delivery_int.h"')
expect_fail "another room's _int.h" src/serve/inbound.c "$n" rooms
fresh
plant src/serve/lounge.c '#include "serve/engine.h"' >/dev/null
expect_fail "a file of no room" src/serve/lounge.c 1 rooms
fresh
n=$(plant src/cli/x.c '#include "serve/engine.h"')
expect_fail "cli past serve's door" src/cli/x.c "$n" program
fresh
n=$(plant src/net/x.c '#include "serve/serve.h"')
expect_fail "net includes serve" src/net/x.c "$n" program

# the allow-list: an entry lets the breach through; one without a reason is refused
fresh
plant src/serve/work.c '#include "serve/intake.h"' >/dev/null
echo 'src/serve/work.c serve/intake.h  planted, cut elsewhere' >> "$T/tree/scripts/layers-allow.txt"
if out=$("$check" "$T/tree" 2>&1); then ok; else bad "allowed breach refused: $out"; fi
echo 'src/serve/work.c serve/intake.h' > "$T/tree/scripts/layers-allow.txt"
if out=$("$check" "$T/tree" 2>&1); then bad "entry without a reason accepted"; else ok; fi
fresh
echo 'src/serve/gone.c serve/intake.h  a cut that landed' > "$T/tree/scripts/layers-allow.txt"
out=$("$check" "$T/tree" 2>&1 || true)
case "$out" in *"matches nothing"*) ok ;; *) bad "stale entry not noted: $out" ;; esac

# calls between rooms, from objects: queue.c (delivery) calling into serve.c (top)
if command -v cc >/dev/null && command -v nm >/dev/null; then
  rm -rf "$T/fake" "$T/objs"
  mkdir -p "$T/fake/src/serve" "$T/objs/x/src/serve"
  printf 'void serve_top_thing(void) {}\n' > "$T/fake/src/serve/serve.c"
  printf 'void serve_top_thing(void);\nvoid queue_run(void)\n{\n    serve_top_thing();\n}\n' \
    > "$T/fake/src/serve/queue.c"
  printf 'void queue_run(void);\nvoid serve_run_it(void)\n{\n    queue_run();\n}\n' \
    > "$T/fake/src/serve/status.c"
  for f in serve queue status; do
    cc -c -o "$T/objs/x/src/serve/$f.c.o" "$T/fake/src/serve/$f.c"
  done
  if out=$("$check" "$T/fake" --objects "$T/objs" 2>&1); then
    bad "upward call passed"
  else
    case "$out" in
      *"src/serve/queue.c:4: rooms:"*serve_top_thing*) ok ;;
      *) bad "upward call not named: $out" ;;
    esac
    case "$out" in *status.c*) bad "downward call reported: $out" ;; *) ok ;; esac
  fi
else
  echo "check_layers: no cc or nm: the object check is not tested"
fi

# the repository itself
if out=$("$check" "$src" 2>&1); then ok; else bad "the tree breaks the layer rule: $out"; fi
if [ -n "${HERALD_BUILD_DIR:-}" ]; then
  if out=$("$check" "$src" --objects "$HERALD_BUILD_DIR" 2>&1); then ok
  else bad "the build's objects break the room rule: $out"; fi
fi
echo "check_layers: $passed passed, $failed failed"
[ "$failed" = 0 ]
