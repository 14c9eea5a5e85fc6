# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vmnet.ipfabric.plugins.filter.lifecycle import vm_node_plan, vm_requests, vm_select

NODES = ["node1", "node2"]


def test_single_form_and_list_form_agree():
    assert vm_requests(None, NODES, "web1", "node1") == [{"name": "web1", "node": "node1"}]
    assert vm_requests([{"name": "web1", "node": "node1"}], NODES) == [{"name": "web1", "node": "node1"}]


def test_node_may_be_left_out_for_delete():
    assert vm_requests(None, NODES, "web1") == [{"name": "web1", "node": None}]


@pytest.mark.parametrize("vms,vm_name,node,field", [
    (None, None, None, "vm_name"),
    ("web1", None, None, "vms"),
    ([{"name": "", "node": "node1"}], None, None, "vms[0].name"),
    ([{"name": "-x", "node": "node1"}], None, None, "vms[0].name"),
    ([{"name": ";reboot", "node": "node1"}], None, None, "vms[0].name"),
    ([{"name": "$(id)", "node": "node1"}], None, None, "vms[0].name"),
    ([{"name": "vm\u00e9", "node": "node1"}], None, None, "vms[0].name"),
    ([{"name": "a" * 64, "node": "node1"}], None, None, "vms[0].name"),
    ([{"name": "a~b", "node": "node1"}], None, None, "vms[0].name"),
    ([{"name": "web1", "node": "node1"}, {"name": "web1", "node": "node2"}], None, None, "vms[1].name"),
    ([{"name": "web1", "node": "node9"}], None, None, "vms[0].node"),
    (["web1"], None, None, "vms[0]"),
])
def test_bad_requests_name_the_field(vms, vm_name, node, field):
    with pytest.raises(AnsibleFilterError) as err:
        vm_requests(vms, NODES, vm_name, node)
    assert str(err.value).startswith(field + ":"), str(err.value)


def test_node_plan_joins_allocations_and_keeps_this_node():
    requests = [{"name": "a", "node": "node1"}, {"name": "b", "node": "node2"}, {"name": "c", "node": "node1"}]
    allocations = [{"owner": "a", "ipv4": "198.51.100.1", "ipv6": "2001:db8:100::1"},
                   {"owner": "b", "ipv4": "198.51.100.2", "ipv6": None},
                   {"owner": "c", "ipv4": "198.51.100.3", "ipv6": None}]
    assert vm_node_plan(requests, allocations, "node1") == [
        {"name": "a", "ipv4": ["198.51.100.1"], "ipv6": ["2001:db8:100::1"]},
        {"name": "c", "ipv4": ["198.51.100.3"], "ipv6": []},
    ]
    assert vm_node_plan(requests, allocations, "node3") == []


def test_node_plan_fails_without_allocation():
    with pytest.raises(AnsibleFilterError, match="'a'"):
        vm_node_plan([{"name": "a", "node": "node1"}], [], "node1")


def test_select_gathered_interfaces():
    found = [{"vm": "a", "interface": "a_net0", "ipv4": ["198.51.100.1/32"], "ipv6": []},
             {"vm": "b", "interface": "b_net0", "ipv4": ["198.51.100.2/32"], "ipv6": ["2001:db8:100::2/128"]}]
    assert vm_select(found, ["b", "zz"]) == [{"name": "b", "ipv4": ["198.51.100.2/32"], "ipv6": ["2001:db8:100::2/128"]}]
    assert vm_select(found, []) == []
