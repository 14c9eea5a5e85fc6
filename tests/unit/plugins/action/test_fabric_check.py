# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vmnet.ipfabric.fabric_check on synthetic gathered data: a clean fabric, then every finding kind.

The data has the shape verify.yml gathers: vmnet.ipfabric.frr_bgp's result (made by its module_utils from
JSON shaped like FRR 8.4's, which a small fabric model below makes up), ``ip -json route``,
vm_interface/frr_network ``state: gathered``.
"""
from __future__ import annotations

import copy
import datetime
import json
import os
import xml.dom.minidom
from unittest.mock import MagicMock

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.template import Templar

from ansible_collections.vmnet.ipfabric.plugins.action.fabric_check import ActionModule, run_fabric_check
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _bgp_state
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils import fabric_analysis as fa
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils import fabric_parsers as parsers

UNDER = {"core1": 1, "rr1": 2, "rr2": 3, "node1": 11, "node2": 12, "node3": 13}
NODES, RRS, CORES = ["node1", "node2", "node3"], ["rr1", "rr2"], ["core1"]
POOLS = ["198.51.100.0/24", "2001:db8:100::/64"]
VMS = {"web1": ("node1", 10), "db1": ("node2", 11), "cache1": ("node3", 12)}
RIB_CMDS = ["show bgp summary json", "show bgp ipv4 unicast json", "show bgp ipv6 unicast json"]
CORE_CMDS = RIB_CMDS + ["show ip route bgp json", "show ipv6 route bgp json"]


def a4(h):
    return "172.16.0.%d" % UNDER[h]


def a6(h):
    return "fd0c:172:16::%d" % UNDER[h]


def vm_prefixes(n):
    return "198.51.100.%d/32" % n, "2001:db8:100::%x/128" % n


def frr_bgp(docs, routes=False):
    """What verify.yml's vmnet.ipfabric.frr_bgp task (rib: true; routes: true on the core) returns on a host
    whose FRR prints these documents ({command: JSON}): the module's own reader, on a fake vtysh."""
    req = _bgp_state.check_request(rib=True, routes=routes)

    def run(argv):
        return 0, "\n".join(json.dumps(docs[c], indent=1) for c in argv[2::2]), ""
    return dict(_bgp_state.gather(req, run), changed=False)


def frr_bgp_failed(rc, stderr):
    """frr_bgp's result when vtysh fails (the module fails with the reader's message)."""
    try:
        _bgp_state.read(_bgp_state.check_request(rib=True), lambda argv: (rc, "", stderr))
    except _bgp_state.BgpReadError as exc:
        return {"failed": True, "changed": False, "msg": str(exc)}
    raise AssertionError("vtysh rc %d did not fail the read" % rc)


