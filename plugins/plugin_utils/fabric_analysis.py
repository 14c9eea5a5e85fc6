# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fabric cross-check behind vmnet.ipfabric.fabric_check (controller side, no I/O).

Input: what playbooks/verify.yml gathered from every host (raw command output or parsed JSON), the
inventory's host lists and underlay addresses, the IPAM allocations and the pools. Output: a model of
the fabric (sessions, nodes with their VMs, RRs, cores) and a list of findings
``{severity, kind, where, prefix, vm, detail}``. Everything here is pure and unit tested with
synthetic data (tests/unit/plugins/action/test_fabric_check*.py).
"""
from __future__ import annotations

import ipaddress
import json

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.pools import PoolError, PrefixCover

SEVERITIES = ("error", "warning", "info")
AFIS = ("ipv4", "ipv6")
SUMMARY_KEYS = {"ipv4": "ipv4Unicast", "ipv6": "ipv6Unicast"}
CMD_SUMMARY = "show bgp summary json"
CMD_BGP = {"ipv4": "show bgp ipv4 unicast json", "ipv6": "show bgp ipv6 unicast json"}
CMD_CORE_RIB = {"ipv4": "show ip route bgp json", "ipv6": "show ipv6 route bgp json"}
ROLES = ("node", "route_reflector", "core_gateway")

# finding kinds, with the severity they have unless a check says otherwise
KINDS = {
    "host_unreachable": "error",          # nothing gathered from a host of the inventory
    "gather_failed": "error",             # one command failed on a host (e.g. bgpd not running)
    "session_down": "error",              # a BGP session of the fabric is not Established
    "session_missing": "error",           # a session of the design is configured on neither side
    "missing_kernel_route": "error",      # a VM address without its /32 or /128 route to <vm>_net0
    "missing_interface": "error",         # the node's desired state lists a VM that has no <vm>_net0
    "missing_announcement": "error",      # a VM prefix not announced / not on an RR / not on the core
    "stale_announcement": "error",        # a network statement or route for a prefix no VM has there
    "duplicate_announcement": "error",    # one prefix announced from two nodes
    "duplicate_vm": "error",              # one VM with an interface on two nodes
    "nexthop_mismatch": "error",          # the core routes a VM prefix to a node that does not host it
    "orphan_allocation": "error",         # an IPAM allocation whose VM exists on no node
    "vm_without_allocation": "error",     # a VM on a node without an IPAM allocation
    "allocation_mismatch": "error",       # a VM's addresses differ from its IPAM allocation
    "ipam_problem": "error",              # the IPAM store reports an inconsistency
    "core_not_checked": "info",           # a core gateway this playbook cannot read (Junos)
}


class FabricDataError(ValueError):
    """Input that is not what verify.yml gathers."""


def finding(kind, where, detail, prefix=None, vm=None, severity=None):
    if kind not in KINDS:
        raise FabricDataError("unknown finding kind %r" % kind)
    sev = severity or KINDS[kind]
    if sev not in SEVERITIES:
        raise FabricDataError("unknown severity %r" % sev)
    return {"severity": sev, "kind": kind, "where": where, "prefix": prefix, "vm": vm, "detail": detail}


# ---------------------------------------------------------------------------------------------
# normalisation of the gathered data

def host_prefix(value):
    """'198.51.100.1', '198.51.100.1/32' -> '198.51.100.1/32'; IPv6 compressed; None if not an address."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        net = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None
    return str(net)


def afi_of(prefix):
    return "ipv6" if ":" in prefix else "ipv4"


def _json(value, what):
    """A command result (loop item dict with stdout/rc), a JSON string or already-parsed data."""
    if isinstance(value, (dict, list)) and not _is_cmd_result(value):
        return value, None
    if _is_cmd_result(value):
        if value.get("skipped"):
            return None, "skipped"
        if value.get("rc", 0) != 0 or value.get("failed") and not value.get("stdout"):
            err = (value.get("stderr") or value.get("msg") or value.get("stdout") or "").strip()
            return None, "%s failed (rc %s): %s" % (what, value.get("rc"), err[:300] or "no output")
        value = value.get("stdout", "")
    if value is None:
        return None, "%s: no data" % what
    if not isinstance(value, str):
        return None, "%s: unexpected %s" % (what, type(value).__name__)
    if not value.strip():
        return {}, None
    try:
        return json.loads(value), None
    except ValueError:
        return None, "%s: not JSON: %s" % (what, value.strip()[:200])


def _is_cmd_result(value):
    return isinstance(value, dict) and ("stdout" in value or "rc" in value or "skipped" in value) and (
        "item" in value or "cmd" in value or "rc" in value or "skipped" in value)


