#!/usr/bin/env python3
"""bench/bench.py -- the pg_notary benchmarks (driver; start it with bench/run).

Runs against a throwaway cluster that bench/run has started (PGHOST, PGPORT,
PGUSER in the environment) and compares three variants of the same work:

  plain    no audit at all
  plpgsql  a hand-written PL/pgSQL AFTER ROW trigger inserting
           to_jsonb(OLD), to_jsonb(NEW) into a log table (what users write)
  notary   pg_notary: CREATE EXTENSION, notary.enable('public')

Every measured workload is run in rounds; in each round every variant runs
once, in an order that rotates from round to round, and the figures
reported are medians over the rounds.  Ratios are the median of the
per-round ratios (each ratio compares runs made minutes apart), because
absolute figures on a shared machine drift.  CPU time is measured beside
wall-clock time (per pgbench transaction: the server's exited backends and
pgbench; per statement: the backend itself), since other load on the
machine hardly changes it.

Workloads: pgbench TPC-B (all four tables enrolled / audited), a bulk load
(INSERT ... SELECT of N rows, then an UPDATE of all of them), notary.verify()
over ledgers of growing size (and notary-verify over their export when the
binary is given), the ledger's bytes per captured change, and pseudonymising
N values against pgcrypto's hmac().  --profile
adds perf profiles of the notary variant.

Standard library only; psql, pgbench and perf are run as subprocesses.
Benchmarks are not tests: nothing here runs in CI.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

VARIANTS = ["plain", "plpgsql", "notary"]

# The bars of the issue.
BAR_TPCB = {4: 0.80, 16: 0.75}
BAR_BULK = 2.0
BAR_VERIFY_EPS = 300000
BAR_STORAGE_FACTOR = 2.0
BAR_STORAGE_PLUS = 100

PLPGSQL_REFERENCE = r"""
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    table_name text        NOT NULL,
    op         text        NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_by text        NOT NULL DEFAULT current_user,
    old_row    jsonb,
    new_row    jsonb
);
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_log (table_name, op, old_row, new_row)
    VALUES (TG_TABLE_NAME, TG_OP, to_jsonb(OLD), to_jsonb(NEW));
    RETURN NULL;