class Fabric:
    """A healthy fabric as data; tests change it, then gather() gives what verify.yml would see."""

    def __init__(self, vms=None):
        self.vms = copy.deepcopy(VMS if vms is None else vms)       # vm -> (node, host number)
        self.kernel_drop = set()        # (node, prefix): kernel route deleted
        self.extra_networks = {}        # node -> [prefix]: network statements without a VM
        self.extra_kernel = {}          # node -> [prefix]: kernel routes without a VM (to lo)
        self.down = set()               # (a, b, afi) sessions down
        self.core_override = {}         # prefix -> next hop host
        self.no_interface = set()       # vms whose interface is gone (desired state remains)

    def on(self, node):
        return {vm: n for vm, (nd, n) in self.vms.items() if nd == node}

    def announced(self, node):
        """Prefixes node really announces: network statement and a route (import-check)."""
        out = []
        for vm, n in self.on(node).items():
            for p in vm_prefixes(n):
                if (node, p) not in self.kernel_drop and vm not in self.no_interface:
                    out.append(p)
        for p in self.extra_networks.get(node, []):
            if p in self.extra_kernel.get(node, []):
                out.append(p)
        return out

    def up(self, a, b, afi):
        return (a, b, afi) not in self.down and (b, a, afi) not in self.down

    def summary(self, host):
        peers = {"ipv4Unicast": {"peers": {}}, "ipv6Unicast": {"peers": {}}}
        others = RRS if host in NODES else (CORES + NODES if host in RRS else RRS)
        for o in others:
            for afi, key, addr in (("ipv4", "ipv4Unicast", a4(o)), ("ipv6", "ipv6Unicast", a6(o))):
                up = self.up(host, o, afi)
                peers[key]["peers"][addr] = {"hostname": o, "state": "Established" if up else "Active",
                                             "pfxRcd": 0}
        return peers

    def received(self, rr, afi):
        routes = {}
        for node in NODES:
            if not self.up(rr, node, afi):
                continue
            for p in self.announced(node):
                if parsers.afi_of(p) != afi:
                    continue
                nh = a4(node) if afi == "ipv4" else a6(node)
                routes.setdefault(p, []).append({
                    "valid": True, "bestpath": True, "pathFrom": "internal", "weight": 0,
                    "peerId": nh, "nexthops": [{"ip": nh, "afi": afi, "used": True}]})
        return routes

    def node_rib(self, node, afi):
        routes = {}
        for p in [q for vm, n in self.on(node).items() for q in vm_prefixes(n)] + self.extra_networks.get(node, []):
            if parsers.afi_of(p) != afi:
                continue
            path = {"pathFrom": "external", "weight": 32768, "peerId": "(unspec)",
                    "nexthops": [{"ip": "0.0.0.0" if afi == "ipv4" else "::", "used": True}]}
            if p in self.announced(node):
                path.update(valid=True, bestpath=True)       # FRR omits "valid" on an invalid path
            routes[p] = [path]
        return routes

    def core_rib(self, core, afi):
        out = {}
        for rr in RRS:
            if not self.up(core, rr, afi):
                continue
            for p, paths in self.received(rr, afi).items():
                hop = self.core_override.get(p)
                hops = [a4(hop) if afi == "ipv4" else a6(hop)] if hop else [x["nexthops"][0]["ip"] for x in paths]
                out[p] = [{"prefix": p, "protocol": "bgp", "selected": True, "installed": True,
                           "nexthops": [{"ip": h, "afi": afi, "fib": True} for h in hops]
                           + ([{"ip": "fe80::1", "afi": "ipv6"}] if afi == "ipv6" else [])}]
        for p, hop in self.core_override.items():
            if parsers.afi_of(p) == afi and p not in out:
                out[p] = [{"selected": True, "installed": True,
                           "nexthops": [{"ip": a4(hop) if afi == "ipv4" else a6(hop)}]}]
        return out

    def frr_docs(self, host):
        """{command: JSON document} of what the host's FRR would print."""
        if host in CORES:
            docs = [self.summary(host), {"routes": {}}, {"routes": {}}, self.core_rib(host, "ipv4"),
                    self.core_rib(host, "ipv6")]
            return dict(zip(CORE_CMDS, docs))
        if host in RRS:
            return dict(zip(RIB_CMDS, [self.summary(host), {"routes": self.received(host, "ipv4")},
                                       {"routes": self.received(host, "ipv6")}]))
        return dict(zip(RIB_CMDS, [self.summary(host), {"routes": self.node_rib(host, "ipv4")},
                                   {"routes": self.node_rib(host, "ipv6")}]))

    def gather(self):
        out = []
        for c in CORES:
            out.append({"host": c, "role": "core_gateway", "flavour": "frr", "addresses": [a4(c), a6(c)],
                        "bgp": frr_bgp(self.frr_docs(c), routes=True)})
        for r in RRS:
            out.append({"host": r, "role": "route_reflector", "addresses": [a4(r), a6(r)],
                        "bgp": frr_bgp(self.frr_docs(r))})
        for n in NODES:
            vms = self.on(n)
            interfaces, desired, r4, r6, networks = [], {"version": 1, "vms": {}}, [], [], []
            for vm, num in sorted(vms.items()):
                p4, p6 = vm_prefixes(num)
                itf = vm + "_net0"
                desired["vms"][vm] = {"vm": vm, "interface": itf, "ipv4": [p4], "ipv6": [p6], "kind": "veth"}
                networks += [{"prefix": p4, "address_family": "ipv4", "in_pools": True},
                             {"prefix": p6, "address_family": "ipv6", "in_pools": True}]
                if vm in self.no_interface:
                    continue
                live = [p for p in (p4, p6) if (n, p) not in self.kernel_drop]
                interfaces.append({"vm": vm, "interface": itf, "kind": "veth", "state": "present", "up": True,
                                   "ipv4": [p for p in live if ":" not in p], "ipv6": [p for p in live if ":" in p]})
                for p in live:
                    (r6 if ":" in p else r4).append({"dst": p.split("/")[0], "dev": itf, "protocol": "static"})
            for p in self.extra_networks.get(n, []):
                networks.append({"prefix": p, "address_family": parsers.afi_of(p), "in_pools": True})
            for p in self.extra_kernel.get(n, []):
                (r6 if ":" in p else r4).append({"dst": p.split("/")[0], "dev": "lo", "protocol": "boot"})
            r4.append({"dst": "172.16.0.0/24", "dev": "eth0", "protocol": "kernel"})
            routes = [{"item": "-4", "rc": 0, "stdout": json.dumps(r4)}, {"item": "-6", "rc": 0, "stdout": json.dumps(r6)}]
            out.append({"host": n, "role": "node", "addresses": [a4(n), a6(n)], "interfaces": interfaces,
                        "desired": desired, "networks": networks, "routes": routes,
                        "bgp": frr_bgp(self.frr_docs(n)), "failed_msg": ""})
        return out

    def allocations(self):
        return {vm: {"pool": "public", "uuid": None, "ipv4": vm_prefixes(n)[0].split("/")[0],
                     "ipv6": vm_prefixes(n)[1].split("/")[0]} for vm, (dummy, n) in self.vms.items()}


