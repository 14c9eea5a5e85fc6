# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks of the fabric model (fabric_model.py), one function per part of the fabric.

Each check reads the model and what the design expects (``Expected``: where every VM is, which node
should announce which prefix, which sessions are down) and returns findings; none changes the model.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.fabric_findings import finding, sort_findings
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.fabric_model import role_hosts
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.fabric_parsers import AFIS, afi_of, host_prefix


# why a VM prefix of a node is not in what the node announces, per BGP speaker
NOT_ANNOUNCED = {
    "frr": "network statement present but not announced (not in the BGP RIB: no route for it, import-check)",
    "bird": "not exported to the route reflectors (BIRD exports the VM routes it learns from the kernel: a route "
            "on the VM's interface, proto static or 243, inside the pools; is the VM present?)",
}


@dataclass
class Expected:
    """What the model says should be: derived once, read by every check."""

    nodes: list            # reachable nodes
    rrs: list              # reachable route reflectors
    cores: list            # reachable core gateways that were read (FRR flavour)
    down: set = field(default_factory=set)          # (a, b, afi) of sessions not up (down, missing, unknown)
    vm_nodes: dict = field(default_factory=dict)    # vm -> [node]
    prefixes: dict = field(default_factory=dict)    # prefix -> {node: vm}, the VM prefixes inside the pools

    @classmethod
    def of(cls, model) -> "Expected":
        exp = cls(nodes=[h for h in role_hosts(model, "node") if h["reachable"]],
                  rrs=[h for h in role_hosts(model, "route_reflector") if h["reachable"]],
                  cores=[h for h in role_hosts(model, "core_gateway") if h["reachable"] and h.get("checked")])
        exp.down = {(s["a"], s["b"], s["afi"]) for s in model["sessions"] if s["state"] != "up"}
        for node in exp.nodes:
            for vm in node["vms"].values():
                exp.vm_nodes.setdefault(vm["vm"], []).append(node["name"])
                for p in vm["prefixes"]:
                    if p not in vm["outside_pools"]:   # reported once, on the node (check_nodes)
                        exp.prefixes.setdefault(p, {})[node["name"]] = vm["vm"]
        return exp


def check(model, allocations=None, ipam_problems=None):
    """All findings of a model; allocations is {owner: {ipv4, ipv6, ...}} (ipam_audit's by_owner)."""
    exp = Expected.of(model)
    findings = check_sessions(model)
    findings += check_placement(exp)
    findings += check_nodes(exp)
    findings += check_origins(exp)
    reported = {f["prefix"] for f in findings if f["kind"] == "duplicate_announcement"}
    findings += check_route_reflectors(model, exp, reported)
    findings += check_core_gateways(model, exp)
    if allocations is not None:
        findings += check_ipam(model, exp, allocations)
    findings += [finding("ipam_problem", "ipam", str(prob)) for prob in ipam_problems or []]
    return sort_findings(findings)


def check_sessions(model):
    """Sessions of the design that are down or configured on neither side."""
    findings = []
    for s in model["sessions"]:
        where = "%s - %s (%s)" % (s["a"], s["b"], s["afi"])
        if s["state"] == "down":
            detail = ", ".join("%s sees %s" % (k, v) for k, v in s["ends"].items() if v is not None)
            findings.append(finding("session_down", where, detail))
        elif s["state"] == "missing":
            findings.append(finding("session_missing", where, "configured on neither side"))
    return findings


def check_placement(exp):
    """One VM on several nodes; one prefix given to different VMs."""
    findings = []
    for vm, where in sorted(exp.vm_nodes.items()):
        if len(where) > 1:
            findings.append(finding("duplicate_vm", ", ".join(where), "VM %s has an interface (or desired state) on "
                                    "%d nodes: %s" % (vm, len(where), ", ".join(where)), vm=vm))
    for p, on in sorted(exp.prefixes.items()):
        if len(on) > 1 and len(set(on.values())) > 1:
            findings.append(finding("duplicate_announcement", ", ".join(sorted(on)), "prefix belongs to different "
                                    "VMs: " + ", ".join("%s on %s" % (v, n) for n, v in sorted(on.items())), prefix=p))
    return findings


