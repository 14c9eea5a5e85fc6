# -*- coding: utf-8 -*-
"""Unit tests of the vmnet.ipfabric filter plugin (plugins/filter/ipfabric.py)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible.errors import AnsibleFilterError

from ansible_collections.vmnet.ipfabric.plugins.filter import ipfabric as f
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import parse_pools as ipam_parse_pools

POOLS = [
    {"name": "public", "ipv4": ["198.51.100.0/24"], "ipv6": ["2001:db8:100::/64"], "exclude": ["198.51.100.1"]},
    {"name": "extra", "ipv4": ["203.0.113.5-203.0.113.9", "192.0.2.7"]},
]


def test_every_filter_registered():
    names = set(f.FilterModule().filters())
    assert names == {
        "ipfabric_pool_cidrs", "ipfabric_frr_prefix_list", "ipfabric_junos_route_filters", "ipfabric_max_prefix",
        "ipfabric_frr_bfd_profile", "ipfabric_frr_peer_group", "ipfabric_frr_graceful_restart",
        "ipfabric_peer_addresses", "ipfabric_underlay_network", "ipfabric_interface_name", "ipfabric_peer_name",
        "ipfabric_bgp_community", "ipfabric_sysctl_drift", "ipfabric_firewalld_rich_rule",
        "ipfabric_bird_pool_function", "ipfabric_bird_bfd", "ipfabric_bird_bgp", "ipfabric_bird_communities",
    }


def test_bird_pool_function_from_the_same_pools():
    lines = f.bird_pool_function(POOLS, "vmnet_pool4", "ipv4")
    assert lines[0] == "function vmnet_pool4()"
    assert "198.51.100.1/32" in lines[2] and "return false" in lines[2]          # the exclusion first
    assert "198.51.100.0/24{32,32}" in lines[3] and "192.0.2.7/32" in lines[3]
    assert f.bird_pool_function(POOLS, "vmnet_pool6", "ipv6")[-2] == "  return net ~ [ 2001:db8:100::/64{128,128} ];"
    with pytest.raises(AnsibleFilterError):
        f.bird_pool_function(POOLS, "bad name", "ipv4")


# public less its exclusion 198.51.100.1: the /24 splits into the CIDRs around the hole
PUBLIC_V4 = ["198.51.100.0/32", "198.51.100.2/31", "198.51.100.4/30", "198.51.100.8/29", "198.51.100.16/28",
             "198.51.100.32/27", "198.51.100.64/26", "198.51.100.128/25"]


def test_pool_cidrs_ranges_sorted_minimal_less_exclusions():
    assert f.pool_cidrs(POOLS, "ipv4") == ["192.0.2.7/32"] + PUBLIC_V4 + [
        "203.0.113.5/32", "203.0.113.6/31", "203.0.113.8/31"]
    assert f.pool_cidrs(POOLS, "ipv6") == ["2001:db8:100::/64"]
    assert f.pool_cidrs([], "ipv4") == []
    assert f.pool_cidrs(None, "ipv6") == []
    # adjacent entries and pools merge into the smallest list of CIDRs
    assert f.pool_cidrs([{"name": "a", "ipv4": ["198.51.100.0/25"]}, {"name": "b", "ipv4": ["198.51.100.128/25"]}],
                        "ipv4") == ["198.51.100.0/24"]


def test_pool_cidrs_refuse_what_the_ipam_refuses():
    # the filters read the pools through the IPAM's model: a pool defined twice, overlapping pools, an
    # unknown field (a typo of exclude) fail the same way
    for pools, needle in ((POOLS + POOLS, "pool 'public' is defined twice"),
                          ([POOLS[0], {"name": "x", "ipv4": ["198.51.100.128/25"]}], "overlaps pool 'public'"),
                          ([dict(POOLS[0], exlude=["198.51.100.9"])], "unknown field(s) ['exlude']"),
                          ([{"ipv4": ["198.51.100.0/24"]}], "field name: None")):
        with pytest.raises(AnsibleFilterError) as exc:
            f.pool_cidrs(pools, "ipv4")
        assert needle in str(exc.value)


def test_pool_cidrs_ipv6_range():
    pools = [{"name": "p", "ipv6": ["2001:db8::10-2001:db8::13"]}]
    assert f.pool_cidrs(pools, "ipv6") == ["2001:db8::10/126"]


@pytest.mark.parametrize("entry", [
    "198.51.100.1/24",          # host bits
    "2001:db8::/64",            # wrong family
    "198.51.100.9-198.51.100.1",  # reversed range
    "nonsense",
    "198.51.100.0-2001:db8::1",
])
def test_pool_cidrs_rejects(entry):
    with pytest.raises(AnsibleFilterError):
        f.pool_cidrs([{"name": "bad", "ipv4": [entry]}], "ipv4")


def test_bad_family_and_shapes():
    with pytest.raises(AnsibleFilterError):
        f.pool_cidrs(POOLS, "inet")
    with pytest.raises(AnsibleFilterError):
        f.pool_cidrs("198.51.100.0/24", "ipv4")
    with pytest.raises(AnsibleFilterError):
        f.pool_cidrs(["198.51.100.0/24"], "ipv4")


def test_frr_prefix_list():
    """The exclusions inside the written entries are denied first, then the entries permitted as written."""
    assert f.frr_prefix_list(POOLS, "IPV4_PLIST") == [
        "ip prefix-list IPV4_PLIST seq 5 deny 198.51.100.1/32",
        "ip prefix-list IPV4_PLIST seq 10 permit 192.0.2.7/32",
        "ip prefix-list IPV4_PLIST seq 15 permit 198.51.100.0/24 ge 32 le 32",
        "ip prefix-list IPV4_PLIST seq 20 permit 203.0.113.5/32",
        "ip prefix-list IPV4_PLIST seq 25 permit 203.0.113.6/31 ge 32 le 32",
        "ip prefix-list IPV4_PLIST seq 30 permit 203.0.113.8/31 ge 32 le 32",
    ]
    assert f.frr_prefix_list(POOLS, "IPV6_PLIST", "ipv6") == [
        "ipv6 prefix-list IPV6_PLIST seq 5 permit 2001:db8:100::/64 ge 128 le 128"]
    assert f.frr_prefix_list([{"name": "p", "ipv4": ["198.51.100.0/24"]}], "P") == [
        "ip prefix-list P seq 5 permit 198.51.100.0/24 ge 32 le 32"]
    lab = [{"name": "public", "ipv4": ["198.51.100.0/24"], "exclude": ["198.51.100.0", "198.51.100.255"]}]
    assert f.frr_prefix_list(lab, "P") == ["ip prefix-list P seq 5 deny 198.51.100.0/32",
                                           "ip prefix-list P seq 10 deny 198.51.100.255/32",
                                           "ip prefix-list P seq 15 permit 198.51.100.0/24 ge 32 le 32"]


def _first_match(lines, address):
    """What an FRR prefix-list of such lines does with the host route ``address`` (first match wins)."""
    addr = ipaddress.ip_address(address)
    for line in lines:
        words = line.split()
        action, net = words[5], ipaddress.ip_network(words[6])
        exact = "ge" not in words
        if addr in net and (not exact or net.prefixlen == net.max_prefixlen):
            return action
    return "deny"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 255), max_size=6), st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255)), max_size=2))
def test_frr_prefix_list_accepts_exactly_the_cover(excluded, ranges):
    """Address by address, the rendered prefix-list (deny lines first) accepts exactly the pools' cover."""
    exclude = ["198.51.100.%d" % i for i in excluded] + ["198.51.100.%d-198.51.100.%d" % (min(a, b), max(a, b))
                                                         for a, b in ranges]
    pools = [{"name": "p", "ipv4": ["198.51.100.0/24"], "exclude": exclude}]
    lines = f.frr_prefix_list(pools, "P")
    cover = {str(a) for net in f.pool_cidrs(pools, "ipv4") for a in ipaddress.ip_network(net)}
    for i in range(256):
        a = "198.51.100.%d" % i
        assert (_first_match(lines, a) == "permit") == (a in cover), (a, lines)