def analyse(fab, gathered=None, allocations=None, **kw):
    args = {"gathered": fab.gather() if gathered is None else gathered, "nodes": NODES, "route_reflectors": RRS,
            "core_gateways": CORES, "addresses": {h: [a4(h), a6(h)] for h in UNDER}, "pools": POOLS,
            "allocations": fab.allocations() if allocations is None else allocations, "fail_on": "error"}
    args.update(kw)
    return run_fabric_check(args, now=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc))


def kinds(result, severity=None):
    return sorted({f["kind"] for f in result["findings"] if severity in (None, f["severity"])})


def only(result, kind):
    return [f for f in result["findings"] if f["kind"] == kind]


# ---------------------------------------------------------------------------------------------

def test_clean_fabric_has_no_findings():
    res = analyse(Fabric())
    assert res["findings"] == []
    assert res["verdict"] == "PASSED" and not res.get("failed")
    assert {s["state"] for s in res["fabric"]["sessions"]} == {"up"}
    assert len(res["fabric"]["sessions"]) == 2 * (len(RRS) * len(NODES) + len(RRS) * len(CORES))
    assert [vm["vm"] for n in res["fabric"]["nodes"] for vm in n["vms"]] == ["web1", "db1", "cache1"]


def test_empty_fabric_is_clean():
    res = analyse(Fabric(vms={}))
    assert res["findings"] == []


def test_missing_kernel_route():
    fab = Fabric()
    fab.kernel_drop.add(("node1", "198.51.100.10/32"))
    res = analyse(fab)
    f = only(res, "missing_kernel_route")
    assert [(x["where"], x["vm"], x["prefix"]) for x in f] == [("node1", "web1", "198.51.100.10/32")]
    # and its consequences: not announced by node1, not on the RRs, not on the core
    where = sorted(x["where"] for x in only(res, "missing_announcement") if x["prefix"] == "198.51.100.10/32")
    assert where == ["core1", "node1", "rr1", "rr2"]
    assert res["failed"] and "missing_kernel_route at node1" in res["msg"]


