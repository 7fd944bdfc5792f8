#!/usr/bin/python3
"""receiver.py - a receiving MTA for herald's integration tests (aiosmtpd).

    /usr/bin/python3 receiver.py --listen 127.0.0.2:2526 --spool DIR
        [--tls-cert CERT --tls-key KEY] [--behaviour FILE] [--hostname NAME]
        [--no-pipelining] [--no-8bitmime] [--pid-file F] [--log F] [--journal F]

Every accepted transaction becomes two files in DIR, each written to
DIR/.tmp first and renamed into place (so a reader never sees half a file):

    NNNNNN-<unix-ms>.json   sidecar: mail_from, rcpts, peer, helo, tls,
                            tls_cipher, received_at, received_at_ms, size,
                            mail_options, rcpt_options, transaction
    NNNNNN-<unix-ms>.eml    the message bytes as received (CRLF, unstuffed)

--no-8bitmime leaves 8BITMIME (and SMTPUTF8, which needs it, RFC 6531
§3.1) out of the EHLO reply: a 7-bit-only hop (RFC 6152 §3).

The .json is renamed first, the .eml last: once a .eml is visible, its
sidecar is there too. Only the recipients that were accepted at RCPT are in
"rcpts". "tls" is the protocol version ("TLSv1.3") when STARTTLS was used,
else null.

Behaviours (--behaviour FILE, JSON object): keys are a recipient address,
a domain, or "*"; the most specific key wins (address, then domain, then
"*", then "accept"). Values:

    "accept"            250 at RCPT and at end of DATA
    "reject"            550 5.1.1 at RCPT
    "tempfail N"        451 4.3.0 at RCPT the first N times this address is
                        tried, then accept
    "reject-data"       554 5.6.0 at end of DATA
    "tempfail-data N"   451 4.3.0 at end of DATA the first N transactions
                        carrying this address, then accept
    "delay-data S"      wait S seconds (a float) before answering end of DATA
    "busy N"            421 4.7.0 at RCPT the first N times this address is
                        tried, and the connection is closed (a receiver that
                        is overloaded or rate-limits the sender), then accept
    "rcpt-reply TEXT"   TEXT (a 4xx or 5xx reply, e.g. "550 5.7.1 blocked")
                        at RCPT, every time
    "data-reply TEXT"   TEXT at end of DATA, every time (beats reject-data)

The special key ":greeting" takes "busy N" (or "accept"): the first N
connections get a 421 4.7.0 greeting instead of 220 and are closed.

Counters are per recipient address (lower case). The file is re-read when
its mtime changes; counters start again from zero then. A transaction with
several recipients gets one DATA answer: reject-data beats tempfail-data
beats accept.

Every RCPT and DATA answer (and a busy greeting, stage "greeting") is also
appended to the journal (--journal, JSON lines: {"at_ms","stage",
"rcpt"|"rcpts","code","reply","peer"}) so a
test can count attempts. Log lines go to --log. SIGTERM or SIGINT stops
the server; the PID file is removed on the way out.
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP


def parse_endpoint(text):
    """'127.0.0.2:2526' or '[::1]:2526' -> (host, port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":")
    else:
        host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("want HOST:PORT, got %r" % text)
    return host, int(port)


def parse_behaviour(key, value):
    """'tempfail 2' -> ('tempfail', 2.0). Raises ValueError on a bad one."""
    words = str(value).split()
    if not words:
        raise ValueError("%s: empty behaviour" % key)
    action = words[0]
    if action in ("rcpt-reply", "data-reply") and len(words) >= 2:
        reply = str(value).split(None, 1)[1]
        if not (reply[:3].isdigit() and reply[0] in "45"):
            raise ValueError("%s: %s wants a 4xx or 5xx reply, got %r" % (key, action, reply))
        return action, reply
    takes_arg = {"tempfail", "tempfail-data", "delay-data", "busy"}
    if action in ("accept", "reject", "reject-data") and len(words) == 1:
        return action, 0.0
    if action in takes_arg and len(words) == 2:
        arg = float(words[1])
        if arg < 0:
            raise ValueError("%s: negative argument in %r" % (key, value))
        return action, arg
    raise ValueError("%s: unknown behaviour %r" % (key, value))