def command_outputs(raw):
    """{command: result} from a dict, or from the ``results`` of a looped command task (item = command
    string, or a dict with ``cmd``/``argv``)."""
    if raw is None:
        return {}
    if isinstance(raw, dict) and "results" in raw and isinstance(raw["results"], list):
        raw = raw["results"]
    if isinstance(raw, dict) and isinstance(raw.get("cmd"), list) and "-c" in raw["cmd"]:
        return split_vtysh(raw)
    if isinstance(raw, dict):
        return dict(raw)
    if not isinstance(raw, list):
        raise FabricDataError("command outputs must be a dict or a list of loop results")
    out = {}
    for res in raw:
        if not isinstance(res, dict):
            raise FabricDataError("command outputs: %r is not a loop result" % (res,))
        item = res.get("item")
        if isinstance(item, dict):
            item = item.get("cmd") or item.get("name") or " ".join(item.get("argv", []))
        if isinstance(item, list):
            item = " ".join(str(x) for x in item)
        if not isinstance(item, str):
            raise FabricDataError("command outputs: loop result without a command as item")
        out[item] = res
    return out


def split_vtysh(res):
    """One ``vtysh -c A -c B ...`` result (its argv in ``cmd``) -> {A: JSON text, B: ...}: vtysh prints
    one JSON document per command, one after the other."""
    argv = [str(x) for x in res["cmd"]]
    cmds = [argv[i + 1] for i, x in enumerate(argv[:-1]) if x == "-c"]
    if res.get("skipped"):
        return {c: {"skipped": True} for c in cmds}
    text = res.get("stdout") or ""
    if res.get("rc", 0) != 0:
        return {c: dict(res, stdout="") for c in cmds}
    docs, pos, dec = [], 0, json.JSONDecoder()
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            dummy, end = dec.raw_decode(text, pos)
        except ValueError:
            docs.append(text[pos:])
            break
        docs.append(text[pos:end])
        pos = end
    if len(docs) != len(cmds):
        err = "vtysh printed %d JSON documents for %d commands: %s" % (len(docs), len(cmds), text.strip()[:200])
        return {c: {"rc": 1, "stdout": "", "stderr": err} for c in cmds}
    return dict(zip(cmds, docs))


def parse_summary(data):
    """`show bgp summary json` -> {afi: {peer address: {state, hostname, pfx_rcvd}}}."""
    out = {afi: {} for afi in AFIS}
    if not isinstance(data, dict):
        return out
    for afi, key in SUMMARY_KEYS.items():
        block = data.get(key) or {}
        for peer, info in (block.get("peers") or {}).items():
            info = info or {}
            out[afi][_addr(peer)] = {"state": info.get("state") or "Unknown", "hostname": info.get("hostname"),
                                     "pfx_rcvd": info.get("pfxRcd", info.get("prefixReceivedCount"))}
    return out


def _addr(text):
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def parse_bgp_rib(data):
    """`show bgp ipvX unicast json` -> {prefix: [{local, peer, nexthop, best}]}."""
    out = {}
    if not isinstance(data, dict):
        return out
    for prefix, paths in (data.get("routes") or {}).items():
        p = host_prefix(prefix)
        if p is None:
            continue
        for path in paths if isinstance(paths, list) else [paths]:
            if not isinstance(path, dict) or not path.get("valid"):
                continue
            peer = path.get("peerId")
            nexthops = [nh.get("ip") for nh in path.get("nexthops", []) if isinstance(nh, dict)]
            glob = [_addr(ip) for ip in nexthops if ip and not ip.lower().startswith("fe80")
                    and ip not in ("0.0.0.0", "::")]
            local = peer in (None, "(unspec)", "0.0.0.0", "::") or path.get("weight") == 32768 and not glob
            out.setdefault(p, []).append({"local": bool(local), "peer": None if local else _addr(peer),
                                          "nexthop": glob[0] if glob else None,
                                          "best": bool(path.get("bestpath"))})
    return out


def parse_core_rib(data):
    """`show ip(v6) route bgp json` -> {prefix: [next hop addresses]} of selected/installed routes."""
    out = {}
    if not isinstance(data, dict):
        return out
    for prefix, entries in data.items():
        p = host_prefix(prefix)
        if p is None or not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, dict) and (entry.get("selected") or entry.get("installed")):
                hops = [_addr(nh["ip"]) for nh in entry.get("nexthops", [])
                        if isinstance(nh, dict) and nh.get("ip") and not nh["ip"].lower().startswith("fe80")]
                out[p] = sorted(set(out.get(p, []) + hops))
    return out