def check_nodes(exp):
    """On every node: interfaces, kernel routes, network statements and the node's own BGP RIB."""
    findings = []
    for node in exp.nodes:
        n = node["name"]
        for vm in sorted(node["vms"].values(), key=lambda v: v["vm"]):
            if not vm["present"]:
                findings.append(finding("missing_interface", n, "the desired state lists %s but %s does not exist"
                                        % (vm["vm"], vm["interface"]), vm=vm["vm"]))
            for p in vm["prefixes"]:
                if node["routes_read"] and vm["interface"] not in node["kernel"].get(p, set()):
                    other = sorted(node["kernel"].get(p, set()))
                    findings.append(finding("missing_kernel_route", n, "no route %s dev %s in the kernel%s" % (
                        p, vm["interface"], " (routed to %s instead)" % ", ".join(other) if other else ""),
                        prefix=p, vm=vm["vm"]))
                if p in vm["outside_pools"]:
                    findings.append(finding("missing_announcement", n, "outside every pool (ipfabric_pools): the "
                                            "route reflectors and the core gateways drop it", prefix=p, vm=vm["vm"]))
                elif node["networks_read"] and p not in node["networks"]:
                    findings.append(finding("missing_announcement", n, "no FRR network statement", prefix=p, vm=vm["vm"]))
                elif node["bgp"].get(afi_of(p)) is not None and not _local(node, p):
                    findings.append(finding("missing_announcement", n, NOT_ANNOUNCED.get(node.get("flavour"),
                                                                                         NOT_ANNOUNCED["frr"]),
                                            prefix=p, vm=vm["vm"]))
        mine = {p for vm in node["vms"].values() for p in vm["prefixes"]}
        for p in sorted(node["networks"] - mine):
            vm_elsewhere = exp.prefixes.get(p)
            findings.append(finding("stale_announcement", n, "network statement without a VM here%s; %s" % (
                " (it belongs to %s)" % ", ".join("%s on %s" % (v, k) for k, v in sorted(vm_elsewhere.items()))
                if vm_elsewhere else "", "announced (in the BGP RIB)" if _local(node, p)
                else "not announced while there is no route (import-check)"), prefix=p))
        for afi in AFIS:
            for p in sorted((node["bgp"].get(afi) or {})):
                if _local(node, p) and p not in mine and p not in node["networks"]:
                    findings.append(finding("stale_announcement", n, "originated in BGP without a VM here", prefix=p))
    return findings


def check_origins(exp):
    """A network statement on several nodes that two VMs do not explain."""
    findings = []
    originators = {}
    for node in exp.nodes:
        for p in node["networks"]:
            originators.setdefault(p, set()).add(node["name"])
    for p, ons in sorted(originators.items()):
        if len(ons) > 1 and not (p in exp.prefixes and len(set(exp.prefixes[p].values())) > 1):
            findings.append(finding("duplicate_announcement", ", ".join(sorted(ons)),
                                    "network statement on %d nodes" % len(ons), prefix=p))
    return findings


def check_route_reflectors(model, exp, reported):
    """What each route reflector received, from which node. ``reported``: prefixes already reported as
    duplicate announcements (one finding per prefix is enough)."""
    findings = []
    reported = set(reported)
    hosts, owner = model["hosts"], model["owner_of_addr"]
    for rr in exp.rrs:
        r = rr["name"]
        for afi in AFIS:
            rib = rr["bgp"].get(afi)
            if rib is None:
                continue
            for p, on in sorted(exp.prefixes.items()):
                if afi_of(p) != afi:
                    continue
                for n, vm in sorted(on.items()):
                    node = hosts[n]
                    if not node["reachable"]:
                        continue
                    if any(owner.get(path["peer"]) == n or owner.get(path["nexthop"]) == n for path in rib.get(p, [])):
                        continue
                    sess_down = (r, n, afi) in exp.down
                    findings.append(finding("missing_announcement", r, "not received from %s%s" % (
                        n, " (the session is down)" if sess_down else ""), prefix=p, vm=vm,
                        severity="warning" if sess_down else None))
            for p, paths in sorted(rib.items()):
                froms = sorted({owner.get(x["peer"]) or owner.get(x["nexthop"]) or x["nexthop"] or str(x["peer"])
                                for x in paths if not x["local"]})
                froms_nodes = [f for f in froms if hosts.get(f, {}).get("role") == "node" or f not in hosts]
                for f in froms_nodes:
                    if f not in exp.prefixes.get(p, {}):
                        findings.append(finding("stale_announcement", r, "received from %s, which has no VM with it%s"
                                                % (f, " (it belongs to %s)" % ", ".join(
                                                    "%s on %s" % (v, k) for k, v in sorted(exp.prefixes[p].items()))
                                                    if p in exp.prefixes else ""), prefix=p))
                if len(froms_nodes) > 1 and p not in reported:
                    findings.append(finding("duplicate_announcement", r, "received from %d next hops: %s" % (
                        len(froms_nodes), ", ".join(froms_nodes)), prefix=p))
                    reported.add(p)
    return findings


