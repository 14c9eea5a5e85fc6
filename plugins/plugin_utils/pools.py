# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one controller-side model of ``ipfabric_pools``: parsing, validation, sets and covers (netaddr).

Every controller-side consumer of the pools reads them through this module: the IPAM (which address
may be handed out), the filters that render the routing policy (``ipfabric_pool_cidrs``, the FRR
prefix-lists, the Junos route-filters, ``ipfabric_max_prefix``) and the fabric check (which prefixes
belong to the fabric). The target-side modules keep receiving the expanded CIDRs
(``ipfabric_pool_cidrs``) and never parse ``ipfabric_pools`` themselves.

Two address sets per pool and family, both ``netaddr.IPSet`` (never enumerated):

``cover``
    every address of the ``ipv4``/``ipv6`` entries (CIDRs, ``A-B`` ranges, single addresses) less the
    ``exclude`` entries. This is what the routing policy accepts (as host routes) and what the fabric
    check calls "inside the pools". Rendered as the smallest list of CIDRs that covers it exactly.
``allocatable``
    the cover less the network address (IPv4 and IPv6: the subnet-router anycast address) and, for IPv4,
    the broadcast address of every CIDR entry holding more than two addresses. What the IPAM hands out.
    The cover keeps these few addresses on purpose: they lie inside a CIDR that is routed to the fabric
    as a whole, so nobody else can hold them, and keeping them lets a /24 stay one prefix-list line. To
    keep them out of the routing policy too, list them in ``exclude``.

