# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The model of the fabric the checks read: every host of the design with what it reports (sessions, BGP
RIB, installed routes; for nodes their VMs, kernel routes and network statements), only the prefixes
inside the pools, and the sessions of the design with the state each end sees. Built once, never
changed by the checks.
"""
from __future__ import annotations

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.fabric_findings import FabricDataError, finding
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.fabric_gathered import command_outputs, frr_bgp_result, json_of
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.fabric_parsers import (
    AFIS,
    afi_of,
    canonical_address,
    host_prefix,
    parse_kernel_routes,
)
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.pools import PoolError, PrefixCover

ROLES = ("node", "route_reflector", "core_gateway")


class Pools:
    """The prefixes of the fabric: the pools' cover (plugins/plugin_utils/pools.py) from plain entries
    (CIDRs, 'A-B' ranges, addresses). ``None`` (no pools given, none in the inventory): every prefix
    counts, there is nothing to compare with. An empty list is pools that cover nothing (every address
    excluded): no prefix is inside."""

    def __init__(self, entries):
        try:
            self.cover = None if entries is None else PrefixCover.of_entries([str(e) for e in entries])
        except PoolError as exc:
            raise FabricDataError(str(exc)) from None

    def contains(self, prefix):
        return self.cover is None or self.cover.contains(prefix)

    def cidrs(self):
        return [] if self.cover is None else self.cover.cidrs()


def build_model(gathered, nodes, route_reflectors, core_gateways, addresses, pools=None):
    """Normalise what every host returned, and derive the sessions of the design from what both ends report.
    Returns (model, findings of unreadable input)."""
    findings = []
    pools = Pools(pools)
    by_host = {}
    for entry in gathered or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("host"), str):
            raise FabricDataError("gathered: every entry needs a host name")
        by_host[entry["host"]] = entry
    roles = {}
    for role, hosts in (("core_gateway", core_gateways), ("route_reflector", route_reflectors), ("node", nodes)):
        for h in hosts or []:
            roles.setdefault(h, role)
    for h, entry in by_host.items():
        if h not in roles:
            role = entry.get("role")
            if role not in ROLES:
                raise FabricDataError("gathered: host %s is in no group and has no valid role" % h)
            roles[h] = role
    owner_of_addr = {}
    addrs = {}
    for h in roles:
        al = [a for a in (addresses or {}).get(h, []) or [] if a]
        al += [a for a in (by_host.get(h, {}).get("addresses") or []) if a]
        addrs[h] = sorted({canonical_address(str(a)) for a in al})
        for a in addrs[h]:
            owner_of_addr[a] = h

    model = {"hosts": {}, "owner_of_addr": owner_of_addr, "pools": pools.cidrs()}
    for h, role in roles.items():
        entry = by_host.get(h)
        host = {"name": h, "role": role, "addresses": addrs[h], "reachable": entry is not None,
                "flavour": (entry or {}).get("flavour") or ("frr" if role != "core_gateway" else None),
                "summary": None, "bgp": {}, "rib": {}, "note": (entry or {}).get("note")}
        model["hosts"][h] = host
        if entry is None:
            findings.append(finding("host_unreachable", h, "nothing was gathered from %s (%s): unreachable or "
                                    "its gathering failed" % (h, role.replace("_", " "))))
            continue
        if entry.get("failed_msg"):
            findings.append(finding("gather_failed", h, str(entry["failed_msg"])[:400]))
        if role == "core_gateway" and host["flavour"] not in ("frr",):
            host["checked"] = False
            findings.append(finding("core_not_checked", h, host["note"] or "core gateway flavour %s: nothing "
                                    "to read here, its routes and sessions are not checked" % host["flavour"]))
            continue
        host["checked"] = True
        findings.extend(_bgp_model(host, entry, pools))
        if role == "node":
            findings.extend(_node_model(host, entry, pools))
    model["sessions"] = sessions(model)
    return model, findings


def _bgp_model(host, entry, pools):
    """The host's sessions, BGP table and (core) installed BGP routes from vmnet.ipfabric.frr_bgp's result
    (entry ``bgp``): ``summary`` {afi: {peer: {state, hostname, pfx_rcvd}}}, ``bgp`` {afi: {prefix: [path]}},
    ``rib`` {afi: {prefix: [next hop]}}, prefixes inside the pools only; None where nothing was read."""
    h = host["name"]
    if "bgp" not in entry:
        return [finding("gather_failed", h, "vmnet.ipfabric.frr_bgp: nothing was read (no bgp in what was gathered)")]
    result, err = frr_bgp_result(entry.get("bgp"), h)
    if err:
        return [finding("gather_failed", h, err[:400])]
    if result is None:
        return []
    host["summary"] = {afi: {} for afi in AFIS}
    for s in result["sessions"]:
        if s["afi"] in AFIS:
            host["summary"][s["afi"]][canonical_address(s["peer"])] = {
                "state": s.get("state") or "Unknown", "hostname": s.get("hostname"),
                "pfx_rcvd": s.get("prefixes_received")}
    rib, routes = result.get("rib") or {}, result.get("routes") or {}
    for afi in AFIS:
        host["bgp"][afi] = None if rib.get(afi) is None else {
            p: list(paths) for p, paths in rib[afi].items() if pools.contains(p)}
        if host["role"] == "core_gateway":
            host["rib"][afi] = None if routes.get(afi) is None else {
                p: list(r.get("nexthops") or []) for p, r in routes[afi].items() if pools.contains(p)}
    return []


def _node_model(host, entry, pools):
    findings = []
    h = host["name"]
    kernel = {}
    for key, out in command_outputs(entry.get("routes")).items():
        data, err = json_of(out, key)
        if err:
            if err != "skipped":
                findings.append(finding("gather_failed", h, err))
            continue
        for p, devs in parse_kernel_routes(data).items():
            kernel.setdefault(p, set()).update(devs)
    host["kernel"] = kernel
    host["routes_read"] = bool(command_outputs(entry.get("routes")))
    networks = set()
    for n in entry.get("networks") or []:
        p = host_prefix(n.get("prefix") if isinstance(n, dict) else n)
        if p and pools.contains(p):
            networks.add(p)
    host["networks"] = networks
    host["networks_read"] = entry.get("networks") is not None
    # VMs: managed interfaces (live) and the node's desired state file
    vms = {}
    for itf in entry.get("interfaces") or []:
        if not isinstance(itf, dict) or not itf.get("vm"):
            continue
        vms[itf["vm"]] = {"vm": itf["vm"], "interface": itf.get("interface"), "present": True,
                          "up": itf.get("up", True), "prefixes": [],
                          "live": sorted(filter(None, (host_prefix(p) for p in
                                                       (itf.get("ipv4") or []) + (itf.get("ipv6") or []))))}
    desired = entry.get("desired") or {}
    if isinstance(desired, str):
        desired = json_of(desired, "desired state")[0]
    for name, spec in ((desired or {}).get("vms") or {}).items():
        prefixes = sorted(filter(None, (host_prefix(p) for p in (spec.get("ipv4") or []) + (spec.get("ipv6") or []))))
        vm = vms.setdefault(name, {"vm": name, "interface": spec.get("interface"), "present": False,
                                   "up": False, "live": []})
        vm["prefixes"] = prefixes
        vm["in_state_file"] = True
    for vm in vms.values():
        if not vm.get("prefixes"):
            vm["prefixes"] = list(vm["live"])
        # the RRs' prefix-lists and the core's route-filters drop these: they can never be announced
        vm["outside_pools"] = [p for p in vm["prefixes"] if not pools.contains(p)]
    host["vms"] = vms
    return findings


def role_hosts(model, role):
    return [h for h in model["hosts"].values() if h["role"] == role]


def sessions(model):
    """Every session of the design (node-RR, RR-core per family), with the state both ends report."""
    out = []
    pairs = []
    for rr in role_hosts(model, "route_reflector"):
        for node in role_hosts(model, "node"):
            pairs.append((rr, node))
        for core in role_hosts(model, "core_gateway"):
            pairs.append((core, rr))
    for upper, lower in pairs:
        for afi in AFIS:
            a_up = _fam_addr(upper["addresses"], afi)
            a_low = _fam_addr(lower["addresses"], afi)
            if not a_up or not a_low:
                continue
            ends = {}
            for me, other_addr in ((upper, a_low), (lower, a_up)):
                if me.get("summary") is None:
                    ends[me["name"]] = None                   # unknown: not read
                else:
                    peer = me["summary"][afi].get(other_addr)
                    ends[me["name"]] = peer["state"] if peer else "not configured"
            out.append({"a": upper["name"], "b": lower["name"], "afi": afi, "a_addr": a_up, "b_addr": a_low,
                        "ends": ends, "state": _session_state(ends)})
    return out


def _fam_addr(addrs, afi):
    for a in addrs:
        if afi_of(a) == afi:
            return a
    return None


def _session_state(ends):
    known = [s for s in ends.values() if s is not None]
    if not known:
        return "unknown"
    if all(s == "not configured" for s in known):
        return "missing"
    if any(s == "Established" for s in known) and all(s in ("Established", "not configured") for s in known):
        return "up"
    return "down"