END
$$;
"""

BULK_TABLE = """
CREATE TABLE public.{name} (
    id         bigint PRIMARY KEY,
    account    integer       NOT NULL,
    amount     numeric(12,2) NOT NULL,
    note       text,
    created_at timestamptz   NOT NULL
)"""

BULK_INSERT = """
INSERT INTO public.{name}
SELECT g, g % 1000, (g % 100000) / 100.0, 'payment ' || g,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
  FROM generate_series({lo}, {hi}) AS g"""

BULK_UPDATE = "UPDATE public.{name} SET amount = amount + 1"

PGBENCH_TABLES = ["pgbench_accounts", "pgbench_branches", "pgbench_tellers",
                  "pgbench_history"]

OUT = None  # results file (also echoed to stdout)


def say(msg=""):
    print(msg, flush=True)
    if OUT is not None:
        OUT.write(msg + "\n")
        OUT.flush()


def log(msg):
    print("  .. " + msg, file=sys.stderr, flush=True)


def run(cmd, check=True, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, **kw)
    if check and p.returncode != 0:
        raise SystemExit("command failed (%d): %s\n%s%s" % (
            p.returncode, " ".join(cmd), p.stdout[-2000:], p.stderr[-2000:]))
    return p


def psql(db, sql, check=True, appname=None):
    """Run SQL in db; return stdout (unaligned, tuples only)."""
    env = dict(os.environ)
    if appname:
        env["PGAPPNAME"] = appname
    return run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db,
                "-c", sql], check=check, env=env).stdout.strip()


def timed_sql(db, sql, appname=None, cpu=False):
    """Seconds the server took for one statement, as psql's \\timing sees it
    (connection set-up excluded).  With cpu, returns (wall, cpu): cpu is the
    backend's own CPU time (user + system, from /proc/self/stat read by the
    backend itself), which other load on the machine does not inflate."""
    env = dict(os.environ)
    if appname:
        env["PGAPPNAME"] = appname
    stat = ["-c", "SELECT pg_read_file('/proc/self/stat')"] if cpu else []
    out = run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", db] + stat +
              ["-c", "\\timing on", "-c", sql, "-c", "\\timing off"] + stat,
              env=env).stdout
    m = re.findall(r"^Time: ([0-9.]+) ms", out, re.M)
    if not m:
        raise SystemExit("no timing in psql output: " + out[-500:])
    wall = float(m[-1]) / 1000.0
    if not cpu:
        return wall
    ticks = []
    for line in out.splitlines():
        mm = re.match(r"^\d+ \(.*\) (.*)$", line)
        if mm:
            f = mm.group(1).split()
            ticks.append(int(f[11]) + int(f[12]))  # utime + stime
    if len(ticks) != 2:
        raise SystemExit("could not read the backend's CPU time: " + out[-500:])
    return wall, (ticks[1] - ticks[0]) / os.sysconf("SC_CLK_TCK")


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def order_for(round_no, salt=0):
    k = (round_no + salt) % len(VARIANTS)
    return VARIANTS[k:] + VARIANTS[:k]


def checkpoint(db):
    psql(db, "CHECKPOINT")


def fmt_ratio(x):
    return "%.2f" % x if x == x else "-"


def met(ok):
    return "MET" if ok else "NOT MET"


# ---------------------------------------------------------------------------
# Set-up
# ---------------------------------------------------------------------------

def setup(a):
    say("## Set-up")
    for v in VARIANTS:
        # the audited databases come from bench/run's template, which holds
        # the extension bound to a pinned copy of the library
        run(["createdb"] + (["-T", "notary_template"] if v == "notary" else []) + [v])
        t0 = time.monotonic()
        run(["pgbench", "-i", "-q", "-s", str(a.scale), v])
        log("%s: pgbench -i -s %d in %.1f s" % (v, a.scale, time.monotonic() - t0))
    psql("plpgsql", PLPGSQL_REFERENCE)
    for t in PGBENCH_TABLES:
        psql("plpgsql", "CREATE TRIGGER audit_row AFTER INSERT OR UPDATE OR DELETE "
             "ON %s FOR EACH ROW EXECUTE FUNCTION audit_row()" % t)
    lib = psql("notary", "SELECT string_agg(DISTINCT probin, ', ') "
               "FROM pg_proc WHERE probin LIKE '%pg_notary%'")
    say("pg_notary library: " + lib)
    t0 = time.monotonic()
    n = psql("notary", "SELECT notary.enable('public')")
    enable_s = time.monotonic() - t0
    entries = int(psql("notary", "SELECT count(*) FROM notary.ledger"))
    say("notary.enable('public'): %s tables, baseline of %d entries in %.1f s "
        "(%.0f rows/s)" % (n, entries, enable_s, entries / enable_s))
    for v in VARIANTS:
        psql(v, "VACUUM ANALYZE")
    checkpoint("postgres")
    say()


# ---------------------------------------------------------------------------
# 1. TPC-B
# ---------------------------------------------------------------------------

def server_children_cpu(a):
    """CPU seconds of every server process that has ended (the postmaster's
    cutime + cstime): each backend adds its CPU time when it exits."""
    with open(os.path.join(a.workdir, "data", "postmaster.pid")) as f:
        pid = int(f.readline())
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def wait_backends_gone(db, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if psql("postgres", "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = '%s'" % db) == "0":
            break
    time.sleep(0.2)


def pgbench_run(a, db, clients, appname=None):
    """One pgbench run: (tps, server CPU us per transaction, pgbench's CPU us
    per transaction).  The CPU figures hardly move with other load on the
    machine, unlike tps."""
    psql(db, "VACUUM " + ", ".join(PGBENCH_TABLES))
    checkpoint(db)
    env = dict(os.environ)
    if appname:
        env["PGAPPNAME"] = appname
    c0 = server_children_cpu(a)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = run(["pgbench", "-n", "-M", "prepared", "-c", str(clients),
             "-j", str(min(clients, a.jobs)), "-T", str(a.duration), db],
            check=False, env=env)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    m = re.search(r"^tps = ([0-9.]+) \(without initial connection time\)",
                  p.stdout, re.M)
    n = re.search(r"^number of transactions actually processed: (\d+)", p.stdout, re.M)
    if p.returncode != 0 or not m or not n or int(n.group(1)) == 0:
        raise SystemExit("pgbench failed on %s:\n%s\n%s" % (db, p.stdout[-2000:],
                                                           p.stderr[-2000:]))
    wait_backends_gone(db)
    c1 = server_children_cpu(a)
    txs = int(n.group(1))
    client = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    return float(m.group(1)), (c1 - c0) / txs * 1e6, client / txs * 1e6


def bench_tpcb(a, results):
    say("## 1. pgbench TPC-B (scale %d, -M prepared, %d s per run, -j %d, %d rounds)"
        % (a.scale, a.duration, a.jobs, a.rounds))
    tps = {(c, v): [] for c in a.clients for v in VARIANTS}
    scpu = {(c, v): [] for c in a.clients for v in VARIANTS}
    ccpu = {(c, v): [] for c in a.clients for v in VARIANTS}
    for r in range(a.rounds):
        for ci, c in enumerate(a.clients):
            for v in order_for(r, ci):
                x, su, cu = pgbench_run(a, v, c)
                tps[(c, v)].append(x)
                scpu[(c, v)].append(su)
                ccpu[(c, v)].append(cu)
                log("round %d, %2d clients, %-7s %8.1f tps, server %.0f us/tx, "
                    "pgbench %.0f us/tx" % (r + 1, c, v, x, su, cu))
    say("%-7s %-8s %10s %21s %8s %18s %10s %10s %9s" % (
        "clients", "variant", "median tps", "(all rounds)", "vs plain", "(per round)",
        "vs plpgsql", "server us", "cpu est."))
    res = {}
    for c in a.clients:
        for v in VARIANTS:
            xs = tps[(c, v)]
            ratios = [x / p for x, p in zip(xs, tps[(c, "plain")])]
            rp = med(ratios)
            rq = med([x / p for x, p in zip(xs, tps[(c, "plpgsql")])])
            tot = [s_ + c_ for s_, c_ in zip(scpu[(c, v)], ccpu[(c, v)])]
            tot_plain = [s_ + c_ for s_, c_ in zip(scpu[(c, "plain")], ccpu[(c, "plain")])]
            est = med([p / x for x, p in zip(tot, tot_plain)])
            say("%-7d %-8s %10.1f %21s %8s %18s %10s %10.0f %9s" % (
                c, v, med(xs), "(" + " ".join("%.0f" % x for x in xs) + ")",
                fmt_ratio(rp), "(" + " ".join("%.2f" % x for x in ratios) + ")"
                if v != "plain" else "", fmt_ratio(rq) if v == "notary" else "",
                med(scpu[(c, v)]), fmt_ratio(est)))
            res[(c, v)] = (med(xs), rp, rq, est)
    say("(server us: CPU time of the server's backends per transaction; cpu est.: "
        "the throughput ratio vs plain that CPU per transaction (server + pgbench) "
        "predicts on a machine with no other load)")
    for c in a.clients:
        bar = BAR_TPCB.get(c)
        if bar is not None:
            r = res[(c, "notary")][1]
            est = res[(c, "notary")][3]
            line = ("bar: TPC-B notary >= %.2f of plain at %d clients: %.3f -> %s "
                    "(CPU per transaction predicts %.2f)" % (bar, c, r, met(r >= bar), est))
            say(line)
            results["bars"].append(line)
    results["tpcb"] = {"%d/%s" % k: {"tps": tps[k], "server_us": scpu[k],
                                     "client_us": ccpu[k]} for k in tps}
    say()


# ---------------------------------------------------------------------------
# 2. Bulk load
# ---------------------------------------------------------------------------

def prepare_bulk_table(v, name):
    psql(v, BULK_TABLE.format(name=name))
    if v == "plpgsql":
        psql(v, "CREATE TRIGGER audit_row AFTER INSERT OR UPDATE OR DELETE ON "
             "public.%s FOR EACH ROW EXECUTE FUNCTION audit_row()" % name)
    if v == "notary":
        # created in the enabled schema: the event trigger enrolls it
        ok = psql(v, "SELECT count(*) FROM pg_trigger WHERE tgrelid = "
                  "'public.%s'::regclass AND tgname = 'notary_capture'" % name)
        if ok != "1":
            raise SystemExit("public.%s was not enrolled by pg_notary" % name)


def bench_bulk(a, results):
    say("## 2. Bulk load (%d rows: INSERT ... SELECT, then UPDATE of all; %d rounds)"
        % (a.rows, a.rounds))
    t_ins = {v: [] for v in VARIANTS}
    t_upd = {v: [] for v in VARIANTS}
    c_ins = {v: [] for v in VARIANTS}
    c_upd = {v: [] for v in VARIANTS}
    for r in range(a.rounds):
        for v in order_for(r, 1):
            name = "bench_bulk_%d" % (r + 1)
            prepare_bulk_table(v, name)
            checkpoint(v)
            ti, ci = timed_sql(v, BULK_INSERT.format(name=name, lo=1, hi=a.rows), cpu=True)
            checkpoint(v)
            tu, cu = timed_sql(v, BULK_UPDATE.format(name=name), cpu=True)
            t_ins[v].append(ti)
            t_upd[v].append(tu)
            c_ins[v].append(ci)
            c_upd[v].append(cu)
            log("round %d, %-7s INSERT %6.2f s (cpu %.2f), UPDATE %6.2f s (cpu %.2f)"
                % (r + 1, v, ti, ci, tu, cu))
            if r < a.rounds - 1:
                psql(v, "DROP TABLE public.%s" % name)
    say("%-9s %-8s %9s %24s %9s %10s %8s %9s" % (
        "statement", "variant", "median s", "(all rounds)", "vs plain", "vs plpgsql",
        "cpu s", "cpu ratio"))
    for label, t, c in (("INSERT", t_ins, c_ins), ("UPDATE", t_upd, c_upd)):
        for v in VARIANTS:
            rp = med([x / p for x, p in zip(t[v], t["plain"])])
            rq = med([x / p for x, p in zip(t[v], t["plpgsql"])])
            cp = med([x / p for x, p in zip(c[v], c["plain"])])
            say("%-9s %-8s %9.2f %24s %9s %10s %8.2f %9s" % (
                label, v, med(t[v]), "(" + " ".join("%.2f" % x for x in t[v]) + ")",
                fmt_ratio(rp), fmt_ratio(rq) if v == "notary" else "", med(c[v]),
                fmt_ratio(cp)))
        r = med([x / p for x, p in zip(t["notary"], t["plain"])])
        line = ("bar: bulk %s notary <= %.1f x plain: %.3f x -> %s"
                % (label, BAR_BULK, r, met(r <= BAR_BULK)))
        results["bars"].append(line)
    say("(cpu s: the backend's own CPU time; cpu ratio: vs plain, median of rounds)")
    for line in results["bars"][-2:]:
        say(line)
    results["bulk"] = {"insert": t_ins, "update": t_upd, "insert_cpu": c_ins,
                       "update_cpu": c_upd}
    say()


# ---------------------------------------------------------------------------
# 3. Verification
# ---------------------------------------------------------------------------

def ledger_entries(db):
    return int(psql(db, "SELECT count(*) FROM notary.ledger"))


def grow_ledger(a, db, target, next_id):
    """Insert rows into the enrolled table public.v from a.writers sessions
    at once (one chain each) until the ledger holds >= target entries."""
    need = target - ledger_entries(db)
    if need <= 0:
        return next_id
    per = (need + a.writers - 1) // a.writers
    procs = []
    for w in range(a.writers):
        lo = next_id + w * per
        sql = BULK_INSERT.format(name="v", lo=lo, hi=lo + per - 1)
        procs.append(subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                       "-d", db, "-c", sql],
                                      stdout=subprocess.DEVNULL))
    for p in procs:
        if p.wait() != 0:
            raise SystemExit("growing the ledger failed")
    return next_id + a.writers * per


def bench_verify(a, results, nv):
    say("## 3. Verification (ledger written by %d concurrent sessions; %d timed "
        "runs per size after one warm-up)" % (a.writers, a.verify_runs))
    db = "verify"
    run(["createdb", "-T", "notary_template", db])
    psql(db, "SELECT notary.enable('public')")
    psql(db, BULK_TABLE.format(name="v"))
    next_id = 1
    rows = []
    tmpdir = tempfile.mkdtemp(prefix="notary_export_", dir=a.workdir)
    for size in a.verify_sizes:
        next_id = grow_ledger(a, db, size, next_id)
        psql(db, "VACUUM ANALYZE notary.ledger_entries, notary.ledger_packs")
        checkpoint(db)
        n = ledger_entries(db)
        chains = int(psql(db, "SELECT count(DISTINCT chain_id) FROM notary.ledger"))
        findings = psql(db, "SELECT count(*) FROM notary.verify()")  # warm-up
        if findings != "0":
            raise SystemExit("verify() found %s problems in an intact ledger" % findings)
        tc = [timed_sql(db, "SELECT count(*) FROM notary.verify()", cpu=True)
              for _ in range(a.verify_runs)]
        ts = [x[0] for x in tc]
        cs = [x[1] for x in tc]
        row = {"entries": n, "chains": chains, "verify_s": ts, "verify_cpu_s": cs,
               "verify_eps": n / med(ts), "verify_cpu_eps": n / med(cs)}
        if nv:
            path = os.path.join(tmpdir, "export.jsonl")
            t0 = time.monotonic()
            with open(path, "w") as f:
                subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", db,
                                "-c", "SELECT line FROM notary.export() AS line"],
                               stdout=f, check=True)
            row["export_s"] = time.monotonic() - t0
            row["export_bytes"] = os.path.getsize(path)
            nts = []
            for _ in range(a.nv_runs):
                t0 = time.monotonic()
                p = run([nv, "--no-progress", "--export", path], check=False)
                nts.append(time.monotonic() - t0)
                if p.returncode != 0:
                    raise SystemExit("notary-verify exited %d on an intact export:\n%s%s"
                                     % (p.returncode, p.stdout[-1500:], p.stderr[-1500:]))
            row["nv_s"] = nts
            row["nv_eps"] = n / med(nts)
            t0 = time.monotonic()
            p = run([nv, "--no-progress", "--dbname", "dbname=" + db], check=False)
            row["nv_db_s"] = time.monotonic() - t0
            if p.returncode != 0:
                raise SystemExit("notary-verify --dbname exited %d on an intact ledger:\n%s%s"
                                 % (p.returncode, p.stdout[-1500:], p.stderr[-1500:]))
            os.unlink(path)
        rows.append(row)
        log("%d entries: verify() %s s%s" % (
            n, " ".join("%.2f" % t for t in ts),
            (", notary-verify %s s" % " ".join("%.2f" % t for t in row["nv_s"])) if nv else ""))
    shutil.rmtree(tmpdir, ignore_errors=True)

    base = rows[0]["verify_cpu_eps"]
    say("%-10s %-6s %10s %10s %10s %14s %12s%s" % (
        "entries", "chains", "verify() s", "entries/s", "cpu s", "entries/cpu-s",
        "vs smallest",
        "  notary-verify s  entries/s  export s  --dbname s" if nv else ""))
    for row in rows:
        extra = ""
        if nv:
            extra = "  %15.2f %10.0f %9.1f %11.1f" % (med(row["nv_s"]), row["nv_eps"],
                                                    row["export_s"], row["nv_db_s"])
        say("%-10d %-6d %10.2f %10.0f %10.2f %14.0f %12.2f%s" % (
            row["entries"], row["chains"], med(row["verify_s"]), row["verify_eps"],
            med(row["verify_cpu_s"]), row["verify_cpu_eps"],
            row["verify_cpu_eps"] / base, extra))
    say("(entries/cpu-s: entries per second of the backend's own CPU time, i.e. on "
        "one core whatever else the machine runs; vs smallest: that rate against the "
        "smallest ledger's)")
    if not nv:
        say("notary-verify: pending (no binary built from cli/)")
    big = [r for r in rows if r["entries"] >= 1000000]
    eps = min(r["verify_cpu_eps"] for r in (big or rows))
    weps = min(r["verify_eps"] for r in (big or rows))
    line = ("bar: verify() >= %d entries/s on one core (slowest size >= 1M entries): "
            "%.0f per CPU-second (%.0f per wall-clock second) -> %s"
            % (BAR_VERIFY_EPS, eps, weps, met(eps >= BAR_VERIFY_EPS and bool(big))))
    say(line)
    results["bars"].append(line)
    # linear: time per entry at the largest size within 20% of the smallest
    spread = rows[-1]["verify_cpu_eps"] / rows[0]["verify_cpu_eps"]
    line = ("bar: verify() cost linear in the ledger (entries/s at %d vs %d entries "
            "within 20%%): %.2f -> %s" % (rows[-1]["entries"], rows[0]["entries"],
                                          spread, met(0.8 <= spread <= 1.25)))
    say(line)
    results["bars"].append(line)
    results["verify"] = rows
    say()


# ---------------------------------------------------------------------------
# 4. Storage
# ---------------------------------------------------------------------------

STORAGE_SQL = """
SELECT regexp_replace(t.table_name, '_[0-9]+$', '_N'), s.op, sum(s.entries),
       round((sum(s.entries * s.bytes_per_entry) / sum(s.entries))::numeric, 1)
  FROM notary.storage() s JOIN notary.tables t USING (table_id)
 GROUP BY 1, 2 ORDER BY 1, 2
