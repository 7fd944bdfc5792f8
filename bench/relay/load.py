#!/usr/bin/python3
"""load.py - measuring helpers for bench/relay.sh (run with /usr/bin/python3).

  run      drive one load: smtp-source against 127.0.0.1:PORT, watch the
           smtp-sink counter file (smtp-sink -c) until N more messages have
           arrived; sample the memory of the given process trees. Prints
           one JSON object.
  pflat    accept-to-delivery latency from a Postfix log (delay= of the
           status=sent lines after a byte offset).
  hlat     the same from `herald events --json` output (delivered at
           minus accepted at, per message and recipient).
  idle     open N idle SMTP sessions (banner + EHLO) to 127.0.0.1:PORT and
           read a process's VmRSS before, with them open, and after.
  dkimcheck  count DKIM-Signature fields in smtp-sink dump files and verify
           them with dkimpy against TXT records from a zone file.
  speed    parse `openssl speed -mr rsa2048` output: sign/s verify/s.
  quiet    wait (bounded) until the machine is mostly idle.
  summary  medians over the runs bench/relay.sh left in a directory:
           RESULT lines and the table.

Every wait has a deadline. Nothing here listens or connects off 127.0.0.1.
"""

import argparse
import asyncio
import calendar
import json
import os
import re
import resource
import subprocess
import sys
import time


def now():
    return time.monotonic()


def cpu_busy():
    """Busy CPU-seconds of the whole machine (user+nice+system+irq+softirq)."""
    with open("/proc/stat") as f:
        v = f.readline().split()[1:]
    hz = os.sysconf("SC_CLK_TCK")
    return (int(v[0]) + int(v[1]) + int(v[2]) + int(v[5]) + int(v[6])) / hz


