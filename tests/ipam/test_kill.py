# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A process killed with SIGKILL in the middle of an allocation leaves the store intact and usable."""
from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import time

from ipam_testlib import snapshot

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import parse_pools
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_config import open_store
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_requests import Request

POOLS = [{"name": "pub", "ipv4": ["198.18.0.0/15"], "ipv6": ["2001:db8:100::/64"]}]
CTX = multiprocessing.get_context("fork")


def _stall_in_transaction(cfg, marker, inserts_before_stall):
    """Allocate a batch; after some inserts (uncommitted), say so and hang until killed."""
    pool = parse_pools(POOLS)["pub"]
    store = open_store(cfg)
    seen = [0]

    def hook(tx, event):
        if event == "insert":
            seen[0] += 1
            if seen[0] == inserts_before_stall:
                with open(marker, "w") as fh:
                    fh.write("in transaction")
                time.sleep(600)

    store.hook = hook
    store.apply(pool, [Request(f"doomed{i}") for i in range(20)], cooldown=0)


def _busy(cfg, seed):
    pool = parse_pools(POOLS)["pub"]
    rnd = random.Random(seed)
    with open_store(cfg) as store:
        for i in range(10_000):
            names = [f"k{seed}-{i}-{j}" for j in range(rnd.randint(1, 5))]
            store.apply(pool, [Request(n) for n in names], cooldown=0)
            if rnd.random() < 0.5:
                store.apply(pool, [Request(names[0])], state="absent", cooldown=0)


def _assert_healthy(cfg, owner="after-kill"):
    if cfg["backend"] == "sqlite":
        conn = sqlite3.connect(cfg["path"])
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    t0 = time.monotonic()
    with open_store(cfg) as store:
        assert store.check_runs() == []
        rows = store.rows()
        keys = [(r["family"], r["address"]) for r in rows]
        assert len(keys) == len(set(keys))
        r = store.apply(parse_pools(POOLS)["pub"], [Request(owner)], cooldown=0)[0]
        assert r.changed and r.after["ipv4"]
    # the dead writer's lock is gone at once, not after a timeout
    assert time.monotonic() - t0 < 10


def test_sigkill_inside_the_transaction_writes_nothing(cfg, tmp_path):
    pool = parse_pools(POOLS)["pub"]
    with open_store(cfg) as store:
        store.apply(pool, [Request("before1"), Request("before2")], cooldown=0)
    before = snapshot(cfg)
    marker = tmp_path / "marker"
    proc = CTX.Process(target=_stall_in_transaction, args=(cfg, str(marker), 7))
    proc.start()
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.is_alive() and time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert proc.exitcode == -signal.SIGKILL
    assert snapshot(cfg) == before  # the 7 uncommitted inserts are gone
    _assert_healthy(cfg)
    with open_store(cfg) as store:
        owners = {r["owner"] for r in store.rows()}
    assert owners == {"before1", "before2", "after-kill"}


def test_sigkill_at_random_moments(cfg):
    for round_ in range(4):
        procs = [CTX.Process(target=_busy, args=(cfg, round_ * 10 + i)) for i in range(3)]
        for p in procs:
            p.start()
        time.sleep(random.uniform(0.3, 1.0))
        for p in procs:
            os.kill(p.pid, signal.SIGKILL)
        for p in procs:
            p.join()
        _assert_healthy(cfg, f"after-kill-{round_}")
