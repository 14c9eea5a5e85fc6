#!/usr/bin/env python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IPAM benchmark: owners per second and milliseconds per transaction, old allocator vs new, SQLite and
PostgreSQL, single and batched; where the time of a transaction goes; and the cost of one allocation as
a function of the allocations held and of the pool size.

    .venv/bin/python tests/benchmarks/ipam_bench.py [--runs N] [--baseline REV] [--no-postgres] [--quick]
                                                     [--no-write]

Old and new run side by side in one run of this script: each measurement runs in its own process
(``--worker``) against a fresh store, the two implementations alternate (old, new, then new, old, ...),
and the tables give the median of ``--runs`` rounds, with the load average before and after. The old
implementation is the collection at ``--baseline`` (default: main before issue 13.5), exported with
``git archive``. Writes its tables to the ``## IPAM`` section of docs/benchmarks.md (other sections are
kept). PostgreSQL comes from tests/tools/postgres.sh (installed and started if needed, stopped
afterwards if this script started it). Not a test: nothing here passes or fails on a number.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
POSTGRES_SH = os.path.join(REPO, "tests", "tools", "postgres.sh")
DOC = os.path.join(REPO, "docs", "benchmarks.md")
BASELINE = "cea4b03"  # main when issue 13.5 started: the allocator with one statement per owner and step
POOLS = [
    {"name": "v4", "ipv4": ["198.18.0.0/15"]},
    {"name": "p112", "ipv6": ["2001:db8:112::/112"]},
    {"name": "p64", "ipv6": ["2001:db8:64::/64"]},
    {"name": "p48", "ipv6": ["2001:db8:48::/48"]},
    {"name": "dual", "ipv4": ["198.51.96.0/20"], "ipv6": ["2001:db8:100::/64"]},
]
TARGETS = {  # issue 13.5
    ("postgresql", "batched"): ("at least 5,000 owners/s", lambda r: r["rate"] >= 5000),
    ("postgresql", "single"): ("at most 3 ms per allocation", lambda r: r["ms"] <= 3.0),
    ("sqlite", "batched"): ("at least 20,000 owners/s", lambda r: r["rate"] >= 20000),
}


# --------------------------------------------------------------------------------------------------
# the worker: one measurement, one implementation, one fresh store; prints one JSON line


def _load(collection):
    """Import the collection found at ``collection`` (a directory holding ansible_collections/)."""
    sys.path.insert(0, collection)
    from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import parse_pools
    try:
        from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_config import open_store
        from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_requests import Request
    except ImportError:  # the old layout: everything in ipam_store.py
        from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_store import Request, open_store
    return parse_pools(POOLS), open_store, Request


class RoundTrips:
    """Counts the round trips to the server in this process: every statement sent outside a pipeline,
    and every pipeline (its statements go together; psycopg waits once, at its end)."""

    def __init__(self):
        self.count = 0
        import contextlib

        import psycopg

        piped = []
        execute, pipeline = psycopg.Cursor.execute, psycopg.Connection.pipeline

        def counted_execute(cur, *a, **kw):
            if not piped:
                self.count += 1
            return execute(cur, *a, **kw)

        @contextlib.contextmanager
        def counted_pipeline(conn, *a, **kw):
            piped.append(True)
            try:
                with pipeline(conn, *a, **kw) as p:
                    yield p
            finally:
                piped.pop()
                self.count += 1

        psycopg.Cursor.execute = counted_execute
        psycopg.Connection.pipeline = counted_pipeline


