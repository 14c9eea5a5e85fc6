# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import ipaddress

import netaddr
import pytest

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError, parse_pools, select_pool
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils import pools
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.pools import addr_int


def one(raw, **kw):
    return next(iter(parse_pools([raw], **kw).values()))


def ip(text):
    return addr_int(text)[1]


def test_cidr_skips_network_and_broadcast():
    pool = one({"name": "p", "ipv4": ["198.51.100.0/24"]})
    assert pool.intervals[4] == [(ip("198.51.100.1"), ip("198.51.100.254"))]
    assert pool.size(4) == 254
    assert not pool.contains(4, ip("198.51.100.0"))
    assert not pool.contains(4, ip("198.51.100.255"))
    assert pool.contains(4, ip("198.51.100.1"))
    assert pool.families == [4]


def test_range_is_taken_literally_and_small_prefixes_keep_every_address():
    pool = one({"name": "p", "ipv4": ["198.51.100.0-198.51.100.255", "192.0.2.8/31", "192.0.2.20/32"]})
    assert pool.size(4) == 256 + 2 + 1
    assert pool.contains(4, ip("198.51.100.0")) and pool.contains(4, ip("198.51.100.255"))
    assert pool.contains(4, ip("192.0.2.8")) and pool.contains(4, ip("192.0.2.9"))


def test_ipv6_64_and_48_sizes_without_enumeration(monkeypatch):
    # no address iteration anywhere in the model (a /48 has 2^80 addresses): iterating an IPSet, an IPRange
    # or an IPNetwork fails the test instead of hanging it
    def refuse(self):
        raise AssertionError(f"the pool model enumerated {self!r}")

    for cls in (netaddr.IPSet, netaddr.IPRange, netaddr.IPNetwork):
        monkeypatch.setattr(cls, "__iter__", refuse)
    p64 = one({"name": "p", "ipv6": ["2001:db8:100::/64"], "exclude": ["2001:db8:100::5-2001:db8:100::9"]})
    p48 = one({"name": "q", "ipv6": ["2001:db8:200::/48"]})
    assert [str(c) for c in pools.cover_cidrs([p48], 6)] == ["2001:db8:200::/48"]
    assert pools.PrefixCover.of_pools([p64, p48]).contains("2001:db8:200:5::7/128")
    assert p64.size(6) == 2**64 - 1 - 5
    p64 = one({"name": "p", "ipv6": ["2001:db8:100::/64"]})
    assert p64.size(6) == 2**64 - 1  # the subnet-router anycast address is left out
    assert p48.size(6) == 2**80 - 1
    assert p64.contains(6, ip("2001:db8:100::1"))
    assert p64.contains(6, ip("2001:db8:100:0:ffff:ffff:ffff:ffff"))
    assert not p64.contains(6, ip("2001:db8:100::"))
    assert not p64.contains(6, ip("2001:db8:100:1::"))
    assert p48.contains(6, ip("2001:db8:200:ffff:ffff:ffff:ffff:ffff"))


def test_exclusions_split_intervals():
    pool = one({"name": "p", "ipv4": ["198.51.100.0/24"], "ipv6": ["2001:db8::/64"],
                "exclude": ["198.51.100.10", "198.51.100.64/26", "198.51.100.200-198.51.100.210", "2001:db8::5"]})
    assert pool.intervals[4] == [
        (ip("198.51.100.1"), ip("198.51.100.9")),
        (ip("198.51.100.11"), ip("198.51.100.63")),
        (ip("198.51.100.128"), ip("198.51.100.199")),
        (ip("198.51.100.211"), ip("198.51.100.254")),
    ]
    assert pool.size(4) == 254 - 1 - 64 - 11
    assert not pool.contains(6, ip("2001:db8::5"))
    assert "excluded by exclude[1] 198.51.100.64/26" in pool.why_not(4, ip("198.51.100.70"))
    assert "outside" in pool.why_not(4, ip("192.0.2.1"))


def test_exclusion_on_a_64_is_interval_math():
    pool = one({"name": "p", "ipv6": ["2001:db8::/64"], "exclude": ["2001:db8::/65"]})
    assert pool.size(6) == 2**63
    assert pool.intervals[6] == [(ip("2001:db8::8000:0:0:0"), ip("2001:db8::ffff:ffff:ffff:ffff"))]