"""

LOG_SQL = """
WITH idx AS (
  SELECT pg_indexes_size('audit_log')::numeric / NULLIF(count(*), 0) AS per_entry
    FROM audit_log)
SELECT regexp_replace(table_name, '_[0-9]+$', '_N'), op, count(*),
       round(avg(pg_column_size(a.*)) + 4 + (SELECT per_entry FROM idx), 1)
  FROM audit_log a GROUP BY 1, 2 ORDER BY 1, 2
"""


def bench_storage(a, results):
    say("## 4. Storage: ledger bytes per captured change (database notary, after 1 and 2)")
    db = "notary"
    psql(db, "VACUUM ANALYZE notary.ledger_entries, notary.ledger_packs")
    total, heap, idx = psql(db, "SELECT sum(pg_total_relation_size(r)), sum(pg_relation_size(r)), "
                            "sum(pg_indexes_size(r)) FROM unnest(ARRAY['notary.ledger_entries', "
                            "'notary.ledger_packs']::regclass[]) r").split("|")
    total, heap, idx = int(total), int(heap), int(idx)
    n = int(psql(db, "SELECT sum(entries) FROM notary.storage()"))
    packs, packed, body = psql(db, "SELECT count(*), coalesce(sum(last_pos - first_pos + 1), 0), "
                               "coalesce(avg(pg_column_size(entries)), 0) "
                               "FROM notary.ledger_packs").split("|")
    packs, packed, body = int(packs), int(packed), float(body)
    say("whole ledger: %d entries (%d packed in %d packs, %.1f entries and %.0f bytes "
        "of entries per pack), %.1f bytes/entry on disk (heap %.1f + indexes %.1f + "
        "toast/fsm/vm %.1f)" % (n, packed, packs, packed / packs if packs else 0, body,
                                total / n, heap / n, idx / n, (total - heap - idx) / n))

    # the size of the changed rows, per table (the last bulk table stands for
    # every round's: same shape and contents)
    rowsize = {}
    for t in PGBENCH_TABLES:
        rowsize[t] = float(psql(db, "SELECT avg(pg_column_size(t.*)) FROM %s t" % t))
    bulk = "bench_bulk_%d" % a.rounds
    rowsize["bench_bulk_N"] = float(psql(db, "SELECT avg(pg_column_size(t.*)) FROM %s t" % bulk))
    rowsize["v"] = rowsize["bench_bulk_N"]

    ref = {}
    for line in psql("plpgsql", LOG_SQL).splitlines():
        t, op, cnt, per = line.split("|")
        ref[(t, op)] = float(per)

    say("%-17s %-8s %9s %11s %9s %9s %8s %12s" % (
        "table", "op", "entries", "entry B", "row B", "bar B", "bar",
        "plpgsql B"))
    rows = []
    worst = None
    for line in psql(db, STORAGE_SQL).splitlines():
        t, op, cnt, per = line.split("|")
        rs = rowsize.get(t)
        if rs is None:
            continue
        per = float(per)
        bar = BAR_STORAGE_FACTOR * rs + BAR_STORAGE_PLUS
        ok = per <= bar
        if op in ("INSERT", "UPDATE", "DELETE"):
            if worst is None or per / bar > worst[2] / worst[3]:
                worst = (t, op, per, bar)
        rows.append({"table": t, "op": op, "entries": int(cnt),
                     "entry": per, "row": rs, "bar": bar, "ok": ok})
        r = ref.get((t, op))
        say("%-17s %-8s %9s %11.1f %9.1f %9.1f %8s %12s" % (
            t, op, cnt, per, rs, bar, "ok" if ok else "over",
            "%.1f" % r if r is not None else ""))
    say("(entry B = notary.storage(): the share of its pack's tuple and line pointer that a "
        "packed entry's own bytes are of the pack's entries, or a single entry's tuple and "
        "line pointer, plus an equal share of the indexes; row B = avg pg_column_size of the "
        "table's rows; bar B = 2 x row B + 100; plpgsql B = avg pg_column_size of the "
        "reference's audit_log row + line pointer + index share)")
    failing = [r for r in rows if not r["ok"] and r["op"] in ("INSERT", "UPDATE", "DELETE")]
    line = ("bar: a captured change <= 2 x row + 100 bytes: %s" % (
        met(not failing) if not failing else "NOT MET for " + ", ".join(
            "%s %s (%.0f > %.0f)" % (r["table"], r["op"], r["entry"], r["bar"])
            for r in failing)))
    say(line)
    results["bars"].append(line)
    results["storage"] = {"total_bytes": total, "entries": n, "rows": rows}
    say()


# ---------------------------------------------------------------------------
# Profiles (perf)
# ---------------------------------------------------------------------------

def backend_pids(db, appname, want, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        out = psql("postgres", "SELECT pid FROM pg_stat_activity WHERE datname = '%s' "
                   "AND application_name = '%s'" % (db, appname))
        pids = [x for x in out.split() if x]
        if len(pids) >= want or time.monotonic() > deadline:
            return pids
        time.sleep(0.2)


# Functions whose inclusive time explains where a captured change (or a
# verification) spends its time; printed in this order when sampled.
PROFILE_SYMBOLS = [
    "AfterTriggerEndQuery", "notary_capture", "capture_row", "relinfo_get",
    "relinfo_build_image", "canon_text", "format_image_digest",
    "format_row_digest", "format_column_commitment", "format_entry_hash",
    "hash_begin", "hash_end", "ledger_append", "nextval_internal", "chain_reserve",
    "image_datum", "construct_md_array", "heap_form_tuple", "CatalogTupleInsert",
    "heap_insert", "CatalogIndexInsert", "btinsert", "XLogInsert",
    "SPI_execute_with_args", "notary_verify", "recompute_entry", "read_image",
    "layouts_find", "SPI_cursor_fetch", "SPI_getbinval", "nocachegetattr",
    "SPI_getvalue", "pg_snprintf", "tuplestore_putvalues",
    "crypto_generichash_update", "crypto_generichash_final",
]


def perf_symbols(data, children):
    """{symbol: (children %, self %)}, summed over processes (a shared
    library maps at a different address in each backend, and perf lists
    each mapping apart; the processes' samples are disjoint, so they add)."""
    out = run(["perf", "report", "-i", data, "--children" if children else "--no-children",
               "--sort", "dso,symbol", "--stdio", "-g", "none", "--percent-limit", "0"],
              check=False).stdout
    agg = {}
    for line in out.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"\s*([0-9.]+)%\s+(?:([0-9.]+)%\s+)?(\S+)\s+\[(.)\]\s+(.*?)\s*(?:-\s+-\s*)?$",
                     line)
        if not m:
            continue
        first, second, dso, kind, sym = m.groups()
        sym = re.sub(r"\s+\(inlined\)$", "", sym.strip())
        if re.match(r"^0x[0-9a-f]+$", sym):
            sym = dso + "@?"  # an address in a stripped library: by library
        ch = float(first)
        se = float(second) if second is not None else ch
        key = sym
        c0, s0 = agg.get(key, (0.0, 0.0))
        agg[key] = (c0 + ch, s0 + se)
    return agg


