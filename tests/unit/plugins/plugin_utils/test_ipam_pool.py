# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import ipaddress
import time

import pytest

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import (
    IpamError,
    addr_int,
    parse_pools,
    select_pool,
)


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


def test_ipv6_64_and_48_sizes_without_enumeration():
    start = time.perf_counter()
    p64 = one({"name": "p", "ipv6": ["2001:db8:100::/64"]})
    p48 = one({"name": "q", "ipv6": ["2001:db8:200::/48"]})
    elapsed = time.perf_counter() - start
    assert p64.size(6) == 2**64 - 1  # the subnet-router anycast address is left out
    assert p48.size(6) == 2**80 - 1
    assert p64.contains(6, ip("2001:db8:100::1"))
    assert p64.contains(6, ip("2001:db8:100:0:ffff:ffff:ffff:ffff"))
    assert not p64.contains(6, ip("2001:db8:100::"))
    assert not p64.contains(6, ip("2001:db8:100:1::"))
    assert p48.contains(6, ip("2001:db8:200:ffff:ffff:ffff:ffff:ffff"))
    assert elapsed < 0.1


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