def test_frr_prefix_list_empty_denies():
    assert f.frr_prefix_list([], "X", "ipv6") == ["ipv6 prefix-list X seq 5 deny any"]


def test_junos_route_filters():
    """Exclusions first, each with its own reject action, then the entries as written."""
    assert f.junos_route_filters(POOLS[:1]) == ["198.51.100.1/32 exact reject", "198.51.100.0/24 orlonger"]
    assert f.junos_route_filters(POOLS[:1], "ipv6") == ["2001:db8:100::/64 orlonger"]
    assert f.junos_route_filters(POOLS, "ipv4", "exact-host")[:3] == [
        "198.51.100.1/32 exact reject", "192.0.2.7/32 exact", "198.51.100.0/24 prefix-length-range /32-/32"]
    with pytest.raises(AnsibleFilterError):
        f.junos_route_filters(POOLS, "ipv4", "through")


def test_max_prefix():
    assert f.max_prefix(POOLS[:1], "ipv4") == 255                     # the /24 less its exclusion
    assert f.max_prefix(POOLS, "ipv4") == 255 + 5 + 1
    assert f.max_prefix([{"name": "p", "ipv4": ["198.51.100.0/24"]}], "ipv4") == 256
    assert f.max_prefix(POOLS, "ipv6") == 4294967295
    assert f.max_prefix(POOLS, "ipv6", 100000) == 100000
    assert f.max_prefix([], "ipv6") == 1