class Behaviours:
    """The behaviour table, re-read when the file changes."""

    def __init__(self, path):
        self.path = path
        self.mtime = None
        self.table = {}
        self.counts = {}
        self.reload()

    def reload(self):
        if not self.path:
            return
        st = os.stat(self.path)
        if st.st_mtime_ns == self.mtime:
            return
        with open(self.path, encoding="utf-8") as f:
            raw = json.load(f)
        if not isinstance(raw, dict):
            raise ValueError("%s: want a JSON object" % self.path)
        table = {k.lower(): parse_behaviour(k, v) for k, v in raw.items()}
        greeting = table.get(":greeting", ("accept", 0.0))
        if greeting[0] not in ("accept", "busy"):
            raise ValueError(":greeting: unknown behaviour %r (busy N or accept)" % raw[":greeting"])
        self.table = table
        self.counts = {}
        self.mtime = st.st_mtime_ns
        logging.info("behaviours from %s: %s", self.path, self.table)

    def greeting_busy(self):
        """True when this connection is to get a 421 greeting."""
        action, arg = self.table.get(":greeting", ("accept", 0.0))
        return action == "busy" and self.bump(":greeting", "greeting") <= arg

    def lookup(self, rcpt):
        addr = rcpt.lower()
        domain = addr.rpartition("@")[2]
        for key in (addr, domain, "*"):
            if key in self.table:
                return self.table[key]
        return "accept", 0.0

    def bump(self, rcpt, stage):
        key = (rcpt.lower(), stage)
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key]


class Receiver:
    """aiosmtpd handler: answers RCPT and DATA per behaviour, spools mail."""

    def __init__(self, spool, behaviours, journal, pipelining=True, eightbitmime=True):
        self.pipelining = pipelining
        self.eightbitmime = eightbitmime
        self.spool = spool
        self.tmp = os.path.join(spool, ".tmp")
        os.makedirs(self.tmp, exist_ok=True)
        self.behaviours = behaviours
        self.journal = journal
        self.seq = 0

    def note(self, stage, session, code_reply, **what):
        code = int(code_reply[:3])
        rec = {"at_ms": int(time.time() * 1000), "stage": stage, "code": code,
               "reply": code_reply, "peer": list(session.peer[:2])}
        rec.update(what)
        logging.info("%s %s -> %s", stage, what, code_reply)
        if self.journal:
            self.journal.write(json.dumps(rec) + "\n")
            self.journal.flush()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # aiosmtpd reads commands from a stream, so pipelined ones work;
        # announce it (RFC 2920) so clients take that path too
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        if not self.eightbitmime:
            responses = [r for r in responses if r[4:] not in ("8BITMIME", "SMTPUTF8")]
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        try:
            self.behaviours.reload()
        except (OSError, ValueError) as e:
            logging.error("behaviour file: %s (keeping the old table)", e)
        action, arg = self.behaviours.lookup(address)
        if action == "reject":
            reply = "550 5.1.1 <%s>: recipient rejected (test behaviour)" % address
        elif action == "rcpt-reply":
            reply = arg
        elif action == "tempfail" and self.behaviours.bump(address, "rcpt") <= arg:
            reply = "451 4.3.0 <%s>: try again later (test behaviour)" % address
        elif action == "busy" and self.behaviours.bump(address, "rcpt") <= arg:
            reply = "421 4.7.0 %s busy, closing connection (test behaviour)" % server.hostname
        else:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
            reply = "250 2.1.5 OK"
        self.note("rcpt", session, reply, rcpt=address)
        return reply

    def data_verdict(self, rcpts):
        verdict = "accept"
        delay = 0.0
        for rcpt in rcpts:
            action, arg = self.behaviours.lookup(rcpt)
            if action == "data-reply":
                return arg, delay
            if action == "reject-data":
                verdict = "reject-data"
            elif action == "tempfail-data":
                if self.behaviours.bump(rcpt, "data") <= arg and verdict == "accept":
                    verdict = "tempfail-data"
            elif action == "delay-data":
                delay = max(delay, arg)
        return verdict, delay

    async def handle_DATA(self, server, session, envelope):
        verdict, delay = self.data_verdict(envelope.rcpt_tos)
        if delay:
            await asyncio.sleep(delay)
        if verdict[:1] in ("4", "5"):       # a data-reply's own text
            reply = verdict
        elif verdict == "reject-data":
            reply = "554 5.6.0 message rejected (test behaviour)"
        elif verdict == "tempfail-data":
            reply = "451 4.3.0 message deferred (test behaviour)"
        else:
            name = self.store(session, envelope)
            reply = "250 2.0.0 OK queued as %s" % name
        self.note("data", session, reply, rcpts=list(envelope.rcpt_tos))
        return reply

    def store(self, session, envelope):
        self.seq += 1
        now = time.time()
        name = "%06d-%d" % (self.seq, int(now * 1000))
        data = envelope.original_content or envelope.content or b""
        tls = cipher = None
        if session.ssl:
            obj = session.ssl.get("ssl_object")
            if obj is not None:
                tls = obj.version()
                cipher = (obj.cipher() or (None,))[0]
        side = {
            "transaction": name,
            "mail_from": envelope.mail_from,
            "rcpts": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            "rcpt_options": list(envelope.rcpt_options),
            "peer": list(session.peer[:2]),
            "helo": session.host_name,
            "tls": tls,
            "tls_cipher": cipher,
            "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "received_at_ms": int(now * 1000),
            "size": len(data),
        }
        self.put(name + ".json", json.dumps(side, indent=1).encode() + b"\n")
        self.put(name + ".eml", data)
        return name

    def put(self, name, data):
        """Write tmp, fsync, rename: the file appears whole or not at all."""
        tmp = os.path.join(self.tmp, name)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.spool, name))