def parse_kernel_routes(data):
    """`ip -json route` -> {prefix: set(devices)}."""
    out = {}
    if not isinstance(data, list):
        return out
    for r in data:
        if not isinstance(r, dict) or r.get("type", "unicast") != "unicast":
            continue
        p = host_prefix(r.get("dst", ""))
        if p is None:
            continue
        devs = out.setdefault(p, set())
        if r.get("dev"):
            devs.add(r["dev"])
        for nh in r.get("nexthops", []) or []:
            if isinstance(nh, dict) and nh.get("dev"):
                devs.add(nh["dev"])
    return out


class Pools:
    """The prefixes of the fabric: the pools' cover (plugins/plugin_utils/pools.py) from plain entries
    (CIDRs, 'A-B' ranges, addresses). No entries at all: every prefix counts (nothing to compare with)."""

    def __init__(self, entries):
        entries = list(entries or [])
        try:
            self.cover = PrefixCover.of_entries([str(e) for e in entries]) if entries else None
        except PoolError as exc:
            raise FabricDataError(str(exc)) from None

    def contains(self, prefix):
        return self.cover is None or self.cover.contains(prefix)

    def cidrs(self):
        return [] if self.cover is None else self.cover.cidrs()


# ---------------------------------------------------------------------------------------------
# the model

def build_model(gathered, nodes, route_reflectors, core_gateways, addresses, pools=None):
    """Normalise what every host returned. Returns (model, findings of unreadable input)."""
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
        addrs[h] = sorted({_addr(str(a)) for a in al})
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
        outs = command_outputs(entry.get("vtysh"))
        data, err = _json(outs.get(CMD_SUMMARY), CMD_SUMMARY) if CMD_SUMMARY in outs else (None, "missing")
        if err and err != "skipped":
            findings.append(finding("gather_failed", h, "%s: %s" % (CMD_SUMMARY, err)))
        host["summary"] = parse_summary(data) if data is not None else None
        for afi in AFIS:
            data, err = _json(outs.get(CMD_BGP[afi]), CMD_BGP[afi]) if CMD_BGP[afi] in outs else (None, None)
            if err and err != "skipped":
                findings.append(finding("gather_failed", h, err))
            host["bgp"][afi] = None if data is None else {
                p: v for p, v in parse_bgp_rib(data).items() if pools.contains(p)}
            if role == "core_gateway":
                cmd = CMD_CORE_RIB[afi]
                data, err = _json(outs.get(cmd), cmd) if cmd in outs else (None, None)
                if err and err != "skipped":
                    findings.append(finding("gather_failed", h, err))
                host["rib"][afi] = None if data is None else {
                    p: v for p, v in parse_core_rib(data).items() if pools.contains(p)}
        if role == "node":
            findings.extend(_node_model(host, entry, pools))
    return model, findings


def _node_model(host, entry, pools):
    findings = []
    h = host["name"]
    kernel = {}
    for key, out in command_outputs(entry.get("routes")).items():
        data, err = _json(out, key)
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
        desired = _json(desired, "desired state")[0]
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


# ---------------------------------------------------------------------------------------------
# the checks

def _role_hosts(model, role):
    return [h for h in model["hosts"].values() if h["role"] == role]


def sessions(model):
    """Every session of the design (node-RR, RR-core per family), with the state both ends report."""
    out = []
    pairs = []
    for rr in _role_hosts(model, "route_reflector"):
        for node in _role_hosts(model, "node"):
            pairs.append((rr, node))
        for core in _role_hosts(model, "core_gateway"):
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