def test_default_pool_and_selection():
    pools = parse_pools([{"name": "a", "ipv4": ["198.51.100.0/25"]}, {"name": "b", "ipv4": ["198.51.100.128/25"]}])
    assert select_pool(pools, "b").name == "b"
    with pytest.raises(IpamError, match="several pools are defined"):
        select_pool(pools, None)
    with pytest.raises(IpamError, match="no pool named 'c'"):
        select_pool(pools, "c")
    assert select_pool({"a": pools["a"]}, None).name == "a"


@pytest.mark.parametrize("pools, match", [
    ([{"name": "p", "ipv4": ["198.51.100.1/24"]}],
     r"pool 'p' field ipv4\[0\]: '198.51.100.1/24' has host bits set \(the network is 198.51.100.0/24\)"),
    ([{"name": "p", "ipv6": ["2001:db8::1/64"]}], r"pool 'p' field ipv6\[0\]: .* has host bits set"),
    ([{"name": "p", "ipv4": ["198.51.100.0/24", "2001:db8::/64"]}],
     r"pool 'p' field ipv4\[1\]: '2001:db8::/64' is an IPv6 address in the ipv4 list"),
    ([{"name": "p", "ipv4": ["198.51.100.0/24"], "ipv6": ["2001:db8::1-2001:db8::9", "198.51.101.0/24"]}],
     r"pool 'p' field ipv6\[1\]: '198.51.101.0/24' is an IPv4 address in the ipv6 list"),
    ([{"name": "p", "ipv6": ["2001:db8::9-2001:db8::1"]}], r"pool 'p' field ipv6\[0\]: range .* ends before it starts"),
    ([{"name": "p", "ipv4": ["198.51.100.1-2001:db8::1"]}], r"pool 'p' field ipv4\[0\]: range .* mixes"),
    ([{"name": "p", "ipv4": ["198.51.100.0/33"]}], r"pool 'p' field ipv4\[0\]: '198.51.100.0/33' is not a valid CIDR"),
    ([{"name": "p", "ipv4": ["banana"]}], r"pool 'p' field ipv4\[0\]: 'banana' is not"),
    ([{"name": "p", "ipv4": [42]}], r"pool 'p' field ipv4\[0\]: 42 is not"),
    ([{"name": "p", "ipv4": ["198.51.100.0/24", "198.51.100.128/25"]}],
     r"pool 'p' field ipv4\[1\]: '198.51.100.128/25' overlaps ipv4\[0\] 198.51.100.0/24 of the same pool"),
    ([{"name": "a", "ipv4": ["198.51.100.0/24"]}, {"name": "b", "ipv4": ["198.51.100.200-198.51.101.5"]}],
     r"pool 'b' field ipv4\[0\] 198.51.100.200-198.51.101.5 overlaps pool 'a' field ipv4\[0\] 198.51.100.0/24"),
    ([{"name": "a", "ipv6": ["2001:db8::/48"]}, {"name": "b", "ipv6": ["2001:db8:0:5::/64"]}],
     r"pool 'b' field ipv6\[0\] 2001:db8:0:5::/64 overlaps pool 'a' field ipv6\[0\] 2001:db8::/48"),
    ([{"name": "p", "ipv4": ["10.0.0.0/24"]}],
     r"pool 'p' field ipv4\[0\]: 10.0.0.0/24 contains the gateway 10.0.0.1 \(ipfabric_gateway_ipv4\)"),
    ([{"name": "p", "ipv4": ["198.51.100.0/24"], "gateway": "198.51.100.1"}],
     r"pool 'p' field ipv4\[0\]: 198.51.100.0/24 contains the gateway 198.51.100.1 \(pool 'p' field gateway\)"),
    ([{"name": "p", "ipv6": ["2001:db8::/64"], "gateway": {"ipv6": "2001:db8::1"}}],
     r"pool 'p' field ipv6\[0\]: 2001:db8::/64 contains the gateway 2001:db8::1"),
    ([{"name": "p", "ipv4": ["198.51.100.0/24"], "exclude": ["192.0.2.1"]}],
     r"pool 'p' field exclude\[0\]: '192.0.2.1' is outside every ipv4 range of the pool"),
    ([{"name": "p", "ipv4": ["198.51.100.0/24"], "exclude": ["198.51.100.1/24"]}],
     r"pool 'p' field exclude\[0\]: '198.51.100.1/24' has host bits set"),
    ([{"name": "p", "ipv4": ["198.51.100.0/24"], "exlude": []}], r"pool 'p': unknown field\(s\) \['exlude'\]"),
    ([{"name": "p"}], r"pool 'p': no ipv4 and no ipv6 range"),
    ([{"name": "bad name", "ipv4": ["198.51.100.0/24"]}], r"ipfabric_pools\[0\] field name: 'bad name' is not a valid"),
    ([{"ipv4": ["198.51.100.0/24"]}], r"ipfabric_pools\[0\] field name: None"),
    ([{"name": "p", "ipv4": ["198.51.100.0/25"]}, {"name": "p", "ipv4": ["198.51.100.128/25"]}],
     r"ipfabric_pools\[1\] field name: pool 'p' is defined twice"),
    ([], r"no pool is defined"),
    ({"name": "p"}, r"expected a list of pools, got a dict"),
    (["198.51.100.0/24"], r"ipfabric_pools\[0\]: a pool is a dict"),
    ([{"name": "p", "ipv4": {"a": 1}}], r"pool 'p' field ipv4: expected a list of strings, got dict"),
])
def test_bad_pools_name_pool_and_field(pools, match):
    with pytest.raises(IpamError, match=match):
        parse_pools(pools)


