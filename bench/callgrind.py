#!/usr/bin/env python3
"""Instructions per TPC-B transaction from bench/callgrind's profiles.

Each pgbench run's backend is found by its application name in the server
log (log_connections); its profile is summarised with callgrind_annotate.
Per transaction = (run of 6 N - run of N) / 5 N: connection set-up and
start-up cancel out.  Standard library only."""
import argparse
import re
import subprocess


def backend_pid(log, app):
    pids = re.findall(r"^(\d+) LOG:  connection authorized: .*application_name=%s\b" % re.escape(app),
                      log, re.M)
    if not pids:
        raise SystemExit("no backend of %s in the server log" % app)
    return pids[-1]          # pgbench's own connection comes after its check


def inclusive(path):
    """{function: inclusive Ir} of one profile."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--auto=no", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    total = int(re.search(r"^\s*([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", out, re.M)
                .group(1).replace(",", ""))
    funcs = {}
    for m in re.finditer(r"^\s*([\d,]+) \([^)]*\)\s+(\S+?)(?: \[(\S+)\])?$", out, re.M):
        # one function can be listed under two source file names (with and
        # without the build directory): the same cost, counted once
        name = m.group(2).split(":")[-1]
        funcs[name] = max(funcs.get(name, 0), int(m.group(1).replace(",", "")))
    return total, funcs


def per_transaction(a, log, db):
    small = inclusive("%s/profiles/cg.%s.out" % (a.dir, backend_pid(log, "cg_%s_%d" % (db, a.transactions))))
    large = inclusive("%s/profiles/cg.%s.out" % (a.dir, backend_pid(log, "cg_%s_%d" % (db, 6 * a.transactions))))
    n = 5 * a.transactions
    funcs = {k: (large[1].get(k, 0) - small[1].get(k, 0)) / n for k in set(small[1]) | set(large[1])}
    return (large[0] - small[0]) / n, funcs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--transactions", type=int, required=True)
    ap.add_argument("--top", type=int, default=40)
    a = ap.parse_args()
    log = open(a.dir + "/server.log").read()
    plain, pf = per_transaction(a, log, "plain")
    notary, nf = per_transaction(a, log, "notary")
    print("instructions per TPC-B transaction (scale 1, one client, -M prepared):")
    print("  plain   %9.0f" % plain)
    print("  notary  %9.0f   (+%.0f, %.2f x plain; plain / notary = %.3f)"
          % (notary, notary - plain, notary / plain, plain / notary))
    print()
    print("inclusive instructions per transaction, largest differences (notary - plain):")
    print("%9s %9s %9s  %s" % ("plain", "notary", "diff", "function"))
    rows = sorted(((nf.get(k, 0) - pf.get(k, 0), k) for k in set(pf) | set(nf)),
                  key=lambda r: -abs(r[0]))
    for d, k in rows[:a.top]:
        print("%9.0f %9.0f %9.0f  %s" % (pf.get(k, 0), nf.get(k, 0), d, k))


if __name__ == "__main__":
    main()