def check(model, allocations=None, ipam_problems=None):
    """All findings of a model; allocations is {owner: {ipv4, ipv6, ...}} (ipam_audit's by_owner)."""
    findings = []
    hosts = model["hosts"]
    nodes = [h for h in _role_hosts(model, "node") if h["reachable"]]
    rrs = [h for h in _role_hosts(model, "route_reflector") if h["reachable"]]
    cores = [h for h in _role_hosts(model, "core_gateway") if h["reachable"] and h.get("checked")]
    owner = model["owner_of_addr"]

    # sessions
    sess = sessions(model)
    model["sessions"] = sess
    down = set()
    for s in sess:
        where = "%s - %s (%s)" % (s["a"], s["b"], s["afi"])
        if s["state"] == "down":
            detail = ", ".join("%s sees %s" % (k, v) for k, v in s["ends"].items() if v is not None)
            findings.append(finding("session_down", where, detail))
            down.add((s["a"], s["b"], s["afi"]))
        elif s["state"] == "missing":
            findings.append(finding("session_missing", where, "configured on neither side"))
            down.add((s["a"], s["b"], s["afi"]))
        elif s["state"] == "unknown":
            down.add((s["a"], s["b"], s["afi"]))

    # where every VM is, and the prefixes it should announce
    vm_nodes = {}                  # vm -> [node]
    expected = {}                  # prefix -> {node: vm}
    for node in nodes:
        for vm in node["vms"].values():
            vm_nodes.setdefault(vm["vm"], []).append(node["name"])
            for p in vm["prefixes"]:
                if p not in vm["outside_pools"]:   # reported once, on the node, below
                    expected.setdefault(p, {})[node["name"]] = vm["vm"]
    for vm, where in sorted(vm_nodes.items()):
        if len(where) > 1:
            findings.append(finding("duplicate_vm", ", ".join(where), "VM %s has an interface (or desired state) on "
                                    "%d nodes: %s" % (vm, len(where), ", ".join(where)), vm=vm))
    for p, on in sorted(expected.items()):
        if len(on) > 1 and len(set(on.values())) > 1:
            findings.append(finding("duplicate_announcement", ", ".join(sorted(on)), "prefix belongs to different "
                                    "VMs: " + ", ".join("%s on %s" % (v, n) for n, v in sorted(on.items())), prefix=p))

    # nodes: kernel routes, network statements, the node's own BGP RIB
    for node in nodes:
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
                    findings.append(finding("missing_announcement", n, "network statement present but not announced "
                                            "(not in the BGP RIB: no route for it, import-check)", prefix=p, vm=vm["vm"]))
        mine = {p for vm in node["vms"].values() for p in vm["prefixes"]}
        for p in sorted(node["networks"] - mine):
            vm_elsewhere = expected.get(p)
            findings.append(finding("stale_announcement", n, "network statement without a VM here%s; %s" % (
                " (it belongs to %s)" % ", ".join("%s on %s" % (v, k) for k, v in sorted(vm_elsewhere.items()))
                if vm_elsewhere else "", "announced (in the BGP RIB)" if _local(node, p)
                else "not announced while there is no route (import-check)"), prefix=p))
        for afi in AFIS:
            for p in sorted((node["bgp"].get(afi) or {})):
                if _local(node, p) and p not in mine and p not in node["networks"]:
                    findings.append(finding("stale_announcement", n, "originated in BGP without a VM here", prefix=p))

    # what nodes announce, to find duplicates not explained by two VMs
    originators = {}
    for node in nodes:
        for p in node["networks"]:
            originators.setdefault(p, set()).add(node["name"])
    for p, ons in sorted(originators.items()):
        if len(ons) > 1 and not (p in expected and len(set(expected[p].values())) > 1):
            findings.append(finding("duplicate_announcement", ", ".join(sorted(ons)),
                                    "network statement on %d nodes" % len(ons), prefix=p))
    dup_reported = {f["prefix"] for f in findings if f["kind"] == "duplicate_announcement"}

    # route reflectors: received from which node
    for rr in rrs:
        r = rr["name"]
        for afi in AFIS:
            rib = rr["bgp"].get(afi)
            if rib is None:
                continue
            for p, on in sorted(expected.items()):
                if afi_of(p) != afi:
                    continue
                for n, vm in sorted(on.items()):
                    node = hosts[n]
                    if not node["reachable"]:
                        continue
                    if any(owner.get(path["peer"]) == n or owner.get(path["nexthop"]) == n for path in rib.get(p, [])):
                        continue
                    sess_down = (r, n, afi) in down
                    findings.append(finding("missing_announcement", r, "not received from %s%s" % (
                        n, " (the session is down)" if sess_down else ""), prefix=p, vm=vm,
                        severity="warning" if sess_down else None))
            for p, paths in sorted(rib.items()):
                froms = sorted({owner.get(x["peer"]) or owner.get(x["nexthop"]) or x["nexthop"] or str(x["peer"])
                                for x in paths if not x["local"]})
                froms_nodes = [f for f in froms if hosts.get(f, {}).get("role") == "node" or f not in hosts]
                for f in froms_nodes:
                    if f not in expected.get(p, {}):
                        findings.append(finding("stale_announcement", r, "received from %s, which has no VM with it%s"
                                                % (f, " (it belongs to %s)" % ", ".join(
                                                    "%s on %s" % (v, k) for k, v in sorted(expected[p].items()))
                                                    if p in expected else ""), prefix=p))
                if len(froms_nodes) > 1 and p not in dup_reported:
                    findings.append(finding("duplicate_announcement", r, "received from %d next hops: %s" % (
                        len(froms_nodes), ", ".join(froms_nodes)), prefix=p))
                    dup_reported.add(p)

    # core gateways: installed routes
    for core in cores:
        c = core["name"]
        for afi in AFIS:
            rib = core["rib"].get(afi)
            if rib is None:
                continue
            for p, on in sorted(expected.items()):
                if afi_of(p) != afi:
                    continue
                if p not in rib:
                    why = ""
                    if all((c, rr["name"], afi) in down for rr in _role_hosts(model, "route_reflector")):
                        why = " (every session to the route reflectors is down)"
                    findings.append(finding("missing_announcement", c, "no BGP route installed" + why, prefix=p,
                                            vm=", ".join(sorted(set(on.values())))))
            for p, hops in sorted(rib.items()):
                hop_nodes = sorted({owner.get(x, x) for x in hops})
                if p not in expected:
                    findings.append(finding("stale_announcement", c, "route via %s but no VM has this prefix" % (
                        ", ".join(hop_nodes) or "?"), prefix=p))
                    continue
                wrong = [x for x in hop_nodes if x not in expected[p]]
                if wrong:
                    findings.append(finding("nexthop_mismatch", c, "route via %s, but %s" % (
                        ", ".join(hop_nodes), ", ".join("%s is on %s" % (v, k) for k, v in sorted(expected[p].items()))),
                        prefix=p, vm=", ".join(sorted(set(expected[p].values())))))

    # IPAM
    if allocations is not None:
        all_nodes_read = all(h["reachable"] for h in _role_hosts(model, "node"))
        for own, alloc in sorted(allocations.items()):
            if own not in vm_nodes:
                findings.append(finding("orphan_allocation", "ipam", "allocated %s to %s, which exists on no node%s" % (
                    ", ".join(a for a in (alloc.get("ipv4"), alloc.get("ipv6")) if a), own,
                    "" if all_nodes_read else " that could be read"), prefix=alloc.get("ipv4") and host_prefix(
                        alloc["ipv4"]), vm=own, severity=None if all_nodes_read else "warning"))
        for vm, where in sorted(vm_nodes.items()):
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
    for prob in ipam_problems or []:
        findings.append(finding("ipam_problem", "ipam", str(prob)))
    return sort_findings(findings)


