# -*- coding: utf-8 -*-
# Copyright: vmnet.ipfabric developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure functions that turn the inventory's pool definition into FRR and Junos lines.

One definition of the pools (``ipfabric_pools``), read through the collection's one pool model
(plugins/plugin_utils/pools.py, the same the IPAM uses), feeds every filter: the node's outbound
route-map, the route reflector's ``prefix-list ... ge 32 le 32`` and the core gateway's
``route-filter ... orlonger``. They cover the pools' addresses less ``exclude``. Nothing here
touches a host; everything is unit tested in tests/unit/plugins/filter/test_ipfabric.py. Documentation of each filter is in the YAML
file of the same name next to this file (what ``ansible-doc -t filter`` reads).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _bird
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _frr
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _names

try:
    import netaddr
    from ansible_collections.vmnet.ipfabric.plugins.plugin_utils import pools as pool_model
except ImportError:  # pragma: no cover - reported when a filter is used
    netaddr = None

FAMILIES = {"ipv4": 4, "ipv6": 6}
HOST_LEN = {"ipv4": 32, "ipv6": 128}
# FRR accepts 1..4294967295 for `neighbor X maximum-prefix`.
FRR_MAX_PREFIX_LIMIT = 4294967295


def _need_netaddr():
    if netaddr is None:
        raise AnsibleFilterError("the vmnet.ipfabric filters need the Python library netaddr on the controller")


def _family(family):
    if family not in FAMILIES:
        raise AnsibleFilterError("family must be 'ipv4' or 'ipv6', got %r" % (family,))
    return family


def _parsed(pools):
    _need_netaddr()
    if isinstance(pools, dict):
        pools = [pools]
    try:
        return pool_model.parse_pools(pools, allow_empty=True)
    except pool_model.PoolError as exc:
        raise AnsibleFilterError(str(exc)) from None


def _pool_networks(pools, family):
    """The CIDRs of the pools' cover for one family (plugins/plugin_utils/pools.py): every address of the
    ``ipv4``/``ipv6`` entries less ``exclude``, as the smallest sorted list of CIDRs."""
    family = _family(family)
    return pool_model.cover_cidrs(_parsed(pools).values(), FAMILIES[family])


def _pool_policy(pools, family):
    """(permit, deny) CIDRs of the pools for the routing policy (pools.policy): the written entries, and
    the exclusions inside them to check first."""
    family = _family(family)
    return pool_model.policy(_parsed(pools).values(), FAMILIES[family])


def pool_cidrs(pools, family="ipv4"):
    """CIDRs covering exactly the pools' addresses of one family less their exclusions; sorted, minimal.

    Ranges become the CIDRs that cover them, an exclusion inside a CIDR splits it. The network and
    broadcast addresses of a CIDR stay covered (the IPAM never hands them out; exclude them to drop them).
    """
    if family == "all":
        return pool_cidrs(pools, "ipv4") + pool_cidrs(pools, "ipv6")
    return [str(net) for net in _pool_networks(pools, family)]


def frr_prefix_list(pools, name, family="ipv4", seq_start=5, seq_step=5):
    """FRR prefix-list lines permitting only host routes (/32 or /128) inside the pools.

    The exclusions inside the written entries are denied first, then the entries are permitted as
    written (merged): exactly the pools' cover, in as many lines as the inventory has entries. A host
    route is matched exactly (FRR rejects ``ge`` equal to the prefix length). With no pool of that
    family, a single ``deny any`` keeps the list defined so a route-map matching it denies everything
    instead of matching a missing list. The lines themselves: module_utils/_frr.py (the FRR model).
    """
    family = _family(family)
    host = HOST_LEN[family]
    permit, deny = _pool_policy(pools, family)
    entries = [("deny", str(net), host) for net in deny] + [("permit", str(net), host) for net in permit]
    if not entries:
        keyword = "ip" if family == "ipv4" else "ipv6"
        return ["%s prefix-list %s seq %d deny any" % (keyword, name, int(seq_start))]
    return _frr.prefix_list_lines(name, entries, int(seq_start), int(seq_step))