def test_cluster_gateways():
    with pytest.raises(IpamError, match=r"contains the gateway 198.51.100.7 \(ipfabric_gateway_ipv4\)"):
        parse_pools([{"name": "p", "ipv4": ["198.51.100.0/24"]}], gateway_ipv4="198.51.100.7")
    with pytest.raises(IpamError, match=r"ipfabric_gateway_ipv4: 'fe80::1' is not an ipv4 address"):
        parse_pools([{"name": "p", "ipv4": ["198.51.100.0/24"]}], gateway_ipv4="fe80::1")
    with pytest.raises(IpamError, match=r"ipfabric_gateway_ipv6: 'x' is not an IP address"):
        parse_pools([{"name": "p", "ipv4": ["198.51.100.0/24"]}], gateway_ipv6="x")
    # the gateway of a range pool is rejected even at the range's edge
    with pytest.raises(IpamError, match="contains the gateway"):
        parse_pools([{"name": "p", "ipv4": ["10.0.0.1-10.0.0.9"]}], gateway_ipv4="10.0.0.1")
    pool = one({"name": "p", "ipv4": ["198.51.100.0/24"], "gateway": "10.0.0.1"}, gateway_ipv4="10.0.0.1")
    assert "198.51.100.5" not in pool.gateways[4] and pool.gateways[4] == ["10.0.0.1", "10.0.0.1"]


def test_definition_is_canonical():
    pool = one({"name": "p", "ipv4": [" 198.51.100.0/24 "], "ipv6": ["2001:db8::/64"], "exclude": ["198.51.100.9"]})
    assert pool.definition == {"name": "p", "ipv4": ["198.51.100.0/24"], "ipv6": ["2001:db8::/64"],
                               "exclude": ["198.51.100.9"]}
    assert str(ipaddress.ip_address(pool.intervals[6][0][0])) == "2001:db8::1"


# --- the two sets of a pool: what the routing policy covers, what the IPAM hands out ----------------

def cidrs(pool, family):
    return [str(c) for c in pools.cover_cidrs([pool], family)]


def test_cover_is_the_entries_less_the_exclusions_and_allocatable_also_skips_cidr_edges():
    pool = one({"name": "p", "ipv4": ["198.51.100.0/24", "203.0.113.8-203.0.113.11"], "ipv6": ["2001:db8::/64"],
                "exclude": ["198.51.100.64/26", "2001:db8::5"]})
    assert cidrs(pool, 4) == ["198.51.100.0/26", "198.51.100.128/25", "203.0.113.8/30"]
    assert cidrs(pool, 6)[:3] == ["2001:db8::/126", "2001:db8::4/128", "2001:db8::6/127"]
    # the cover keeps the network and broadcast address of the CIDR, the IPAM does not hand them out
    assert netaddr.IPAddress("198.51.100.0") in pool.cover[4] and not pool.contains(4, ip("198.51.100.0"))
    assert netaddr.IPAddress("198.51.100.255") in pool.cover[4] and not pool.contains(4, ip("198.51.100.255"))
    assert netaddr.IPAddress("2001:db8::") in pool.cover[6] and not pool.contains(6, ip("2001:db8::"))
    # an excluded address is in neither set
    for text in ("198.51.100.70", "2001:db8::5"):
        fam, value = addr_int(text)
        assert netaddr.IPAddress(text) not in pool.cover[fam] and not pool.contains(fam, value)
    # a range is taken literally: its first and last address are handed out
    assert pool.contains(4, ip("203.0.113.8")) and pool.contains(4, ip("203.0.113.11"))
    # allocatable = cover less the CIDR edges, exactly
    assert pool.allocatable[4] == pool.cover[4] - netaddr.IPSet(["198.51.100.0", "198.51.100.255"])
    assert pool.size(4) == pool.allocatable[4].size == 256 - 64 - 2 + 4


