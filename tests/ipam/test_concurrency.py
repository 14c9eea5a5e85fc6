# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""16 processes x 200 allocations at once against one store: zero duplicates (SQLite and PostgreSQL)."""
from __future__ import annotations

import ipaddress
import json
import multiprocessing
import os
import time

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import parse_pools
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_config import open_store
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_requests import Request

PROCS = int(os.environ.get("IPAM_TEST_PROCS", "16"))
PER_PROC = int(os.environ.get("IPAM_TEST_PER_PROC", "200"))
POOLS = [{"name": "pub", "ipv4": ["198.51.96.0/20"], "ipv6": ["2001:db8:100::/64"],
          "exclude": ["198.51.96.10-198.51.96.20", "2001:db8:100::5"]}]
CTX = multiprocessing.get_context("fork")


def _worker(cfg, proc, n, start_at, out_path, mode):
    pool = parse_pools(POOLS)["pub"]
    with open_store(cfg) as store:
        while time.time() < start_at:  # start together
            time.sleep(0.001)
        got = []
        for j in range(n):
            owner = f"p{proc:02d}-{j:03d}"
            r = store.apply(pool, [Request(owner)], cooldown=0)[0]
            got.append([owner, r.after["ipv4"], r.after["ipv6"]])
            if mode == "churn" and j % 3 == 2:
                # release an earlier one and ask again for an old owner: exercises reuse under contention
                old = f"p{proc:02d}-{j - 2:03d}"
                store.apply(pool, [Request(old)], state="absent", cooldown=0)
                got = [g for g in got if g[0] != old]
                r = store.apply(pool, [Request(owner)], cooldown=0)[0]
                assert not r.changed
    with open(out_path, "w") as fh:
        json.dump(got, fh)


def _run(cfg, tmp_path, mode="plain", procs=PROCS, per_proc=PER_PROC):
    start_at = time.time() + 1.0
    workers = [CTX.Process(target=_worker, args=(cfg, i, per_proc, start_at, str(tmp_path / f"out{i}.json"), mode))
               for i in range(procs)]
    t0 = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    elapsed = time.monotonic() - t0
    assert [w.exitcode for w in workers] == [0] * procs
    results = []
    for i in range(procs):
        with open(tmp_path / f"out{i}.json") as fh:
            results += json.load(fh)
    return results, elapsed


def _check(cfg, results, expected_count):
    pool = parse_pools(POOLS)["pub"]
    assert len(results) == expected_count
    v4 = [r[1] for r in results]
    v6 = [r[2] for r in results]
    assert len(set(v4)) == len(v4), "duplicate IPv4 address handed out"
    assert len(set(v6)) == len(v6), "duplicate IPv6 address handed out"
    for a in v4:
        assert pool.contains(4, int(ipaddress.IPv4Address(a)))
    for a in v6:
        assert pool.contains(6, int(ipaddress.IPv6Address(a)))
    with open_store(cfg) as store:
        rows = store.rows()
        assert store.check_runs() == []
    held = {(r["owner"], r["family"]): r["address"] for r in rows if r["owner"]}
    expected = {}
    for owner, v4addr, v6addr in results:
        expected[(owner, "ipv4")] = v4addr
        expected[(owner, "ipv6")] = v6addr
    assert held == expected


def test_16_processes_200_allocations_each(cfg, tmp_path):
    results, elapsed = _run(cfg, tmp_path)
    _check(cfg, results, PROCS * PER_PROC)
    # lowest-free under contention: the pool is filled densely from the bottom, holes only at exclusions
    pool = parse_pools(POOLS)["pub"]
    v4 = sorted(int(ipaddress.IPv4Address(r[1])) for r in results)
    assert v4[0] == pool.intervals[4][0][0]
    assert sum(1 for a, b in zip(v4, v4[1:]) if b != a + 1) == 1  # the excluded 198.51.96.10-20
    print(f"\n{cfg['backend']}: {len(results)} allocations by {PROCS} processes in {elapsed:.1f}s "
          f"({len(results) / elapsed:.0f}/s)")


def test_concurrent_churn_allocate_release(cfg, tmp_path):
    results = _run(cfg, tmp_path, mode="churn", procs=8, per_proc=60)[0]
    _check(cfg, results, 8 * 60 - 8 * 20)