def check_core_gateways(model, exp):
    """The BGP routes each (FRR) core gateway installed, and their next hops."""
    findings = []
    owner = model["owner_of_addr"]
    for core in exp.cores:
        c = core["name"]
        for afi in AFIS:
            rib = core["rib"].get(afi)
            if rib is None:
                continue
            for p, on in sorted(exp.prefixes.items()):
                if afi_of(p) != afi:
                    continue
                if p not in rib:
                    why = ""
                    if all((c, rr["name"], afi) in exp.down for rr in role_hosts(model, "route_reflector")):
                        why = " (every session to the route reflectors is down)"
                    findings.append(finding("missing_announcement", c, "no BGP route installed" + why, prefix=p,
                                            vm=", ".join(sorted(set(on.values())))))
            for p, hops in sorted(rib.items()):
                hop_nodes = sorted({owner.get(x, x) for x in hops})
                if p not in exp.prefixes:
                    findings.append(finding("stale_announcement", c, "route via %s but no VM has this prefix" % (
                        ", ".join(hop_nodes) or "?"), prefix=p))
                    continue
                wrong = [x for x in hop_nodes if x not in exp.prefixes[p]]
                if wrong:
                    findings.append(finding("nexthop_mismatch", c, "route via %s, but %s" % (
                        ", ".join(hop_nodes), ", ".join(
                            "%s is on %s" % (v, k) for k, v in sorted(exp.prefixes[p].items()))),
                        prefix=p, vm=", ".join(sorted(set(exp.prefixes[p].values())))))
    return findings


def check_ipam(model, exp, allocations):
    """The IPAM allocations against the VMs found on the nodes."""
    findings = []
    hosts = model["hosts"]
    all_nodes_read = all(h["reachable"] for h in role_hosts(model, "node"))
    for own, alloc in sorted(allocations.items()):
        if own not in exp.vm_nodes:
            findings.append(finding("orphan_allocation", "ipam", "allocated %s to %s, which exists on no node%s" % (
                ", ".join(a for a in (alloc.get("ipv4"), alloc.get("ipv6")) if a), own,
                "" if all_nodes_read else " that could be read"), prefix=alloc.get("ipv4") and host_prefix(
                    alloc["ipv4"]), vm=own, severity=None if all_nodes_read else "warning"))
    for vm, where in sorted(exp.vm_nodes.items()):
        alloc = allocations.get(vm)
        if alloc is None:
            findings.append(finding("vm_without_allocation", ", ".join(where), "VM %s holds no IPAM allocation"
                                    % vm, vm=vm))
            continue
        want = sorted(filter(None, (host_prefix(alloc.get(k)) for k in ("ipv4", "ipv6"))))
        have = sorted({p for n in where for p in hosts[n]["vms"][vm]["prefixes"]})
        if want != have:
            findings.append(finding("allocation_mismatch", ", ".join(where), "IPAM has %s, the node has %s" % (
                ", ".join(want) or "nothing", ", ".join(have) or "nothing"), vm=vm))
    return findings


def _local(node, p):
    return any(x["local"] for x in (node["bgp"].get(afi_of(p)) or {}).get(p, []))
