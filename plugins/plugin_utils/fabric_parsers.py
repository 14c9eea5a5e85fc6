# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""FRR and iproute2 JSON (FRR 8.4 ``show bgp summary json``, ``show bgp ipvX unicast json``,
``show ip(v6) route bgp json``; ``ip -json route``) to the plain dicts the fabric model is built from."""
from __future__ import annotations

import ipaddress

AFIS = ("ipv4", "ipv6")
SUMMARY_KEYS = {"ipv4": "ipv4Unicast", "ipv6": "ipv6Unicast"}


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


def parse_summary(data):
    """`show bgp summary json` -> {afi: {peer address: {state, hostname, pfx_rcvd}}}."""
    out = {afi: {} for afi in AFIS}
    if not isinstance(data, dict):
        return out
    for afi, key in SUMMARY_KEYS.items():
        block = data.get(key) or {}
        for peer, info in (block.get("peers") or {}).items():
            info = info or {}
            out[afi][canonical_address(peer)] = {
                "state": info.get("state") or "Unknown", "hostname": info.get("hostname"),
                "pfx_rcvd": info.get("pfxRcd", info.get("prefixReceivedCount"))}
    return out


def canonical_address(text):
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
            glob = [canonical_address(ip) for ip in nexthops if ip and not ip.lower().startswith("fe80")
                    and ip not in ("0.0.0.0", "::")]
            local = peer in (None, "(unspec)", "0.0.0.0", "::") or path.get("weight") == 32768 and not glob
            out.setdefault(p, []).append({"local": bool(local), "peer": None if local else canonical_address(peer),
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
                hops = [canonical_address(nh["ip"]) for nh in entry.get("nexthops", [])
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