def _local(node, p):
    return any(x["local"] for x in (node["bgp"].get(afi_of(p)) or {}).get(p, []))


def sort_findings(findings):
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (order[f["severity"]], f["kind"], f["where"], f["prefix"] or "",
                                           f["vm"] or "", f["detail"]))


def summary_counts(findings):
    counts = {s: 0 for s in SEVERITIES}
    for f in findings:
        counts[f["severity"]] += 1
    return counts


def analyse(gathered, nodes, route_reflectors, core_gateways, addresses, pools=None, allocations=None,
            ipam_problems=None):
    """Model and findings in one call (what the action plugin does)."""
    model, findings = build_model(gathered, nodes, route_reflectors, core_gateways, addresses, pools)
    findings = sort_findings(findings + check(model, allocations, ipam_problems))
    return model, findings


def view(model):
    """A JSON-able summary of the model for the report and the module's return value."""
    rank = {"core_gateway": 0, "route_reflector": 1, "node": 2}
    sess = sorted(model.get("sessions", []), key=lambda s: (
        rank.get(model["hosts"][s["a"]]["role"], 3), rank.get(model["hosts"][s["b"]]["role"], 3), s["a"], s["b"],
        s["afi"]))
    out = {"sessions": sess, "nodes": [], "route_reflectors": [], "core_gateways": []}
    for h in model["hosts"].values():
        base = {"name": h["name"], "addresses": h["addresses"], "reachable": h["reachable"],
                "flavour": h.get("flavour")}
        if h["role"] == "node":
            base["vms"] = [{"vm": v["vm"], "interface": v["interface"], "prefixes": v["prefixes"],
                            "present": v["present"]} for v in sorted((h.get("vms") or {}).values(),
                                                                     key=lambda v: v["vm"])]
            out["nodes"].append(base)
        elif h["role"] == "route_reflector":
            base["received"] = {afi: len(h["bgp"].get(afi) or {}) for afi in AFIS}
            out["route_reflectors"].append(base)
        else:
            base["installed"] = {afi: len(h["rib"].get(afi) or {}) for afi in AFIS}
            base["checked"] = h.get("checked", False)
            base["note"] = h.get("note")
            out["core_gateways"].append(base)
    for key in ("nodes", "route_reflectors", "core_gateways"):
        out[key].sort(key=lambda x: x["name"])
    return out
