#!/usr/bin/env python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IPAM benchmark: allocations per second (single and batched, SQLite and PostgreSQL) and the cost of
one allocation as a function of the number of allocations and of the pool size.

    .venv/bin/python tests/benchmarks/ipam_bench.py [--no-postgres] [--quick] [--no-write]

Writes its tables to the ``## IPAM`` section of docs/benchmarks.md (other sections are kept).
PostgreSQL comes from tests/tools/postgres.sh (installed and started if needed, stopped afterwards
if this script started it).
"""
from __future__ import annotations

import argparse
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


def _import_collection():
    base = tempfile.mkdtemp(prefix="vmnet-ipfabric-bench-")
    os.makedirs(os.path.join(base, "ansible_collections", "vmnet"))
    os.symlink(REPO, os.path.join(base, "ansible_collections", "vmnet", "ipfabric"))
    sys.path.insert(0, base)
    return base


_BASE = _import_collection()
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_config import open_store  # noqa: E402
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import parse_pools  # noqa: E402
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_requests import Request  # noqa: E402
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_schema import addr_blob as _blob  # noqa: E402
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.pools import addr_text  # noqa: E402


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

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def preload(cfg, pool, family, count, sparse=False, seed=1):
    """Put ``count`` allocations into the store directly (setup only, not measured): dense from the
    bottom of the pool, or scattered at random over it."""
    first, last = pool.intervals[family][0]
    if sparse:
        rnd = random.Random(seed)
        values = sorted({rnd.randint(first, last) for dummy in range(count)})
    else:
        values = list(range(first, first + count))
    runs, start, prev = [], None, None
    for v in values:
        if start is None:
            start = prev = v
        elif v == prev + 1:
            prev = v
        else:
            runs.append((start, prev))
            start = prev = v
    if start is not None:
        runs.append((start, prev))
    with open_store(cfg) as store:
        store.apply(pool, [Request("warmup")], families=[{4: "ipv4", 6: "ipv6"}[family]], cooldown=0)
        store.apply(pool, [Request("warmup")], state="absent", cooldown=0)
        now = time.time()
        rows = [(family, _blob(v), addr_text(family, v), pool.name, f"pre{i}", now) for i, v in enumerate(values)]
        run_rows = [(family, _blob(a), _blob(b)) for a, b in runs]
        with store.transaction() as tx:
            ins = ("INSERT INTO ipam_allocation (family, addr, address, pool, owner, allocated_at) "
                   "VALUES (?, ?, ?, ?, ?, ?)")
            tx.cur.executemany(store.sql(ins), rows)
            tx.cur.executemany(store.sql("INSERT INTO ipam_run (family, start, stop) VALUES (?, ?, ?)"), run_rows)
        with store.transaction() as tx:
            tx.q("ANALYZE")  # statistics as a store grown over time would have them
    return len(values)


def rate_single(cfg, pool, n):
    with open_store(cfg) as store:
        store.apply(pool, [Request("warm")], cooldown=0)
        t = time.perf_counter()
        for i in range(n):
            store.apply(pool, [Request(f"s{i}")], cooldown=0)
        return n / (time.perf_counter() - t)


def rate_task(cfg, pool, n):
    """What one Ansible task pays: open the store, allocate one owner, close."""
    t = time.perf_counter()
    for i in range(n):
        with open_store(cfg) as store:
            store.apply(pool, [Request(f"t{i}")], cooldown=0)
    return n / (time.perf_counter() - t)


def rate_batched(cfg, pool, batches, size):
    with open_store(cfg) as store:
        t = time.perf_counter()
        for b in range(batches):
            store.apply(pool, [Request(f"b{b}-{i}") for i in range(size)], cooldown=0)
        return batches * size / (time.perf_counter() - t)


def ms_per_alloc(cfg, pool, family, n=200, rounds=3):
    """Milliseconds per allocation inside one transaction of ``n`` owners: the search and the writes,
    with the commit (an fsync, the same for any pool) spread over the batch. Median of ``rounds``."""
    fam = {4: "ipv4", 6: "ipv6"}[family]
    times = []
    with open_store(cfg) as store:
        for r in range(rounds):
            t = time.perf_counter()
            store.apply(pool, [Request(f"m{r}-{i}") for i in range(n)], families=[fam], cooldown=0)
            times.append((time.perf_counter() - t) / n)
    return statistics.median(times) * 1000


def start_postgres():
    was = subprocess.run([POSTGRES_SH, "status"], capture_output=True, check=False).returncode == 0
    out = subprocess.run([POSTGRES_SH, "start"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return None, was
    return out.stdout.strip().splitlines()[-1], was


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--quick", action="store_true", help="smaller counts (a smoke run)")
    ap.add_argument("--no-write", action="store_true", help="print only, do not touch docs/benchmarks.md")
    opts = ap.parse_args()
    q = opts.quick
    pools = parse_pools([
        {"name": "v4", "ipv4": ["198.18.0.0/15"]},
        {"name": "p112", "ipv6": ["2001:db8:112::/112"]},
        {"name": "p64", "ipv6": ["2001:db8:64::/64"]},
        {"name": "p48", "ipv6": ["2001:db8:48::/48"]},
        {"name": "dual", "ipv4": ["198.51.96.0/20"], "ipv6": ["2001:db8:100::/64"]},
    ])
    backends = [Backend("sqlite")]
    pg_started_here = False
    if not opts.no_postgres:
        dsn, was = start_postgres()
        if dsn:
            backends.append(Backend("postgresql", dsn))
            pg_started_here = not was
    lines = []
    started = time.time()

    # 1. throughput
    n_single, n_task, batches, size = (50, 20, 5, 50) if q else (400, 100, 20, 100)
    lines += ["### Throughput (dual-stack pool: one IPv4 and one IPv6 address per owner)", "",
              "| store | single: 1 owner per transaction, store open | single, as a task: open + allocate + close "
              "| batched: 100 owners per transaction |", "| --- | ---: | ---: | ---: |"]
    rates = {}
    for be in backends:
        s = rate_single(be.fresh(), pools["dual"], n_single)
        t = rate_task(be.fresh(), pools["dual"], n_task)
        b = rate_batched(be.fresh(), pools["dual"], batches, size)
        rates[be.name] = (s, t, b)
        lines.append(f"| {be.name} | {s:.0f} owners/s | {t:.0f} owners/s | {b:.0f} owners/s |")
        print(lines[-1], flush=True)
    lines.append("")
    for name, (s, dummy, b) in rates.items():
        lines.append(f"Batching speeds {name} up {b / s:.1f}x (same run).")
    if len(rates) == 2:
        lines.append(f"SQLite / PostgreSQL, single: {rates['sqlite'][0] / rates['postgresql'][0]:.1f}x; "
                     f"batched: {rates['sqlite'][2] / rates['postgresql'][2]:.1f}x.")
    lines.append("")

    # 2. cost of one allocation vs allocations held and pool size
    counts = [1_000, 10_000, 50_000] if not q else [1_000, 5_000]
    big = 100_000 if not q else 10_000
    lines += ["### Cost of one allocation vs allocations held and pool size (IPv6)", "",
              "Milliseconds per allocation in transactions of 200 owners (median of 3), so that the commit "
              "(an fsync, the same whatever the pool) does not drown the search.", "",
              "Allocations already held are loaded directly into the store first (setup, not measured), "
              "dense from the bottom of the pool (the allocator's own pattern) or scattered at random "
              "(each one its own run: the worst case for the run index).", "",
              "| store | pool | pool size | held (dense) | ms per allocation |", "| --- | --- | ---: | ---: | ---: |"]
    table = {}
    for be in backends:
        for pname in ("p112", "p64", "p48"):
            for n in counts + ([big] if pname != "p112" else []):
                cfg = be.fresh()
                preload(cfg, pools[pname], 6, n)
                ms = ms_per_alloc(cfg, pools[pname], 6)
                table[(be.name, pname, n)] = ms
                lines.append(f"| {be.name} | {pname[1:] and '/' + pname[1:]} | 2^{pools[pname].size(6).bit_length()} "
                             f"| {n:,} | {ms:.2f} |")
                print(lines[-1], flush=True)
        cfg = be.fresh()
        preload(cfg, pools["p64"], 6, big, sparse=True)
        ms = ms_per_alloc(cfg, pools["p64"], 6)
        table[(be.name, "p64-sparse", big)] = ms
        lines.append(f"| {be.name} | /64, scattered | 2^64 | {big:,} (random) | {ms:.2f} |")
        print(lines[-1], flush=True)
    lines.append("")
    for be in backends:
        a = table[(be.name, "p64", counts[0])]
        b = table[(be.name, "p64", big)]
        c = table[(be.name, "p112", counts[-1])]
        d = table[(be.name, "p48", counts[-1])]
        lines.append(f"{be.name}: /64 with {big:,} held vs {counts[0]:,} held: {b / a:.2f}x; "
                     f"/48 (2^80 addresses) vs /112 (2^16) at {counts[-1]:,} held: {d / c:.2f}x.")
    lines.append("")
    lines.append(f"Load average at the end: {os.getloadavg()[0]:.1f} (the machine is shared with lab runs; "
                 "absolute numbers vary between runs, ratios measured in the same run are the point). "
                 f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
                 f"SQLite {__import__('sqlite3').sqlite_version} (WAL, synchronous=FULL), PostgreSQL from "
                 f"tests/tools/postgres.sh (fsync on, loopback TCP). Run took {time.time() - started:.0f} s"
                 + (" (--quick)" if q else "") + ".")

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
    old = open(DOC).read() if os.path.exists(DOC) else "# Benchmarks\n"
    pattern = re.compile(r"^## IPAM\n.*?(?=^## |\Z)", re.S | re.M)
    new = pattern.sub(lambda _m: section + "\n", old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + section
    with open(DOC, "w") as fh:
        fh.write(new)
    print(f"wrote the IPAM section of {DOC}")


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(_BASE, ignore_errors=True)