def test_missing_network_statement():
    fab = Fabric()
    g = fab.gather()
    node2 = [e for e in g if e["host"] == "node2"][0]
    node2["networks"] = [n for n in node2["networks"] if n["prefix"] != "198.51.100.11/32"]
    res = analyse(fab, gathered=g)
    f = [x for x in only(res, "missing_announcement") if x["where"] == "node2"]
    assert f and f[0]["detail"] == "no FRR network statement" and f[0]["vm"] == "db1"


def test_stale_announcement_configured_only():
    fab = Fabric()
    fab.extra_networks["node1"] = ["198.51.100.99/32"]
    res = analyse(fab)
    f = only(res, "stale_announcement")
    assert [(x["where"], x["prefix"]) for x in f] == [("node1", "198.51.100.99/32")]
    assert "not announced" in f[0]["detail"]


def test_stale_announcement_really_announced():
    fab = Fabric()
    fab.extra_networks["node1"] = ["198.51.100.99/32"]
    fab.extra_kernel["node1"] = ["198.51.100.99/32"]
    res = analyse(fab)
    where = sorted(x["where"] for x in only(res, "stale_announcement"))
    assert where == ["core1", "node1", "rr1", "rr2"]
    assert "announced (in the BGP RIB)" in [x for x in only(res, "stale_announcement") if x["where"] == "node1"][0][
        "detail"]


def test_duplicate_announcement_from_two_nodes():
    fab = Fabric()
    fab.extra_networks["node3"] = ["198.51.100.10/32"]        # web1's address, web1 is on node1
    fab.extra_kernel["node3"] = ["198.51.100.10/32"]
    res = analyse(fab)
    dup = only(res, "duplicate_announcement")
    assert len(dup) == 1 and dup[0]["prefix"] == "198.51.100.10/32" and dup[0]["where"] == "node1, node3"
    assert any(x["where"] == "node3" and "belongs to web1 on node1" in x["detail"]
               for x in only(res, "stale_announcement"))
    assert any(x["where"] == "core1" for x in only(res, "nexthop_mismatch"))


def test_duplicate_seen_on_rr_only():
    fab = Fabric()
    g = fab.gather()
    rr1 = [e for e in g if e["host"] == "rr1"][0]
    docs = fab.frr_docs("rr1")
    docs["show bgp ipv4 unicast json"]["routes"]["198.51.100.11/32"].append({
        "valid": True, "peerId": "172.16.0.13", "weight": 0, "nexthops": [{"ip": "172.16.0.13"}]})
    rr1["bgp"] = frr_bgp(docs)
    res = analyse(fab, gathered=g)
    dup = only(res, "duplicate_announcement")
    assert [(x["where"], x["prefix"]) for x in dup] == [("rr1", "198.51.100.11/32")]
    assert "node2" in dup[0]["detail"] and "node3" in dup[0]["detail"]


def test_two_vms_with_one_address():
    fab = Fabric(vms={"web1": ("node1", 10), "web2": ("node2", 10)})
    res = analyse(fab)
    dup = only(res, "duplicate_announcement")
    assert dup and "web1 on node1" in dup[0]["detail"] and "web2 on node2" in dup[0]["detail"]


def test_nexthop_mismatch():
    fab = Fabric()
    fab.core_override["198.51.100.12/32"] = "node1"        # cache1 is on node3
    res = analyse(fab)
    f = only(res, "nexthop_mismatch")
    assert len(f) == 1 and f[0]["where"] == "core1" and f[0]["vm"] == "cache1"
    assert "cache1 is on node3" in f[0]["detail"]


def test_stale_route_on_core_only():
    fab = Fabric()
    fab.core_override["198.51.100.77/32"] = "node2"
    res = analyse(fab)
    assert [(x["where"], x["prefix"]) for x in only(res, "stale_announcement")] == [("core1", "198.51.100.77/32")]


