#!/usr/bin/env bash
# shellcheck disable=SC2053,SC2016  # [[ $name == $glob ]] globs on purpose; '$TTL 300' is zone text
# dkim_interop.sh — DKIM interoperability of herald with three independent
# implementations from Debian: dkimpy (python3-dkim), Mail::DKIM
# (libmail-dkim-perl) and OpenDKIM (`opendkim -t`, the milter code in test mode).
#
#   1. herald keygen makes an RSA-2048 and an Ed25519 key for example.org; their
#      records become a zone fixture (herald --dns-zone), a "name value" file
#      (the fake DNS of dkimpy's dnsfunc and of Mail::DKIM::DNS::query) and an
#      OpenDKIM TestPublicKeys file. No resolver and no network are used.
#   2. a deterministic corpus of 12 messages (dkim/dkim_peer.py corpus).
#   3. herald signs every message x 4 canonicalizations x {RSA, Ed25519} x
#      {default headers, an explicit --headers list}; dkimpy, Mail::DKIM (RSA
#      only) and OpenDKIM verify. Also two signatures at once (RSA + Ed25519),
#      and i=/t=/x=.
#   4. dkimpy, Mail::DKIM and OpenDKIM sign (all canonicalizations, both
#      algorithms where the peer has them, several signed-header sets); herald
#      verifies (and the LF form of messages that came as LF files).
#   5. negative cases: tampered body / header, over-signed headers added,
#      whitespace changes under simple and relaxed, revoked key, missing key,
#      DNS timeout; herald's --json reason_code and exit code, and the peers agree.
#
# Peers get the CRLF (SMTP wire) form of every message; herald is also given LF
# files, since it accepts both. Cells left out because the peer cannot do them
# (each checked against the other peers when this test was written):
#  - Mail::DKIM 1.20230212 has no Ed25519: its cells are rsa-sha256 only.
#  - Mail::DKIM, simple body canonicalization of a body without a final CRLF:
#    it does not add the CRLF that RFC 6376 3.4.3 adds, so its body hash
#    differs from dkimpy's and herald's (dkimpy rejects Mail::DKIM's
#    signature too): "no-final-newline" with c=*/simple is left out for it.
#  - OpenDKIM's test mode (opendkim -t) refuses to sign a body without a final
#    CRLF ("CRLF at end of body missing"), and answers "message not signed" for
#    such a message signed with c=*/relaxed (by any signer: herald, dkimpy,
#    Mail::DKIM): "no-final-newline" is left out of OpenDKIM's signing, and of
#    its verifying with a relaxed body.
#  - opendkim -t rebuilds header fields from the parsed name and value, so the
#    odd whitespace after "From:" etc. changes and c=simple/* header hashes
#    disagree ("whitespace" message; dkimpy agrees with herald): left out for
#    OpenDKIM with simple header canonicalization.
#  - OpenDKIM's ed25519-sha256 signatures with c=simple/* fail its own
#    verification (and dkimpy's): OpenDKIM-signed ed25519 simple/* is left out.
#  - OpenDKIM's test mode reports one signature per message, so the
#    two-signature messages are judged by dkimpy, Mail::DKIM (RSA) and herald.
#  - dkimpy refuses to sign Received ("SHOULD NOT be signed"); its header sets
#    leave Received out (herald's --headers list and Mail::DKIM's sign it).
#
# env: HERALD (the herald binary, required), KEEP_TMP=1 keeps the work folder.
# Prints "<direction> <alg>: P/T pass" per cell and ends with "N passed, M failed".
set -euo pipefail
shopt -s extglob

