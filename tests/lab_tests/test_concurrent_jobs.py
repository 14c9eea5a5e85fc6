# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 6: four vm_create runs at once against one PostgreSQL IPAM, as four concurrent AWX jobs would:
all succeed, the VMs get distinct addresses and all answer from inet1."""
import json
from concurrent.futures import ThreadPoolExecutor

from conftest import run_playbook

VMS = [("conc1", "node1"), ("conc2", "node2"), ("conc3", "node3"), ("conc4", "node1")]


def test_four_concurrent_creates_get_distinct_reachable_addresses(lab, site, ipam_extra_vars):
    def create(vm_node):
        vm, node = vm_node
        return run_playbook("vm_create.yml", "-e", ipam_extra_vars, "-e", "vm_name=" + vm, "-e", "node=" + node,
                            check=False)

    try:
        with ThreadPoolExecutor(len(VMS)) as ex:
            results = list(ex.map(create, VMS))
        for (vm, dummy), res in zip(VMS, results):
            assert res.rc == 0, (vm, res)
        addresses = {vm: lab.vm_addresses(node, vm) for vm, node in VMS}
        v4s = [a[0] for a in addresses.values()]
        v6s = [a[1] for a in addresses.values()]
        assert None not in v4s and len(set(v4s)) == len(VMS), addresses
        assert None not in v6s and len(set(v6s)) == len(VMS), addresses
        for vm, (v4, v6) in addresses.items():
            assert lab.wait_reachable(v4), (vm, v4)      # a KVM guest boots first
            assert lab.wait_reachable(v6), (vm, v6)
    finally:
        run_playbook("vm_delete.yml", "-e", ipam_extra_vars,
                     "-e", json.dumps({"vms": [{"name": vm} for vm, dummy in VMS]}), check=False)
