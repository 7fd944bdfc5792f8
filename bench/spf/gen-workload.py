#!/usr/bin/python3
"""gen-workload.py - the SPF benchmark's workload, deterministic (seed 7208).

usage: gen-workload.py OUTDIR [-n CLIENTS] [--port PORT]

A sender domain, sender.test, whose SPF record authorizes 30 ip4/ip6
ranges, 5 provider records and one `mx`, laid out as real ones are:

  sender.test               v=spf1 ip4 x4 ip6 x2 include:_spf.mailhost.test
                            include:sendgrid.mailer.test include:amazonses.cloud.test mx -all
  _spf.mailhost.test        v=spf1 include:_netblocks.mailhost.test
                            include:_netblocks2.mailhost.test ~all      (_spf.google.com-style)
  _netblocks.mailhost.test  v=spf1 ip4 x8 ~all
  _netblocks2.mailhost.test v=spf1 ip6 x6 ~all
  sendgrid.mailer.test      v=spf1 ip4 x4 -all
  amazonses.cloud.test      v=spf1 ip4 x4 ip6 x2 -all
  sender.test MX            mx1.sender.test (A), mx2.sender.test (A + AAAA)

i.e. 20 ip4 + 10 ip6 ranges, 6 DNS-querying terms per evaluation that
reaches -all. CLIENTS client IPs (default 100 000), shuffled: half inside
an authorized range or an MX host (pass), half outside all of them (fail);
80 % IPv4, 20 % IPv6 in both halves.

Writes into OUTDIR:
  zone          herald's zone fixture (hd_dns_new_zone_file)
  records.json  the same records, {name: {TYPE: [values]}}, for pyspf's DNS hook
  unbound.conf  the same records as unbound local-data (local-zone "." static:
                answers only from them), 127.0.0.1:PORT (default 53), pid file in OUTDIR
  ips.txt       one client IP a line
  queries.txt   "ip sender helo" lines for `spfquery.libspf2 -file`
  expected.txt  "ip pass|fail" lines: what RFC 7208 gives for each client
"""
import argparse
import ipaddress
import json
import os
import random