HERALD=${HERALD:?set HERALD to the herald binary}
[[ $HERALD == /* ]] || HERALD=$(cd "$(dirname "$HERALD")" && pwd)/$(basename "$HERALD")   # we cd below
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3   # Debian's python: the one with python3-dkim and python3-nacl
TOOL=("$PY" "$HERE/dkim/dkim_peer.py")
PL=(perl "$HERE/dkim/mail_dkim.pl")
ODK=/usr/sbin/opendkim

for need in "$HERALD" "$PY" "$ODK"; do
  [ -x "$need" ] || { echo "dkim_interop: $need is missing (install the peers: scripts/install-deps.sh --test)" >&2; exit 1; }
done
"$PY" -c 'import dkim, nacl' || { echo "dkim_interop: $PY lacks python3-dkim / python3-nacl" >&2; exit 1; }
perl -MMail::DKIM::Verifier -e 1 || { echo "dkim_interop: Mail::DKIM (libmail-dkim-perl) is missing" >&2; exit 1; }

# an unexpected error (not a failed check) still ends with the closing line
trap 'echo "dkim_interop: unexpected error at line $LINENO: $BASH_COMMAND" >&2; echo "$TOTAL_PASS passed, $((TOTAL_FAIL + 1)) failed"' ERR
TOTAL_PASS=0 TOTAL_FAIL=0
T=$(mktemp -d "${TMPDIR:-/tmp}/dkim-interop.XXXXXX")
cleanup() { if [ "${KEEP_TMP:-0}" = 1 ]; then echo "work folder kept: $T"; else rm -rf "$T"; fi; }
trap cleanup EXIT
cd "$T"
START=$SECONDS

# ---------------------------------------------------------------- counting
# Every helper prints "pass|fail<TAB>name<TAB>detail" per check; tally counts
# them under a label and compares with the number of checks it expected, so a
# helper that dies half-way shows up as failures, not as fewer checks.
SUMMARY=()
tally() {  # tally LABEL EXPECTED < check-lines
  local label=$1 want=$2 r f d p=0 n=0
  while IFS=$'\t' read -r r f d; do
    n=$((n + 1))
    if [ "$r" = pass ]; then p=$((p + 1)); else
      printf '  FAIL [%s] %s\n        %s\n' "$label" "$f" "${d:-$r}"
    fi
  done
  if [ "$n" -ne "$want" ]; then
    printf '  FAIL [%s] %d checks reported, %d expected (a helper failed; see its stderr above)\n' "$label" "$n" "$want"
    [ "$n" -lt "$want" ] && n=$want
  fi
  TOTAL_PASS=$((TOTAL_PASS + p)); TOTAL_FAIL=$((TOTAL_FAIL + n - p))
  SUMMARY+=("$(printf '%s: %d/%d pass' "$label" "$p" "$n")")
  printf '%s\n' "${SUMMARY[-1]}"
}
check() {  # check LABEL EXPECTED CMD... : run a verifying helper, tally its lines
  local label=$1 want=$2 rc=0; shift 2
  "$@" > "$T/check.out" || rc=$?
  [ "$rc" = 0 ] || echo "  ($label: $1 exited $rc)" >&2
  tally "$label" "$want" < "$T/check.out"
}
say() { printf '# %s\n' "$*"; }
without() {  # without GLOB NAME... : the NAMEs that do not match GLOB (extglob)
  local g=$1 n; shift
  for n in "$@"; do [[ $n == $g ]] || printf '%s\n' "$n"; done
}
# the cells left out (see the head of this file), as globs over file names
# "<msg>__<hcanon>-<bcanon>..." or "<msg>__<Mail::DKIM Method>__..."
MAILDKIM_OUT='no-final-newline__@(relaxed|simple|*-simple)@(__*|.eml)'
ODK_VERIFY_OUT='@(no-final-newline__@(simple|relaxed)-relaxed*|whitespace__simple-*)'
ODK_SIGN_OUT='@(no-final-newline__*|whitespace__simple-*)'
say "left out (peer limits, see the head of $(basename "$0")): Mail::DKIM ed25519 and no-final-newline c=*/simple;" \
  "OpenDKIM no-final-newline signing and c=*/relaxed, whitespace c=simple/*, its own ed25519 c=simple/* signatures"

CANONS=(simple/simple simple/relaxed relaxed/simple relaxed/relaxed)
declare -A SEL=([rsa]=rsa2048 [ed]=ed25519) ALG=([rsa]=rsa-sha256 [ed]=ed25519-sha256)
cn() { echo "${1/\//-}"; }   # relaxed/simple -> relaxed-simple (for file names)

# ---------------------------------------------------------------- 1. keys
say "keys: herald dkim keygen (RSA-2048, Ed25519) for example.org"
mkdir -p keys
"$HERALD" dkim keygen --domain example.org --selector rsa2048 --algorithm rsa2048 --out "$T/keys" --zone > rsa.zone
"$HERALD" dkim keygen --domain example.org --selector ed25519 --algorithm ed25519 --out "$T/keys" --zone > ed.zone
RSAKEY=$T/keys/rsa2048.private EDKEY=$T/keys/ed25519.private
{ echo "; herald keygen --zone"; echo '$TTL 300'; cat rsa.zone ed.zone; } > zone
"${TOOL[@]}" records zone dns.txt testkeys > records.txt
# dkimpy signs Ed25519 with the raw 32-byte seed (the end of the PKCS#8 DER)
openssl pkey -in "$EDKEY" -outform DER | tail -c 32 | base64 -w0 > ed.seed
for k in rsa ed; do
  key=$T/keys/${SEL[$k]}.private
  mode=$(stat -c %a "$key")
  [ "$mode" = 600 ] && r=pass || r=fail
  printf '%s\t%s\tmode %s (want 600)\n' "$r" "$key" "$mode"
  if [ $k = rsa ]; then pub=$(openssl pkey -in "$key" -pubout -outform DER | base64 -w0)
  else pub=$(openssl pkey -in "$key" -pubout -outform DER | tail -c 32 | base64 -w0); fi
  rec=$(grep "^${SEL[$k]}._domainkey.example.org " dns.txt | cut -d' ' -f2- || true)
  [ -n "$pub" ] && [ "${rec##*p=}" = "$pub" ] && r=pass || r=fail
  printf '%s\t%s\trecord "%s" vs openssl public key %s\n' "$r" "${SEL[$k]}._domainkey.example.org" "$rec" "$pub"
done > keycheck.out
tally "herald keygen (key file mode, record = key)" 4 < keycheck.out

printf 'Mode v\nTestPublicKeys %s\nRequireSafeKeys false\nSyslog no\n' "$T/testkeys" > odk-verify.conf

# ---------------------------------------------------------------- 2. corpus
"${TOOL[@]}" corpus corpus
"${TOOL[@]}" crlf --out wire corpus/*.eml          # the CRLF form, for the peers
mapfile -t MSGS < <(cd corpus && printf '%s\n' *.eml | sed 's/\.eml$//')
LF_MSGS=()
for m in "${MSGS[@]}"; do grep -q $'\r' "corpus/$m.eml" || LF_MSGS+=("$m"); done
NM=${#MSGS[@]}
say "corpus: $NM messages (${LF_MSGS[*]} with LF line ends, the others CRLF): ${MSGS[*]}"

# ---------------------------------------------------------------- 3. herald -> peers
HLIST='from:To:SUBJECT:date:message-id:received:received:cc:x-not-present'
say "herald signs: $NM msgs x ${#CANONS[@]} canonicalizations x {rsa, ed25519} x {default headers, --headers $HLIST}"
mkdir -p h/raw/rsa h/raw/ed h/rsa h/ed
sign_herald() {  # sign_herald OUT MSG ARGS... ; a failure leaves no OUT (so every verifier counts it)
  local o=$1 m=$2; shift 2
  if ! "$HERALD" dkim sign --domain example.org "$@" "corpus/$m.eml" > "$o" 2> "$o.err"; then
    echo "  herald dkim sign $* corpus/$m.eml failed: $(cat "$o.err")" >&2
    rm -f "$o"
  fi
}
hnames() {  # the names of herald's signed files for one algorithm
  local m c hs
  for m in "${MSGS[@]}"; do for c in "${CANONS[@]}"; do for hs in def list; do
    echo "${m}__$(cn "$c")__$hs.eml"
  done; done; done
}
mapfile -t HN < <(hnames)
NH=${#HN[@]}
CHECK_OUT=()
for a in rsa ed; do
  for m in "${MSGS[@]}"; do
    for c in "${CANONS[@]}"; do
      for hs in def list; do
        f=${m}__$(cn "$c")__$hs.eml
        args=(--selector "${SEL[$a]}" --key "$T/keys/${SEL[$a]}.private" --canon "$c")
        [ $hs = list ] && args+=(--headers "$HLIST")
        sign_herald "h/raw/$a/$f" "$m" "${args[@]}"
        CHECK_OUT+=("corpus/$m.eml" "h/raw/$a/$f")
      done
    done
  done
  "${TOOL[@]}" crlf --out "h/$a" "${HN[@]/#/h/raw/$a/}"
done
check "herald sign output (fields in the input's line ends + message unchanged)" $((2 * NH)) \
  "${TOOL[@]}" check-output "${CHECK_OUT[@]}"

for a in rsa ed; do
  check "herald→herald ${ALG[$a]}" "$NH" "${TOOL[@]}" herald-verify --herald "$HERALD" --zone zone "${HN[@]/#/h/raw/$a/}"
  check "herald→dkimpy ${ALG[$a]}" "$NH" "${TOOL[@]}" dkimpy-verify --dns dns.txt "${HN[@]/#/h/$a/}"
  # Mail::DKIM 1.20230212 has no Ed25519: RSA only
  if [ $a = rsa ]; then
    mapfile -t L < <(without "$MAILDKIM_OUT" "${HN[@]}")
    check "herald→Mail::DKIM ${ALG[$a]}" "${#L[@]}" "${PL[@]}" verify --dns dns.txt "${L[@]/#/h/$a/}"
  fi
  mapfile -t L < <(without "$ODK_VERIFY_OUT" "${HN[@]}")
  check "herald→OpenDKIM ${ALG[$a]}" "${#L[@]}" "${TOOL[@]}" odk-verify --conf "$T/odk-verify.conf" --cwd h "${L[@]/#/$a/}"
done

# two signatures at once (RSA + Ed25519); OpenDKIM -t reports one signature per
# message, so it is left out here
mkdir -p dual/raw dual/wire
DN=()
for m in "${MSGS[@]}"; do
  for c in "${CANONS[@]}"; do
    f=${m}__$(cn "$c").eml; DN+=("$f")
    sign_herald "dual/raw/$f" "$m" --canon "$c" --selector rsa2048 --key "$RSAKEY" --selector ed25519 --key "$EDKEY"
  done
done
"${TOOL[@]}" crlf --out dual/wire "${DN[@]/#/dual/raw/}"
check "herald→herald rsa-sha256+ed25519-sha256 (two signatures)" $((2 * ${#DN[@]})) \
  "${TOOL[@]}" herald-verify --herald "$HERALD" --zone zone --sigs 2 "${DN[@]/#/dual/raw/}"
check "herald→dkimpy rsa-sha256+ed25519-sha256 (two signatures)" $((2 * ${#DN[@]})) \
  "${TOOL[@]}" dkimpy-verify --dns dns.txt --sigs 2 "${DN[@]/#/dual/wire/}"
mapfile -t L < <(without "$MAILDKIM_OUT" "${DN[@]}")
check "herald→Mail::DKIM rsa-sha256 of two signatures" "${#L[@]}" \
  "${PL[@]}" verify --dns dns.txt --rsa-only "${L[@]/#/dual/wire/}"

# i= (a subdomain address), t= and x=
mkdir -p opts/raw opts/wire
ON=()
for a in rsa ed; do
  for m in "${MSGS[@]}"; do
    f=${m}__relaxed-relaxed__opts-$a.eml; ON+=("$f")
    sign_herald "opts/raw/$f" "$m" --selector "${SEL[$a]}" --key "$T/keys/${SEL[$a]}.private" \
      --identity alice@news.example.org --timestamp now --expire 3600
  done
done
"${TOOL[@]}" crlf --out opts/wire "${ON[@]/#/opts/raw/}"
check "herald→herald i= t= x=" "${#ON[@]}" "${TOOL[@]}" herald-verify --herald "$HERALD" --zone zone "${ON[@]/#/opts/raw/}"
check "herald→dkimpy i= t= x=" "${#ON[@]}" "${TOOL[@]}" dkimpy-verify --dns dns.txt "${ON[@]/#/opts/wire/}"
mapfile -t ONR < <(printf '%s\n' "${ON[@]}" | grep '__opts-rsa')
check "herald→Mail::DKIM i= t= x= (rsa-sha256)" "${#ONR[@]}" "${PL[@]}" verify --dns dns.txt "${ONR[@]/#/opts/wire/}"
mapfile -t L < <(without "$ODK_VERIFY_OUT" "${ON[@]}")
check "herald→OpenDKIM i= t= x=" "${#L[@]}" "${TOOL[@]}" odk-verify --conf "$T/odk-verify.conf" --cwd opts "${L[@]/#/wire/}"

# ---------------------------------------------------------------- 4. peers -> herald
verify_by_herald() {  # verify_by_herald LABEL DIR NAMES... : the files, and the LF form of LF corpus messages
  local label=$1 dir=$2; shift 2
  check "$label" "$#" "${TOOL[@]}" herald-verify --herald "$HERALD" --zone zone "${@/#/$dir/}"
  local lf=() n m
  for n in "$@"; do for m in "${LF_MSGS[@]}"; do [[ $n == "$m"__* ]] && lf+=("$n"); done; done
  mkdir -p "$dir-lf"
  "${TOOL[@]}" crlf --lf --out "$dir-lf" "${lf[@]/#/$dir/}"
  check "$label, LF form of the LF messages" "${#lf[@]}" "${TOOL[@]}" herald-verify --herald "$HERALD" --zone zone "${lf[@]/#/$dir-lf/}"
}

# dkimpy: every canonicalization, both algorithms, three header sets
declare -A PYH=([def]=- [min]=from:to:subject:date:message-id
  [over]=from:from:subject:subject:to:to:cc:reply-to:mime-version:content-type:x-not-present)
mkdir -p p/dkimpy/rsa p/dkimpy/ed
: > dkimpy.jobs
PN=()
for m in "${MSGS[@]}"; do for c in "${CANONS[@]}"; do for hs in def min over; do
  f=${m}__$(cn "$c")__$hs.eml; PN+=("$f")
  for a in rsa ed; do printf '%s\t%s\t%s\t%s\t%s\n' "wire/$m.eml" "p/dkimpy/$a/$f" "$a" "$c" "${PYH[$hs]}" >> dkimpy.jobs; done
done; done; done
say "dkimpy signs: $NM msgs x ${#CANONS[@]} canonicalizations x {rsa, ed25519} x 3 header sets (default, ${PYH[min]}, ${PYH[over]})"
"${TOOL[@]}" dkimpy-sign --rsa-key "$RSAKEY" --ed-seed ed.seed dkimpy.jobs || echo "  dkimpy-sign exited $?" >&2
for a in rsa ed; do verify_by_herald "dkimpy→herald ${ALG[$a]}" "p/dkimpy/$a" "${PN[@]}"; done

# Mail::DKIM (RSA only, see above): each Method, three header choices
declare -A PLH=([def]=- [hdr]=headers:Received:X-Long-Header:X-Odd
  [ext]='extended:From=+,Subject=+,To=+,Received=*,Cc=1,Date=0')
PLM=(relaxed simple relaxed/relaxed relaxed/simple simple/relaxed simple/simple)
mkdir -p p/mail-dkim
: > mail-dkim.jobs
MN=()
for m in "${MSGS[@]}"; do for c in "${PLM[@]}"; do for hs in def hdr ext; do
  f=${m}__$(cn "$c")__$hs.eml
  [[ $f == $MAILDKIM_OUT ]] && continue
  MN+=("$f")
  printf '%s\t%s\t%s\t%s\n' "wire/$m.eml" "p/mail-dkim/$f" "$c" "${PLH[$hs]}" >> mail-dkim.jobs
done; done; done
say "Mail::DKIM signs: $NM msgs x Method {${PLM[*]}} x {default, Headers ${PLH[hdr]#headers:}, extended_headers ${PLH[ext]#extended:}}"
"${PL[@]}" sign --key "$RSAKEY" mail-dkim.jobs || echo "  mail_dkim.pl sign exited $?" >&2
verify_by_herald "Mail::DKIM→herald rsa-sha256" p/mail-dkim "${MN[@]}"

# OpenDKIM test mode: Mode s, each canonicalization and algorithm; plus a
# SignHeaders / OversignHeaders variant
say "OpenDKIM (opendkim -t, Mode s) signs: $NM msgs x ${#CANONS[@]} canonicalizations x {rsa, ed25519}, + SignHeaders/OversignHeaders relaxed/relaxed"
mkdir -p p/opendkim/rsa p/opendkim/ed
for a in rsa ed; do
  names=()
  for v in "${CANONS[@]}" over; do
    c=$v; [ "$v" = over ] && c=relaxed/relaxed
    [ $a = ed ] && [[ $c == simple/* ]] && continue   # OpenDKIM's own ed25519 c=simple/* fail (see the head)
    conf=$T/odk-sign-$a-$(cn "$v").conf
    {
      printf 'Mode s\nDomain example.org\nSelector %s\nKeyFile %s\nSignatureAlgorithm %s\n' "${SEL[$a]}" "$T/keys/${SEL[$a]}.private" "${ALG[$a]}"
      printf 'Canonicalization %s\nRequireSafeKeys false\nSyslog no\n' "$c"
      [ "$v" = over ] && printf 'SignHeaders From,To,Cc,Subject,Date,Message-ID,Received,X-Odd\nOversignHeaders From,Subject,To\n'
    } > "$conf"
    mkdir -p "p/odk-tmp/$a-$(cn "$v")"
    mapfile -t L < <(for m in "${MSGS[@]}"; do [[ ${m}__$(cn "$v") == $ODK_SIGN_OUT ]] || echo "$m"; done)
    (cd wire && "${TOOL[@]}" odk-sign --conf "$conf" --out "$T/p/odk-tmp/$a-$(cn "$v")" "${L[@]/%/.eml}") ||
      echo "  odk-sign $conf exited $?" >&2
    for m in "${L[@]}"; do
      f=${m}__$(cn "$v").eml; names+=("$f")
      [ -f "p/odk-tmp/$a-$(cn "$v")/$m.eml" ] && mv "p/odk-tmp/$a-$(cn "$v")/$m.eml" "p/opendkim/$a/$f"
    done
  done
  verify_by_herald "OpenDKIM→herald ${ALG[$a]}" "p/opendkim/$a" "${names[@]}"
done

# ---------------------------------------------------------------- 5. negative cases
# Base: herald's signatures of "plain" (CRLF) under relaxed/relaxed and simple/simple.
say "negative cases: tampered messages, whitespace under simple vs relaxed, revoked / missing key, DNS timeout"
mkdir -p neg
declare -A WANT BASE   # file -> expected herald result[:reason_code]; the signed file it was made from
for a in rsa ed; do
  for c in relaxed-relaxed simple-simple; do
    s=h/raw/$a/plain__${c}__def.eml; b=neg/${a}__$c
    [ -f "$s" ] || { echo "  (negative cases: $s is missing, herald could not sign it)" >&2; continue; }
    sed 's/^this is a plain test message\./this is a tampered test message./' "$s" > "$b-body.eml"
    for x in body subject add-to add-from add-subject ws-body ws-header; do BASE[$b-$x.eml]=$s; done
    WANT[$b-body.eml]=fail:body_hash_mismatch
    sed 's/^Subject: Plain message/Subject: Plain massage/' "$s" > "$b-subject.eml"
    WANT[$b-subject.eml]=fail:signature_mismatch
    # over-signed fields (h= lists From, To and Subject once more than present): one more
    # instance added on top must break the signature
    { printf 'To: Mallory <mallory@example.net>\r\n'; cat "$s"; } > "$b-add-to.eml"
    { printf 'From: Mallory <mallory@example.net>\r\n'; cat "$s"; } > "$b-add-from.eml"
    { printf 'Subject: Pay this invoice\r\n'; cat "$s"; } > "$b-add-subject.eml"
    WANT[$b-add-to.eml]=fail:signature_mismatch
    WANT[$b-add-from.eml]=fail:signature_mismatch
    WANT[$b-add-subject.eml]=fail:signature_mismatch
    # whitespace: relaxed ignores it, simple does not
    { sed $'s/^this is a plain test message\\./this  is a plain\ttest message.  \t/' "$s"; printf '\r\n\r\n'; } > "$b-ws-body.eml"
    sed $'s/^Subject: Plain message/Subject:   Plain \t message  /' "$s" > "$b-ws-header.eml"
    if [ $c = relaxed-relaxed ]; then
      WANT[$b-ws-body.eml]=pass WANT[$b-ws-header.eml]=pass
    else
      WANT[$b-ws-body.eml]=fail:body_hash_mismatch WANT[$b-ws-header.eml]=fail:signature_mismatch
    fi
  done
done
mapfile -t NEGF < <(printf '%s\n' "${!WANT[@]}" | sort)
mapfile -t NEG_FAIL < <(for f in "${NEGF[@]}"; do [ "${WANT[$f]}" != pass ] && echo "$f"; done)
mapfile -t NEG_PASS < <(for f in "${NEGF[@]}"; do [ "${WANT[$f]}" = pass ] && echo "$f"; done)
herald_want() {  # one herald-verify run per file, each with its own expectation
  local f
  for f in "${NEGF[@]}"; do
    if cmp -s "$f" "${BASE[$f]}"; then printf 'fail\t%s\tthe change was not made (sed did not match)\n' "$f"; continue; fi
    "${TOOL[@]}" herald-verify --herald "$HERALD" --zone zone --want "${WANT[$f]}" "$f"
  done
}
check "tampered/whitespace→herald (result:reason_code, exit 0/1)" "${#NEGF[@]}" herald_want
check "tampered, or whitespace under simple→dkimpy agrees: fails" "${#NEG_FAIL[@]}" "${TOOL[@]}" dkimpy-verify --dns dns.txt --expect fail "${NEG_FAIL[@]}"
check "whitespace under relaxed→dkimpy agrees: passes" "${#NEG_PASS[@]}" "${TOOL[@]}" dkimpy-verify --dns dns.txt "${NEG_PASS[@]}"
mapfile -t NEG_FAIL_RSA < <(printf '%s\n' "${NEG_FAIL[@]}" | grep '^neg/rsa__')
mapfile -t NEG_PASS_RSA < <(printf '%s\n' "${NEG_PASS[@]}" | grep '^neg/rsa__')
check "tampered, or whitespace under simple→Mail::DKIM agrees: fails (rsa-sha256)" "${#NEG_FAIL_RSA[@]}" "${PL[@]}" verify --dns dns.txt --expect fail "${NEG_FAIL_RSA[@]}"
check "whitespace under relaxed→Mail::DKIM agrees: passes (rsa-sha256)" "${#NEG_PASS_RSA[@]}" "${PL[@]}" verify --dns dns.txt "${NEG_PASS_RSA[@]}"
check "tampered, or whitespace under simple→OpenDKIM agrees: fails" "${#NEG_FAIL[@]}" "${TOOL[@]}" odk-verify --conf "$T/odk-verify.conf" --expect fail "${NEG_FAIL[@]}"
check "whitespace under relaxed→OpenDKIM agrees: passes" "${#NEG_PASS[@]}" "${TOOL[@]}" odk-verify --conf "$T/odk-verify.conf" "${NEG_PASS[@]}"

# key records: revoked (empty p=), selector absent, DNS timeout on the key's name
{ echo '$TTL 300'
  echo 'rsa2048._domainkey.example.org. IN TXT "v=DKIM1; k=rsa; p="'
  echo 'ed25519._domainkey.example.org. IN TXT "v=DKIM1; k=ed25519; p="'; } > revoked.zone
{ echo '$TTL 300'; echo 'example.org. IN TXT "v=spf1 -all"'; } > nokey.zone
{ echo '$TTL 300'; echo 'example.org. IN TXT "v=spf1 -all"'
  echo 'rsa2048._domainkey.example.org. TIMEOUT'; echo 'ed25519._domainkey.example.org. TIMEOUT'; } > timeout.zone
printf 'rsa2048._domainkey.example.org v=DKIM1; k=rsa; p=\ned25519._domainkey.example.org v=DKIM1; k=ed25519; p=\n' > revoked.dns
printf 'example.org v=spf1 -all\n' > nokey.dns
printf 'rsa2048._domainkey.example.org TIMEOUT\ned25519._domainkey.example.org TIMEOUT\n' > timeout.dns
KF=(h/raw/rsa/plain__relaxed-relaxed__def.eml h/raw/ed/plain__relaxed-relaxed__def.eml)
herald_keys() {
  "${TOOL[@]}" herald-verify --herald "$HERALD" --zone revoked.zone --want permerror:key_revoked "${KF[@]}"
  "${TOOL[@]}" herald-verify --herald "$HERALD" --zone nokey.zone --want permerror:no_key "${KF[@]}"
  "${TOOL[@]}" herald-verify --herald "$HERALD" --zone timeout.zone --want temperror:key_dns_temperror --want-rc 75 "${KF[@]}"
  # no signature at all: exit 2
  "${TOOL[@]}" herald-verify --herald "$HERALD" --zone zone --sigs 0 --want-rc 2 corpus/plain.eml
}
check "key record revoked / absent / DNS timeout, unsigned→herald (result:reason_code, exit 1/75/2)" 7 herald_keys
peer_keys() {
  local k
  for k in revoked nokey timeout; do "${TOOL[@]}" dkimpy-verify --dns $k.dns --expect fail "${KF[@]}"; done
}
check "key record revoked / absent / DNS timeout→dkimpy agrees: fails" 6 peer_keys
pl_keys() {
  local k
  for k in revoked nokey timeout; do "${PL[@]}" verify --dns $k.dns --expect fail "${KF[0]}"; done
}
check "key record revoked / absent / DNS timeout→Mail::DKIM agrees: fails (rsa-sha256)" 3 pl_keys

# ---------------------------------------------------------------- summary
echo
echo "# summary ($((SECONDS - START)) s)"
printf '%s\n' "${SUMMARY[@]}"
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
[ "$TOTAL_FAIL" -eq 0 ]
