# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile input against the real lab (issue 7): playbooks, roles and node modules.

Every case must fail, name the field in its message, and change nothing: the links, addresses, routes
and FRR running config of the hosts it could reach (`ip -j`, `vtysh -c 'show running-config'`) and every
row of the IPAM store are compared with a snapshot taken before. The controller-only cases (pools, owner
names, filters, modules with a fake `ip`/`vtysh`) are in tests/unit/test_bad_input_matrix.py.
"""
import json
import os
import shutil
import tempfile

import pytest
import yaml

import reliability_lib as rl
from conftest import INVENTORY, run_playbook

BASE_VM = "rel-base"


@pytest.fixture(scope="module")
def baseline(site):
    """One VM on node1 (so the store and the hosts hold state that a bad run could damage)."""
    run_playbook("vm_create.yml", "-e", json.dumps(
        {"vms": [{"name": BASE_VM, "node": "node1"}], "lab_vms": "nic"}))
    yield {"hosts": rl.settled_snapshot(), "store": rl.store_dump(), "held": rl.held()[BASE_VM]}
    run_playbook("vm_delete.yml", "-e", "vm_name=" + BASE_VM, check=False)


def assert_unchanged(baseline, hosts, result):
    after = rl.snapshot(tuple(hosts))
    change = rl.diff_snapshots({h: baseline["hosts"][h] for h in hosts}, after)
    assert change == "", "a failed run changed hosts:\n{}\n{!r}".format(change, result)
    assert rl.store_dump() == baseline["store"], "a failed run changed the IPAM store: {!r}".format(result)


def failed_with(result, *needles):
    assert result.rc != 0, result
    assert any(h["failed"] for h in result.recap.values()) or "ERROR!" in result.output, result
    for needle in needles:
        assert needle in result.output, "message does not name {!r}: {!r}".format(needle, result)


# --- vm_create.yml: names, nodes, pools -----------------------------------------------------------

POOL = {"name": "public", "ipv4": ["198.51.100.0/24"], "ipv6": ["2001:db8:100::/64"],
        "exclude": ["198.51.100.0", "198.51.100.255"]}
VM_CREATE_CASES = {
    "node_not_in_inventory": ({"vm_name": "rel-x", "node": "node9"}, ["node", "node9", "ipfabric_nodes"]),
    "node_option_like": ({"vm_name": "rel-x", "node": "-x"}, ["node", "'-x'"]),
    "duplicate_names": ({"vms": [{"name": "rel-d", "node": "node1"}, {"name": "rel-d", "node": "node2"}]},
                        ["vms[1].name", "twice"]),
    "name_empty": ({"vms": [{"name": "", "node": "node1"}]}, ["vms[0].name"]),
    "name_option_like": ({"vm_name": "-x", "node": "node1"}, ["vms[0].name", "'-x'"]),
    "name_semicolon_reboot": ({"vm_name": ";reboot", "node": "node1"}, ["vms[0].name", ";reboot"]),
    "name_command_substitution": ({"vm_name": "$(id)", "node": "node1"}, ["vms[0].name", "$(id)"]),
    "name_newline": ({"vm_name": "rel1\n", "node": "node1"}, ["vms[0].name"]),
    "name_unicode": ({"vm_name": "rél1", "node": "node1"}, ["vms[0].name"]),
    "name_too_long": ({"vm_name": "r" * 64, "node": "node1"}, ["vms[0].name"]),
    "pools_overlap": ({"vm_name": "rel-x", "node": "node1",
                       "ipfabric_pools": [POOL, {"name": "dup", "ipv4": ["198.51.100.128/25"]}]},
                      ["pool 'dup'", "overlaps pool 'public'"]),
    "pool_host_bits": ({"vm_name": "rel-x", "node": "node1", "ipfabric_pools": [dict(POOL, ipv4=["198.51.100.1/24"])]},
                       ["field ipv4[0]", "host bits"]),
    "pool_ipv4_in_ipv6": ({"vm_name": "rel-x", "node": "node1",
                           "ipfabric_pools": [dict(POOL, ipv6=["198.51.100.0/24"])]}, ["field ipv6[0]", "IPv4"]),
    "gateway_inside_pool": ({"vm_name": "rel-x", "node": "node1", "ipfabric_gateway_ipv4": "198.51.100.77"},
                            ["gateway 198.51.100.77"]),
}


@pytest.mark.parametrize("case", sorted(VM_CREATE_CASES))
def test_vm_create_rejects(baseline, case):
    extra, needles = VM_CREATE_CASES[case]
    res = run_playbook("vm_create.yml", "-e", json.dumps(dict(extra, lab_vms="nic")), check=False)
    failed_with(res, *needles)
    assert_unchanged(baseline, rl.NODES, res)


def test_vm_create_exhausted_pool(baseline):
    """The pool shrunk to the one address pair rel-base holds: a new VM finds nothing free."""
    v4, v6 = baseline["held"]["ipv4"], baseline["held"]["ipv6"]
    tiny = {"name": "public", "ipv4": ["{0}-{0}".format(v4)], "ipv6": ["{0}-{0}".format(v6)]}
    res = run_playbook("vm_create.yml", "-e", json.dumps({"vm_name": "rel-x", "node": "node2", "ipfabric_pools": [tiny],
                                                          "lab_vms": "nic"}), check=False)
    failed_with(res, "public")
    assert "exhausted" in res.output or "no free" in res.output, res
    assert_unchanged(baseline, rl.NODES, res)


# --- node modules on a real node (per case: the module, then a snapshot of node1) -------------------

MODULE_CASES = {
    "vmi_name_command_substitution": ("vm_interface", {"vms": [{"name": "$(id)", "ipv4": ["198.51.100.201"]}]},
                                      "vms[0]"),
    "vmi_name_semicolon_reboot": ("vm_interface", {"vms": [{"name": ";reboot", "ipv4": ["198.51.100.201"]}]},
                                  "vms[0]"),
    "vmi_name_option_like": ("vm_interface", {"vms": [{"name": "-x", "ipv4": ["198.51.100.201"]}]}, "vms[0]"),
    "vmi_name_unicode": ("vm_interface", {"vms": [{"name": "wéb", "ipv4": ["198.51.100.201"]}]}, "vms[0]"),
    "vmi_name_too_long": ("vm_interface", {"vms": [{"name": "v" * 64, "ipv4": ["198.51.100.201"]}]}, "vms[0]"),
    "vmi_ipv6_in_ipv4": ("vm_interface", {"vms": [{"name": "rel-m", "ipv4": ["2001:db8:100::201"]}]},
                         "vms[0].ipv4"),
    "vmi_address_of_other_vm": ("vm_interface", {"vms": [{"name": "rel-m", "ipv4": ["@BASE4@"]}]}, "@BASE4@"),
    "frr_outside_pools": ("frr_network", {"prefixes": ["192.0.2.99"]}, "prefixes[0]"),
    "frr_default_route": ("frr_network", {"prefixes": ["0.0.0.0/0"]}, "prefixes[0]"),
    "frr_slash_24": ("frr_network", {"prefixes": ["198.51.100.0/24"]}, "prefixes[0]"),
    "frr_injection": ("frr_network", {"prefixes": ["198.51.100.5\nno router bgp 65000"]}, "prefixes[0]"),
    "frr_asn_out_of_range": ("frr_network", {"prefixes": ["198.51.100.5"], "asn": 4294967296}, "asn"),
}


@pytest.fixture(scope="module")
def module_runs(baseline, tmp_path_factory):
    """Run every module case on node1 in one playbook: the case, then a snapshot of node1."""
    base4 = baseline["held"]["ipv4"]
    tasks = []
    for case in sorted(MODULE_CASES):
        module, args, dummy = MODULE_CASES[case]
        args = json.loads(json.dumps(args).replace("@BASE4@", base4))
        if module == "frr_network":
            args["pools"] = ["198.51.100.0/24", "2001:db8:100::/64"]
        else:
            args["kind"] = "veth"
        tasks.append({"name": case, "vmnet.ipfabric." + module: args, "register": "r_" + case.replace("-", "_"),
                      "ignore_errors": True})
        tasks.append({"name": "snapshot after " + case, "ansible.builtin.shell": rl._SNAP, "changed_when": False,
                      "register": "s_" + case})
    tasks.append({"name": "write the results", "delegate_to": "localhost", "ansible.builtin.copy": {
        "dest": "{{ out }}", "mode": "0600",
        "content": "{{ {" + ", ".join("'%s': [r_%s, s_%s.stdout]" % (c, c, c) for c in sorted(MODULE_CASES))
                   + "} | to_json }}"}})
    work = tmp_path_factory.mktemp("modules")
    play = work / "modules.yml"
    play.write_text(yaml.safe_dump([{"name": "hostile module input", "hosts": "node1", "gather_facts": False,
                                     "tasks": tasks}], allow_unicode=True))
    out = work / "out.json"
    res = run_playbook(str(play), "-e", "out=" + str(out), check=False)
    assert out.exists(), res
    return json.loads(out.read_text()), base4


@pytest.mark.parametrize("case", sorted(MODULE_CASES))
def test_module_rejects(baseline, module_runs, case):
    results, base4 = module_runs
    result, snap_text = results[case]
    needle = MODULE_CASES[case][2].replace("@BASE4@", base4)
    assert result.get("failed") is True, result
    assert needle in result.get("msg", ""), result
    assert result.get("changed") is not True, result
    parts = snap_text.split("@@\n")
    after = {name: rl._clean(json.loads(text or "[]")) for name, text in zip(("link", "addr", "route4", "route6"), parts)}
    after["frr"] = [line for line in parts[4].splitlines() if line.strip()]
    change = rl.diff_snapshots({"node1": baseline["hosts"]["node1"]}, {"node1": after})
    assert change == "", change


# --- roles, through site.yml ------------------------------------------------------------------------

ROLE_CASES = {
    # extra vars, limit, what the message must name
    "asn_zero": ({"ipfabric_asn": 0}, None, ["asn | int >= 1"]),
    "asn_2_to_the_32": ({"ipfabric_asn": 4294967296}, None, ["asn | int <= 4294967295"]),
    "asn_not_a_number": ({"ipfabric_asn": "65000;reboot"}, "ipfabric_nodes", ["node_asn"]),
    "duplicate_router_id": ({"node_router_id": "172.16.0.11"}, "ipfabric_nodes",
                            ["node_router_id: 172.16.0.11 is also the router-id of"]),
    "router_id_of_a_route_reflector": ({"node_router_id": "172.16.0.2"}, "node3",
                                       ["node_router_id: 172.16.0.2 is also the router-id of", "rr1"]),
    "bad_community": ({"ipfabric_community": "65000:70000"}, "ipfabric_nodes", ["community", "65000:70000"]),
    "router_id_shell": ({"node_router_id": "$(reboot)"}, "ipfabric_nodes", ["node_router_id"]),
}


@pytest.mark.parametrize("case", sorted(ROLE_CASES))
def test_role_rejects(baseline, case):
    extra, limit, needles = ROLE_CASES[case]
    args = ["-e", json.dumps(extra)] + (["--limit", limit] if limit else [])
    res = run_playbook("site.yml", *args, check=False)
    failed_with(res, *needles)
    assert_unchanged(baseline, rl.HOSTS, res)


def test_role_empty_route_reflector_list(baseline):
    """An inventory whose group route_reflectors is empty: the core and every node refuse."""
    work = tempfile.mkdtemp(prefix="vmnet-rel-inv-")
    try:
        inv = os.path.join(work, "inv")
        shutil.copytree(INVENTORY, inv)
        with open(os.path.join(inv, "hosts.yml")) as f:
            hosts = yaml.safe_load(f)
        hosts["all"]["children"]["route_reflectors"] = {"hosts": {}}
        with open(os.path.join(inv, "hosts.yml"), "w") as f:
            yaml.safe_dump(hosts, f)
        core = rl.run_playbook_with(inv, "site.yml")  # the core's play fails: the playbook stops there
        nodes = rl.run_playbook_with(inv, "site.yml", "--limit", "ipfabric_nodes")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed_with(core, "route_reflectors")
    assert core.recap["core1"]["failed"] == 1, core
    failed_with(nodes, "route_reflectors")
    assert all(nodes.recap[n]["failed"] == 1 for n in rl.NODES), nodes
    assert_unchanged(baseline, rl.HOSTS, nodes)