def frr_bfd_profile(profile, name="vmnet-ipfabric"):
    """The ``bfd`` block of one BFD profile: the fabric's default timers with ``profile`` over them
    (module_utils/_frr.py)."""
    if not isinstance(profile, dict):
        raise AnsibleFilterError("bfd profile: %r is not a dict of detect_multiplier, receive_interval, "
                                 "transmit_interval" % (profile,))
    try:
        return _frr.bfd_profile_lines(name, profile)
    except (_frr.FrrError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(str(exc)) from None


def frr_graceful_restart(settings):
    """The graceful-restart lines of a ``router bgp`` block (module_utils/_frr.py)."""
    if not isinstance(settings, dict):
        raise AnsibleFilterError("graceful restart: %r is not a dict of enabled, restart_time, stalepath_time, "
                                 "preserve_fw_state" % (settings,))
    try:
        return _frr.graceful_restart_lines(settings)
    except (_frr.FrrError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(str(exc)) from None


def frr_peer_group(group):
    """The ``neighbor`` lines of one peer group and its members (module_utils/_frr.py)."""
    if not isinstance(group, dict) or not group.get("name") or not group.get("asn"):
        raise AnsibleFilterError("peer group: %r needs at least name and asn" % (group,))
    unknown = sorted(set(group) - {"name", "asn", "source", "peers", "listen_range", "password", "bfd", "bfd_profile",
                                   "extended_nexthop"})
    if unknown:
        raise AnsibleFilterError("peer group %s: unknown key(s) %s" % (group["name"], ", ".join(unknown)))
    return _frr.peer_group_lines(group)


def bird_pool_function(pools, name, family="ipv4"):
    """A BIRD function ``NAME()`` that is true for a host route (/32 or /128) inside the pools of one family:
    the exclusions inside the written entries first, then the entries (module_utils/_bird.py). The same
    policy as the FRR prefix-lists and the Junos route-filters, from the same pool model."""
    family = _family(family)
    if not isinstance(name, str) or not _bird.SYMBOL_RE.match(name):
        raise AnsibleFilterError("BIRD function name %r is not a BIRD symbol" % (name,))
    permit, deny = _pool_policy(pools, family)
    return _bird.pool_function_lines(name, family, [str(n) for n in permit], [str(n) for n in deny])


def bird_bfd(profile, name="vmnet_bfd"):
    """BIRD's ``protocol bfd`` with the fabric's timers and ``profile`` over them (module_utils/_bird.py)."""
    try:
        return _bird.bfd_lines(profile, name)
    except (_bird.BirdError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(str(exc)) from None


def bird_bgp(session):
    """One BIRD ``protocol bgp`` towards a route reflector (module_utils/_bird.py)."""
    if not isinstance(session, dict):
        raise AnsibleFilterError("bgp session: %r is not a dict" % (session,))
    missing = sorted({"afi", "peer", "source", "asn", "import_filter", "export_filter"} - set(session))
    unknown = sorted(set(session) - {"afi", "peer", "source", "asn", "password", "bfd", "graceful_restart", "timers",
                                     "import_filter", "export_filter"})
    if missing or unknown:
        raise AnsibleFilterError("bgp session: %s" % "; ".join(
            x for x in ("missing key(s) " + ", ".join(missing) if missing else "",
                        "unknown key(s) " + ", ".join(unknown) if unknown else "") if x))
    try:
        return _bird.bgp_lines(session)
    except (_bird.BirdError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(str(exc)) from None


def bird_communities(value):
    """The cluster's community (``ASN:VALUE``, a well-known name, or a list of them) as the pairs BIRD's
    ``bgp_community.add((A, B))`` takes."""
    text = bgp_community(value)
    try:
        return [list(p) for p in _bird.community_pairs(text.split())]
    except _bird.BirdError as exc:
        raise AnsibleFilterError(str(exc)) from None


def junos_route_filters(pools, family="ipv4", match="orlonger"):
    """Junos route-filter arguments (``PREFIX orlonger``) for every pool CIDR of one family.

    ``match`` is the Junos match type: ``orlonger`` as in the documents, or ``exact-host`` which
    renders ``prefix-length-range /32-/32`` (``/128-/128``) to accept host routes only.
    """
    family = _family(family)
    host = HOST_LEN[family]
    if match not in ("exact-host", "orlonger", "longer", "exact", "upto /32", "upto /128"):
        raise AnsibleFilterError("unsupported Junos route-filter match %r" % (match,))
    permit, deny = _pool_policy(pools, family)
    # the exclusions inside the entries first, each with its own action (a route-filter action ends the
    # evaluation of the term for the routes it matches)
    out = ["%s %s reject" % (net, "exact" if net.prefixlen == host else "orlonger") for net in deny]
    for net in permit:
        if match == "exact-host":
            out.append("%s prefix-length-range /%d-/%d" % (net, host, host) if net.prefixlen < host else "%s exact" % net)
        else:
            out.append("%s %s" % (net, match))
    return out


def max_prefix(pools, family="ipv4", cap=FRR_MAX_PREFIX_LIMIT, minimum=1):
    """Number of host routes the pools can hold (the size of their cover: addresses less exclusions), capped."""
    family = _family(family)
    total = sum(net.size for net in _pool_networks(pools, family))
    cap = min(int(cap), FRR_MAX_PREFIX_LIMIT)
    return max(int(minimum), min(total, cap))


def peer_addresses(hosts, hostvars, family="ipv4", exclude=None):
    """Underlay addresses (``ipfabric_underlay_ipv4``/``ipv6``) of the given inventory hosts.

    Hosts without the variable are skipped (an IPv4-only RR has no IPv6 session). ``exclude`` is a
    host name or a list of host names left out (e.g. the host itself).
    """
    _need_netaddr()
    family = _family(family)
    var = "ipfabric_underlay_%s" % family
    if exclude is None:
        exclude = []
    elif isinstance(exclude, str):
        exclude = [exclude]
    result = []
    for host in hosts or []:
        if host in exclude:
            continue
        try:
            hvars = hostvars[host]
        except KeyError:
            raise AnsibleFilterError("host %r is not in hostvars" % (host,))
        addr = hvars.get(var) if hasattr(hvars, "get") else None
        if addr in (None, ""):
            continue
        addr = str(addr).strip()
        if "/" in addr:
            addr = addr.split("/", 1)[0]
        try:
            ip = netaddr.IPAddress(addr)
        except (netaddr.AddrFormatError, ValueError) as exc:
            raise AnsibleFilterError("%s of %s: %r is not an address: %s" % (var, host, addr, exc))
        if ip.version != FAMILIES[family]:
            raise AnsibleFilterError("%s of %s: %r is not %s" % (var, host, addr, family))
        if str(ip) not in result:
            result.append(str(ip))
    return result


def underlay_network(facts, address):
    """The connected network (``172.16.0.0/24``) that holds ``address`` according to gathered facts."""
    _need_netaddr()
    if not address:
        return ""
    ip = netaddr.IPAddress(str(address).split("/", 1)[0])
    facts = facts or {}
    for ifname in facts.get("interfaces", []):
        info = facts.get(ifname.replace("-", "_").replace(".", "_").replace(":", "_")) or facts.get(ifname) or {}
        candidates = []
        if ip.version == 4:
            if isinstance(info.get("ipv4"), dict):
                candidates.append(info["ipv4"])
            candidates.extend(info.get("ipv4_secondaries") or [])
        else:
            candidates.extend(info.get("ipv6") or [])
        for cand in candidates:
            if str(cand.get("address")) != str(ip):
                continue
            if ip.version == 4:
                net = netaddr.IPNetwork("%s/%s" % (cand["address"], cand.get("netmask") or cand.get("prefix")))
            else:
                net = netaddr.IPNetwork("%s/%s" % (cand["address"], cand.get("prefix")))
            return str(net.cidr)
    raise AnsibleFilterError("no interface in the gathered facts holds %s" % (address,))


def interface_name(vm_name):
    """The host-side interface name of a VM (``<vm>_net0``, shortened as docs/architecture.md says)."""
    reason = _names.validate_vm_name(vm_name)
    if reason:
        raise AnsibleFilterError("VM name %r %s" % (vm_name, reason))
    return _names.interface_name(vm_name)


def peer_name(vm_name):
    """The VM-side veth peer of a VM's interface (``<vm>_vm0``; LXD and lab)."""
    reason = _names.validate_vm_name(vm_name)
    if reason:
        raise AnsibleFilterError("VM name %r %s" % (vm_name, reason))
    return _names.peer_name(vm_name)


def bgp_community(value):
    """Validate one community ``ASN:VALUE`` (or a well-known name) and return it as FRR/Junos text."""
    if isinstance(value, (list, tuple)):
        return " ".join(bgp_community(v) for v in value)
    text = str(value).strip()
    if text in ("no-export", "no-advertise", "local-AS", "no-peer", "blackhole", "graceful-shutdown"):
        return text
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or not all(0 <= int(p) <= 65535 for p in parts):
        raise AnsibleFilterError("BGP community %r is not ASN:VALUE with both parts 0..65535" % (value,))
    return text


def sysctl_drift(desired, live_lines):
    """``key=value`` items of ``desired`` whose live value differs.

    ``live_lines`` is the output of ``sysctl -n KEY...`` for the keys of ``desired`` in sorted order
    (one line per key); whitespace inside a value is normalised before the comparison.
    """
    if not isinstance(desired, dict):
        raise AnsibleFilterError("sysctl settings must be a dict")
    keys = sorted(desired)
    live_lines = list(live_lines or [])
    if len(live_lines) != len(keys):
        raise AnsibleFilterError("expected %d sysctl values, got %d" % (len(keys), len(live_lines)))
    drift = []
    for key, live in zip(keys, live_lines):
        want = " ".join(str(desired[key]).split())
        if " ".join(str(live).split()) != want:
            drift.append("%s=%s" % (key, want))
    return drift


def firewalld_rich_rule(rule):
    """A firewalld rich rule accepting ``proto``/``port`` from one source address.

    ``rule`` is a pair ``[address, {proto, port}]`` (what ``product`` of addresses and ports gives).
    """
    _need_netaddr()
    try:
        address, spec = rule
        ip = netaddr.IPAddress(str(address))
        proto = spec["proto"]
        port = int(spec["port"])
    except (TypeError, ValueError, KeyError, netaddr.AddrFormatError) as exc:
        raise AnsibleFilterError("not a [address, {proto, port}] pair: %r (%s)" % (rule, exc))
    if proto not in ("tcp", "udp"):
        raise AnsibleFilterError("protocol must be tcp or udp, got %r" % (proto,))
    return 'rule family="ipv%d" source address="%s" port port="%d" protocol="%s" accept' % (
        ip.version, ip, port, proto)


class FilterModule(object):
    """vmnet.ipfabric filters."""

    def filters(self):
        return {
            "ipfabric_pool_cidrs": pool_cidrs,
            "ipfabric_frr_prefix_list": frr_prefix_list,
            "ipfabric_bird_pool_function": bird_pool_function,
            "ipfabric_bird_bfd": bird_bfd,
            "ipfabric_bird_bgp": bird_bgp,
            "ipfabric_bird_communities": bird_communities,
            "ipfabric_frr_bfd_profile": frr_bfd_profile,
            "ipfabric_frr_graceful_restart": frr_graceful_restart,
            "ipfabric_frr_peer_group": frr_peer_group,
            "ipfabric_junos_route_filters": junos_route_filters,
            "ipfabric_max_prefix": max_prefix,
            "ipfabric_peer_addresses": peer_addresses,
            "ipfabric_underlay_network": underlay_network,
            "ipfabric_interface_name": interface_name,
            "ipfabric_peer_name": peer_name,
            "ipfabric_bgp_community": bgp_community,
            "ipfabric_sysctl_drift": sysctl_drift,
            "ipfabric_firewalld_rich_rule": firewalld_rich_rule,
        }
