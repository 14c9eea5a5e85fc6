# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vmnet.ipfabric.plugins.filter.migration import vm_migration_plan

NODES = ["node1", "node2", "node3"]
IF = {"vm": "web1", "ipv4": ["198.51.100.10/32"], "ipv6": ["2001:db8:100::10/128"]}


def test_plan_from_source_to_target():
    plan = vm_migration_plan({"node1": [IF], "node2": []}, "web1", "node2", NODES)
    assert plan == {"vm": "web1", "source": "node1", "target": "node2", "ipv4": IF["ipv4"], "ipv6": IF["ipv6"],
                    "phase": "all", "done": False, "live": True}


def test_interrupted_migration_resumes_and_finished_one_is_done():
    assert vm_migration_plan({"node1": [IF], "node2": [IF]}, "web1", "node2", NODES, "switch")["source"] == "node1"
    assert vm_migration_plan({"node2": [IF]}, "web1", "node2", NODES)["done"] is True


@pytest.mark.parametrize("found, vm, node, phase, field", [
    ({"node1": [IF]}, "bad name", "node2", "all", "vm_name:"),
    ({"node1": [IF]}, "web1", "node9", "all", "node:"),
    ({"node1": [IF]}, "web1", "node2", "later", "vm_migrate_phase:"),
    ({}, "web1", "node2", "all", "vm_name:"),
    ({"node1": [IF], "node3": [IF]}, "web1", "node2", "all", "vm_name:"),
    ({"node1": [IF]}, "web1", "node2", "switch", "vm_migrate_phase:"),
    ({"node1": [IF], "node2": [dict(IF, ipv4=["198.51.100.11/32"])]}, "web1", "node2", "all", "node:"),
    # the one VM-name rule (module_utils/_names.py): a trailing newline is not a name
    ({"node1": [dict(IF, vm="web1\n")]}, "web1\n", "node2", "all", "vm_name:"),
])
def test_bad_requests_name_the_field(found, vm, node, phase, field):
    with pytest.raises(AnsibleFilterError) as e:
        vm_migration_plan(found, vm, node, NODES, phase)
    assert str(e.value).startswith(field)


KINDS = {"node1": "kvm", "node2": "kvm", "node3": "lxd", "node4": "lxd"}


def test_live_only_between_kvm_nodes():
    assert vm_migration_plan({"node1": [IF]}, "web1", "node2", NODES, "all", KINDS)["live"] is True
    with pytest.raises(AnsibleFilterError) as e:
        vm_migration_plan({"node1": [IF]}, "web1", "node3", NODES, "all", KINDS)
    assert str(e.value).startswith("node: 'node3' is a lxd node")
    with pytest.raises(AnsibleFilterError) as e:
        vm_migration_plan({"node1": [IF]}, "web1", "node3", NODES, "prepare", KINDS)
    assert str(e.value).startswith("node:")


def test_other_hypervisors_move_between_prepare_and_switch():
    nodes = NODES + ["node4"]
    plan = vm_migration_plan({"node3": [IF]}, "web1", "node4", nodes, "prepare", KINDS)
    assert plan["live"] is False and plan["source"] == "node3"
    with pytest.raises(AnsibleFilterError) as e:
        vm_migration_plan({"node3": [IF]}, "web1", "node4", nodes, "all", KINDS)
    assert str(e.value).startswith("vm_migrate_phase: all moves KVM guests only")
