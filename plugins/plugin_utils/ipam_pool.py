# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pool definitions for the IPAM: parsing, validation and interval math.

A pool is never enumerated. Every family of a pool is a sorted list of disjoint integer intervals
``(first, last)`` of allocatable addresses (ranges and CIDRs, less the network/broadcast addresses of
CIDRs, less exclusions). Everything here is O(number of intervals), whatever the size of the pool:
an IPv6 /48 costs the same as an IPv4 /30.
"""
from __future__ import annotations

import bisect
import ipaddress
import re
from dataclasses import dataclass, field

FAMILIES = {"ipv4": 4, "ipv6": 6}
FAMILY_NAMES = {4: "ipv4", 6: "ipv6"}
MAX_ADDR = {4: (1 << 32) - 1, 6: (1 << 128) - 1}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")  # \Z: "$" accepts a trailing newline
POOL_KEYS = ("name", "ipv4", "ipv6", "exclude", "gateway", "description")
DEFAULT_GATEWAY_IPV4 = "10.0.0.1"
DEFAULT_GATEWAY_IPV6 = "fe80::1"


class IpamError(Exception):
    """A user-facing IPAM error: bad input, exhausted pool, conflict. Nothing was changed."""


def addr_int(text: str) -> tuple[int, int]:
    """Return (family, integer) for an address string."""
    a = ipaddress.ip_address(text.strip())
    return a.version, int(a)


def addr_text(family: int, value: int) -> str:
    if family == 4:
        return str(ipaddress.IPv4Address(value))
    return str(ipaddress.IPv6Address(value))


def _parse_span(text, where: str, *, cidr_skip: bool) -> tuple[int, int, int]:
    """Parse 'CIDR', 'A-B' or 'A'. Return (family, first, last) of the allocatable span.

    ``cidr_skip``: for a CIDR, leave out the network address (and for IPv4 the broadcast address)
    when the prefix holds more than two addresses.
    """
    if not isinstance(text, str) or not text.strip():
        raise IpamError(f"{where}: {text!r} is not a CIDR, an address or an 'A-B' range (a non-empty string)")
    text = text.strip()
    if "-" in text:
        left, dummy, right = text.partition("-")
        try:
            fam1, a = addr_int(left)
            fam2, b = addr_int(right)
        except ValueError:
            raise IpamError(f"{where}: {text!r} is not a valid 'A-B' range of two addresses") from None
        if fam1 != fam2:
            raise IpamError(f"{where}: range {text!r} mixes an IPv4 and an IPv6 address")
        if a > b:
            raise IpamError(f"{where}: range {text!r} ends before it starts")
        return fam1, a, b
    if "/" in text:
        try:
            net = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            if "host bits set" in str(exc):
                try:
                    fixed = ipaddress.ip_network(text, strict=False)
                except ValueError:
                    fixed = None
                raise IpamError(
                    f"{where}: {text!r} has host bits set" + (f" (the network is {fixed})" if fixed else "")
                ) from None
            raise IpamError(f"{where}: {text!r} is not a valid CIDR: {exc}") from None
        first, last = int(net.network_address), int(net.broadcast_address)
        if cidr_skip and net.num_addresses > 2:
            first += 1  # IPv4 network address, IPv6 subnet-router anycast address
            if net.version == 4:
                last -= 1  # IPv4 broadcast address
        return net.version, first, last
    try:
        fam, a = addr_int(text)
    except ValueError:
        raise IpamError(f"{where}: {text!r} is not a CIDR, an address or an 'A-B' range") from None
    return fam, a, a


def _subtract(intervals: list[tuple[int, int]], cut: tuple[int, int]) -> list[tuple[int, int]]:
    lo, hi = cut
    out = []
    for a, b in intervals:
        if b < lo or a > hi:
            out.append((a, b))
            continue
        if a < lo:
            out.append((a, lo - 1))
        if b > hi:
            out.append((hi + 1, b))
    return out


@dataclass
class Pool:
    name: str
    # family -> [(first, last, label)] as written (whole CIDRs), for overlap and gateway checks
    spans: dict = field(default_factory=dict)
    # family -> sorted disjoint [(first, last)] of allocatable addresses
    intervals: dict = field(default_factory=dict)
    # family -> [(first, last, label)] exclusions
    excludes: dict = field(default_factory=dict)
    gateways: dict = field(default_factory=dict)  # family -> [address text]
    definition: dict = field(default_factory=dict)  # canonical definition (for the store's pool record)

    @property
    def families(self) -> list[int]:
        return [f for f in (4, 6) if self.spans.get(f)]

    def size(self, family: int) -> int:
        return sum(b - a + 1 for a, b in self.intervals.get(family, ()))

    def contains(self, family: int, value: int) -> bool:
        """True when ``value`` is allocatable (inside a span, not excluded). O(log intervals)."""
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
    raise IpamError(f"{where}: expected a list of strings, got {type(value).__name__}")


def _gateways_of(pool_name: str, value) -> list[tuple[int, int, str]]:
    where = f"pool {pool_name!r} field gateway"
    if value is None:
        return []
    if isinstance(value, dict):
        unknown = set(value) - set(FAMILIES)
        if unknown:
            raise IpamError(f"{where}: unknown key(s) {sorted(unknown)}; use ipv4 and ipv6")
        items = [v for v in (value.get("ipv4"), value.get("ipv6")) if v]
    else:
        items = _as_list(value, where)
    out = []
    for item in items:
        try:
            fam, a = addr_int(str(item))
        except ValueError:
            raise IpamError(f"{where}: {item!r} is not an IP address") from None
        out.append((fam, a, str(item)))
    return out


def parse_pool(raw, index: int, cluster_gateways: list[tuple[int, int, str]]) -> Pool:
    if not isinstance(raw, dict):
        raise IpamError(f"ipfabric_pools[{index}]: a pool is a dict with name, ipv4, ipv6, exclude, gateway")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise IpamError(
            f"ipfabric_pools[{index}] field name: {name!r} is not a valid pool name "
            "(letters, digits, '_', '.', '-', at most 63 characters)"
        )
    unknown = sorted(set(raw) - set(POOL_KEYS))
    if unknown:
        raise IpamError(f"pool {name!r}: unknown field(s) {unknown}; allowed: {', '.join(POOL_KEYS)}")
    pool = Pool(name=name)
    for fam_name, fam in FAMILIES.items():
        spans = []
        for i, entry in enumerate(_as_list(raw.get(fam_name), f"pool {name!r} field {fam_name}")):
            where = f"pool {name!r} field {fam_name}[{i}]"
            efam, first, last = _parse_span(entry, where, cidr_skip=False)
            if efam != fam:
                kind = "IPv6" if efam == 6 else "IPv4"
                raise IpamError(f"{where}: {entry!r} is an {kind} {'range' if '-' in entry else 'address'}"
                                f" in the {fam_name} list")
            for a, b, label in spans:
                if first <= b and a <= last:
                    raise IpamError(f"{where}: {entry!r} overlaps {label} of the same pool")
            spans.append((first, last, f"{fam_name}[{i}] {entry.strip()}"))
        if spans:
            pool.spans[fam] = sorted(spans)
            pool.intervals[fam] = sorted(
                _parse_span(span[2].split(" ", 1)[1], "", cidr_skip=True)[1:] for span in spans
            )
    if not pool.spans:
        raise IpamError(f"pool {name!r}: no ipv4 and no ipv6 range; a pool needs at least one")

    for i, entry in enumerate(_as_list(raw.get("exclude"), f"pool {name!r} field exclude")):
        where = f"pool {name!r} field exclude[{i}]"
        fam, first, last = _parse_span(entry, where, cidr_skip=False)
        if not any(first <= b and a <= last for a, b, dummy in pool.spans.get(fam, [])):
            raise IpamError(f"{where}: {entry!r} is outside every {FAMILY_NAMES[fam]} range of the pool")
        pool.excludes.setdefault(fam, []).append((first, last, f"exclude[{i}] {entry.strip()}"))
        pool.intervals[fam] = _subtract(pool.intervals[fam], (first, last))

    gateways = [(f, a, t, f"pool {name!r} field gateway") for f, a, t in _gateways_of(name, raw.get("gateway"))]
    gateways += list(cluster_gateways)
    for fam, a, text, source in gateways:
        pool.gateways.setdefault(fam, []).append(text)
        for first, last, label in pool.spans.get(fam, []):
            if first <= a <= last:
                raise IpamError(
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


def parse_pools(raw_pools, gateway_ipv4=DEFAULT_GATEWAY_IPV4, gateway_ipv6=DEFAULT_GATEWAY_IPV6) -> dict[str, Pool]:
    """Validate every pool of the inventory and return them by name (in definition order)."""
    if raw_pools is None or raw_pools == []:
        raise IpamError("ipfabric_pools: no pool is defined (set ipfabric_pools or the pools option)")
    if isinstance(raw_pools, dict):
        raise IpamError("ipfabric_pools: expected a list of pools, got a dict")
    if not isinstance(raw_pools, (list, tuple)):
        raise IpamError(f"ipfabric_pools: expected a list of pools, got {type(raw_pools).__name__}")
    cluster_gateways = []
    for var, value, fam in (("ipfabric_gateway_ipv4", gateway_ipv4, 4), ("ipfabric_gateway_ipv6", gateway_ipv6, 6)):
        if value in (None, ""):
            continue
        try:
            gfam, a = addr_int(str(value))
        except ValueError:
            raise IpamError(f"{var}: {value!r} is not an IP address") from None
        if gfam != fam:
            raise IpamError(f"{var}: {value!r} is not an {FAMILY_NAMES[fam]} address")
        cluster_gateways.append((gfam, a, str(value), var))
    pools: dict[str, Pool] = {}
    for i, raw in enumerate(raw_pools):
        pool = parse_pool(raw, i, cluster_gateways)
        if pool.name in pools:
            raise IpamError(f"ipfabric_pools[{i}] field name: pool {pool.name!r} is defined twice")
        for other in pools.values():
            for fam in pool.families:
                for a, b, label in pool.spans[fam]:
                    for c, d, olabel in other.spans.get(fam, []):
                        if a <= d and c <= b:
                            raise IpamError(
                                f"pool {pool.name!r} field {label} overlaps pool {other.name!r} field {olabel}"
                            )
        pools[pool.name] = pool
    return pools


def select_pool(pools: dict[str, Pool], name) -> Pool:
    if name in (None, ""):
        if len(pools) == 1:
            return next(iter(pools.values()))
        raise IpamError(f"pool: several pools are defined ({', '.join(pools)}); say which one with pool=")
    if name not in pools:
        raise IpamError(f"pool: no pool named {name!r} (defined: {', '.join(pools)})")
    return pools[name]
