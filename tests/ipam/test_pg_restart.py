# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL restarted (fast, then immediate = crash) while allocations run (issue 7).

A writer allocates a fixed number of batches the way the action plugin does (a store per batch). Two
of its batches stop inside their transaction, after their inserts and before the commit, until the
test has restarted the server under them; so each restart is certain to hit a transaction in flight,
however fast or slow the machine is, and the writer asks for a known number of owners, far fewer than
the pool holds (issue 12.6: the old writer ran for 20 seconds and exhausted the pool on a fast machine).

Whatever the writer saw committed must be in the store with the same addresses; the two interrupted
batches must have failed and be wholly absent; no address twice; the run index intact; and a retry of
the failed batches completes. Uses its own server (own port and directory) so that restarting it
disturbs no other test. SIGKILL of a writer is in test_kill.py.
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
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_config import open_store
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_requests import Request

pytestmark = pytest.mark.postgres
HERE = os.path.dirname(os.path.abspath(__file__))
POSTGRES_SH = os.path.join(os.path.dirname(HERE), "tools", "postgres.sh")
PG_ENV = dict(os.environ, VMNET_PG_DIR="/var/tmp/vmnet-ipfabric-pg-faults", VMNET_PG_PORT="54347")
POOLS = [{"name": "pub", "ipv4": ["198.51.96.0/20"], "ipv6": ["2001:db8:100::/64"]}]
BATCH = 5
BATCHES = 60                          # the writer's whole run: bounded by count, not by time
STALLS = {20: "fast", 40: "immediate"}  # batch -> the restart that hits it inside its transaction
WAIT = 300                            # seconds: an upper bound for a step, never the pace of the test
CTX = multiprocessing.get_context("fork")