# --- the filters and the IPAM agree on every address (issue 11.1) -------------------------------------

@settings(max_examples=60, deadline=None)
@given(prefix=st.integers(24, 30), offset=st.integers(0, 255),
       excludes=st.lists(st.tuples(st.integers(0, 255), st.integers(0, 3)), max_size=4),
       extra_range=st.booleans())
def test_the_routing_policy_accepts_every_address_the_ipam_hands_out(prefix, offset, excludes, extra_range):
    """What the prefix-lists and route-filters accept (pool_cidrs) against the IPAM's pool: every address the
    IPAM can hand out is accepted, no excluded address is, and the only other accepted addresses are the
    network and broadcast addresses of the CIDR entries (docs/ipam.md, "What the routing policy covers")."""
    net = ipaddress.IPv4Network((int(ipaddress.IPv4Address("198.51.100.0")) + (offset << (32 - prefix)) % 2**16,
                                 prefix), strict=False)
    raw = {"name": "p", "ipv4": [str(net)]}
    if extra_range:
        raw["ipv4"].append("203.0.113.7-203.0.113.20")
    excl = []
    for start, length in excludes:
        first = net.network_address + start % net.num_addresses
        last = min(first + length, net.broadcast_address)
        excl.append("%s-%s" % (first, last))
    raw["exclude"] = excl
    ipam_pool = ipam_parse_pools([raw])["p"]
    accepted = set()
    for cidr in f.pool_cidrs([raw], "ipv4"):
        accepted.update(int(a) for a in ipaddress.IPv4Network(cidr))
    excluded = set()
    for text in excl:
        first, last = (int(ipaddress.IPv4Address(x)) for x in text.split("-"))
        excluded.update(range(first, last + 1))
    edges = {int(net.network_address), int(net.broadcast_address)} if net.num_addresses > 2 else set()
    written = set(range(int(net.network_address), int(net.broadcast_address) + 1))
    if extra_range:
        written |= set(range(int(ipaddress.IPv4Address("203.0.113.7")), int(ipaddress.IPv4Address("203.0.113.20")) + 1))
    allocatable = {a for a in written if ipam_pool.contains(4, a)}
    assert allocatable <= accepted, "an address the IPAM hands out is refused by the routing policy"
    assert not accepted & excluded, "the routing policy accepts an excluded address"
    assert accepted - allocatable <= edges, "the routing policy accepts more than the pool and its CIDR edges"
    assert accepted == written - excluded
    assert f.max_prefix([raw], "ipv4") == max(1, len(accepted))  # at least 1: FRR needs a limit


def test_peer_addresses():
    hostvars = {"rr1": {"ipfabric_underlay_ipv4": "172.16.0.2", "ipfabric_underlay_ipv6": "fd0c:172:16::2"},
                "rr2": {"ipfabric_underlay_ipv4": "172.16.0.3/24"},
                "rr3": {}}
    assert f.peer_addresses(["rr1", "rr2", "rr3"], hostvars) == ["172.16.0.2", "172.16.0.3"]
    assert f.peer_addresses(["rr1", "rr2", "rr3"], hostvars, "ipv6") == ["fd0c:172:16::2"]
    assert f.peer_addresses(["rr1", "rr2"], hostvars, exclude="rr1") == ["172.16.0.3"]
    with pytest.raises(AnsibleFilterError):
        f.peer_addresses(["rr9"], hostvars)
    with pytest.raises(AnsibleFilterError):
        f.peer_addresses(["rr1"], {"rr1": {"ipfabric_underlay_ipv4": "fd0c::1"}})


def test_underlay_network():
    facts = {"interfaces": ["lo", "host0", "br-x"],
             "host0": {"ipv4": {"address": "172.16.0.2", "netmask": "255.255.255.0"},
                       "ipv6": [{"address": "fd0c:172:16::2", "prefix": "64"}]},
             "br_x": {"ipv4": {"address": "10.9.0.1", "netmask": "255.255.0.0"},
                      "ipv4_secondaries": [{"address": "10.10.0.1", "netmask": "255.255.255.252"}]}}
    assert f.underlay_network(facts, "172.16.0.2") == "172.16.0.0/24"
    assert f.underlay_network(facts, "fd0c:172:16::2") == "fd0c:172:16::/64"
    assert f.underlay_network(facts, "10.10.0.1") == "10.10.0.0/30"
    with pytest.raises(AnsibleFilterError):
        f.underlay_network(facts, "192.0.2.1")


