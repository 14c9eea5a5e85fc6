# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile input, controller side (issue 7): every case fails, names the field, changes nothing.

The IPAM cases run `pool_address` as Ansible runs it (the action plugin's body) against a real SQLite
store seeded with one allocation; the whole store (every table, the change log included) is dumped
before and after. The module cases run `vm_interface` / `frr_network` / `frr_bgp` with a fake `ip` / `vtysh` that
records every command: a bad input must fail before any command that could change the host (`frr_bgp`,
which only reads: before any command at all).
The lab-level cases (real hosts, real playbooks) are in tests/lab_tests/test_bad_input.py.
"""
from __future__ import annotations

import os
import sqlite3
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vmnet.ipfabric.plugins.action.pool_address import run_pool_address
from ansible_collections.vmnet.ipfabric.plugins.filter import ipfabric as ipf
from ansible_collections.vmnet.ipfabric.plugins.filter.lifecycle import vm_requests
from ansible_collections.vmnet.ipfabric.plugins.modules import frr_bgp, frr_network, vm_interface
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugins", "modules"))
from modhelper import run_module  # noqa: E402  pylint: disable=wrong-import-position

POOL = {"name": "pub", "ipv4": ["198.51.100.0/24"], "ipv6": ["2001:db8:100::/64"],
        "exclude": ["198.51.100.255"]}
HOSTILE_NAMES = {
    "empty": "",
    "option_x": "-x",
    "option_long": "--help",
    "semicolon_reboot": ";reboot",
    "dollar_paren_id": "$(id)",
    "backticks": "web`id`",
    "pipe": "web|cat",
    "space": "web 1",
    "newline_trailing": "web1\n",
    "newline_inner": "web\n1",
    "unicode": "wéb1",
    "unicode_fullwidth": "ｗｅｂ１",
    "too_long_64": "a" * 64,
    "dot_dot_slash": "../etc",
    "slash": "a/b",
    "tilde": "ab~cdef",
}


@pytest.fixture
def store(tmp_path):
    """A SQLite store holding one allocation (owner 'seed')."""
    cfg = {"backend": "sqlite", "path": str(tmp_path / "ipam.sqlite"), "cooldown": 0}
    run_pool_address({"owner": "seed", "pools": [POOL], "store": cfg}, {})
    return cfg


def dump(cfg):
    con = sqlite3.connect(cfg["path"])
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: sorted(map(repr, con.execute("SELECT * FROM %s" % t))) for t in tables}
    finally:
        con.close()


def expect_ipam_error(cfg, args, *needles, task_vars=None):
    before = dump(cfg)
    with pytest.raises(IpamError) as exc:
        run_pool_address(dict(args, store=cfg), task_vars or {})
    msg = str(exc.value)
    for needle in needles:
        assert needle in msg, msg
    assert dump(cfg) == before, "the store changed although the call failed"
    return msg


# --- pools: malformed, overlapping, host bits, gateway inside, wrong family, reversed ------------

POOL_CASES = {
    "prefix_len_33": ([dict(POOL, ipv4=["198.51.100.0/33"])], ["field ipv4[0]", "198.51.100.0/33"]),
    "not_a_cidr": ([dict(POOL, ipv4=["banana"])], ["field ipv4[0]", "banana"]),
    "shell_in_cidr": ([dict(POOL, ipv4=["198.51.100.0/24;reboot"])], ["field ipv4[0]"]),
    "host_bits_ipv4": ([dict(POOL, ipv4=["198.51.100.1/24"])], ["field ipv4[0]", "host bits", "198.51.100.0/24"]),
    "host_bits_ipv6": ([dict(POOL, ipv6=["2001:db8:100::1/64"])], ["field ipv6[0]", "host bits"]),
    "overlap_inside_pool": ([dict(POOL, ipv4=["198.51.100.0/24", "198.51.100.128/25"])],
                            ["field ipv4[1]", "overlaps"]),
    "overlap_between_pools": ([POOL, {"name": "other", "ipv4": ["198.51.100.64/26"]}],
                              ["pool 'other'", "overlaps pool 'pub'"]),
    "gateway_inside_pool_v4": ([{"name": "gw", "ipv4": ["10.0.0.0/24"]}], ["field ipv4", "gateway 10.0.0.1"]),
    "gateway_inside_pool_v6": ([{"name": "gw6", "ipv6": ["fe80::/64"]}], ["field ipv6", "gateway fe80::1"]),
    "pool_gateway_field_inside": ([dict(POOL, gateway="198.51.100.7")], ["gateway 198.51.100.7"]),
    "ipv4_in_ipv6_pool": ([dict(POOL, ipv6=["198.51.100.0/24"])], ["field ipv6[0]", "IPv4"]),
    "ipv6_in_ipv4_pool": ([dict(POOL, ipv4=["2001:db8:100::/64"])], ["field ipv4[0]", "IPv6"]),
    "range_reversed": ([dict(POOL, ipv4=["198.51.100.20-198.51.100.10"])], ["field ipv4[0]", "ends before it starts"]),
    "range_mixed_family": ([dict(POOL, ipv4=["198.51.100.1-2001:db8::1"])], ["field ipv4[0]", "mixes"]),
    "exclude_outside": ([dict(POOL, exclude=["203.0.113.1"])], ["field exclude[0]", "outside"]),
    "pool_name_shell": ([dict(POOL, name="pub;reboot")], ["field name"]),
    "pool_name_twice": ([POOL, dict(POOL, ipv4=["192.0.2.0/24"], ipv6=[], exclude=[])], ["field name", "twice"]),
    "pool_unknown_field": ([dict(POOL, netmask="255.255.255.0")], ["unknown field", "netmask"]),
    "pool_without_ranges": ([{"name": "empty"}], ["pool 'empty'", "no ipv4 and no ipv6"]),
    "pools_empty_list": ([], ["ipfabric_pools"]),
    "pools_is_a_dict": ({"name": "pub", "ipv4": ["198.51.100.0/24"]}, ["ipfabric_pools", "dict"]),
}


@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_bad_pool(store, case):
    pools, needles = POOL_CASES[case]
    expect_ipam_error(store, {"owner": "vm1", "pools": pools}, *needles)


def test_bad_cluster_gateway_variable(store):
    expect_ipam_error(store, {"owner": "vm1", "pools": [POOL]}, "ipfabric_gateway_ipv4", "$(id)",
                      task_vars={"ipfabric_gateway_ipv4": "$(id)"})


# --- owners: hostile names, duplicates, addresses of the wrong family / outside / taken -----------

@pytest.mark.parametrize("case", sorted(HOSTILE_NAMES))
def test_hostile_owner_name(store, case):
    name = HOSTILE_NAMES[case]
    # second position: the first (valid) owner must not be allocated either
    expect_ipam_error(store, {"owners": ["ok1", name], "pools": [POOL]}, "owners[1] field name")


OWNER_CASES = {
    "duplicate_owner": ({"owners": ["vm1", "vm1"]}, ["owners[1] field name", "twice"]),
    "ipv4_outside_pool": ({"owners": [{"name": "vm1", "ipv4": "203.0.113.5"}]}, ["ipv4", "203.0.113.5", "outside"]),
    "ipv6_in_ipv4_field": ({"owners": [{"name": "vm1", "ipv4": "2001:db8:100::5"}]}, ["owners[0] field ipv4"]),
    "ipv4_in_ipv6_field": ({"owners": [{"name": "vm1", "ipv6": "198.51.100.5"}]}, ["owners[0] field ipv6"]),
    "ipv4_not_an_address": ({"owners": [{"name": "vm1", "ipv4": "$(id)"}]}, ["owners[0] field ipv4"]),
    "ipv4_excluded": ({"owners": [{"name": "vm1", "ipv4": "198.51.100.255"}]}, ["198.51.100.255", "excluded"]),
    "ipv4_network_address": ({"owners": [{"name": "vm1", "ipv4": "198.51.100.0"}]}, ["198.51.100.0", "network"]),
    "ipv4_held_by_other": ({"owners": [{"name": "vm1", "ipv4": "198.51.100.1"}]}, ["198.51.100.1", "seed"]),
    "uuid_shell": ({"owners": [{"name": "vm1", "uuid": "a;reboot"}]}, ["owners[0] field uuid"]),
    "owner_unknown_key": ({"owners": [{"name": "vm1", "node": "node1"}]}, ["owners[0]", "unknown key", "node"]),
    "owners_empty": ({"owners": []}, ["owners"]),
    "owner_not_a_string": ({"owners": [["vm1"]]}, ["owners[0]"]),
    "pool_not_defined": ({"owner": "vm1", "pool": "nope"}, ["pool", "'nope'"]),
}


@pytest.mark.parametrize("case", sorted(OWNER_CASES))
def test_bad_owner(store, case):
    args, needles = OWNER_CASES[case]
    expect_ipam_error(store, dict(args, pools=[POOL]), *needles)


def test_exhausted_pool_allocates_nothing(tmp_path):
    """Three owners, two free addresses: the batch fails as a whole, the first two are not kept."""
    small = {"name": "tiny", "ipv4": ["198.51.100.8-198.51.100.11"]}
    cfg = {"backend": "sqlite", "path": str(tmp_path / "ipam.sqlite"), "cooldown": 0}
    run_pool_address({"owners": ["seed1", "seed2"], "pools": [small], "store": cfg}, {})
    msg = expect_ipam_error(cfg, {"owners": ["a", "b", "c"], "pools": [small]}, "tiny")
    assert "exhausted" in msg or "no free" in msg or "full" in msg, msg


STORE_CASES = {
    "backend_unknown": ({"backend": "mysql"}, ["ipfabric_ipam field backend", "mysql"]),
    "cooldown_negative": ({"backend": "sqlite", "cooldown": -1}, ["ipfabric_ipam field cooldown"]),
    "cooldown_shell": ({"backend": "sqlite", "cooldown": "$(id)"}, ["ipfabric_ipam field cooldown"]),
    "pg_without_dsn": ({"backend": "postgresql"}, ["ipfabric_ipam field dsn"]),
    "unknown_key": ({"backend": "sqlite", "password": "x"}, ["ipfabric_ipam", "unknown key"]),
}


@pytest.mark.parametrize("case", sorted(STORE_CASES))
def test_bad_store_config(store, case):
    raw, needles = STORE_CASES[case]
    before = dump(store)
    with pytest.raises(IpamError) as exc:
        run_pool_address({"owner": "vm1", "pools": [POOL], "store": dict(raw, path=store["path"])
                          if raw.get("backend") == "sqlite" else raw}, {})
    for needle in needles:
        assert needle in str(exc.value), str(exc.value)
    assert dump(store) == before


# --- the playbooks' request filter ----------------------------------------------------------------

NODES = ["node1", "node2", "node3"]


@pytest.mark.parametrize("case", sorted(HOSTILE_NAMES))
def test_vm_requests_hostile_name(case):
    with pytest.raises(AnsibleFilterError) as exc:
        vm_requests([{"name": "ok1", "node": "node1"}, {"name": HOSTILE_NAMES[case], "node": "node1"}], NODES)
    assert "vms[1].name" in str(exc.value)


REQUEST_CASES = {
    "node_not_in_inventory": ([{"name": "vm1", "node": "node9"}], "vms[0].node"),
    "node_shell": ([{"name": "vm1", "node": "node1;reboot"}], "vms[0].node"),
    "duplicate_names": ([{"name": "vm1", "node": "node1"}, {"name": "vm1", "node": "node2"}], "vms[1].name"),
    "not_a_list": ({"name": "vm1", "node": "node1"}, "vms"),
    "item_not_a_dict": (["vm1"], "vms[0]"),
}


@pytest.mark.parametrize("case", sorted(REQUEST_CASES))
def test_vm_requests_bad(case):
    vms, needle = REQUEST_CASES[case]
    with pytest.raises(AnsibleFilterError) as exc:
        vm_requests(vms, NODES)
    assert needle in str(exc.value)


def test_vm_requests_single_form_node_not_in_inventory():
    with pytest.raises(AnsibleFilterError) as exc:
        vm_requests(None, NODES, vm_name="vm1", node="-x")
    assert "node" in str(exc.value) and "'-x'" in str(exc.value)


# --- role inputs the roles check through filters ----------------------------------------------------

@pytest.mark.parametrize("value", ["65000:70000", "abc", "65000:1:2", "-1:5", "65000:$(id)", ""])
def test_bad_community(value):
    with pytest.raises(AnsibleFilterError) as exc:
        ipf.bgp_community(value)
    assert "community" in str(exc.value)


@pytest.mark.parametrize("entry, needle", [("198.51.100.1/24", "host bits"), ("198.51.100.0/24", "is not ipv6"),
                                           ("10.0.0.9-10.0.0.1", "ends before")])
def test_role_pool_filter_rejects(entry, needle):
    fam = "ipv6" if needle == "is not ipv6" else "ipv4"
    with pytest.raises(AnsibleFilterError) as exc:
        ipf.pool_cidrs([{"name": "p", fam: [entry]}], fam)
    assert "pool 'p'" in str(exc.value) and needle in str(exc.value)


# --- node modules: fail before any command that changes the host ---------------------------------

READS = {("/usr/bin/vtysh", "-c", "show running-config")}


def refuse_all(args, kwargs):
    raise AssertionError("no command may run for a bad input, got %r" % (args,))


@pytest.mark.parametrize("case", sorted(HOSTILE_NAMES))
def test_vm_interface_hostile_name(case, monkeypatch, capsys, tmp_path):
    args = dict(vms=[{"name": "ok1", "ipv4": ["198.51.100.10"]},
                     {"name": HOSTILE_NAMES[case], "ipv4": ["198.51.100.11"]}],
                state_dir=str(tmp_path), kind="veth")
    res, calls = run_module(vm_interface.main, args, refuse_all, monkeypatch, capsys)
    assert res.get("failed") and "vms[1]" in res["msg"], res
    assert calls == []
    assert list(tmp_path.iterdir()) == []


VMI_CASES = {
    "ipv6_in_ipv4": ({"name": "vm1", "ipv4": ["2001:db8:100::5"]}, "vms[0].ipv4"),
    "ipv4_in_ipv6": ({"name": "vm1", "ipv6": ["198.51.100.5"]}, "vms[0].ipv6"),
    "prefix_not_host": ({"name": "vm1", "ipv4": ["198.51.100.0/24"]}, "vms[0].ipv4"),
    "shell_address": ({"name": "vm1", "ipv4": ["198.51.100.5;reboot"]}, "vms[0].ipv4"),
    "option_address": ({"name": "vm1", "ipv4": ["-x"]}, "vms[0].ipv4"),
    "loopback": ({"name": "vm1", "ipv4": ["127.0.0.5"]}, "vms[0].ipv4"),
}


@pytest.mark.parametrize("case", sorted(VMI_CASES))
def test_vm_interface_bad_address(case, monkeypatch, capsys, tmp_path):
    vm, needle = VMI_CASES[case]
    res, calls = run_module(vm_interface.main, dict(vms=[vm], state_dir=str(tmp_path)), refuse_all,
                            monkeypatch, capsys)
    assert res.get("failed") and needle in res["msg"], res
    assert calls == []


def test_vm_interface_bad_gateway_mac(monkeypatch, capsys, tmp_path):
    res, calls = run_module(vm_interface.main, dict(vms=[{"name": "vm1", "ipv4": ["198.51.100.5"]}],
                                                    gateway_mac="$(id)", state_dir=str(tmp_path)),
                            refuse_all, monkeypatch, capsys)
    assert res.get("failed") and "gateway_mac" in res["msg"]
    assert calls == []


FRR_CASES = {
    "outside_pools": (dict(prefixes=["192.0.2.99"]), "prefixes[0]"),
    "default_route": (dict(prefixes=["0.0.0.0/0"]), "prefixes[0]"),
    "a_slash_24": (dict(prefixes=["198.51.100.0/24"]), "prefixes[0]"),
    "shell_prefix": (dict(prefixes=["198.51.100.5;reboot"]), "prefixes[0]"),
    "newline_prefix": (dict(prefixes=["198.51.100.5\nno router bgp 65000"]), "prefixes[0]"),
    "option_prefix": (dict(prefixes=["-x"]), "prefixes[0]"),
    "bad_pool": (dict(prefixes=["198.51.100.5"], pools=["198.51.100.1/24"]), "pools[0]"),
    "asn_zero": (dict(prefixes=["198.51.100.5"], asn=0), "asn"),
    "asn_too_big": (dict(prefixes=["198.51.100.5"], asn=4294967296), "asn"),
}


@pytest.mark.parametrize("case", sorted(FRR_CASES))
def test_frr_network_bad_input(case, monkeypatch, capsys):
    extra, needle = FRR_CASES[case]
    args = dict({"pools": ["198.51.100.0/24", "2001:db8:100::/64"]}, **extra)
    res, calls = run_module(frr_network.main, args, refuse_all, monkeypatch, capsys)
    assert res.get("failed") and needle in res["msg"], res
    assert [c for c in calls if tuple(c[0]) not in READS] == []


FRR_BGP_CASES = {
    "shell_prefix": (dict(rib=True, prefixes=["198.51.100.5;reboot"]), "prefixes[0]"),
    "newline_prefix": (dict(rib=True, prefixes=["198.51.100.5\nshow running-config"]), "prefixes[0]"),
    "option_prefix": (dict(rib=True, prefixes=["-c"]), "prefixes[0]"),
    "vtysh_command_peer": (dict(wait="established", peers=["172.16.0.2 json -c write memory"]), "peers[0]"),
    "hostname_peer": (dict(wait="established", peers=["rr1"]), "peers[0]"),
    "dollar_nexthop": (dict(wait="installed", prefixes=["198.51.100.5"], nexthops=["$(id)"]), "nexthops[0]"),
    "unknown_afi": (dict(afi=["ipv4", "l2vpn"]), "afi"),
    "negative_timeout": (dict(wait="absent", prefixes=["198.51.100.5"], timeout=-1), "timeout"),
    "zero_interval": (dict(wait="absent", prefixes=["198.51.100.5"], interval=0), "interval"),
    "wait_without_prefixes": (dict(wait="best_path", peers=["172.16.0.12"]), "prefixes"),
}


@pytest.mark.parametrize("case", sorted(FRR_BGP_CASES))
def test_frr_bgp_bad_input(case, monkeypatch, capsys):
    extra, needle = FRR_BGP_CASES[case]
    res, calls = run_module(frr_bgp.main, extra, refuse_all, monkeypatch, capsys)
    assert res.get("failed") and needle in res["msg"], res
    assert calls == []
