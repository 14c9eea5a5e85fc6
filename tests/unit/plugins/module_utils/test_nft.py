# -*- coding: utf-8 -*-
"""The anti-spoofing table (module_utils/_nft.py): its script, and the reading of what nftables 1.0.6
printed for it (fixture recorded from the lab image: `nft -j list table inet vmnet_ipfabric` after
loading table_script). The packets themselves: tests/lab_tests/test_anti_spoofing.py."""

from __future__ import (absolute_import, division, print_function)
from __future__ import annotations
__metaclass__ = type

import json
import os

import pytest

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _nft

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "nft_table.json")
ELEMS = {"vm_ifaces": {("vm1_net0",), ("abc~xyz123_net0",)},
         "vm_ipv4": {("vm1_net0", "198.51.100.1"), ("abc~xyz123_net0", "198.51.100.2")},
         "vm_ipv6": {("vm1_net0", "2001:db8:100::1")}}


def recorded():
    with open(FIXTURE) as f:
        return f.read()


def test_elements_from_the_desired_state():
    desired = {"vm1": {"interface": "vm1_net0", "ipv4": ["198.51.100.1/32"], "ipv6": ["2001:db8:100::1/128"]},
               "abc-long": {"interface": "abc~xyz123_net0", "ipv4": ["198.51.100.2/32"], "ipv6": []}}
    assert _nft.elements(desired) == ELEMS


def test_rules_do_not_grow_with_the_vms():
    small = _nft.table_script(_nft.elements({}))
    big = _nft.table_script(_nft.elements(dict(
        ("vm%d" % i, {"interface": "vm%d_net0" % i, "ipv4": ["198.51.%d.%d" % (100 + i // 250, i % 250)], "ipv6": []})
        for i in range(1000))))
    rules = [line for line in big.splitlines() if line.startswith("\t\t") and "comment" in line]
    assert rules == [line for line in small.splitlines() if line.startswith("\t\t") and "comment" in line]
    assert len(rules) == len(_nft.RULES)
    # 1000 VMs: two element statements of at most 500 elements each per set, no rule per VM
    assert sum(1 for line in big.splitlines() if line.startswith("add element inet vmnet_ipfabric vm_ipv4 ")) == 2


def test_the_script_replaces_the_table_in_one_transaction():
    lines = _nft.table_script(ELEMS).splitlines()
    assert lines[1:4] == ["table inet vmnet_ipfabric {}", "delete table inet vmnet_ipfabric", "table inet vmnet_ipfabric {"]
    assert "\t\ttype filter hook prerouting priority raw; policy accept;" in lines


def test_parse_what_nftables_printed():
    live = _nft.parse(recorded())
    assert live.present and live.current
    assert live.elems == ELEMS
    assert set(live.counters) == {"router advertisement or redirect", "DHCP or DHCPv6 server message",
                                  "any other source address"}
    assert all(c == {"packets": 0, "bytes": 0} for c in live.counters.values())


def test_a_table_with_other_rules_is_not_current():
    data = json.loads(recorded())
    rules = [i for i in data["nftables"] if "rule" in i]
    rules[-1]["rule"]["comment"] = "vmnet-ipfabric v0: any other source address"
    assert not _nft.parse(json.dumps(data)).current
    data = json.loads(recorded())
    data["nftables"] = [i for i in data["nftables"] if not ("rule" in i and i["rule"]["handle"] == rules[2]["rule"]["handle"])]
    assert not _nft.parse(json.dumps(data)).current
    data = json.loads(recorded())
    for i in data["nftables"]:
        if "set" in i and i["set"]["name"] == "vm_ipv4":
            i["set"]["type"] = "ipv4_addr"
    assert not _nft.parse(json.dumps(data)).current


def test_no_table():
    assert not _nft.parse("").present
    assert _nft.no_table(1, "Error: No such file or directory\nlist table inet vmnet_ipfabric\n")
    assert not _nft.no_table(1, "Error: Could not process rule: Operation not permitted")
    with pytest.raises(_nft.NftError):
        _nft.parse("not json")


def test_changes_script_deletes_then_adds_only_the_difference():
    want = {"vm_ifaces": {("vm1_net0",), ("vm3_net0",)}, "vm_ipv4": {("vm1_net0", "198.51.100.1"), ("vm3_net0", "198.51.100.3")},
            "vm_ipv6": set()}
    script = _nft.changes_script(ELEMS, want)
    assert script.splitlines() == [
        'delete element inet vmnet_ipfabric vm_ifaces { "abc~xyz123_net0" }',
        'delete element inet vmnet_ipfabric vm_ipv4 { "abc~xyz123_net0" . 198.51.100.2 }',
        'delete element inet vmnet_ipfabric vm_ipv6 { "vm1_net0" . 2001:db8:100::1 }',
        'add element inet vmnet_ipfabric vm_ifaces { "vm3_net0" }',
        'add element inet vmnet_ipfabric vm_ipv4 { "vm3_net0" . 198.51.100.3 }',
    ]
    assert _nft.changes_script(ELEMS, ELEMS) == ""
