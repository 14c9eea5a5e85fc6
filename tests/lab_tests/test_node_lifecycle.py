# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 6: node_remove.yml refuses while VMs are on the node; a node leaves (RRs drop it, its BGP config
goes) and joins again with node_add.yml (sessions Established, a VM on it reachable)."""
import json

from conftest import run_playbook

NODE, NODE_IP = "node3", "172.16.0.13"


def rr_neighbors(lab, rr):
    return set(json.loads(lab.lab_exec(rr, "vtysh", "-c", "show bgp ipv4 unicast summary json").stdout)["peers"])


def test_remove_refused_while_vms_are_on_the_node(lab, site):
    run_playbook("vm_create.yml", "-e", "vm_name=stay3", "-e", "node=" + NODE)
    try:
        res = run_playbook("node_remove.yml", "-e", "node=" + NODE, check=False)
        assert res.rc != 0 and "node: {} still has 1 VM(s): stay3".format(NODE) in res.output, res
        assert res.changed == 0
        assert NODE_IP in rr_neighbors(lab, "rr1")
    finally:
        run_playbook("vm_delete.yml", "-e", "vm_name=stay3")


def test_bad_node_is_refused(lab, site):
    res = run_playbook("node_add.yml", "-e", "node=node9", check=False)
    assert res.rc != 0 and "node: node9 is not a host of the group ipfabric_nodes" in res.output, res


def test_node_leaves_and_joins_again(lab, site):
    run_playbook("node_remove.yml", "-e", "node=" + NODE)
    for rr in ("rr1", "rr2"):
        assert NODE_IP not in rr_neighbors(lab, rr)
    assert "router bgp" not in lab.lab_exec(NODE, "vtysh", "-c", "show running-config").stdout

    run_playbook("node_add.yml", "-e", "node=" + NODE)
    for rr in ("rr1", "rr2"):
        peers = json.loads(lab.lab_exec(rr, "vtysh", "-c", "show bgp ipv4 unicast summary json").stdout)["peers"]
        assert peers[NODE_IP]["state"] == "Established", peers
    run_playbook("vm_create.yml", "-e", "vm_name=join3", "-e", "node=" + NODE)
    try:
        v4, dummy = lab.vm_addresses(NODE, "join3")
        assert lab.ping("inet1", v4)
    finally:
        run_playbook("vm_delete.yml", "-e", "vm_name=join3")
    again = run_playbook("node_add.yml", "-e", "node=" + NODE)
    assert again.changed == 0, again