def test_interface_names():
    assert f.interface_name("sea_gold") == "sea_gold_net0"
    long_name = f.interface_name("a-very-long-vm-name")
    assert len(long_name) == 15 and long_name.startswith("a-v~") and long_name.endswith("_net0")
    assert f.peer_name("vm1") == "vm1_vm0"
    for bad in ("bad~name", "", "-x", "a" * 64):
        with pytest.raises(AnsibleFilterError):
            f.interface_name(bad)


def test_bgp_community():
    assert f.bgp_community("65000:100") == "65000:100"
    assert f.bgp_community(["65000:100", "no-export"]) == "65000:100 no-export"
    for bad in ("65000", "70000:1", "a:b", "1:2:3"):
        with pytest.raises(AnsibleFilterError):
            f.bgp_community(bad)


def test_sysctl_drift():
    desired = {"net.ipv4.ip_forward": 1, "net.ipv4.tcp_rmem": "4096 87380 6291456"}
    assert f.sysctl_drift(desired, ["0", "4096\t87380\t6291456"]) == ["net.ipv4.ip_forward=1"]
    assert f.sysctl_drift(desired, ["1", "4096 87380 6291456"]) == []
    with pytest.raises(AnsibleFilterError):
        f.sysctl_drift(desired, ["1"])


def test_firewalld_rich_rule():
    assert f.firewalld_rich_rule(["172.16.0.2", {"proto": "tcp", "port": 179}]) == \
        'rule family="ipv4" source address="172.16.0.2" port port="179" protocol="tcp" accept'
    assert f.firewalld_rich_rule(("fd0c:172:16::2", {"proto": "udp", "port": "3784"})).startswith(
        'rule family="ipv6" source address="fd0c:172:16::2" port port="3784" protocol="udp"')
    with pytest.raises(AnsibleFilterError):
        f.firewalld_rich_rule(["172.16.0.2", {"proto": "icmp", "port": 1}])


def test_frr_bfd_profile():
    # the fabric's default timers (3 x 200 ms) unless the inventory says otherwise
    assert f.frr_bfd_profile({}) == [
        "bfd", " profile vmnet-ipfabric", "  receive-interval 200", "  transmit-interval 200", " exit", " !", "exit"]
    # FRR's own defaults (3, 300 ms) are left out; the fabric's receive interval stays
    assert f.frr_bfd_profile({"transmit_interval": 300, "detect_multiplier": 3}, "p1") == [
        "bfd", " profile p1", "  receive-interval 200", " exit", " !", "exit"]
    assert f.frr_bfd_profile({"transmit_interval": 150, "detect_multiplier": 5}, "p1") == [
        "bfd", " profile p1", "  detect-multiplier 5", "  receive-interval 200", "  transmit-interval 150",
        " exit", " !", "exit"]
    with pytest.raises(AnsibleFilterError) as e:
        f.frr_bfd_profile({"echo_interval": 50})
    assert "echo_interval" in str(e.value)
    with pytest.raises(AnsibleFilterError):
        f.frr_bfd_profile("fast")


def test_frr_peer_group():
    group = {"name": "RR", "asn": 65000, "source": "172.16.0.11", "peers": ["172.16.0.2", "172.16.0.3"],
             "password": "s3cret", "bfd": True, "bfd_profile": "vmnet-ipfabric"}
    assert f.frr_peer_group(group) == [
        " neighbor RR peer-group", " neighbor RR remote-as 65000", " neighbor RR update-source 172.16.0.11",
        " neighbor RR password s3cret", " neighbor RR bfd", " neighbor RR bfd profile vmnet-ipfabric",
        " neighbor 172.16.0.2 peer-group RR", " neighbor 172.16.0.3 peer-group RR"]
    listen = f.frr_peer_group({"name": "fabric", "asn": 65000, "listen_range": "172.16.0.0/24",
                               "extended_nexthop": True, "peers": ["172.16.0.11"]})
    assert listen[-1] == " bgp listen range 172.16.0.0/24 peer-group fabric"
    assert " neighbor fabric capability extended-nexthop" in listen and " neighbor 172.16.0.11 peer-group fabric" not in listen
    with pytest.raises(AnsibleFilterError):
        f.frr_peer_group({"name": "RR"})
    with pytest.raises(AnsibleFilterError):
        f.frr_peer_group({"name": "RR", "asn": 1, "holdtime": 3})