def sink_count(path):
    """Last mesg=N of smtp-sink -c output (records end in \\r)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256))
            tail = f.read()
    except OSError:
        return 0
    m = re.findall(rb"mesg=(\d+)", tail)
    return int(m[-1]) if m else 0


def status_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree(roots):
    """roots and all their descendants (from /proc/*/stat ppid)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.add(p)
        todo.extend(children.get(p, []))
    return out


def cpu_ticks(pid):
    """utime+stime of pid and of its reaped children (cutime+cstime)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return 0
    v = st[st.rindex(")") + 2:].split()
    return int(v[11]) + int(v[12]) + int(v[13]) + int(v[14])


def tree_cpu(roots):
    """CPU-seconds so far of the trees under roots, reaped children included."""
    return sum(cpu_ticks(p) for p in tree(roots)) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    """CPU of this process (the measuring loop) and of its reaped children
    (smtp-source)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


def mem_sample(roots):
    pids = tree(roots)
    rss = sum(status_kb(p, "VmRSS") for p in pids)
    pss = sum(pss_kb(p) for p in pids)
    return rss, pss, len(pids)


def cmd_run(a):
    roots = [int(p) for p in a.rss_pids.split(",") if p] if a.rss_pids else []
    base = sink_count(a.counter)
    target = base + a.n
    src_cmd = ["/usr/sbin/smtp-source", "-s", str(a.sessions), "-m", str(a.n),
               "-l", str(a.size), "-f", a.mail_from, "-t", a.rcpt,
               "-S", "relay bench", "-M", "client.bench.invalid",
               "127.0.0.1:%d" % a.port]
    tools = [int(p) for p in a.tool_pids.split(",") if p] if a.tool_pids else []
    load0 = open("/proc/loadavg").read().split()[0]
    c0 = cpu_busy()
    r0 = tree_cpu(roots) if roots else 0
    k0 = tree_cpu(tools) + children_cpu()
    t0 = now()
    src = subprocess.Popen(src_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t_acc = t_del = None
    peak_rss = peak_pss = nproc = 0
    next_mem = t0
    deadline = t0 + a.timeout
    while True:
        t = now()
        if t_acc is None and src.poll() is not None:
            t_acc = t
        if t_del is None and sink_count(a.counter) >= target:
            t_del = t
        if roots and t >= next_mem:
            rss, pss, n = mem_sample(roots)
            peak_rss, peak_pss, nproc = max(peak_rss, rss), max(peak_pss, pss), max(nproc, n)
            next_mem = t + a.mem_interval
        if t_acc is not None and t_del is not None:
            break
        if t > deadline:
            break
        time.sleep(0.005)
    c1 = cpu_busy()
    r1 = tree_cpu(roots) if roots else 0
    wall = now() - t0
    if src.poll() is None:
        src.kill()
    err = src.communicate()[1].decode(errors="replace").strip()
    k1 = tree_cpu(tools) + children_cpu()   # smtp-source is reaped by now; our own loop too
    got = sink_count(a.counter) - base
    res = {
        "n": a.n, "size": a.size, "sessions": a.sessions,
        "ok": t_acc is not None and t_del is not None and src.returncode == 0,
        "delivered": got,
        "source_rc": src.returncode,
        "accepted_s": round((t_acc or now()) - t0, 3),
        "delivered_s": round((t_del or now()) - t0, 3),
        "cpu_s_per_1000": round((c1 - c0) * 1000 / a.n, 2),
        "relay_cpu_s_per_1000": round((r1 - r0) * 1000 / a.n, 2) if roots else None,
        "tools_cpu_s_per_1000": round((k1 - k0) * 1000 / a.n, 2),
        # busy CPU of everything else on the machine during the run, as a
        # share of both cores: the noise from other work
        "others_cpu_share": round(max(0.0, (c1 - c0) - (r1 - r0) - (k1 - k0)) / (wall * os.cpu_count()), 3),
        "loadavg_before": load0,
        "peak_rss_kb": peak_rss, "peak_pss_kb": peak_pss, "procs": nproc,
    }
    res["accepted_per_s"] = round(a.n / res["accepted_s"], 1)
    res["delivered_per_s"] = round(a.n / res["delivered_s"], 1) if t_del else 0
    if err:
        res["source_stderr"] = err[-300:]
    print(json.dumps(res))


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    k = max(1, -(-len(v) * p // 100))
    return v[int(k) - 1]


def print_lat(ms, extra):
    out = {"n_lat": len(ms)}
    if ms:
        out.update(p50_ms=round(pct(ms, 50), 1), p99_ms=round(pct(ms, 99), 1),
                   max_ms=round(max(ms), 1))
    out.update(extra)
    print(json.dumps(out))


def cmd_pflat(a):
    ms, deferred = [], 0
    with open(a.log, "rb") as f:
        f.seek(a.offset)
        for raw in f:
            line = raw.decode(errors="replace")
            if " postfix/" not in line or "/smtp[" not in line:
                continue
            m = re.search(r" delay=([0-9.]+),.* status=(\w+)", line)
            if not m:
                continue
            if m.group(2) == "sent":
                ms.append(float(m.group(1)) * 1000)
            elif m.group(2) == "deferred":
                deferred += 1
    print_lat(ms, {"deferred": deferred})


def at_ms(ev):
    """An event's "at" (RFC 3339 UTC with milliseconds, docs/webhooks.md) in ms."""
    at = ev["at"]
    secs = calendar.timegm(time.strptime(at[:19], "%Y-%m-%dT%H:%M:%S"))
    frac = at[19:].rstrip("Z")
    return secs * 1000 + (int((frac[1:] + "000")[:3]) if frac.startswith(".") else 0)


def cmd_hlat(a):
    accepted, delivered, counts = {}, [], {}
    with open(a.events) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            ev = json.loads(line)
            typ = ev.get("type")
            counts[typ] = counts.get(typ, 0) + 1
            key = (ev.get("message"), ev.get("recipient"))
            if typ == "accepted":
                accepted[key] = at_ms(ev)
            elif typ == "delivered":
                delivered.append((key, at_ms(ev)))
    ms = []
    for (msg, rcpt), at in delivered:
        t = accepted.get((msg, rcpt), accepted.get((msg, None)))
        if t is not None:
            ms.append(at - t)
    print_lat(ms, {"events": counts, "unmatched": len(delivered) - len(ms)})


async def idle_sessions(a):
    conns, failed = [], 0

    async def one():
        r, w = await asyncio.open_connection("127.0.0.1", a.port)
        line = await r.readline()
        if not line.startswith(b"220"):
            raise ConnectionError("banner %r" % line)
        w.write(b"EHLO idle.bench.invalid\r\n")
        await w.drain()
        while True:
            line = await r.readline()
            if not line.startswith(b"250"):
                raise ConnectionError("EHLO answer %r" % line)
            if line[3:4] == b" ":
                break
        return r, w

    t0 = now()
    for start in range(0, a.n, a.batch):
        batch = [asyncio.wait_for(one(), a.timeout)
                 for _ in range(start, min(a.n, start + a.batch))]
        for res in await asyncio.gather(*batch, return_exceptions=True):
            if isinstance(res, Exception):
                failed += 1
                if failed <= 3:
                    print("idle: session failed: %r" % res, file=sys.stderr)
            else:
                conns.append(res)
    t_open = now() - t0
    await asyncio.sleep(a.hold)
    alive = sum(1 for r, w in conns if not r.at_eof())
    rss = status_kb(a.pid, "VmRSS")
    hwm = status_kb(a.pid, "VmHWM")
    for r, w in conns:
        w.close()
    for r, w in conns:
        try:
            await w.wait_closed()
        except (ConnectionError, OSError):
            pass
    return len(conns), failed, alive, rss, hwm, t_open


def cmd_idle(a):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.n + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(want, soft), hard), hard))
    before = status_kb(a.pid, "VmRSS")
    opened, failed, alive, rss, hwm, t_open = asyncio.run(idle_sessions(a))
    time.sleep(0.5)
    after = status_kb(a.pid, "VmRSS")
    per = (rss - before) / opened if opened else 0
    print(json.dumps({"sessions": a.n, "opened": opened, "failed": failed,
                      "alive_after_hold": alive, "open_s": round(t_open, 2),
                      "rss_before_kb": before, "rss_with_sessions_kb": rss,
                      "rss_after_close_kb": after, "hwm_kb": hwm,
                      "kb_per_session": round(per, 1)}))


def zone_txt(path):
    """name -> TXT bytes (strings concatenated) from zone-file lines."""
    table = {}
    with open(path) as f:
        for line in f:
            m = re.match(r'\s*(\S+)\s+(?:\d+\s+)?(?:IN\s+)?TXT\s+(.*)$', line, re.I)
            if m:
                strings = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
                table[m.group(1).lower().rstrip(".")] = "".join(strings).encode()
    return table


def cmd_dkimcheck(a):
    import dkim
    table = zone_txt(a.zone)

    def dnsfunc(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        return table.get(n.lower().rstrip("."))

    files = sorted(os.path.join(a.dir, f) for f in os.listdir(a.dir))
    signed = verified = 0
    for path in files:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        # drop smtp-sink's envelope lines (X-Client-Addr: ...) and its own
        # Received field (added after signing), then back to CRLF
        keep, i = [], 0
        while i < len(lines) and re.match(rb"X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args):", lines[i]):
            i += 1
        if i < len(lines) and lines[i].startswith(b"Received: ") and b"by smtp-sink" in b"".join(lines[i:i + 3]):
            i += 1
            while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
                i += 1
        keep = lines[i:]
        msg = b"\r\n".join(l.rstrip(b"\r") for l in keep)
        if re.search(rb"(?im)^DKIM-Signature:", msg):
            signed += 1
            if dkim.verify(msg, dnsfunc=dnsfunc):
                verified += 1
    print(json.dumps({"messages": len(files), "signed": signed, "verified": verified}))


def cmd_speed(a):
    """openssl speed -mr rsa2048: the last '+F2:i:bits:sign/s:verify/s' line
    (with -multi it is the sum over the processes)."""
    sign = verify = None
    for line in sys.stdin:
        if line.startswith("+F2:"):
            f = line.strip().split(":")
            sign, verify = round(float(f[3])), round(float(f[4]))
    print(json.dumps({"sign_per_s": sign, "verify_per_s": verify}))

def median(v):
    v = sorted(x for x in v if x is not None)
    return v[(len(v) - 1) // 2] if v else None


def fmt(v, digits=0):
    if v is None:
        return "-"
    return ("{:,.%df}" % digits).format(v).replace(",", " ")


def auto(v):
    return fmt(v, 1 if v is not None and abs(v) < 100 else 0)


def load_runs(res, pattern):
    """Each file = one run: the JSON lines in it merged into one dict."""
    import glob
    out = []
    for path in sorted(glob.glob(os.path.join(res, pattern))):
        if path.endswith((".events", ".err")):
            continue
        d = {}
        with open(path) as f:
            for line in f:
                if line.startswith("{"):
                    d.update(json.loads(line))
        out.append(d)
    return out


def result(name, vals, unit, detail=""):
    m = median(vals)
    print("RESULT %-44s %12s %-8s reps %s%s" % (
        name, auto(m), unit, "/".join(auto(v) for v in vals), "; " + detail if detail else ""))
    return m


SYSTEMS = (("loopback", "loopback limit"), ("postfix", "postfix"),
           ("postfix+opendkim", "postfix+opendkim"), ("herald", "herald"))


def idle_share(seconds):
    """Share of both cores left idle over the next few seconds."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v[:8])
    i0, t0 = snap()
    time.sleep(seconds)
    i1, t1 = snap()
    return (i1 - i0) / max(1, t1 - t0)


def cmd_quiet(a):
    """Wait (at most --wait seconds) until the machine was at least --idle
    idle during one second: other work on a shared box skews every figure."""
    t0 = now()
    while True:
        idle = idle_share(1.0)
        if idle >= a.idle or now() - t0 >= a.wait:
            break
    print("# quiet: %.0f%% idle after waiting %.0f s%s" % (
        100 * idle, now() - t0, "" if idle >= a.idle else " (gave up)"), file=sys.stderr)


def cmd_summary(a):
    res = a.res
    limits = {}
    for tag, what in (("x1", "1 core"), ("x2", "2 procs")):
        path = os.path.join(res, "openssl." + tag)
        if os.path.exists(path):
            with open(path) as f:
                vals = [json.loads(l)["sign_per_s"] for l in f if l.startswith("{")]
            limits[tag] = result("openssl rsa2048 sign, " + what, vals, "/s",
                                 "openssl speed -mr%s -seconds 2 rsa2048" % (" -multi 2" if tag == "x2" else ""))
    table = []
    for size in ("2KB", "100KB"):
        for system, label in SYSTEMS:
            rr = load_runs(res, "%s.%s.*" % (system, size))
            if not rr:
                continue
            name = "%s %s" % (system, size)
            row = {"size": size, "system": label, "runs": len(rr),
                   "bad": sum(1 for r in rr if not r.get("ok"))}
            row["acc"] = result(name + " accepted", [r.get("accepted_per_s") for r in rr], "msg/s",
                                "N / smtp-source wall time; smtp-source -s %s -m %s -l %s"
                                % (a.sessions, rr[0]["n"], rr[0]["size"]))
            row["del"] = result(name + " delivered", [r.get("delivered_per_s") for r in rr], "msg/s",
                                "all %s counted by smtp-sink after %s s"
                                % (rr[0]["n"], fmt(median([r["delivered_s"] for r in rr]), 2)))
            if system != "loopback":
                if any("p50_ms" in r for r in rr):
                    src = "herald events: delivered at - accepted at" if system == "herald" \
                        else "postfix log: delay= of status=sent lines"
                    row["p50"] = result(name + " latency p50", [r.get("p50_ms") for r in rr], "ms",
                                        "%s; samples %s" % (src, "/".join(str(r.get("n_lat")) for r in rr)))
                    row["p99"] = result(name + " latency p99", [r.get("p99_ms") for r in rr], "ms")
                if system == "herald":
                    row["mem"] = result(name + " peak memory (VmHWM)", [r.get("hwm_kb", 0) / 1024 for r in rr], "MB")
                else:
                    row["mem"] = result(name + " peak memory (RSS sum)", [r.get("peak_rss_kb", 0) / 1024 for r in rr], "MB",
                                        "VmRSS summed over up to %s processes, sampled every 250 ms"
                                        % max(r.get("procs", 0) for r in rr))
                row["pss"] = result(name + " peak memory (PSS sum)", [r.get("peak_pss_kb", 0) / 1024 for r in rr], "MB",
                                    "Pss from smaps_rollup summed over the processes, sampled every 250 ms")
                row["cpu"] = result(name + " relay cpu-s/1000 msgs", [r.get("relay_cpu_s_per_1000") for r in rr], "s",
                                    "user+system of the relay's processes")
            row["tools"] = result(name + " load tools cpu-s/1000 msgs", [r.get("tools_cpu_s_per_1000") for r in rr], "s",
                                  "smtp-source + smtp-sink + this measuring loop")
            row["others"] = median([r.get("others_cpu_share") for r in rr])
            print("# %s: CPU share taken by other work on the machine during the runs: %s" % (
                name, "/".join("%.0f%%" % (100 * r.get("others_cpu_share", 0)) for r in rr)))
            table.append(row)
    skipped = os.path.join(res, "herald.skipped")
    if os.path.exists(skipped):
        with open(skipped) as f:
            why = f.read().strip()
        print("RESULT %-44s %12s %-8s %s" % ("herald", "SKIPPED", "", why))
        for size in ("2KB", "100KB"):
            table.append({"size": size, "system": "herald", "skipped": True})
    for name in ("postfix", "postfix+opendkim", "herald"):
        path = os.path.join(res, "sample-%s.json" % name)
        if os.path.exists(path):
            with open(path) as f:
                d = json.load(f)
            print("RESULT %-44s %12s %-8s dkimpy verified %d/%d" % (
                name + " DKIM sample signed", "%d/%d" % (d["signed"], d["messages"]), "msgs",
                d["verified"], d["messages"]))

    print()
    print("## relay on 127.0.0.1: %s sessions, a new connection per message; median of %s"
          % (a.sessions, a.reps))
    if limits:
        print("limit: RSA-2048 sign %s/s on 1 core, %s/s with 2 processes (openssl speed)"
              % (fmt(limits.get("x1")), fmt(limits.get("x2"))))
    cols = "%-6s %-17s %11s %12s %8s %8s %8s %8s %10s %10s %7s %5s"
    print(cols % ("size", "system", "accepted/s", "delivered/s", "p50 ms", "p99 ms",
                  "peak MB", "PSS MB", "relay cpu", "tools cpu", "others", "runs"))
    for r in sorted(table, key=lambda r: r["size"] != "2KB"):
        if r.get("skipped"):
            print(cols % (r["size"], r["system"], "skipped", "", "", "", "", "", "", "", "", ""))
            continue
        print(cols % (r["size"], r["system"], fmt(r["acc"]), fmt(r["del"]),
                      fmt(r.get("p50"), 1), fmt(r.get("p99"), 1), fmt(r.get("mem"), 1),
                      fmt(r.get("pss"), 1),
                      fmt(r.get("cpu"), 2), fmt(r.get("tools"), 2),
                      "%.0f%%" % (100 * (r["others"] or 0)),
                      "%d%s" % (r["runs"], "!%d" % r["bad"] if r["bad"] else "")))
    print("peak MB: Postfix = VmRSS summed over master and its children (+ the milter), sampled every")
    print("250 ms (shared pages count once per process); herald = VmHWM of its process. PSS MB = peak of")
    print("the sampled Pss sum (shared pages split between their users). cpu = CPU-seconds per 1000")
    print("messages; tools = smtp-source + smtp-sink + the measuring loop; others = share of both cores")
    print("used by other work on the machine meanwhile (noise). runs N!k: k runs did not complete.")
    print("Latency is at saturation: when accepted/s > delivered/s the relay's queue grows during the")
    print("run and p50/p99 measure that backlog.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--n", type=int, required=True)
    r.add_argument("--size", type=int, default=2048)
    r.add_argument("--sessions", type=int, default=20)
    r.add_argument("--counter", required=True, help="smtp-sink -c output file")
    r.add_argument("--timeout", type=float, default=120)
    r.add_argument("--rss-pids", default="", help="comma-separated roots of the trees to sample")
    r.add_argument("--tool-pids", default="", help="the sink: its CPU is the load tools'")
    r.add_argument("--mem-interval", type=float, default=0.25)
    r.add_argument("--mail-from", default="sender@example.org")
    r.add_argument("--rcpt", default="rcpt@example.net")
    p = sub.add_parser("pflat")
    p.add_argument("log")
    p.add_argument("offset", type=int)
    h = sub.add_parser("hlat")
    h.add_argument("events")
    i = sub.add_parser("idle")
    i.add_argument("--port", type=int, required=True)
    i.add_argument("--pid", type=int, required=True)
    i.add_argument("--n", type=int, default=1000)
    i.add_argument("--batch", type=int, default=100)
    i.add_argument("--hold", type=float, default=2)
    i.add_argument("--timeout", type=float, default=10)
    d = sub.add_parser("dkimcheck")
    d.add_argument("dir")
    d.add_argument("zone")
    sub.add_parser("speed")
    q = sub.add_parser("quiet")
    q.add_argument("--wait", type=float, default=60)
    q.add_argument("--idle", type=float, default=0.8)
    m = sub.add_parser("summary")
    m.add_argument("res")
    m.add_argument("--reps", default="?")
    m.add_argument("--sessions", default="?")
    a = ap.parse_args()
    {"run": cmd_run, "pflat": cmd_pflat, "hlat": cmd_hlat, "idle": cmd_idle,
     "dkimcheck": cmd_dkimcheck, "speed": cmd_speed, "quiet": cmd_quiet,
     "summary": cmd_summary}[a.cmd](a)


if __name__ == "__main__":
    main()
