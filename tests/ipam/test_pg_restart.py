# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL restarted (fast, then immediate = crash) while allocations run (issue 7).

A writer allocates batches in a loop the way the action plugin does (a store per batch); the server is
restarted twice under it. Whatever the writer saw committed must be in the store with the same
addresses; a batch that failed must be either wholly there or wholly absent; no address twice; the
run index intact; and a retry of the failed batches completes. Uses its own server (own port and
directory) so that restarting it disturbs no other test. SIGKILL of a SQLite writer is in test_kill.py.
"""
from __future__ import annotations

import ipaddress
import json
import multiprocessing
import os
import subprocess
import time

import pytest

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import parse_pools
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_store import Request, open_store

pytestmark = pytest.mark.postgres
HERE = os.path.dirname(os.path.abspath(__file__))
POSTGRES_SH = os.path.join(os.path.dirname(HERE), "tools", "postgres.sh")
PG_ENV = dict(os.environ, VMNET_PG_DIR="/var/tmp/vmnet-ipfabric-pg-faults", VMNET_PG_PORT="54347")
POOLS = [{"name": "pub", "ipv4": ["198.51.96.0/20"], "ipv6": ["2001:db8:100::/64"]}]
BATCH = 5
DURATION = 20.0  # seconds of allocations; the two restarts happen inside it
CTX = multiprocessing.get_context("fork")


@pytest.fixture(scope="module")
def own_pg():
    out = subprocess.run([POSTGRES_SH, "start"], env=PG_ENV, capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        pytest.skip("no PostgreSQL server: " + out.stderr[-500:])
    dsn = out.stdout.strip().splitlines()[-1]
    yield dsn
    subprocess.run([POSTGRES_SH, "stop"], env=PG_ENV, capture_output=True, timeout=120, check=False)


def _pg_ctl(*args):
    bindir = sorted(d for d in (os.path.join("/usr/lib/postgresql", v, "bin") for v in os.listdir("/usr/lib/postgresql"))
                    if os.path.exists(os.path.join(d, "pg_ctl")))[-1]
    data = os.path.join(PG_ENV["VMNET_PG_DIR"], "data")
    log = os.path.join(PG_ENV["VMNET_PG_DIR"], "server.log")
    cmd = [os.path.join(bindir, "pg_ctl"), "-D", data, "-l", log] + list(args)
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    # no pipes: the restarted postmaster would inherit them and the call would never see EOF
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          timeout=120, check=False)


def _writer(cfg, out_path, stop_at):
    """Allocate batches until stop_at; log every batch as ok (with addresses) or failed (with the error)."""
    pool = parse_pools(POOLS)["pub"]
    n = 0
    with open(out_path, "w") as log:
        while time.time() < stop_at:
            owners = ["w%05d" % (n + i) for i in range(BATCH)]
            n += BATCH
            try:
                with open_store(cfg) as store:
                    res = store.apply(pool, [Request(o) for o in owners], cooldown=0)
                log.write(json.dumps({"ok": True, "got": [[r.owner, r.after["ipv4"], r.after["ipv6"]] for r in res]})
                          + "\n")
            except Exception as exc:  # noqa: BLE001 - every failure is recorded and checked
                log.write(json.dumps({"ok": False, "owners": owners, "error": "%s: %s" % (type(exc).__name__, exc)})
                          + "\n")
                time.sleep(0.2)
            log.flush()


def test_postgres_restarted_mid_run(own_pg, tmp_path):
    cfg = {"backend": "postgresql", "dsn": own_pg, "cooldown": 0, "lock_timeout": 30}
    with open_store(cfg) as store:  # a clean slate in this server
        store.apply(parse_pools(POOLS)["pub"], [Request("probe")], cooldown=0)
        store.apply(parse_pools(POOLS)["pub"], [Request("probe")], state="absent", cooldown=0)
    out = tmp_path / "writer.jsonl"
    stop_at = time.time() + DURATION
    proc = CTX.Process(target=_writer, args=(cfg, str(out), stop_at))
    proc.start()
    time.sleep(DURATION / 4)
    fast = _pg_ctl("-m", "fast", "-w", "-t", "60", "restart")
    time.sleep(DURATION / 4)
    crash = _pg_ctl("-m", "immediate", "-w", "-t", "60", "restart")
    proc.join(timeout=DURATION + 120)
    assert proc.exitcode == 0
    assert fast.returncode == 0 and crash.returncode == 0, "pg_ctl restart failed (see server.log)"

    lines = [json.loads(line) for line in out.read_text().splitlines()]
    ok = [x for x in lines if x["ok"]]
    failed = [x for x in lines if not x["ok"]]
    assert ok, "the writer never committed anything"
    committed = {o: (a4, a6) for x in ok for o, a4, a6 in x["got"]}

    pool = parse_pools(POOLS)["pub"]
    with open_store(cfg) as store:
        rows = store.rows()
        assert store.check_runs() == [], "the run index is inconsistent after the restarts"
        held = {}
        for r in rows:
            if r["owner"]:
                held.setdefault(r["owner"], {})[r["family"]] = r["address"]
        # nothing the writer saw committed was lost or changed
        for owner, (a4, a6) in committed.items():
            assert held.get(owner) == {"ipv4": a4, "ipv6": a6}, owner
        # a failed batch is all or nothing (a commit whose acknowledgement was lost counts as there)
        for x in failed:
            present = [o for o in x["owners"] if o in held]
            assert present in ([], x["owners"]), (x, present)
        # no address twice
        addrs = [r["address"] for r in rows]
        assert len(addrs) == len(set(addrs)), "an address is held twice"
        for r in rows:
            fam = 4 if r["family"] == "ipv4" else 6
            assert pool.contains(fam, int(ipaddress.ip_address(r["address"])))
        # the failed batches complete on retry, idempotently for those that were in fact committed
        retried = store.apply(pool, [Request(o) for x in failed for o in x["owners"]], cooldown=0) if failed else []
        for r in retried:
            if r.owner in held:
                assert not r.changed and r.after == held[r.owner], r
    print("pg restart: %d batches committed, %d failed during the restarts (%s)"
          % (len(ok), len(failed), sorted({x["error"].split(":")[0] for x in failed})))
