# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 6 (verify) in the real lab: playbooks/verify.yml passes on a clean fabric, then catches each
planted fault (a deleted kernel route, a stale announcement left on a node, an orphan allocation, an RR
session down), and passes again once every fault is undone.

Each fault is restored right after its check (in a finally), and the state the next step needs is
awaited with bounded polling, never a long fixed sleep.
"""
import json
import os
import subprocess
import time

import pytest

from conftest import ANSIBLE_BIN, INVENTORY, REPO, run_playbook

VMS = {"vfy1": "node1", "vfy2": "node2", "vfy3": "node3"}
STALE = "198.51.100.250/32"          # a pool address no VM of the lab tests gets (IPAM allocates from the bottom)
GHOST = "vfy-ghost"


def wait_for(what, predicate, timeout=45, interval=0.5):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError("timed out after {} s waiting for {}".format(timeout, what))
        time.sleep(interval)


def vtysh(lab, host, *commands):
    argv = ["vtysh"]
    for c in commands:
        argv += ["-c", c]
    return lab.lab_exec(host, *argv)


def bgp_prefix_on(lab, host, prefix):
    out = json.loads(vtysh(lab, host, "show bgp ipv4 unicast {} json".format(prefix)).stdout or "{}")
    return bool(out.get("paths"))


def session_state(lab, host, peer):
    peers = json.loads(vtysh(lab, host, "show bgp ipv4 unicast summary json").stdout or "{}").get("peers", {})
    return peers.get(peer, {}).get("state")


def ansible_adhoc(*args):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([os.path.join(ANSIBLE_BIN, "ansible"), "-i", INVENTORY] + list(args),
                          cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout
    return proc.stdout


class Verify:
    def __init__(self, report_dir):
        self.dir = str(report_dir)

    def __call__(self):
        res = run_playbook("verify.yml", "-e", "verify_report_dir=" + self.dir, check=False)
        with open(os.path.join(self.dir, "findings.json")) as f:
            data = json.load(f)
        return res, data

    def errors(self, data):
        return [f for f in data["findings"] if f["severity"] == "error"]


@pytest.fixture(scope="module")
def vms(lab, site):
    """Three VMs on three nodes for the module; deleted at the end."""
    run_playbook("vm_create.yml", "-e", json.dumps({"vms": [{"name": v, "node": n} for v, n in VMS.items()]}))
    addrs = {v: lab.vm_addresses(n, v) for v, n in VMS.items()}
    wait_for("the VM prefixes on core1", lambda: all(a[0] + "/32" in lab.core_routes("ipv4") for a in addrs.values()))
    yield addrs
    run_playbook("vm_delete.yml", "-e", json.dumps({"vms": [{"name": v} for v in VMS]}), check=False)


@pytest.fixture(scope="module")
def verify(tmp_path_factory):
    return Verify(tmp_path_factory.mktemp("verify-report"))


def test_clean_fabric_passes_and_writes_the_report(lab, vms, verify):
    res, data = verify()
    assert res.rc == 0, (data["findings"], res)
    assert data["verdict"] == "PASSED", data["findings"]
    states = {(s["a"], s["b"], s["afi"]): s["state"] for s in data["fabric"]["sessions"]}
    assert len(states) == 16 and set(states.values()) == {"up"}, states
    on_nodes = {vm["vm"]: n["name"] for n in data["fabric"]["nodes"] for vm in n["vms"]}
    for vm, node in VMS.items():
        assert on_nodes.get(vm) == node
    md = open(os.path.join(verify.dir, "report.md")).read()
    svg = open(os.path.join(verify.dir, "fabric.svg")).read()
    html = open(os.path.join(verify.dir, "report.html")).read()
    for vm, (v4, dummy) in vms.items():
        assert vm in md and v4 + "/32" in md
        assert ">{}<".format(vm) in svg
        assert vm in html
    for host in ("core1", "rr1", "rr2", "node1", "node2", "node3"):
        assert ">{}<".format(host) in svg
    assert svg.startswith("<?xml") and svg.rstrip().endswith("</svg>")


def test_deleted_kernel_route(lab, vms, verify):
    """A route the presence agent would put back at its next pass: the agent is stopped first (what
    verify catches is a node whose kernel lacks the route of a VM that is there)."""
    v4 = vms["vfy1"][0] + "/32"
    lab.lab_exec("node1", "systemctl", "stop", "vmnet-ipfabric-presence")
    lab.lab_exec("node1", "ip", "route", "del", v4, "dev", "vfy1_net0")
    try:
        res, data = verify()
        assert res.rc != 0
        found = [(f["where"], f["vm"], f["prefix"]) for f in verify.errors(data) if f["kind"] == "missing_kernel_route"]
        assert found == [("node1", "vfy1", v4)], data["findings"]
        assert "missing_kernel_route" in res.output
    finally:
        lab.lab_exec("node1", "systemctl", "start", "vmnet-ipfabric-presence")      # its first pass repairs it
    wait_for("vfy1 back on core1", lambda: v4 in lab.core_routes("ipv4"))


def test_stale_announcement_left_on_a_node(lab, vms, verify):
    # a network statement for a pool /32 no VM has, with a route so import-check really announces it
    lab.lab_exec("node2", "ip", "route", "replace", "blackhole", STALE)
    vtysh(lab, "node2", "configure terminal", "router bgp 65000", "address-family ipv4 unicast",
          "network " + STALE)
    try:
        wait_for("the stale prefix on core1", lambda: STALE in lab.core_routes("ipv4"))
        res, data = verify()
        assert res.rc != 0
        stale = {f["where"] for f in verify.errors(data) if f["kind"] == "stale_announcement" and f["prefix"] == STALE}
        assert {"node2", "rr1", "rr2", "core1"} <= stale, data["findings"]
        assert "stale_announcement" in res.output
    finally:
        vtysh(lab, "node2", "configure terminal", "router bgp 65000", "address-family ipv4 unicast",
              "no network " + STALE)
        lab.lab_exec("node2", "ip", "route", "del", "blackhole", STALE, check=False)
    wait_for("the stale prefix gone from core1", lambda: STALE not in lab.core_routes("ipv4"))


def test_orphan_allocation(lab, vms, verify):
    ansible_adhoc("localhost", "-m", "vmnet.ipfabric.pool_address", "-a", "owner=" + GHOST)
    try:
        res, data = verify()
        assert res.rc != 0
        orphans = [f for f in verify.errors(data) if f["kind"] == "orphan_allocation"]
        assert [f["vm"] for f in orphans] == [GHOST], data["findings"]
        assert GHOST in res.output
    finally:
        ansible_adhoc("localhost", "-m", "vmnet.ipfabric.pool_address", "-a", "owner={} state=absent".format(GHOST))


def test_rr_session_down(lab, vms, verify):
    vtysh(lab, "node3", "configure terminal", "router bgp 65000", "neighbor 172.16.0.3 shutdown")
    try:
        wait_for("rr2 to lose node3", lambda: session_state(lab, "rr2", "172.16.0.13") != "Established")
        res, data = verify()
        assert res.rc != 0
        down = [f["where"] for f in verify.errors(data) if f["kind"] == "session_down"]
        assert down == ["rr2 - node3 (ipv4)"], data["findings"]
        assert "session_down" in res.output
        states = {(s["a"], s["b"], s["afi"]): s["state"] for s in data["fabric"]["sessions"]}
        assert states[("rr2", "node3", "ipv4")] == "down" and states[("rr1", "node3", "ipv4")] == "up"
        assert "v4 down" in open(os.path.join(verify.dir, "fabric.svg")).read()
    finally:
        vtysh(lab, "node3", "configure terminal", "router bgp 65000", "no neighbor 172.16.0.3 shutdown")
    wait_for("rr2 - node3 Established again",
             lambda: session_state(lab, "rr2", "172.16.0.13") == "Established"
             and session_state(lab, "node3", "172.16.0.3") == "Established", timeout=90)
    v4 = vms["vfy3"][0] + "/32"
    wait_for("rr2 to learn vfy3 again", lambda: bgp_prefix_on(lab, "rr2", v4))


def test_passes_again_after_every_fault_is_undone(lab, vms, verify):
    res, data = verify()
    assert res.rc == 0, (data["findings"], res)
    assert data["verdict"] == "PASSED"