def _preload(cfg, pool, family, count, sparse=False, seed=1):
    """Put ``count`` allocations into the store with plain SQL (setup, not measured; the schema is the
    same in both implementations): dense from the bottom of the pool, or scattered at random."""
    first, last = pool.intervals[family][0]
    if sparse:
        rnd = random.Random(seed)
        values = sorted({rnd.randint(first, last) for dummy in range(count)})
    else:
        values = list(range(first, first + count))
    runs = []
    for v in values:
        if runs and runs[-1][1] == v - 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])

    def blob(v):
        return v.to_bytes(16, "big")

    def text(v):
        return str(ipaddress.IPv4Address(v) if family == 4 else ipaddress.IPv6Address(v))

    now = time.time()
    rows = [(family, blob(v), text(v), pool.name, f"pre{i}", now) for i, v in enumerate(values)]
    run_rows = [(family, blob(a), blob(b)) for a, b in runs]
    ins = "INSERT INTO ipam_allocation (family, addr, address, pool, owner, allocated_at) VALUES (?, ?, ?, ?, ?, ?)"
    run_ins = "INSERT INTO ipam_run (family, start, stop) VALUES (?, ?, ?)"
    if cfg["backend"] == "sqlite":
        import sqlite3

        conn = sqlite3.connect(cfg["path"])
        with conn:
            conn.executemany(ins, rows)
            conn.executemany(run_ins, run_rows)
        conn.execute("ANALYZE")  # statistics as a store grown over time would have them
        conn.close()
        return
    import psycopg

    with psycopg.connect(cfg["dsn"], autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.executemany(ins.replace("?", "%s"), rows)
            cur.executemany(run_ins.replace("?", "%s"), run_rows)
        conn.execute("ANALYZE")


def worker(opts):
    pools, open_store, Request = _load(opts.collection)
    cfg = json.loads(opts.cfg)
    pool = pools[opts.pool]
    fam = [{4: "ipv4", 6: "ipv6"}[f] for f in pool.families]
    trips = RoundTrips() if cfg["backend"] == "postgresql" else None
    with open_store(cfg) as store:  # create the schema, warm the pool record
        store.apply(pool, [Request("warm")], families=fam, cooldown=0)
        store.apply(pool, [Request("warm")], state="absent", cooldown=0)
    if opts.preload:
        _preload(cfg, pool, pool.families[-1], opts.preload, sparse=opts.sparse)
    n, size = opts.n, opts.batch
    each = []  # seconds per transaction
    base_trips = trips.count if trips else 0
    wall, cpu = time.perf_counter(), time.process_time()
    if opts.measure == "task":      # what one Ansible task pays: open the store, allocate, close
        for i in range(n):
            with open_store(cfg) as store:
                store.apply(pool, [Request(f"t{i}")], families=fam, cooldown=0)
        transactions = n
    else:
        with open_store(cfg) as store:
            store.apply(pool, [Request("warm2")], families=fam, cooldown=0)
            base_trips = trips.count if trips else 0
            wall, cpu = time.perf_counter(), time.process_time()
            for b in range(n):
                t = time.perf_counter()
                store.apply(pool, [Request(f"b{b}-{i}") for i in range(size)], families=fam, cooldown=0)
                each.append(time.perf_counter() - t)
        transactions = n
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    owners = transactions * (1 if opts.measure == "task" else size)
    out = {"rate": owners / wall, "ms": wall / transactions * 1000, "cpu_ms": cpu / transactions * 1000,
           "ms_per_owner": (statistics.median(each) if each else wall / transactions) / size * 1000}
    if trips:
        out["round_trips"] = (trips.count - base_trips) / transactions
    print(json.dumps(out))


# --------------------------------------------------------------------------------------------------
# the parent


class Backend:
    def __init__(self, name, server_dsn=None):
        self.name = name
        self.server_dsn = server_dsn
        self.tmp = tempfile.mkdtemp(prefix="ipam-bench-")

    def fresh(self) -> dict:
        if self.name == "sqlite":
            return {"backend": "sqlite", "path": os.path.join(self.tmp, f"{uuid.uuid4().hex}.sqlite")}
        import psycopg

        schema = "b_" + uuid.uuid4().hex[:10]
        with psycopg.connect(self.server_dsn, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        return {"backend": "postgresql", "dsn": f"{self.server_dsn}?options=-csearch_path%3D{schema}"}

    def drop(self, cfg):
        if self.name == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(cfg["path"] + suffix):
                    os.unlink(cfg["path"] + suffix)
            return
        import psycopg

        schema = cfg["dsn"].rsplit("%3D", 1)[1]
        with psycopg.connect(self.server_dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def measure(collection, backend, measure_name, pool="dual", n=100, batch=1, preload=0, sparse=False):
    cfg = backend.fresh()
    try:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--collection", collection, "--cfg",
               json.dumps(cfg), "--measure", measure_name, "--pool", pool, "--n", str(n), "--batch", str(batch),
               "--preload", str(preload)] + (["--sparse"] if sparse else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"worker {measure_name} ({collection}) failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        backend.drop(cfg)


def export_baseline(rev, dest):
    """The collection at ``rev`` (its plugins) as dest/ansible_collections/vmnet/ipfabric."""
    root = os.path.join(dest, "ansible_collections", "vmnet")
    os.makedirs(root)
    archive = subprocess.run(["git", "-C", REPO, "archive", "--prefix=ipfabric/", rev, "plugins"],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        return archive.stderr.decode(errors="replace").strip()
    subprocess.run(["tar", "-x", "-C", root], input=archive.stdout, check=True)
    return None


def current_collection(dest):
    root = os.path.join(dest, "ansible_collections", "vmnet")
    os.makedirs(root)
    os.symlink(REPO, os.path.join(root, "ipfabric"))


def start_postgres():
    was = subprocess.run([POSTGRES_SH, "status"], capture_output=True, check=False).returncode == 0
    out = subprocess.run([POSTGRES_SH, "start"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return None, was
    return out.stdout.strip().splitlines()[-1], was


def pg_rtt_ms(dsn, n=300):
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        times = []
        for dummy in range(n):
            t = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "load average: %.2f, %.2f, %.2f" % os.getloadavg()


def med(results, key):
    return statistics.median(r[key] for r in results)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--collection", help=argparse.SUPPRESS)
    ap.add_argument("--cfg", help=argparse.SUPPRESS)
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--pool", default="dual", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=100, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--preload", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--sparse", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--runs", type=int, default=5, help="rounds; the tables give medians (default 5)")
    ap.add_argument("--baseline", default=BASELINE, help="git revision of the old implementation")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--quick", action="store_true", help="smaller counts, 2 rounds (a smoke run)")
    ap.add_argument("--no-write", action="store_true", help="print only, do not touch docs/benchmarks.md")
    opts = ap.parse_args()
    if opts.worker:
        worker(opts)
        return
    q = opts.quick
    runs = 2 if q else opts.runs
    tmp = tempfile.mkdtemp(prefix="ipam-bench-collections-")
    try:
        new_dir, old_dir = os.path.join(tmp, "new"), os.path.join(tmp, "old")
        current_collection(new_dir)
        problem = export_baseline(opts.baseline, old_dir)
        impls = [("new", new_dir)] + ([("old", old_dir)] if problem is None else [])
        if problem:
            print(f"no baseline {opts.baseline}: {problem}; measuring the current code only", file=sys.stderr)
        report(opts, q, runs, impls)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(opts, q, runs, impls):
    backends = [Backend("sqlite")]
    pg_started_here = False
    if not opts.no_postgres:
        dsn, was = start_postgres()
        if dsn:
            backends.append(Backend("postgresql", dsn))
            pg_started_here = not was
    started = time.time()
    load_before = uptime()
    single_n, task_n, batches = (60, 15, 4) if q else (300, 60, 10)
    shapes = {"single": ("single", single_n, 1), "task": ("task", task_n, 1), "batched": ("batched", batches, 100)}
    results = {}  # (backend, shape, impl) -> [result]
    for r in range(runs):
        for be in backends:
            order = impls if r % 2 == 0 else impls[::-1]
            for shape, (name, n, batch) in shapes.items():
                for impl, path in order:
                    res = measure(path, be, name, n=n, batch=batch)
                    results.setdefault((be.name, shape, impl), []).append(res)
                    print(f"round {r + 1}/{runs} {be.name:10s} {shape:8s} {impl}: {res['rate']:8.0f} owners/s "
                          f"{res['ms']:7.2f} ms/transaction", flush=True)
    load_mid = uptime()
    lines = ["### Throughput, old allocator vs new (dual-stack pool: one IPv4 and one IPv6 address per owner)", "",
             f"Median of {runs} rounds; in each round old and new ran one after the other (alternating which "
             "goes first), each measurement in its own process on a fresh store. \"single\": one owner per "
             "transaction, the store open; \"as a task\": what one Ansible task pays (open the store, "
             "allocate one owner, close); \"batched\": 100 owners per transaction (the `owners:` list form).",
             "", "| store | shape | old | new | new / old | ms per transaction, old -> new | target (issue 13.5) |",
             "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    have_old = any(impl == "old" for impl, dummy in impls)
    for be in backends:
        for shape in shapes:
            new = results[(be.name, shape, "new")]
            old = results.get((be.name, shape, "old"))
            label = {"single": "single", "task": "single, as a task", "batched": "batched (100)"}[shape]
            target = TARGETS.get((be.name, shape))
            verdict = ""
            if target:
                summary = {"rate": med(new, "rate"), "ms": med(new, "ms")}
                verdict = f"{target[0]}: **{'met' if target[1](summary) else 'missed'}**"
            old_rate = f"{med(old, 'rate'):,.0f} owners/s" if old else "-"
            ratio = f"{med(new, 'rate') / med(old, 'rate'):.1f}x" if old else "-"
            old_ms = f"{med(old, 'ms'):.2f} -> " if old else ""
            lines.append(f"| {be.name} | {label} | {old_rate} | {med(new, 'rate'):,.0f} owners/s | {ratio} | "
                         f"{old_ms}{med(new, 'ms'):.2f} | {verdict} |")
    lines.append("")

    # where the time of a transaction goes
    rtt = pg_rtt_ms(backends[1].server_dsn) if len(backends) > 1 else None
    lines += ["### Where the time of a transaction goes", "",
              "Medians of the rounds above, per transaction: the CPU time of the client process (Python, psycopg, "
              "SQLite's own work, and the kernel's part of an fsync), the rest is waiting (PostgreSQL: the round "
              "trips over loopback and the server's work, the commit's WAL flush included; SQLite: the commit's "
              "fsync). Round trips: statements sent outside a pipeline plus pipelines, counted in the worker; "
              "the loopback round trip (`SELECT 1`) measured after the rounds"
              + (f": {rtt:.3f} ms." if rtt else "."), "",
              "| store | shape | implementation | ms per transaction | client CPU ms | waiting ms | round trips |",
              "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for be in backends:
        for shape in ("single", "batched"):
            for impl, dummy in sorted(impls, reverse=True):
                res = results.get((be.name, shape, impl))
                if not res:
                    continue
                ms, cpu = med(res, "ms"), med(res, "cpu_ms")
                trips = f"{med(res, 'round_trips'):.0f}" if be.name == "postgresql" else "-"
                lines.append(f"| {be.name} | {shape} | {impl} | {ms:.2f} | {cpu:.2f} | {max(ms - cpu, 0):.2f} | "
                             f"{trips} |")
    lines.append("")

    # cost of one allocation vs allocations held and pool size (new implementation)
    counts = [1_000, 10_000, 50_000] if not q else [1_000, 5_000]
    big = 100_000 if not q else 10_000
    lines += ["### Cost of one allocation vs allocations held and pool size (IPv6, new allocator)", "",
              "Milliseconds per allocation in transactions of 200 owners (median of 7 transactions), so that the "
              "commit (an fsync, the same whatever the pool) does not drown the search. The allocations already "
              "held are loaded with plain SQL first (not measured), dense from the bottom of the pool (the "
              "allocator's own pattern) or scattered at random (each its own run: the worst case for the run "
              "index).", "", "| store | pool | pool size | held | ms per allocation |",
              "| --- | --- | ---: | ---: | ---: |"]
    table = {}
    new_dir = dict(impls)["new"]
    for be in backends:
        for pname, bits in (("p112", 16), ("p64", 64), ("p48", 80)):
            for n in counts + ([big] if pname != "p112" else []):
                res = measure(new_dir, be, "batched", pool=pname, n=7, batch=200, preload=n)
                table[(be.name, pname, n)] = res["ms_per_owner"]
                lines.append(f"| {be.name} | /{pname[1:]} | 2^{bits} | {n:,} | {res['ms_per_owner']:.3f} |")
                print(lines[-1], flush=True)
        res = measure(new_dir, be, "batched", pool="p64", n=7, batch=200, preload=big, sparse=True)
        table[(be.name, "p64-sparse", big)] = res["ms_per_owner"]
        lines.append(f"| {be.name} | /64, scattered | 2^64 | {big:,} (random) | {res['ms_per_owner']:.3f} |")
        print(lines[-1], flush=True)
    lines.append("")
    for be in backends:
        a, b = table[(be.name, "p64", counts[0])], table[(be.name, "p64", big)]
        c, d = table[(be.name, "p112", counts[-1])], table[(be.name, "p48", counts[-1])]
        lines.append(f"{be.name}: /64 with {big:,} held vs {counts[0]:,} held: {b / a:.2f}x; "
                     f"/48 (2^80 addresses) vs /112 (2^16) at {counts[-1]:,} held: {d / c:.2f}x.")
    lines += ["", f"Load before the run: `{load_before}`; after the throughput rounds: `{load_mid}`; "
              f"at the end: `{uptime()}`. The machine is shared with lab runs, so absolute numbers vary between "
              "runs; old and new measured in the same rounds are the comparison. "
              f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
              f"SQLite {__import__('sqlite3').sqlite_version} (WAL, synchronous=FULL), PostgreSQL from "
              "tests/tools/postgres.sh (fsync on, loopback TCP). Old: " + (
                  f"`{opts.baseline}`" if have_old else "not measured") + f". Run took {time.time() - started:.0f} s"
              + (" (--quick)" if q else "") + "."]
    for be in backends:
        be.cleanup()
    if pg_started_here:
        subprocess.run([POSTGRES_SH, "stop"], capture_output=True, check=False)
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if not opts.no_write:
        write_section(text)


def write_section(body: str):
    section = ("## IPAM\n\nProduced by `python tests/benchmarks/ipam_bench.py` (see docs/ipam.md for what is "
               "measured and why the cost does not depend on the pool size).\n\n" + body)
    old = open(DOC, encoding="utf-8").read() if os.path.exists(DOC) else "# Benchmarks\n"
    pattern = re.compile(r"^## IPAM\n.*?(?=^## |\Z)", re.S | re.M)
    new = pattern.sub(lambda _m: section + "\n", old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + section
    with open(DOC, "w", encoding="utf-8") as fh:
        fh.write(new)
    print(f"wrote the IPAM section of {DOC}")


if __name__ == "__main__":
    main()
