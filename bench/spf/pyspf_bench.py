#!/usr/bin/python3
"""pyspf_bench.py - pyspf (python3-spf) on the SPF benchmark's workload, in process.

usage: /usr/bin/python3 pyspf_bench.py RECORDS_JSON QUERIES_TXT N RESULTS_OUT

Serves the records of gen-workload.py through pyspf's DNS hook (spf.DNSLookup,
replaced by a dictionary lookup: no resolver, no network, every answer free),
then times spf.check2(i, s, h) over the first N lines of QUERIES_TXT ("ip sender
helo"). pyspf keeps no cache between checks; with this hook DNS costs nothing,
so the figure is pyspf's evaluation CPU alone. Prints
  RESULT pyspf spf <checks/s> evals/s (first N clients)
and writes "ip result" lines to RESULTS_OUT.
"""
import json
import sys
import time

import spf


def main():
    records_path, queries_path, n, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    with open(records_path) as f:
        raw = json.load(f)
    zone = {}
    for name, types in raw.items():
        for rtype, vals in types.items():
            ans = []
            for v in vals:
                if rtype == "TXT":
                    v = [v[i:i + 255].encode() for i in range(0, len(v), 255)]
                elif rtype == "MX":
                    v = (int(v[0]), v[1])
                ans.append(((name, rtype), v))
            zone[(name, rtype)] = ans

    def lookup(name, qtype, strict=True, timeout=None):
        return list(zone.get((name.lower().rstrip("."), qtype), ()))

    spf.DNSLookup = lookup
    queries = []
    with open(queries_path) as f:
        for line in f:
            if len(queries) == n:
                break
            queries.append(line.split())
    results = []
    t0 = time.perf_counter()
    for ip, s, h in queries:
        results.append(spf.check2(i=ip, s=s, h=h)[0])
    t1 = time.perf_counter()
    with open(out_path, "w") as f:
        f.writelines(f"{q[0]} {r}\n" for q, r in zip(queries, results))
    print(f"pyspf {spf.__version__}: {len(queries)} checks in {t1 - t0:.2f} s, "
          f"pass {results.count('pass')}, fail {results.count('fail')}")
    print(f"RESULT pyspf spf {len(queries) / (t1 - t0):.1f} evals/s")


if __name__ == "__main__":
    main()