For the allocator, ``allocatable`` is also kept as a sorted list of disjoint integer intervals
``(first, last)``: membership is a bisection, and the gap search walks intervals, not addresses, so a
/48 costs what a /30 costs.
"""
from __future__ import annotations

import bisect
import re
import socket
from dataclasses import dataclass, field

try:
    import netaddr
except ImportError:  # reported by _need_netaddr() when the model is used (requirements.txt has it)
    netaddr = None

FAMILIES = {"ipv4": 4, "ipv6": 6}
FAMILY_NAMES = {4: "ipv4", 6: "ipv6"}
MAX_ADDR = {4: (1 << 32) - 1, 6: (1 << 128) - 1}
HOST_PREFIXLEN = {4: 32, 6: 128}
# pool names: what the store's pool column and the error messages can carry safely
POOL_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")  # \Z: "$" accepts a trailing newline
POOL_KEYS = ("name", "ipv4", "ipv6", "exclude", "gateway", "description")
DEFAULT_GATEWAY_IPV4 = "10.0.0.1"
DEFAULT_GATEWAY_IPV6 = "fe80::1"
_ADDR_ERRORS = (netaddr.AddrFormatError, ValueError, TypeError) if netaddr else (ValueError, TypeError)


class PoolError(ValueError):
    """A pool definition (or a pool entry) that cannot be used; the message names the pool and the field."""


def _need_netaddr():
    if netaddr is None:
        raise PoolError("the vmnet.ipfabric pool model needs the Python library netaddr on the controller "
                        "(pip install netaddr; see requirements.txt)")


def addr_int(text) -> tuple[int, int]:
    """Return (family, integer) for an address string; ValueError when it is not one."""
    _need_netaddr()
    try:
        a = netaddr.IPAddress(str(text).strip())
    except _ADDR_ERRORS:
        raise ValueError(f"{text!r} is not an IP address") from None
    return a.version, int(a)


def addr_text(family: int, value: int) -> str:
    """The text of an address: what netaddr prints, straight from the C library (the IPAM formats every
    address it hands out, and netaddr's own objects would be most of the cost of a batch)."""
    if family == 4:
        return socket.inet_ntop(socket.AF_INET, value.to_bytes(4, "big"))
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


def parse_entry(text, where: str) -> tuple[int, int, int]:
    """Parse one pool entry: 'CIDR', 'A-B' or 'A'. Return (family, first, last) of every address it names.

    A CIDR must not have host bits set. Errors (PoolError) start with ``where``.
    """
    _need_netaddr()
    if not isinstance(text, str) or not text.strip():
        raise PoolError(f"{where}: {text!r} is not a CIDR, an address or an 'A-B' range (a non-empty string)")
    text = text.strip()
    if "-" in text:
        left, dummy, right = text.partition("-")
        try:
            fam1, a = addr_int(left)
            fam2, b = addr_int(right)
        except ValueError:
            raise PoolError(f"{where}: {text!r} is not a valid 'A-B' range of two addresses") from None
        if fam1 != fam2:
            raise PoolError(f"{where}: range {text!r} mixes an IPv4 and an IPv6 address")
        if a > b:
            raise PoolError(f"{where}: range {text!r} ends before it starts")
        return fam1, a, b
    if "/" in text:
        try:
            net = netaddr.IPNetwork(text)
        except _ADDR_ERRORS as exc:
            raise PoolError(f"{where}: {text!r} is not a valid CIDR: {exc}") from None
        if net.ip != net.network:
            raise PoolError(f"{where}: {text!r} has host bits set (the network is {net.cidr})")
        return net.version, net.first, net.last
    try:
        fam, a = addr_int(text)
    except ValueError:
        raise PoolError(f"{where}: {text!r} is not a CIDR, an address or an 'A-B' range") from None
    return fam, a, a


def _ipset(family: int, spans) -> netaddr.IPSet:
    """IPSet of integer spans [(first, last, ...)] of one family."""
    out = netaddr.IPSet()
    for span in spans:
        out.add(netaddr.IPRange(netaddr.IPAddress(span[0], family), netaddr.IPAddress(span[1], family)))
    return out


def _cidr_edges(family: int, first: int, last: int) -> list[int]:
    """Addresses of a CIDR entry the IPAM never hands out: its network address (the IPv6 subnet-router
    anycast address) and, for IPv4, its broadcast address; none for a /31, /32, /127 or /128."""
    if last - first + 1 <= 2:
        return []
    return [first, last] if family == 4 else [first]


@dataclass
class Pool:
    """One validated pool. Spans and exclusions keep their labels (``ipv4[0] 198.51.100.0/24``) for messages."""

    name: str
    spans: dict = field(default_factory=dict)      # family -> sorted [(first, last, label)], as written
    excludes: dict = field(default_factory=dict)   # family -> [(first, last, label)]
    gateways: dict = field(default_factory=dict)   # family -> [address text]
    cover: dict = field(default_factory=dict)      # family -> IPSet: entries less exclusions (routing policy)
    allocatable: dict = field(default_factory=dict)  # family -> IPSet: what the IPAM hands out
    intervals: dict = field(default_factory=dict)  # family -> sorted disjoint [(first, last)] of allocatable
    definition: dict = field(default_factory=dict)  # canonical definition (the IPAM store's pool record)

    @property
    def families(self) -> list[int]:
        return [f for f in (4, 6) if self.spans.get(f)]

    def size(self, family: int) -> int:
        """Number of allocatable addresses of one family (interval arithmetic, any size)."""
        return sum(b - a + 1 for a, b in self.intervals.get(family, ()))

    def contains(self, family: int, value: int) -> bool:
        """True when ``value`` may be handed out (inside an entry, not excluded, not a CIDR's edge).
        O(log intervals)."""
        ivs = self.intervals.get(family, [])
        i = bisect.bisect_right(ivs, (value, MAX_ADDR[6] + 1)) - 1
        return i >= 0 and ivs[i][0] <= value <= ivs[i][1]

    def why_not(self, family: int, value: int) -> str:
        """Explain why ``value`` is not allocatable in this pool."""
        text = addr_text(family, value)
        if family not in self.families:
            return f"pool {self.name!r} has no {FAMILY_NAMES[family]} range"
        for gw in self.gateways.get(family, []):
            if addr_int(gw)[1] == value:
                return f"{text} is the gateway"
        for a, b, label in self.excludes.get(family, []):
            if a <= value <= b:
                return f"{text} is excluded by {label}"
        for a, b, label in self.spans.get(family, []):
            if a <= value <= b:
                return f"{text} is the network, broadcast or subnet-router anycast address of {label}"
        return f"{text} is outside pool {self.name!r}"


def _as_list(value, where: str) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise PoolError(f"{where}: expected a list of strings, got {type(value).__name__}")


def _gateways_of(pool_name: str, value) -> list[tuple[int, int, str]]:
    where = f"pool {pool_name!r} field gateway"
    if value is None:
        return []
    if isinstance(value, dict):
        unknown = set(value) - set(FAMILIES)
        if unknown:
            raise PoolError(f"{where}: unknown key(s) {sorted(unknown)}; use ipv4 and ipv6")
        items = [v for v in (value.get("ipv4"), value.get("ipv6")) if v]
    else:
        items = _as_list(value, where)
    out = []
    for item in items:
        try:
            fam, a = addr_int(str(item))
        except ValueError:
            raise PoolError(f"{where}: {item!r} is not an IP address") from None
        out.append((fam, a, str(item)))
    return out


def parse_pool(raw, index: int, cluster_gateways=()) -> Pool:
    """Validate one pool of ``ipfabric_pools``. ``cluster_gateways``: [(family, int, text, variable)]."""
    if not isinstance(raw, dict):
        raise PoolError(f"ipfabric_pools[{index}]: a pool is a dict with name, ipv4, ipv6, exclude, gateway")
    name = raw.get("name")
    if not isinstance(name, str) or not POOL_NAME_RE.match(name):
        raise PoolError(
            f"ipfabric_pools[{index}] field name: {name!r} is not a valid pool name "
            "(letters, digits, '_', '.', '-', at most 63 characters)"
        )
    unknown = sorted(set(raw) - set(POOL_KEYS))
    if unknown:
        raise PoolError(f"pool {name!r}: unknown field(s) {unknown}; allowed: {', '.join(POOL_KEYS)}")
    pool = Pool(name=name)
    edges = {}
    for fam_name, fam in FAMILIES.items():
        spans = []
        for i, entry in enumerate(_as_list(raw.get(fam_name), f"pool {name!r} field {fam_name}")):
            where = f"pool {name!r} field {fam_name}[{i}]"
            efam, first, last = parse_entry(entry, where)
            if efam != fam:
                kind = "IPv6" if efam == 6 else "IPv4"
                raise PoolError(f"{where}: {entry!r} is an {kind} {'range' if '-' in entry else 'address'}"
                                f" in the {fam_name} list (it is not {fam_name})")
            for a, b, label in spans:
                if first <= b and a <= last:
                    raise PoolError(f"{where}: {entry!r} overlaps {label} of the same pool")
            spans.append((first, last, f"{fam_name}[{i}] {entry.strip()}"))
            if "/" in entry:
                edges.setdefault(fam, []).extend(_cidr_edges(fam, first, last))
        if spans:
            pool.spans[fam] = sorted(spans)
    if not pool.spans:
        raise PoolError(f"pool {name!r}: no ipv4 and no ipv6 range; a pool needs at least one")

    for i, entry in enumerate(_as_list(raw.get("exclude"), f"pool {name!r} field exclude")):
        where = f"pool {name!r} field exclude[{i}]"
        fam, first, last = parse_entry(entry, where)
        if not any(first <= b and a <= last for a, b, dummy in pool.spans.get(fam, [])):
            raise PoolError(f"{where}: {entry!r} is outside every {FAMILY_NAMES[fam]} range of the pool")
        pool.excludes.setdefault(fam, []).append((first, last, f"exclude[{i}] {entry.strip()}"))

    for fam in pool.families:
        pool.cover[fam] = _ipset(fam, pool.spans[fam]) - _ipset(fam, pool.excludes.get(fam, []))
        pool.allocatable[fam] = pool.cover[fam] - _ipset(fam, [(e, e) for e in edges.get(fam, [])])
        pool.intervals[fam] = [(r.first, r.last) for r in pool.allocatable[fam].iter_ipranges()]

    gateways = [(f, a, t, f"pool {name!r} field gateway") for f, a, t in _gateways_of(name, raw.get("gateway"))]
    gateways += list(cluster_gateways)
    for fam, a, text, source in gateways:
        pool.gateways.setdefault(fam, []).append(text)
        for first, last, label in pool.spans.get(fam, []):
            if first <= a <= last:
                raise PoolError(
                    f"pool {name!r} field {label.split(' ')[0]}: {label.split(' ', 1)[1]} contains the gateway "
                    f"{text} ({source}); the gateway sits on every <vm>_net0 and can never be a VM address"
                )
    pool.definition = {
        "name": name,
        "ipv4": [span[2].split(" ", 1)[1] for span in pool.spans.get(4, [])],
        "ipv6": [span[2].split(" ", 1)[1] for span in pool.spans.get(6, [])],
        "exclude": [span[2].split(" ", 1)[1] for fam in (4, 6) for span in pool.excludes.get(fam, [])],
    }
    return pool


def cluster_gateways(gateway_ipv4=DEFAULT_GATEWAY_IPV4, gateway_ipv6=DEFAULT_GATEWAY_IPV6) -> list:
    """The gateways of every ``<vm>_net0`` (``ipfabric_gateway_ipv4``/``ipv6``), validated, for parse_pools."""
    out = []
    for var, value, fam in (("ipfabric_gateway_ipv4", gateway_ipv4, 4), ("ipfabric_gateway_ipv6", gateway_ipv6, 6)):
        if value in (None, ""):
            continue
        try:
            gfam, a = addr_int(str(value))
        except ValueError:
            raise PoolError(f"{var}: {value!r} is not an IP address") from None
        if gfam != fam:
            raise PoolError(f"{var}: {value!r} is not an {FAMILY_NAMES[fam]} address")
        out.append((gfam, a, str(value), var))
    return out


def parse_pools(raw_pools, gateways=(), *, allow_empty: bool = False) -> dict[str, Pool]:
    """Validate every pool of ``ipfabric_pools`` and return them by name (in definition order).

    ``gateways``: what cluster_gateways() returns (the IPAM passes them; the routing filters, which do not
    see the gateway variables, pass none). ``allow_empty``: no pool at all is an empty result instead of an
    error (the filters render a deny-all policy then).
    """
    _need_netaddr()
    if raw_pools is None or raw_pools == []:
        if allow_empty:
            return {}
        raise PoolError("ipfabric_pools: no pool is defined (set ipfabric_pools or the pools option)")
    if isinstance(raw_pools, dict):
        raise PoolError("ipfabric_pools: expected a list of pools, got a dict")
    if not isinstance(raw_pools, (list, tuple)):
        raise PoolError(f"ipfabric_pools: expected a list of pools, got {type(raw_pools).__name__}")
    pools: dict[str, Pool] = {}
    for i, raw in enumerate(raw_pools):
        pool = parse_pool(raw, i, gateways)
        if pool.name in pools:
            raise PoolError(f"ipfabric_pools[{i}] field name: pool {pool.name!r} is defined twice")
        for other in pools.values():
            for fam in pool.families:
                for a, b, label in pool.spans[fam]:
                    for c, d, olabel in other.spans.get(fam, []):
                        if a <= d and c <= b:
                            raise PoolError(
                                f"pool {pool.name!r} field {label} overlaps pool {other.name!r} field {olabel}"
                            )
        pools[pool.name] = pool
    return pools


def cover(pools, family: int) -> netaddr.IPSet:
    """The union of the covers of ``pools`` (an iterable of Pool) for one family."""
    _need_netaddr()
    out = netaddr.IPSet()
    for pool in pools:
        out |= pool.cover.get(family, netaddr.IPSet())
    return out


def cover_cidrs(pools, family: int) -> list[netaddr.IPNetwork]:
    """The smallest sorted list of CIDRs covering exactly cover(pools, family)."""
    return list(cover(pools, family).iter_cidrs())


def policy(pools, family: int) -> tuple[list[netaddr.IPNetwork], list[netaddr.IPNetwork]]:
    """(permit, deny): the routing policy's view of the cover, the way the inventory writes it.

    ``permit`` is the smallest list of CIDRs of the written entries, ``deny`` that of the exclusions that
    fall inside them; a policy that checks ``deny`` first and then ``permit`` accepts exactly the cover.
    A /24 with two excluded addresses is one permit and two denies, not fourteen permits.
    """
    _need_netaddr()
    written, excluded = netaddr.IPSet(), netaddr.IPSet()
    for pool in pools:
        written |= _ipset(family, pool.spans.get(family, []))
        excluded |= _ipset(family, pool.excludes.get(family, []))
    excluded &= written
    return list(written.iter_cidrs()), list(excluded.iter_cidrs())


class PrefixCover:
    """Which prefixes are inside the pools, for both families: the fabric check's view of the pools."""

    def __init__(self, sets: dict):
        _need_netaddr()
        self.sets = {4: sets.get(4, netaddr.IPSet()), 6: sets.get(6, netaddr.IPSet())}

    @classmethod
    def of_pools(cls, pools) -> "PrefixCover":
        pools = list(pools)
        return cls({fam: cover(pools, fam) for fam in (4, 6)})

    @classmethod
    def of_entries(cls, entries, where: str = "pools") -> "PrefixCover":
        """From plain entries (CIDRs, 'A-B' ranges or addresses, any family), as the fabric_check option gives."""
        _need_netaddr()
        sets = {4: netaddr.IPSet(), 6: netaddr.IPSet()}
        for i, entry in enumerate(entries):
            fam, first, last = parse_entry(entry, f"{where}[{i}]")
            sets[fam] |= _ipset(fam, [(first, last)])
        return cls(sets)

    def contains(self, prefix) -> bool:
        """True when every address of ``prefix`` ('198.51.100.7/32', '2001:db8::/64') is inside the pools."""
        net = netaddr.IPNetwork(prefix)
        return net in self.sets[net.version]

    def cidrs(self) -> list[str]:
        return [str(c) for fam in (4, 6) for c in self.sets[fam].iter_cidrs()]
