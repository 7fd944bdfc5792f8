#!/usr/bin/python3
"""compose-check.py DIR - check messages written by tests/unit/compose_test.c
with Python's email package, an independent MIME parser.

Each subdirectory of DIR is one case: msg.eml and the values it must decode
to, one file each (absent file: not checked):
  subject, text, html, structure, message_id   exact bytes / text
  from, to, cc, reply_to    one "address<TAB>display name" line per mailbox
  hdr.<Name>                a custom field's decoded value
  att.<i>.name|type|cid|disp|data   the i-th attachment (document order)
Every message must parse with no defects, and every line end in CRLF, be
ASCII and at most 998 bytes. Prints each failure; exits 1 if there was one.
"""
import email
import email.header
import email.policy
import email.utils
import os
import sys

failures = []


def fail(case, what):
    failures.append(f"{case}: {what}")


def want(case_dir, name):
    path = os.path.join(case_dir, name)
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return f.read()


def structure(part):
    if part.is_multipart():
        return part.get_content_type() + "(" + ",".join(structure(p) for p in part.iter_parts()) + ")"
    return part.get_content_type()


def legacy_names(raw_value):
    """Display names decoded the RFC 2047 §6.2 way: whitespace between
    adjacent encoded words is dropped (policy.default keeps it in phrases)."""
    out = []
    for name, _ in email.utils.getaddresses([raw_value]):
        out.append(str(email.header.make_header(email.header.decode_header(name))))
    return out


def check_addresses(case, d, msg, raw, field):
    w = want(d, field)
    if w is None:
        return
    lines = [l for l in w.decode("utf-8").split("\n") if l]
    hdr = msg[field.replace("_", "-")]
    got = list(hdr.addresses) if hdr is not None else []
    if len(got) != len(lines):
        fail(case, f"{field}: {len(got)} addresses, want {len(lines)}")
        return
    legacy = legacy_names(raw[field.replace("_", "-")] or "")
    for i, (g, l) in enumerate(zip(got, lines)):
        addr, name = l.split("\t", 1)
        if g.addr_spec != addr:
            fail(case, f"{field}[{i}]: address {g.addr_spec!r}, want {addr!r}")
        if g.display_name != name and (i >= len(legacy) or legacy[i] != name):
            fail(case, f"{field}[{i}]: name {g.display_name!r}, want {name!r}")


def check_lines(case, raw):
    if not raw.endswith(b"\r\n") and raw:
        fail(case, "does not end with CRLF")
    for n, line in enumerate(raw.split(b"\r\n")[:-1], 1):
        if b"\n" in line or b"\r" in line:
            fail(case, f"line {n}: bare CR or LF")
        if len(line) > 998:
            fail(case, f"line {n}: {len(line)} bytes")
        if any(c >= 0x80 for c in line):
            fail(case, f"line {n}: not ASCII")


def check_leaves(case, d, msg):
    text = html = None
    atts = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        if part.get_content_disposition() is None:
            if part.get_content_type() == "text/plain" and text is None:
                text = part.get_content()
            elif part.get_content_type() == "text/html" and html is None:
                html = part.get_content()
            else:
                fail(case, f"unexpected body part {part.get_content_type()}")
        else:
            atts.append(part)
    for name, got in (("text", text), ("html", html)):
        w = want(d, name)
        if w is not None and (got is None or got.encode("utf-8") != w):
            fail(case, f"{name}: got {got!r:.200}, want {w!r:.200}")
    i = 0
    while want(d, f"att.{i}.data") is not None:
        if i >= len(atts):
            fail(case, f"attachment {i} missing")
            break
        p = atts[i]
        data = p.get_content()
        if isinstance(data, str):
            data = p.get_payload(decode=True)
        if data != want(d, f"att.{i}.data"):
            fail(case, f"att {i}: data differs ({len(data)} bytes)")
        legacy_name = p.get_param("name", header="content-type")
        if legacy_name is not None:
            legacy_name = str(email.header.make_header(email.header.decode_header(
                email.utils.collapse_rfc2231_value(legacy_name))))
        checks = (("name", p.get_filename()), ("name", legacy_name), ("type", p.get_content_type()),
                  ("disp", p.get_content_disposition()), ("cid", p.get("content-id")))
        for key, got in checks:
            w = want(d, f"att.{i}.{key}")
            if w is not None and (got or "") != w.decode("utf-8"):
                fail(case, f"att {i}: {key} {got!r}, want {w.decode('utf-8')!r}")
        i += 1
    if i != len(atts):
        fail(case, f"{len(atts)} attachments, want {i}")


def check_case(case, d):
    raw = want(d, "msg.eml")
    check_lines(case, raw)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    compat = email.message_from_bytes(raw, policy=email.policy.compat32)
    for part in msg.walk():
        if part.defects:
            fail(case, f"{part.get_content_type()}: defects {part.defects}")
        for k, v in part.items():
            defects = list(getattr(v, "defects", []))
            if k.lower() == "content-type":
                # name="=?utf-8?...?=": the RFC 2047-in-quotes fallback for
                # readers without RFC 2231, deliberately non-standard
                defects = [d for d in defects if str(d) not in (
                    "encoded word inside quoted string",
                    "missing trailing whitespace after encoded-word")]
            if defects:
                fail(case, f"header {k}: defects {defects}")
    if msg["bcc"] is not None:
        fail(case, "a Bcc field was written")
    if msg["date"] is None or msg["mime-version"] != "1.0":
        fail(case, "no Date or MIME-Version: 1.0")
    for field in ("from", "to", "cc", "reply_to"):
        check_addresses(case, d, msg, compat, field)
    for name in ("subject", "message_id", "structure"):
        w = want(d, name)
        if w is None:
            continue
        got = structure(msg) if name == "structure" else msg[name.replace("_", "-")]
        if got is None or str(got) != w.decode("utf-8"):
            fail(case, f"{name}: got {str(got)!r}, want {w.decode('utf-8')!r}")
    for f in os.listdir(d):
        if f.startswith("hdr."):
            got = msg[f[4:]]
            if got is None or str(got) != want(d, f).decode("utf-8"):
                fail(case, f"{f[4:]}: got {str(got)!r}, want {want(d, f).decode('utf-8')!r}")
    check_leaves(case, d, msg)


def main():
    root = sys.argv[1]
    cases = sorted(os.listdir(root))
    for case in cases:
        check_case(case, os.path.join(root, case))
    for f in failures:
        print(f)
    print(f"compose-check: {len(cases)} cases, {len(failures)} failures")
    sys.exit(1 if failures else 0)


main()