def test_excluding_the_edges_takes_them_out_of_the_cover_too():
    pool = one({"name": "p", "ipv4": ["198.51.100.0/24"], "exclude": ["198.51.100.0", "198.51.100.255"]})
    assert cidrs(pool, 4)[0] == "198.51.100.1/32" and cidrs(pool, 4)[-1] == "198.51.100.254/32"
    assert len(cidrs(pool, 4)) == 14 and pool.cover[4] == pool.allocatable[4]


def test_every_allocatable_address_is_covered():
    pool = one({"name": "p", "ipv4": ["198.51.100.0/28", "192.0.2.7", "192.0.2.9-192.0.2.12"],
                "exclude": ["198.51.100.4-198.51.100.6"]})
    written = [a for first, last, dummy in pool.spans[4] for a in range(first - 1, last + 2)]  # and one around
    allocatable = [a for a in written if pool.contains(4, a)]
    covered = [int(a) for a in pool.cover[4]]
    assert set(allocatable) <= set(covered)
    assert sorted(set(covered) - set(allocatable)) == [ip("198.51.100.0"), ip("198.51.100.15")]


def test_prefix_cover_of_entries():
    cover = pools.PrefixCover.of_entries(["198.51.100.0-198.51.100.9", "2001:db8::/64", "192.0.2.1"])
    assert cover.contains("198.51.100.9/32") and not cover.contains("198.51.100.10/32")
    assert cover.contains("2001:db8::77/128") and not cover.contains("2001:db8:1::/128")
    assert cover.contains("192.0.2.1/32") and not cover.contains("192.0.2.0/31")
    assert cover.cidrs() == ["192.0.2.1/32", "198.51.100.0/29", "198.51.100.8/31", "2001:db8::/64"]
    with pytest.raises(pools.PoolError, match=r"pools\[1\]: '10.0.0.1/8' has host bits set"):
        pools.PrefixCover.of_entries(["192.0.2.0/24", "10.0.0.1/8"])


def test_filters_see_no_cluster_gateway_but_the_pool_gateway():
    # the filters do not get ipfabric_gateway_ipv4: a pool holding 10.0.0.1 renders, the IPAM refuses it
    assert pools.parse_pools([{"name": "p", "ipv4": ["10.0.0.0/24"]}])["p"].name == "p"
    with pytest.raises(IpamError, match="contains the gateway 10.0.0.1"):
        parse_pools([{"name": "p", "ipv4": ["10.0.0.0/24"]}])
    with pytest.raises(pools.PoolError, match=r"contains the gateway 198.51.100.1 \(pool 'p' field gateway\)"):
        pools.parse_pools([{"name": "p", "ipv4": ["198.51.100.0/24"], "gateway": "198.51.100.1"}])
    assert pools.parse_pools(None, allow_empty=True) == {} and pools.parse_pools([], allow_empty=True) == {}


@pytest.mark.parametrize("text", ["0.0.0.0", "198.51.100.7", "255.255.255.255", "::", "::1", "2001:db8::",
                                  "2001:db8:0:1:1:1:1:1", "2001:db8::1:0:0:1", "fe80::1", "2001:db8:100::ff",
                                  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::ffff:198.51.100.7", "1:0:0:1::"])
def test_addr_text_prints_what_netaddr_prints(text):
    fam, value = addr_int(text)
    assert pools.addr_text(fam, value) == str(netaddr.IPAddress(value, fam))
    assert addr_int(pools.addr_text(fam, value)) == (fam, value)