SENDER = "sender.test"
MAILFROM = "bounce@" + SENDER
HELO = "mail.client.test"
TTL = 3600


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("-n", type=int, default=100000)
    ap.add_argument("--port", type=int, default=53)
    a = ap.parse_args()
    rnd = random.Random(7208)
    os.makedirs(a.outdir, exist_ok=True)

    taken = []

    def overlaps(net):
        return any(net.version == t.version and net.overlaps(t) for t in taken)

    def new_v4():
        while True:
            first = rnd.choice([k for k in range(1, 224) if k not in (10, 127, 169, 172, 192, 198, 203)])
            plen = rnd.choice([16, 18, 19, 20, 21, 22, 24, 24, 24, 25, 26, 27, 28])
            addr = (first << 24) | rnd.getrandbits(24)
            net = ipaddress.ip_network((addr, plen), strict=False)
            if not overlaps(net):
                taken.append(net)
                return net

    def new_v6():
        while True:
            plen = rnd.choice([32, 36, 40, 44, 48, 48, 56, 64])
            addr = (0x2A00 << 112) | (rnd.getrandbits(16) << 96) | (rnd.getrandbits(32) << 64)
            net = ipaddress.ip_network((addr, plen), strict=False)
            if not overlaps(net):
                taken.append(net)
                return net

    def terms(nets):
        return " ".join(f"ip{n.version}:{n}" for n in nets)

    top4, top6 = [new_v4() for _ in range(4)], [new_v6() for _ in range(2)]
    nb4, nb6 = [new_v4() for _ in range(8)], [new_v6() for _ in range(6)]
    sg4 = [new_v4() for _ in range(4)]
    ses4, ses6 = [new_v4() for _ in range(4)], [new_v6() for _ in range(2)]
    mx1_a, mx2_a = ipaddress.ip_address("198.51.100.25"), ipaddress.ip_address("198.51.100.26")
    mx2_aaaa = ipaddress.ip_address("2001:db8:25::26")

    records = {}

    def add(name, rtype, value):
        records.setdefault(name, {}).setdefault(rtype, []).append(value)

    add(SENDER, "TXT", f"v=spf1 {terms(top4 + top6)} include:_spf.mailhost.test "
        "include:sendgrid.mailer.test include:amazonses.cloud.test mx -all")
    add("_spf.mailhost.test", "TXT",
        "v=spf1 include:_netblocks.mailhost.test include:_netblocks2.mailhost.test ~all")
    add("_netblocks.mailhost.test", "TXT", f"v=spf1 {terms(nb4)} ~all")
    add("_netblocks2.mailhost.test", "TXT", f"v=spf1 {terms(nb6)} ~all")
    add("sendgrid.mailer.test", "TXT", f"v=spf1 {terms(sg4)} -all")
    add("amazonses.cloud.test", "TXT", f"v=spf1 {terms(ses4 + ses6)} -all")
    add(SENDER, "MX", (10, "mx1." + SENDER))
    add(SENDER, "MX", (20, "mx2." + SENDER))
    add(SENDER, "A", str(mx1_a))
    add("mx1." + SENDER, "A", str(mx1_a))
    add("mx2." + SENDER, "A", str(mx2_a))
    add("mx2." + SENDER, "AAAA", str(mx2_aaaa))

    v4_nets = top4 + nb4 + sg4 + ses4
    v6_nets = top6 + nb6 + ses6
    allowed = set(map(str, (mx1_a, mx2_a, mx2_aaaa)))

    def inside(net):
        return ipaddress.ip_address(int(net.network_address) + rnd.randrange(net.num_addresses))

    def authorized(ip):
        return str(ip) in allowed or any(ip in n for n in (v4_nets if ip.version == 4 else v6_nets))

    clients = []
    half = a.n // 2
    for _ in range(half):                       # passing: a range, or now and then an MX host
        v6 = rnd.random() < 0.2
        if rnd.random() < 0.02:
            ip = mx2_aaaa if v6 else rnd.choice([mx1_a, mx2_a])
        else:
            ip = inside(rnd.choice(v6_nets if v6 else v4_nets))
        clients.append((ip, "pass"))
    while len(clients) < a.n:                   # failing: anywhere outside every range
        if rnd.random() < 0.2:
            ip = ipaddress.ip_address((0x2A00 << 112) | rnd.getrandbits(112))
        else:
            ip = ipaddress.ip_address(rnd.choice([k for k in range(1, 224) if k != 127]) << 24
                                      | rnd.getrandbits(24))
        if not authorized(ip) and not ip.is_private:
            clients.append((ip, "fail"))
    rnd.shuffle(clients)

    def txt_strings(v):                          # RFC 1035: <= 255 octets a character-string
        return " ".join('"%s"' % v[i:i + 255] for i in range(0, len(v), 255))

    def rdata(rtype, v):
        if rtype == "TXT":
            return txt_strings(v)
        if rtype == "MX":
            return f"{v[0]} {v[1]}."
        return v

    out = lambda name: open(os.path.join(a.outdir, name), "w")
    with out("zone") as f:
        f.write("; SPF benchmark workload (bench/spf/gen-workload.py, seed 7208)\n")
        for name, types in records.items():
            for rtype, vals in types.items():
                for v in vals:
                    f.write(f"{name}. {TTL} IN {rtype} {rdata(rtype, v)}\n")
    with out("records.json") as f:
        json.dump(records, f, indent=1)
    with out("unbound.conf") as f:
        d = os.path.abspath(a.outdir)
        f.write(f"""# SPF benchmark: answers only from local-data, never sends a query out
server:
    interface: 127.0.0.1
    port: {a.port}
    do-ip6: no
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{d}"
    pidfile: "{d}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    num-threads: 1
    local-zone: "." static
""")
        for name, types in records.items():
            for rtype, vals in types.items():
                for v in vals:
                    q = "'" if rtype == "TXT" else '"'
                    f.write(f"    local-data: {q}{name}. {TTL} IN {rtype} {rdata(rtype, v)}{q}\n")
        f.write("remote-control:\n    control-enable: no\n")
    with out("ips.txt") as f:
        f.writelines(f"{ip}\n" for ip, _ in clients)
    with out("queries.txt") as f:
        f.writelines(f"{ip} {MAILFROM} {HELO}\n" for ip, _ in clients)
    with out("expected.txt") as f:
        f.writelines(f"{ip} {r}\n" for ip, r in clients)
    n4 = sum(1 for ip, _ in clients if ip.version == 4)
    npass = sum(1 for _, r in clients if r == "pass")
    print(f"workload: {SENDER}, 30 ranges (20 ip4, 10 ip6), 5 provider records, mx; "
          f"{len(clients)} clients: {npass} pass, {len(clients) - npass} fail; "
          f"{n4} IPv4, {len(clients) - n4} IPv6")


if __name__ == "__main__":
    main()
