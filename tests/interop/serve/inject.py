#!/usr/bin/python3
"""inject.py - hand one message to herald's inbound listener, as a remote
MTA returning a bounce or a report would, and print what herald answered.

    inject.py PORT MAIL_FROM RCPT[,RCPT...] FILE [OLD=NEW ...]

FILE's bytes (line ends made CRLF) with each OLD replaced by NEW (the
samples in tests/data carry placeholder VERP addresses and Message-IDs).
FILE "-" sends nothing (the RCPT answers only). Output, one line each:

    rcpt <address> <code> <reply text>
    data <code> <reply text>          (only when a recipient was taken)
    ehlo-auth yes|no                  (whether AUTH was offered)
"""
import smtplib
import sys


def main():
    port, mail_from, rcpts, path = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(","), sys.argv[4]
    data = b""
    if path != "-":
        data = open(path, "rb").read()
        for pair in sys.argv[5:]:
            old, new = pair.split("=", 1)
            data = data.replace(old.encode(), new.encode())
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    s.ehlo("mta.remote.test")
    print("ehlo-auth", "yes" if s.has_extn("auth") else "no")
    s.mail(mail_from)
    taken = 0
    for r in rcpts:
        try:
            code, text = s.rcpt(r)
        except smtplib.SMTPServerDisconnected:
            print("rcpt", r, "closed", "-")
            return
        print("rcpt", r, code, text.decode(errors="replace"))
        taken += code == 250
    if taken and path != "-":
        code, text = s.data(data)
        print("data", code, text.decode(errors="replace"))
    try:
        s.quit()
    except smtplib.SMTPServerDisconnected:
        pass


main()
