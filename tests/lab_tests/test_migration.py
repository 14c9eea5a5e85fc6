# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 6: vm_migrate.yml moves a VM's network make-before-break (docs/migration.md).

A ping from inet1 every 10 ms runs through each migration and the lost replies are counted:
  routing layer: the lab VM is present on both nodes while the route switches (a copy on the target,
                 the way a live migration's VM exists on both sides until it resumes): no reply may be lost;
  total:         the lab VM really moves (its namespace deleted on the source, made on the target) between
                 prepare and switch: the loss is the VM's own absence, bounded by MAX_MOVE_LOSS.
"""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import run_playbook

VM = "migt"
MAX_ROUTING_LOSS = int(os.environ.get("VMNET_MIGRATION_MAX_ROUTING_LOSS", "0"))
MAX_MOVE_LOSS = int(os.environ.get("VMNET_MIGRATION_MAX_MOVE_LOSS", "300"))     # 3 s at 10 ms
UNDERLAY = {"node1": ("172.16.0.11", "fd0c:172:16::11"), "node2": ("172.16.0.12", "fd0c:172:16::12"),
            "node3": ("172.16.0.13", "fd0c:172:16::13")}
RESULTS = {}


class Ping:
    """ping -i 0.01 from inet1, bounded by its count (no -w: with a deadline ping stops at the first ICMP
    error); stop() ends it early (SIGINT: ping prints its statistics) and returns (transmitted, received)."""

    def __init__(self, lab, address, count=12000):
        self.proc = subprocess.Popen(
            [lab.LAB, "exec", "inet1", "--", "ping", "-n", "-q", "-i", "0.01", "-c", str(count), "-W", "1", address],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, start_new_session=True)
        self._wait_first_reply(lab, address)

    @staticmethod
    def _wait_first_reply(lab, address):
        deadline = time.time() + 20
        while time.time() < deadline:
            if lab.ping("inet1", address, count=1):
                return
            time.sleep(0.2)
        raise AssertionError("{} does not answer before the migration".format(address))

    def stop(self):
        still_running = self.proc.poll() is None
        if still_running:
            os.killpg(self.proc.pid, signal.SIGINT)
        out, dummy = self.proc.communicate(timeout=20)
        assert still_running, "the ping ended before the migration did (raise its count):\n" + out
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        assert m, out
        return int(m.group(1)), int(m.group(2))


def core_next_hop(lab, family, prefix):
    return lab.core_routes(family).get(prefix)


def networks(lab, node):
    conf = lab.lab_exec(node, "vtysh", "-c", "show running-config").stdout
    return [l.strip() for l in conf.splitlines() if l.strip().startswith("network ")]


@pytest.fixture(scope="module")
def vm(lab, site):
    run_playbook("vm_create.yml", "-e", "vm_name=" + VM, "-e", "node=node1")
    v4, v6 = lab.vm_addresses("node1", VM)
    yield v4, v6
    run_playbook("vm_delete.yml", "-e", "vm_name=" + VM, check=False)
    if RESULTS:
        print("\nmigration loss: " + json.dumps(RESULTS))


def test_routing_layer_loses_nothing_and_core_moves(lab, vm, monkeypatch):
    v4, v6 = vm
    monkeypatch.setenv("ANSIBLE_SHOW_CUSTOM_STATS", "1")
    ping = Ping(lab, v4)
    t0 = time.time()
    result = run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=node2")
    seconds = time.time() - t0
    sent, received = ping.stop()
    RESULTS["routing_layer"] = {"sent": sent, "lost": sent - received, "playbook_s": round(seconds, 1)}
    assert sent - received <= MAX_ROUTING_LOSS, RESULTS
    assert core_next_hop(lab, "ipv4", v4 + "/32") == [UNDERLAY["node2"][0]]
    assert core_next_hop(lab, "ipv6", v6 + "/128") == [UNDERLAY["node2"][1]]
    assert lab.lab_vms("node2") .count(VM) == 1 and VM not in lab.lab_vms("node1")
    assert lab.vm_interface("node1", VM) is None and lab.vm_interface("node2", VM) == VM + "_net0"
    assert not [n for n in networks(lab, "node1") if v4 in n or v6 in n]
    assert "network {}/32".format(v4) in networks(lab, "node2")        # normal preference again
    stats = result.output[result.output.rfind("CUSTOM STATS"):]
    assert "vm_migrate" in stats and "to: node2" in stats and "moved: true" in stats, result

    again = run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=node2")
    assert again.changed == 0, again


def test_moving_the_vm_between_prepare_and_switch(lab, vm):
    v4, v6 = vm
    run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=node3", "-e", "vm_migrate_phase=prepare",
                 "-e", "vm_migrate_lab_copy=false")
    # prepared: node3 announces with the lower preference, the core still uses node2
    assert "network {}/32 route-map VMNET_MIGRATING".format(v4) in networks(lab, "node3")
    assert core_next_hop(lab, "ipv4", v4 + "/32") == [UNDERLAY["node2"][0]]
    ping = Ping(lab, v4)
    # the "live migration": the VM stops on node2 and resumes on node3
    lab.lab_exec("node2", "/usr/local/sbin/lab-vm", "detach", VM)
    lab.lab_exec("node3", "/usr/local/sbin/lab-vm", "attach", VM, VM + "_vm0", v4, v6)
    run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=node3", "-e", "vm_migrate_phase=switch")
    sent, received = ping.stop()
    RESULTS["vm_move"] = {"sent": sent, "lost": sent - received}
    assert sent - received <= MAX_MOVE_LOSS, RESULTS
    assert core_next_hop(lab, "ipv4", v4 + "/32") == [UNDERLAY["node3"][0]]
    assert core_next_hop(lab, "ipv6", v6 + "/128") == [UNDERLAY["node3"][1]]
    assert lab.vm_interface("node2", VM) is None
    assert lab.ping("inet1", v6)


def test_bad_input_names_the_field_and_changes_nothing(lab, vm):
    bad = run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=node9", check=False)
    assert bad.rc != 0 and "node: 'node9' is not a host of the group ipfabric_nodes" in bad.output, bad
    assert bad.changed == 0
    missing = run_playbook("vm_migrate.yml", "-e", "vm_name=nosuchvm", "-e", "node=node1", check=False)
    assert missing.rc != 0 and "vm_name: 'nosuchvm' has no interface on any node" in missing.output, missing