class TestSMTP(SMTP):
    """aiosmtpd's SMTP with the busy behaviours: a 421 reply (at RCPT, or
    instead of the greeting) closes the connection, as RFC 5321 §3.8 has
    a server that must shut down do."""

    def __init__(self, handler, *args, **kwargs):
        super().__init__(handler, *args, **kwargs)
        self._greeted = False

    async def push(self, status):
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
        if not self._greeted:
            self._greeted = True
            try:
                self.event_handler.behaviours.reload()
            except (OSError, ValueError) as e:
                logging.error("behaviour file: %s (keeping the old table)", e)
            if text.startswith("220") and self.event_handler.behaviours.greeting_busy():
                text = "421 4.7.0 %s busy, try again later (test behaviour)" % self.hostname
                self.event_handler.note("greeting", self.session, text)
        await super().push(text)
        if text.startswith("421"):
            # as smtp_QUIT does: end the command loop, close the connection
            self._handler_coroutine.cancel()
            self.transport.close()


def tls_context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


async def serve(args):
    behaviours = Behaviours(args.behaviour)
    journal = open(args.journal, "a", encoding="utf-8") if args.journal else None
    handler = Receiver(args.spool, behaviours, journal, not args.no_pipelining,
                       not args.no_8bitmime)
    ctx = tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    loop = asyncio.get_running_loop()

    def factory():
        return TestSMTP(handler, hostname=args.hostname, tls_context=ctx,
                    data_size_limit=args.max_size, enable_SMTPUTF8=True,
                    decode_data=False, ident="herald-test-receiver",
                    timeout=args.timeout, loop=loop)

    host, port = args.listen
    server = await loop.create_server(factory, host=host, port=port,
                                      reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with open(args.pid_file + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(args.pid_file + ".tmp", args.pid_file)
    logging.info("listening on %s:%d%s, spool %s", host, port,
                 " (STARTTLS)" if ctx else "", args.spool)
    await stop.wait()
    logging.info("stopping")
    server.close()
    await server.wait_closed()
    if journal:
        journal.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", required=True, type=parse_endpoint, metavar="HOST:PORT")
    ap.add_argument("--spool", required=True, metavar="DIR")
    ap.add_argument("--tls-cert", metavar="PEM")
    ap.add_argument("--tls-key", metavar="PEM")
    ap.add_argument("--behaviour", metavar="FILE", help="JSON behaviour table")
    ap.add_argument("--hostname", default="mx.receiver.test")
    ap.add_argument("--no-pipelining", action="store_true", help="do not announce PIPELINING")
    ap.add_argument("--no-8bitmime", action="store_true",
                    help="do not announce 8BITMIME (nor SMTPUTF8)")
    ap.add_argument("--max-size", type=int, default=64 << 20, help="DATA size limit, bytes")
    ap.add_argument("--timeout", type=float, default=60, help="idle timeout, seconds")
    ap.add_argument("--pid-file", help="default: SPOOL.pid")
    ap.add_argument("--log", help="default: SPOOL.log")
    ap.add_argument("--journal", help="default: SPOOL.journal")
    args = ap.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    args.spool = os.path.abspath(args.spool)
    os.makedirs(args.spool, exist_ok=True)
    args.pid_file = args.pid_file or args.spool + ".pid"
    args.log = args.log or args.spool + ".log"
    args.journal = args.journal or args.spool + ".journal"
    logging.basicConfig(filename=args.log, level=logging.INFO,
                        format="%(asctime)s receiver[%(process)d] %(message)s")
    try:
        Behaviours(args.behaviour)  # fail at start, not at the first RCPT
        asyncio.run(serve(args))
    except (OSError, ValueError) as e:
        logging.error("%s", e)
        print("receiver.py: %s" % e, file=sys.stderr)
        return 1
    finally:
        if os.path.exists(args.pid_file):
            try:
                with open(args.pid_file) as f:
                    if f.read().strip() == str(os.getpid()):
                        os.unlink(args.pid_file)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