def perf_report(data, title, a):
    txt = os.path.join(a.workdir, "perf-%s.txt" % title)
    full = run(["perf", "report", "-i", data, "--children", "--sort", "dso,symbol",
                "--stdio", "-g", "none", "--percent-limit", "0.5"], check=False).stdout
    dsos = run(["perf", "report", "-i", data, "--no-children", "--sort", "dso",
                "--stdio", "-g", "none"], check=False).stdout
    samples = re.search(r"# Samples: (\S+)", dsos)
    with open(txt, "w") as f:
        f.write(dsos + "\n\n" + full)
    selfs = perf_symbols(data, False)
    children = perf_symbols(data, True)
    say("### profile: %s (%s samples; full report: %s)" % (
        title, samples.group(1) if samples else "?", txt))
    say("self time by library: " + "; ".join(
        re.sub(r"\s+", " ", l.strip()) for l in dsos.splitlines()
        if l.strip() and not l.startswith("#"))[:400])
    top = sorted(selfs.items(), key=lambda kv: -kv[1][1])[:15]
    say("self time, top symbols: " + "; ".join("%s %.1f%%" % (k, v[1]) for k, v in top))
    shown = ["%s %.1f%%" % (k, children[k][0]) for k in PROFILE_SYMBOLS
             if k in children and children[k][0] >= 0.5]
    say("inclusive time: " + "; ".join(shown))
    say()