def test_orphan_allocation():
    fab = Fabric()
    alloc = fab.allocations()
    alloc["ghost1"] = {"ipv4": "198.51.100.50", "ipv6": "2001:db8:100::50"}
    res = analyse(fab, allocations=alloc)
    assert kinds(res) == ["orphan_allocation"]
    f = only(res, "orphan_allocation")[0]
    assert f["vm"] == "ghost1" and f["where"] == "ipam" and f["prefix"] == "198.51.100.50/32"


def test_orphan_allocation_is_a_warning_while_a_node_is_unreachable():
    fab = Fabric()
    g = [e for e in fab.gather() if e["host"] != "node3"]
    alloc = fab.allocations()
    res = analyse(fab, gathered=g, allocations=alloc)
    assert only(res, "host_unreachable")[0]["where"] == "node3"
    assert only(res, "orphan_allocation")[0]["severity"] == "warning"      # cache1 may be on node3


def test_vm_without_allocation_and_mismatch():
    fab = Fabric()
    alloc = fab.allocations()
    del alloc["db1"]
    alloc["web1"]["ipv4"] = "198.51.100.200"
    res = analyse(fab, allocations=alloc)
    assert kinds(res) == ["allocation_mismatch", "vm_without_allocation"]
    assert only(res, "vm_without_allocation")[0]["vm"] == "db1"
    assert "198.51.100.200/32" in only(res, "allocation_mismatch")[0]["detail"]


def test_allocations_skipped_when_not_given():
    fab = Fabric()
    res = analyse(fab, allocations={})
    assert kinds(res) == ["vm_without_allocation"]
    args = {"gathered": fab.gather(), "nodes": NODES, "route_reflectors": RRS, "core_gateways": CORES,
            "addresses": {h: [a4(h), a6(h)] for h in UNDER}, "pools": POOLS}
    assert run_fabric_check(args)["findings"] == []


def test_session_down_node_side_shutdown():
    fab = Fabric()
    fab.down.add(("rr2", "node3", "ipv4"))
    res = analyse(fab)
    f = only(res, "session_down")
    assert [x["where"] for x in f] == ["rr2 - node3 (ipv4)"]
    # the RR misses node3's prefix because of it: a warning, not a second error
    miss = [x for x in only(res, "missing_announcement") if x["where"] == "rr2"]
    assert miss and all(x["severity"] == "warning" and "session is down" in x["detail"] for x in miss)
    assert kinds(res, "error") == ["session_down"]
    states = {(s["a"], s["b"], s["afi"]): s["state"] for s in res["fabric"]["sessions"]}
    assert states[("rr2", "node3", "ipv4")] == "down" and states[("rr2", "node3", "ipv6")] == "up"


def test_session_not_configured():
    fab = Fabric()
    g = fab.gather()
    for e in g:
        if e["host"] in ("rr1", "node1"):
            docs = fab.frr_docs(e["host"])
            other = a4("node1") if e["host"] == "rr1" else a4("rr1")
            del docs["show bgp summary json"]["ipv4Unicast"]["peers"][other]
            e["bgp"] = frr_bgp(docs)
    res = analyse(fab, gathered=g)
    assert [x["where"] for x in only(res, "session_missing")] == ["rr1 - node1 (ipv4)"]


def test_bgpd_not_running_on_a_rr():
    fab = Fabric()
    g = fab.gather()
    rr2 = [e for e in g if e["host"] == "rr2"][0]
    rr2["bgp"] = frr_bgp_failed(1, "bgpd is not running\n")
    res = analyse(fab, gathered=g)
    assert any(x["where"] == "rr2" and "bgpd is not running" in x["detail"] for x in only(res, "gather_failed"))
    # the nodes and the core still say what they see of rr2
    assert not only(res, "session_down")
    sess = [s for s in res["fabric"]["sessions"] if "rr2" in (s["a"], s["b"])]
    assert all(s["ends"]["rr2"] is None for s in sess)


