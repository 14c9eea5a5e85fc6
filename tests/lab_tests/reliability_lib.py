# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the reliability and security lab tests (issue 7): host and IPAM snapshots, waits.

Everything reaches the hosts through `tests/lab/lab exec` (fabric.lab_exec) of the instance named by
VMNET_LAB_INSTANCE; nothing outside the lab's namespaces is contacted.
"""
import json
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import yaml

import fabric
from conftest import ANSIBLE_BIN, INVENTORY, REPO

HOSTS = ["core1", "rr1", "rr2", "node1", "node2", "node3"]
NODES = ["node1", "node2", "node3"]
_SNAP = ("ip -j -d link show; echo @@; ip -j addr show; echo @@; ip -j -4 route show; echo @@; "
         "ip -j -6 route show; echo @@; vtysh -c 'show running-config'")
_VOLATILE = ("valid_life_time", "preferred_life_time", "expires", "stats", "stats64", "gso_max_segs")


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items() if k not in _VOLATILE}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def host_snapshot(host):
    """Links, addresses, IPv4/IPv6 routes and FRR's running config of one host."""
    out = fabric.lab_exec(host, "sh", "-c", _SNAP, timeout=60).stdout
    parts = out.split("@@\n")
    assert len(parts) == 5, out[-2000:]
    snap = {name: _clean(json.loads(text or "[]")) for name, text in zip(("link", "addr", "route4", "route6"), parts)}
    snap["frr"] = [line for line in parts[4].splitlines() if line.strip()]
    return snap


def snapshot(hosts=tuple(HOSTS)):
    with ThreadPoolExecutor(len(hosts)) as ex:
        return dict(zip(hosts, ex.map(host_snapshot, hosts)))


def settled_snapshot(hosts=tuple(HOSTS), timeout=60):
    """A snapshot once the hosts have settled: two in a row alike (a VM that just became present gets
    its routes from the presence agent and a kernel link-local address that is tentative for a second)."""
    deadline = time.monotonic() + timeout
    last = snapshot(hosts)
    while True:
        time.sleep(1)
        now = snapshot(hosts)
        if now == last:
            return now
        if time.monotonic() > deadline:
            raise AssertionError("the hosts did not settle in {} s: {}".format(timeout, diff_snapshots(last, now)))
        last = now


def diff_snapshots(before, after):
    """A short description of what changed between two snapshots ('' when nothing)."""
    lines = []
    for host in sorted(before):
        for key in before[host]:
            if before[host][key] != after[host][key]:
                b, a = before[host][key], after[host][key]
                if key == "frr":
                    extra = sorted(set(a) - set(b))[:5]
                    gone = sorted(set(b) - set(a))[:5]
                    lines.append("{} {}: +{} -{}".format(host, key, extra, gone))
                else:
                    lines.append("{} {}: {} -> {} entries".format(host, key, len(b), len(a)))
    return "\n".join(lines)


def inventory_vars():
    with open(os.path.join(INVENTORY, "group_vars", "all.yml")) as f:
        return yaml.safe_load(f)


def ipam_path():
    return inventory_vars()["ipfabric_ipam"]["path"]


def store_dump(path=None):
    """Every row of every table of the lab's SQLite IPAM store (None when there is no store yet)."""
    path = path or ipam_path()
    if not os.path.exists(path):
        return None
    con = sqlite3.connect("file:{}?mode=ro".format(path), uri=True, timeout=30)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: sorted(map(repr, con.execute("SELECT * FROM {}".format(t)))) for t in tables}
    finally:
        con.close()


def held(path=None):
    """{owner: {'ipv4': addr, 'ipv6': addr}} of the addresses held in the lab store."""
    path = path or ipam_path()
    out = {}
    if not os.path.exists(path):
        return out
    con = sqlite3.connect("file:{}?mode=ro".format(path), uri=True, timeout=30)
    try:
        for owner, family, address in con.execute(
                "SELECT owner, family, address FROM ipam_allocation WHERE owner IS NOT NULL"):
            out.setdefault(owner, {})["ipv4" if family == 4 else "ipv6"] = address
    finally:
        con.close()
    return out


def wait_for(predicate, timeout, interval=1.0, what="condition"):
    """Poll ``predicate`` until it returns a truthy value; return (value, seconds waited)."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        last = predicate()
        if last:
            return last, time.monotonic() - t0
        time.sleep(interval)
    raise AssertionError("timed out after {} s waiting for {} (last: {!r})".format(timeout, what, last))


def bgp_peers(host, family="ipv4"):
    """{peer address: state} of the BGP sessions of a host."""
    data = fabric.vtysh_json(host, "show bgp {} unicast summary json".format(family))
    return {peer: info.get("state") for peer, info in data.get("peers", {}).items()}


def rib_prefixes(host, family="ipv4"):
    """{prefix: [paths]} of a host's BGP table."""
    data = fabric.vtysh_json(host, "show bgp {} unicast json".format(family))
    return data.get("routes", {})


def run_playbook_with(inventory, playbook, *extra, timeout=1200, env_extra=None):
    """conftest.run_playbook against another inventory (never raises on failure)."""
    import subprocess
    from conftest import PlaybookResult
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1", **(env_extra or {}))
    argv = [os.path.join(ANSIBLE_BIN, "ansible-playbook"), "-i", inventory,
            os.path.join(REPO, "playbooks", playbook)] + list(extra)
    proc = subprocess.run(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=timeout, check=False)
    return PlaybookResult(proc)