def perf_record(pids, seconds, data, a):
    return subprocess.Popen(["perf", "record", "-q", "-F", str(a.perf_freq),
                             "--call-graph", "dwarf,8192", "-o", data,
                             "-p", ",".join(pids), "--", "sleep", str(seconds)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def profile(a):
    if shutil.which("perf") is None:
        say("## Profiles: perf is not installed, skipped")
        return
    say("## Profiles of the notary variant (perf record --call-graph dwarf)")
    # TPC-B, 4 clients
    app = "bench_profile_tpcb"
    psql("notary", "VACUUM " + ", ".join(PGBENCH_TABLES))
    env = dict(os.environ, PGAPPNAME=app)
    pb = subprocess.Popen(["pgbench", "-n", "-M", "prepared", "-c", "4", "-j", "2",
                           "-T", str(a.profile_seconds + 6), "notary"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    pids = backend_pids("notary", app, 4)
    time.sleep(1)
    data = os.path.join(a.workdir, "perf-tpcb.data")
    pr = perf_record(pids, a.profile_seconds, data, a)
    pr.wait()
    out, _ = pb.communicate()
    m = re.search(r"^tps = ([0-9.]+) \(without", out, re.M)
    say("TPC-B 4 clients while profiled: %s tps" % (m.group(1) if m else "?"))
    perf_report(data, "tpcb", a)

    # bulk insert and update in one backend
    db = "notary"
    name = "bench_profile_bulk"
    prepare_bulk_table(db, name)
    rows = min(a.rows, 300000)
    for what, sql in (("bulk-insert", BULK_INSERT.format(name=name, lo=1, hi=rows)),
                      ("bulk-update", BULK_UPDATE.format(name=name)),
                      ("verify", "SELECT count(*) FROM notary.verify()")):
        if what == "verify":
            if "verify" not in a.only:
                break
            db = "verify"
        app = "bench_profile_" + what.replace("-", "_")
        env = dict(os.environ, PGAPPNAME=app)
        # the session sleeps 2 s first, time to find its pid and attach perf
        worker = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db,
                                   "-c", "SELECT pg_sleep(2)", "-c", sql],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        pids = backend_pids(db, app, 1)
        data = os.path.join(a.workdir, "perf-%s.data" % what)
        pr = perf_record(pids, a.profile_seconds, data, a)
        t0 = time.monotonic()
        if worker.wait() != 0:
            raise SystemExit("profiled statement failed: " + worker.stderr.read().decode())
        took = time.monotonic() - t0
        pr.wait()
        say("%s: %.1f s after a 2 s pause (profiled for at most %d s)"
            % (what, took - 2, a.profile_seconds))
        perf_report(data, what, a)
    psql("notary", "DROP TABLE public.%s" % name)


# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# 5. Pseudonyms
# ---------------------------------------------------------------------------

# The same 1,000,000 values (text, like a NIK), three ways, in one backend:
# only producing the text (the cost every variant shares), pgcrypto's keyed
# HMAC-SHA256 in SQL (the reference users would reach for), and pg_notary's
# keyed BLAKE2b pseudonym (key read from its file outside SQL).
PSEUDO_VALUES = "(3273000000000000 + g)::text"
PSEUDO_SQL = {
    "values only": "SELECT count(" + PSEUDO_VALUES + ") FROM generate_series(1, {n}) g",
    "pgcrypto hmac()": "SELECT count(encode(hmac(" + PSEUDO_VALUES + ", {key}, 'sha256'), 'hex')) "
                       "FROM generate_series(1, {n}) g",
    "notary pseudonym": "SELECT count(notary.pseudonym(" + PSEUDO_VALUES + ", 'bench.nik', {version})) "
                        "FROM generate_series(1, {n}) g",
}


def bench_pseudonym(a, results):
    n = a.pseudonyms
    say("## 5. Pseudonymising %d values (%d rounds)" % (n, a.rounds))
    db = "notary"
    psql(db, "CREATE EXTENSION IF NOT EXISTS pgcrypto")
    version = psql(db, "SELECT notary.create_pseudonym_key()")  # a fresh cluster: version 1
    key = "'" + os.urandom(32).hex() + "'"
    wall = {k: [] for k in PSEUDO_SQL}
    cpu = {k: [] for k in PSEUDO_SQL}
    names = list(PSEUDO_SQL)
    for r in range(a.rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            w, c = timed_sql(db, PSEUDO_SQL[name].format(n=n, key=key, version=version), cpu=True)
            wall[name].append(w)
            cpu[name].append(c)
            log("round %d, %-17s %6.2f s (cpu %.2f)" % (r + 1, name, w, c))
    say("%-17s %9s %24s %8s %12s" % ("variant", "median s", "(all rounds)", "cpu s", "values/cpu-s"))
    for name in names:
        say("%-17s %9.2f %24s %8.2f %12.0f" % (
            name, med(wall[name]), "(" + " ".join("%.2f" % x for x in wall[name]) + ")",
            med(cpu[name]), n / med(cpu[name]) if med(cpu[name]) else float("nan")))
    base = cpu["values only"]
    raw = med([x / h for x, h in zip(cpu["notary pseudonym"], cpu["pgcrypto hmac()"])])
    net = med([(x - b) / (h - b) for x, h, b in
               zip(cpu["notary pseudonym"], cpu["pgcrypto hmac()"], base) if h > b])
    say("notary pseudonym / pgcrypto hmac(), CPU time: %s (%s net of producing the values)"
        % (fmt_ratio(raw), fmt_ratio(net)))
    results["pseudonym"] = {"wall": wall, "cpu": cpu, "ratio_cpu": raw, "ratio_net": net}
    say()


def main():
    global OUT
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 round, short pgbench runs, 200k rows, small ledgers")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--duration", type=int, help="seconds per pgbench run")
    ap.add_argument("--scale", type=int)
    ap.add_argument("--clients", default="4,16")
    ap.add_argument("--jobs", type=int, default=2, help="pgbench threads (at most)")
    ap.add_argument("--rows", type=int, help="rows of the bulk load")
    ap.add_argument("--verify-sizes", help="ledger sizes (entries) for verify(), comma-separated")
    ap.add_argument("--verify-runs", type=int, default=3)
    ap.add_argument("--nv-runs", type=int, default=1,
                    help="timed notary-verify runs per ledger size")
    ap.add_argument("--writers", type=int, default=4,
                    help="sessions writing the verification ledger at once (one chain each)")
    ap.add_argument("--pseudonyms", type=int, help="values to pseudonymise")
    ap.add_argument("--only", default="tpcb,bulk,verify,storage,pseudonym",
                    help="workloads to run (storage needs tpcb and bulk)")
    ap.add_argument("--profile", action="store_true", help="perf profiles of the notary variant")
    ap.add_argument("--profile-seconds", type=int, default=20)
    ap.add_argument("--perf-freq", type=int, default=199)
    ap.add_argument("--notary-verify", help="path of the notary-verify binary, if built")
    ap.add_argument("--synchronous-commit", default="off", choices=["on", "off"],
                    help="for every session of the benchmark (default off: CPU-bound, "
                    "so commit flushes on a slow disk do not hide the capture's cost)")
    ap.add_argument("--source", default="?", help="what was built (for the report)")
    ap.add_argument("--workdir", required=True, help="directory for results and scratch files")
    a = ap.parse_args()
    q = a.quick
    a.rounds = a.rounds or (1 if q else 3)
    a.duration = a.duration or (5 if q else 30)
    a.scale = a.scale or (2 if q else 10)
    a.rows = a.rows or (200000 if q else 1000000)
    a.pseudonyms = a.pseudonyms or (200000 if q else 1000000)
    a.clients = [int(x) for x in a.clients.split(",")]
    a.verify_sizes = [int(x) for x in (a.verify_sizes or
                                       ("100000,200000" if q else "500000,1000000,2000000")).split(",")]
    a.only = set(a.only.split(","))
    if q:
        a.verify_runs = min(a.verify_runs, 2)
        a.profile_seconds = min(a.profile_seconds, 8)

    os.environ["PGOPTIONS"] = (os.environ.get("PGOPTIONS", "") +
                               " -c synchronous_commit=" + a.synchronous_commit).strip()
    OUT = open(os.path.join(a.workdir, "results.txt"), "w")
    results = {"bars": []}
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    say("# pg_notary benchmarks")
    say("date: %s" % datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))
    say("machine: %s, %d CPUs (%s), %.1f GiB memory, load average at start %s" % (
        platform.node(), os.cpu_count(), cpu, mem,
        " ".join("%.2f" % x for x in os.getloadavg())))
    say("pg_notary: %s" % a.source)
    say("server: %s" % psql("postgres", "SELECT version()"))
    say("settings: %s" % psql("postgres", "SELECT string_agg(name || '=' || setting || "
                              "coalesce(unit, ''), ', ' ORDER BY name) FROM pg_settings "
                              "WHERE name IN ('shared_buffers', 'max_wal_size', "
                              "'checkpoint_timeout', 'synchronous_commit', 'autovacuum', "
                              "'work_mem', 'wal_level', 'fsync')"))
    say("options: synchronous_commit=%s rounds=%d duration=%ds scale=%d clients=%s rows=%d "
        "verify_sizes=%s%s" % (a.synchronous_commit, a.rounds, a.duration, a.scale, ",".join(map(str, a.clients)), a.rows,
        ",".join(map(str, a.verify_sizes)), " (quick)" if q else ""))
    say()
    t_start = time.monotonic()
    setup(a)
    if "tpcb" in a.only:
        bench_tpcb(a, results)
    if "bulk" in a.only:
        bench_bulk(a, results)
    if "verify" in a.only:
        bench_verify(a, results, a.notary_verify)
    if "storage" in a.only and "tpcb" in a.only and "bulk" in a.only:
        bench_storage(a, results)
    if "pseudonym" in a.only:
        bench_pseudonym(a, results)
    if a.profile:
        profile(a)
    say("## Bars")
    for line in results["bars"]:
        say(line.replace("bar: ", "- "))
    say()
    say("total time %.1f min; load average at end %s" % (
        (time.monotonic() - t_start) / 60, " ".join("%.2f" % x for x in os.getloadavg())))
    with open(os.path.join(a.workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)


if __name__ == "__main__":
    main()