def test_missing_interface():
    fab = Fabric()
    fab.no_interface.add("db1")
    res = analyse(fab)
    f = only(res, "missing_interface")
    assert [(x["where"], x["vm"]) for x in f] == [("node2", "db1")]
    assert ("node2", "db1") in {(x["where"], x["vm"]) for x in only(res, "missing_kernel_route")}


def test_duplicate_vm_on_two_nodes():
    fab = Fabric()
    g = fab.gather()
    node1 = [e for e in g if e["host"] == "node1"][0]
    node3 = [e for e in g if e["host"] == "node3"][0]
    node3["interfaces"] = node3["interfaces"] + node1["interfaces"]
    res = analyse(fab, gathered=g)
    f = only(res, "duplicate_vm")
    assert f and f[0]["vm"] == "web1" and f[0]["where"] == "node1, node3"


def test_unreachable_host_and_junos_core():
    fab = Fabric()
    g = [e for e in fab.gather() if e["host"] != "rr1"]
    for e in g:
        if e["host"] == "core1":
            e.update(flavour="junos", bgp={}, note="Junos core gateway: not read")
    res = analyse(fab, gathered=g)
    assert only(res, "host_unreachable")[0]["where"] == "rr1"
    info = only(res, "core_not_checked")
    assert info and info[0]["severity"] == "info" and info[0]["detail"] == "Junos core gateway: not read"
    assert not any(f["where"] == "core1" for f in res["findings"] if f["severity"] != "info")


def test_ipam_problems_and_fail_on():
    fab = Fabric()
    res = analyse(fab, ipam_problems=["run index off by one"], fail_on="never")
    assert kinds(res) == ["ipam_problem"] and not res.get("failed")
    fab.down.add(("rr2", "node3", "ipv4"))
    assert analyse(fab, fail_on="warning")["failed"]


def test_bad_input():
    with pytest.raises(fa.FabricDataError):
        analyse(Fabric(), gathered=[{"role": "node"}])
    with pytest.raises(fa.FabricDataError):
        analyse(Fabric(), pools=["not-a-cidr"])


def test_report_files(tmp_path):
    fab = Fabric()
    fab.kernel_drop.add(("node1", "198.51.100.10/32"))
    fab.down.add(("core1", "rr2", "ipv6"))
    alloc = fab.allocations()
    alloc["ghost1"] = {"ipv4": "198.51.100.50"}
    res = analyse(fab, allocations=alloc, report_dir=str(tmp_path / "r"))
    assert res["failed"] and res["changed"]
    paths = res["report"]
    assert sorted(os.path.basename(p) for p in paths.values()) == ["fabric.svg", "findings.json", "report.html",
                                                                   "report.md"]
    md = open(paths["markdown"]).read()
    assert md.startswith("# vmnet.ipfabric fabric: FAILED")
    for text in ("missing_kernel_route", "orphan_allocation", "ghost1", "session_down", "web1", "cache1",
                 "![the fabric](fabric.svg)", "2026-01-02 03:04:05 UTC"):
        assert text in md
    svg = open(paths["svg"]).read()
    xml.dom.minidom.parseString(svg)            # well-formed
    for text in (">core1<", ">rr1<", ">rr2<", ">node3<", ">web1<", ">db1<", ">cache1<", "v6 down", "ghost1"):
        assert text in svg
    html_text = open(paths["html"]).read()
    assert "<svg" in html_text and "FAILED" in html_text and "missing_kernel_route" in html_text
    data = json.load(open(paths["json"]))
    errors = [f for f in res["findings"] if f["severity"] == "error"]
    assert data["verdict"] == "FAILED" and data["counts"]["error"] == len(errors)


def test_report_clean_and_check_mode(tmp_path):
    res = analyse(Fabric(), report_dir=str(tmp_path / "r"))
    assert "PASSED" in open(res["report"]["markdown"]).read()
    assert "No findings" in open(res["report"]["markdown"]).read()
    args = {"gathered": Fabric().gather(), "nodes": NODES, "route_reflectors": RRS, "core_gateways": CORES,
            "addresses": {h: [a4(h), a6(h)] for h in UNDER}, "pools": POOLS, "report_dir": str(tmp_path / "c")}
    res = run_fabric_check(args, check=True)
    assert res["report"] and not os.path.exists(str(tmp_path / "c"))


