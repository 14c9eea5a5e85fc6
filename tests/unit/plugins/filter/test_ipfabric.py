# -*- coding: utf-8 -*-
"""Unit tests of the vmnet.ipfabric filter plugin (plugins/filter/ipfabric.py)."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.vmnet.ipfabric.plugins.filter import ipfabric as f

POOLS = [
    {"name": "public", "ipv4": ["198.51.100.0/24"], "ipv6": ["2001:db8:100::/64"], "exclude": ["198.51.100.1"]},
    {"name": "extra", "ipv4": ["203.0.113.5-203.0.113.9", "192.0.2.7"]},
]


def test_every_filter_registered():
    names = set(f.FilterModule().filters())
    assert names == {
        "ipfabric_pool_cidrs", "ipfabric_frr_prefix_list", "ipfabric_junos_route_filters", "ipfabric_max_prefix",
        "ipfabric_peer_addresses", "ipfabric_underlay_network", "ipfabric_interface_name", "ipfabric_peer_name",
        "ipfabric_bgp_community", "ipfabric_sysctl_drift", "ipfabric_firewalld_rich_rule",
    }


def test_pool_cidrs_ranges_sorted_unique():
    assert f.pool_cidrs(POOLS + POOLS, "ipv4") == [
        "192.0.2.7/32", "198.51.100.0/24", "203.0.113.5/32", "203.0.113.6/31", "203.0.113.8/31"]
    assert f.pool_cidrs(POOLS, "ipv6") == ["2001:db8:100::/64"]
    assert f.pool_cidrs([], "ipv4") == []
    assert f.pool_cidrs(None, "ipv6") == []


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
    assert f.frr_prefix_list(POOLS, "IPV4_PLIST") == [
        "ip prefix-list IPV4_PLIST seq 5 permit 192.0.2.7/32",
        "ip prefix-list IPV4_PLIST seq 10 permit 198.51.100.0/24 ge 32 le 32",
        "ip prefix-list IPV4_PLIST seq 15 permit 203.0.113.5/32",
        "ip prefix-list IPV4_PLIST seq 20 permit 203.0.113.6/31 ge 32 le 32",
        "ip prefix-list IPV4_PLIST seq 25 permit 203.0.113.8/31 ge 32 le 32",
    ]
    assert f.frr_prefix_list(POOLS, "IPV6_PLIST", "ipv6") == [
        "ipv6 prefix-list IPV6_PLIST seq 5 permit 2001:db8:100::/64 ge 128 le 128"]


def test_frr_prefix_list_empty_denies():
    assert f.frr_prefix_list([], "X", "ipv6") == ["ipv6 prefix-list X seq 5 deny any"]


def test_junos_route_filters():
    assert f.junos_route_filters(POOLS[:1]) == ["198.51.100.0/24 orlonger"]
    assert f.junos_route_filters(POOLS[:1], "ipv6") == ["2001:db8:100::/64 orlonger"]
    assert f.junos_route_filters(POOLS, "ipv4", "exact-host")[:2] == [
        "192.0.2.7/32 exact", "198.51.100.0/24 prefix-length-range /32-/32"]
    with pytest.raises(AnsibleFilterError):
        f.junos_route_filters(POOLS, "ipv4", "through")


def test_max_prefix():
    assert f.max_prefix(POOLS[:1], "ipv4") == 256
    assert f.max_prefix(POOLS, "ipv4") == 256 + 5 + 1
    assert f.max_prefix(POOLS, "ipv6") == 4294967295
    assert f.max_prefix(POOLS, "ipv6", 100000) == 100000
    assert f.max_prefix([], "ipv6") == 1


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