@pytest.fixture(scope="module")
def own_pg():
    out = subprocess.run([POSTGRES_SH, "start"], env=PG_ENV, capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        pytest.fail("tests/tools/postgres.sh start (own server for the restart test) failed:\n" + out.stderr[-2000:])
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


def _server_log_tail():
    try:
        with open(os.path.join(PG_ENV["VMNET_PG_DIR"], "server.log"), encoding="utf-8", errors="replace") as fh:
            return fh.read()[-2000:]
    except OSError as exc:
        return "(no server log: %s)" % exc


def _stall_hook(control, batch):
    """Inside the batch's transaction, after its first insert: say so, wait until the server was restarted."""
    def hook(tx, event):
        del tx
        if event != "insert" or os.path.exists(os.path.join(control, "stalled-%d" % batch)):
            return
        with open(os.path.join(control, "stalled-%d" % batch), "w", encoding="utf-8") as fh:
            fh.write("in transaction\n")
        deadline = time.monotonic() + WAIT
        while not os.path.exists(os.path.join(control, "restarted-%d" % batch)):
            if time.monotonic() > deadline:
                raise RuntimeError("batch %d: the test never restarted the server" % batch)
            time.sleep(0.01)
    return hook


def _writer(cfg, out_path, control):
    """Allocate BATCHES batches; log every batch as ok (with addresses) or failed (with the error)."""
    pool = parse_pools(POOLS)["pub"]
    with open(out_path, "w", encoding="utf-8") as log:
        for b in range(BATCHES):
            owners = ["w%03d-%d" % (b, i) for i in range(BATCH)]
            try:
                with open_store(cfg) as store:
                    if b in STALLS:
                        store.hook = _stall_hook(control, b)
                    res = store.apply(pool, [Request(o) for o in owners], cooldown=0)
                entry = {"batch": b, "ok": True, "got": [[r.owner, r.after["ipv4"], r.after["ipv6"]] for r in res]}
            except Exception as exc:  # noqa: BLE001 - every failure is recorded and checked
                entry = {"batch": b, "ok": False, "owners": owners, "error": "%s: %s" % (type(exc).__name__, exc)}
            log.write(json.dumps(entry) + "\n")
            log.flush()


def _wait_for(path, proc, out, what):
    deadline = time.monotonic() + WAIT
    while not os.path.exists(path):
        writer_log = out.read_text() if out.exists() else ""
        assert proc.is_alive(), "the writer died before %s (exit code %s); its log:\n%s" % (
            what, proc.exitcode, writer_log[-3000:])
        assert time.monotonic() < deadline, "no %s after %d s; the writer's log:\n%s" % (what, WAIT, writer_log[-3000:])
        time.sleep(0.01)


def test_postgres_restarted_mid_run(own_pg, tmp_path):
    pool = parse_pools(POOLS)["pub"]
    # the writer's demand, sized against the pool (both families): it can never exhaust it
    assert BATCHES * BATCH < min(pool.size(4), pool.size(6)), "the test pool must hold every owner the writer asks for"
    cfg = {"backend": "postgresql", "dsn": own_pg, "cooldown": 0, "lock_timeout": 30}
    with open_store(cfg) as store:  # a clean slate in this server
        store.apply(pool, [Request("probe")], cooldown=0)
        store.apply(pool, [Request("probe")], state="absent", cooldown=0)
        assert not [r for r in store.rows() if r["owner"]], "the restart test's server holds allocations of a run before"
    out = tmp_path / "writer.jsonl"
    control = tmp_path / "control"
    control.mkdir()
    proc = CTX.Process(target=_writer, args=(cfg, str(out), str(control)))
    proc.start()
    try:
        for batch, mode in sorted(STALLS.items()):
            _wait_for(control / ("stalled-%d" % batch), proc, out, "batch %d inside its transaction" % batch)
            res = _pg_ctl("-m", mode, "-w", "-t", "60", "restart")
            assert res.returncode == 0, "pg_ctl -m %s restart failed (rc %d); server log:\n%s" % (
                mode, res.returncode, _server_log_tail())
            (control / ("restarted-%d" % batch)).touch()
        proc.join(timeout=WAIT)
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert proc.exitcode == 0 and len(lines) == BATCHES, "writer exit code %s, %d of %d batches logged:\n%s" % (
        proc.exitcode, len(lines), BATCHES, out.read_text()[-3000:])

    ok = [x for x in lines if x["ok"]]
    failed = [x for x in lines if not x["ok"]]
    # exactly the two interrupted batches failed: a restart kills the transaction in flight, and the next
    # batch (a new connection, after pg_ctl -w said the server is up) works
    assert sorted(x["batch"] for x in failed) == sorted(STALLS), "failed batches:\n" + "\n".join(
        "batch %d: %s" % (x["batch"], x["error"]) for x in failed)
    committed = {o: (a4, a6) for x in ok for o, a4, a6 in x["got"]}

    with open_store(cfg) as store:
        rows = store.rows()
        assert store.check_runs() == [], "the run index is inconsistent after the restarts"
        held = {}
        for r in rows:
            if r["owner"]:
                held.setdefault(r["owner"], {})[r["family"]] = r["address"]
        # nothing the writer saw committed was lost or changed
        lost = {o: (want, held.get(o)) for o, want in committed.items()
                if held.get(o) != {"ipv4": want[0], "ipv6": want[1]}}
        assert not lost, "committed allocations lost or changed (owner: (committed, in the store)): %r" % lost
        # an interrupted batch left nothing behind (its inserts were never committed)
        leftovers = [o for x in failed for o in x["owners"] if o in held]
        assert leftovers == [], "owners of an interrupted batch are in the store: %r" % leftovers
        # no address twice
        addrs = [r["address"] for r in rows]
        assert len(addrs) == len(set(addrs)), "an address is held twice"
        for r in rows:
            fam = 4 if r["family"] == "ipv4" else 6
            assert pool.contains(fam, int(ipaddress.ip_address(r["address"]))), r
        # the failed batches complete on retry
        retried = store.apply(pool, [Request(o) for x in failed for o in x["owners"]], cooldown=0)
        assert all(r.changed and r.after["ipv4"] and r.after["ipv6"] for r in retried), retried
    print("pg restart: %d batches committed, %d interrupted by the restarts (%s)"
          % (len(ok), len(failed), "; ".join(x["error"][:80] for x in failed)))