# ---------------------------------------------------------------------------------------------
# through Ansible's action plugin machinery: defaults from groups and hostvars

def run_action(args, task_vars, check=False):
    task = MagicMock()
    task.args = dict(args)
    task.check_mode = check
    task.diff = False
    task.async_val = 0
    task.action = "vmnet.ipfabric.fabric_check"
    loader = DataLoader()
    templar = Templar(loader=loader, variables=task_vars)
    plugin = ActionModule(task=task, connection=MagicMock(), play_context=PlayContext(), loader=loader,
                          templar=templar, shared_loader_obj=None)
    return plugin.run(task_vars=task_vars)


def test_action_plugin_defaults_from_inventory(tmp_path):
    fab = Fabric()
    fab.kernel_drop.add(("node2", "2001:db8:100::b/128"))
    gathered = fab.gather()
    for e in gathered:
        e.pop("addresses")
    task_vars = {
        "groups": {"ipfabric_nodes": NODES, "route_reflectors": RRS, "core_gateways": CORES},
        "hostvars": {h: {"ipfabric_underlay_ipv4": a4(h), "ipfabric_underlay_ipv6": a6(h)} for h in UNDER},
        "ipfabric_pools": [{"name": "public", "ipv4": ["198.51.100.0/24"], "ipv6": ["2001:db8:100::/64"]}],
    }
    res = run_action({"gathered": gathered, "allocations": {"by_owner": fab.allocations()},
                      "report_dir": str(tmp_path)}, task_vars)
    assert res["failed"]
    assert [(f["where"], f["prefix"]) for f in res["findings"] if f["kind"] == "missing_kernel_route"] == [
        ("node2", "2001:db8:100::b/128")]
    assert os.path.exists(os.path.join(str(tmp_path), "fabric.svg"))


def test_action_plugin_rejects_unknown_option():
    res = run_action({"gathered": [], "bogus": 1}, {})
    assert res["failed"] and "bogus" in res["msg"]


# ---------------------------------------------------------------------------------------------
# the pools as the IPAM reads them (issue 11.1): ranges, exclusions

RANGE_POOLS = [{"name": "public", "ipv4": ["198.51.100.0-198.51.100.11"], "ipv6": ["2001:db8:100::-2001:db8:100::ff"]}]


def inventory(**extra):
    return dict({"groups": {"ipfabric_nodes": NODES, "route_reflectors": RRS, "core_gateways": CORES},
                 "hostvars": {h: {"ipfabric_underlay_ipv4": a4(h), "ipfabric_underlay_ipv6": a6(h)} for h in UNDER}},
                **extra)


def test_a_pool_of_ranges_only_flags_an_address_outside_it():
    """The drift bug: a pool written as ranges only used to give fabric_check no pool at all, so every
    prefix counted as inside and verify passed a VM whose address the RRs and the core drop."""
    fab = Fabric()                                      # cache1 has 198.51.100.12, outside the IPv4 range
    res = run_action({"gathered": fab.gather(), "allocations": {"by_owner": fab.allocations()}},
                     inventory(ipfabric_pools=RANGE_POOLS))
    assert res.get("failed"), res
    assert [(f["kind"], f["where"], f["vm"], f["prefix"]) for f in res["findings"]] == [
        ("missing_announcement", "node3", "cache1", "198.51.100.12/32")], res["findings"]
    assert "outside every pool" in res["findings"][0]["detail"]
    # the same pools given as the option (ranges, not only CIDRs)
    res = analyse(fab, pools=["198.51.100.0-198.51.100.11", "2001:db8:100::/120"])
    assert [(f["kind"], f["where"], f["prefix"]) for f in res["findings"]] == [
        ("missing_announcement", "node3", "198.51.100.12/32")]


def test_a_pool_of_ranges_only_still_sees_stale_announcements_inside_it():
    fab = Fabric()
    fab.extra_networks["node1"] = ["198.51.100.5/32", "192.0.2.99/32"]      # inside, outside the pools
    fab.extra_kernel["node1"] = ["198.51.100.5/32", "192.0.2.99/32"]
    res = run_action({"gathered": fab.gather(), "allocations": {"by_owner": fab.allocations()}},
                     inventory(ipfabric_pools=[dict(RANGE_POOLS[0], ipv4=["198.51.100.0-198.51.100.20"])]))
    stale = sorted((f["where"], f["prefix"]) for f in res["findings"] if f["kind"] == "stale_announcement")
    assert stale == [(h, "198.51.100.5/32") for h in ("core1", "node1", "rr1", "rr2")], res["findings"]
    assert kinds(res) == ["stale_announcement"]


def test_an_excluded_address_is_outside_the_pools():
    fab = Fabric()                                      # db1 has 198.51.100.11 and 2001:db8:100::b
    pools = [{"name": "public", "ipv4": ["198.51.100.0/24"], "ipv6": ["2001:db8:100::/64"],
              "exclude": ["198.51.100.11", "2001:db8:100::b"]}]
    res = run_action({"gathered": fab.gather(), "allocations": {"by_owner": fab.allocations()}},
                     inventory(ipfabric_pools=pools))
    assert sorted((f["kind"], f["where"], f["vm"], f["prefix"]) for f in res["findings"]) == [
        ("missing_announcement", "node2", "db1", "198.51.100.11/32"),
        ("missing_announcement", "node2", "db1", "2001:db8:100::b/128")], res["findings"]


def test_bad_pools_in_the_inventory_name_the_field():
    res = run_action({"gathered": Fabric().gather()},
                     inventory(ipfabric_pools=[{"name": "public", "ipv4": ["198.51.100.1/24"]}]))
    assert res["failed"] and "ipfabric_pools: pool 'public' field ipv4[0]: '198.51.100.1/24' has host bits set" \
        in res["msg"], res
    with pytest.raises(fa.FabricDataError, match=r"pools\[1\]: range '198.51.100.9-198.51.100.1' ends before it starts"):
        analyse(Fabric(), pools=["2001:db8:100::/64", "198.51.100.9-198.51.100.1"])


def test_pools_that_cover_nothing_let_nothing_through():
    """Exclusions that take every address out of the pools leave an empty cover: nothing is inside (it must
    not read as "no pools given", which counts everything)."""
    fab = Fabric()
    pools = [{"name": "public", "ipv4": ["198.51.100.0/24"], "ipv6": ["2001:db8:100::/64"],
              "exclude": ["198.51.100.0/24", "2001:db8:100::/64"]}]
    res = run_action({"gathered": fab.gather(), "allocations": {"by_owner": fab.allocations()}},
                     inventory(ipfabric_pools=pools))
    outside = [f for f in res["findings"] if "outside every pool" in f["detail"]]
    assert res["failed"] and len(outside) == 2 * len(VMS), res["findings"]
    # and with no pools at all, nothing is compared: the fabric passes
    assert not run_action({"gathered": fab.gather(), "allocations": {"by_owner": fab.allocations()}},
                          inventory()).get("failed")


def test_bgp_state_not_read_or_not_frr_bgp_s_result():
    fab = Fabric()
    g = fab.gather()
    node3 = [e for e in g if e["host"] == "node3"][0]
    del node3["bgp"]
    res = analyse(fab, gathered=g)
    assert [f["detail"] for f in only(res, "gather_failed")] == [
        "vmnet.ipfabric.frr_bgp: nothing was read (no bgp in what was gathered)"]
    assert all(s["ends"]["node3"] is None for s in res["fabric"]["sessions"] if s["b"] == "node3")
    node3["bgp"] = {"cmd": ["vtysh", "-c", "show bgp summary json"], "rc": 0, "stdout": "{}"}
    with pytest.raises(fa.FabricDataError, match="host node3: bgp has no sessions list"):
        analyse(fab, gathered=g)
