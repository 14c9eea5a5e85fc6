# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 10: vm_migrate.yml live-migrates a real guest (virsh migrate --live between the lab's
libvirtds over the underlay) make-before-break, and the cutover needs nobody.

A ping from inet1 every 10 ms runs through each migration. Measured and asserted: lost replies (at most
10, 100 ms, beyond the time qemu itself stopped the VM, which libvirt reports; the original platform
loses 3-5 s), core1's route moved to the node that runs the
VM, the source's path gone from both route reflectors within a second of the VM leaving it (libvirt
suspending it for the last copy). Failures leave the VM running and reachable on the source and the
target clean; requests that cannot be served are refused before anything changes, naming the field.
Measured figures go to .build/lab-results/migration.json (docs/migration.md).
"""
import datetime
import json
import os
import re
import subprocess
import time

import pytest

from conftest import ANSIBLE_BIN, INVENTORY, REPO, run_playbook, wait_established
from fabric import wait_for

VM = "migt"
# replies the fabric may lose beyond the hypervisor's own downtime (qemu's, as libvirt reports it: under
# TCG on a loaded machine it ranges from 50 ms to a second, which no network change can hide)
MAX_LOST = int(os.environ.get("VMNET_MIGRATION_MAX_LOST", "10"))
PING_INTERVAL_MS = 10


def allowed_loss(downtime_ms):
    """MAX_LOST replies (100 ms) on top of what the VM itself was stopped for."""
    return MAX_LOST + -(-int(downtime_ms or 0) // PING_INTERVAL_MS)


def downtime_ms(lab, target):
    """qemu's downtime of the last migration to ``target`` (libvirt's completed job statistics)."""
    out = lab.lab_exec(target, "virsh", "domjobinfo", "--completed", VM, check=False).stdout
    m = re.search(r"Total downtime:\s+(\d+) ms", out)
    return int(m.group(1)) if m else None


GONE_WITHIN = 1.0
UNDERLAY = {"node1": ("172.16.0.11", "fd0c:172:16::11"), "node2": ("172.16.0.12", "fd0c:172:16::12")}
RESULTS = {}
RESULTS_FILE = os.path.join(REPO, ".build", "lab-results", "migration.json")


def suspended_at(lab, node, since):
    """When libvirt suspended the VM on ``node`` for the last copy (the presence agent's journal)."""
    out = lab.lab_exec(node, "journalctl", "-u", "vmnet-ipfabric-presence", "-o", "short-iso-precise",
                       "--since", since, "--no-pager").stdout
    for line in out.splitlines():
        if "libvirt {} Suspended Migrated".format(VM) in line:
            return datetime.datetime.fromisoformat(line.split()[0])
    raise AssertionError("no 'Suspended Migrated' of {} in {}'s presence agent journal since {}:\n{}".format(
        VM, node, since, out[-3000:]))


def networks(lab, node):
    conf = lab.lab_exec(node, "vtysh", "-c", "show running-config").stdout
    return [line.strip() for line in conf.splitlines() if line.strip().startswith("network ")]


def stats(result):
    text = result.output[result.output.rfind("CUSTOM STATS"):]
    return text


@pytest.fixture(scope="module")
def vm(lab, site):
    run_playbook("vm_create.yml", "-e", "vm_name=" + VM, "-e", "node=node1")
    v4, v6 = lab.vm_addresses("node1", VM)
    assert lab.wait_reachable(v4) and lab.wait_reachable(v6)
    yield v4, v6
    run_playbook("vm_delete.yml", "-e", "vm_name=" + VM, check=False)
    if RESULTS:
        os.makedirs(os.path.dirname(RESULTS_FILE), exist_ok=True)
        with open(RESULTS_FILE, "w") as f:
            json.dump(RESULTS, f, indent=1, sort_keys=True)
        print("\nmigration: " + json.dumps(RESULTS, sort_keys=True))


def migrate_and_measure(lab, v4, v6, source, target, monkeypatch):
    monkeypatch.setenv("ANSIBLE_SHOW_CUSTOM_STATS", "1")
    since = lab.lab_exec(source, "date", "+%Y-%m-%d %H:%M:%S").stdout.strip()
    monitors = {h: lab.RouteMonitor(h) for h in ("core1", "rr1", "rr2")}
    ping = lab.Ping(v4)
    t0 = time.time()
    result = run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=" + target)
    seconds = time.time() - t0
    sent, received = ping.stop()
    texts = {h: m.stop() for h, m in monitors.items()}
    left = suspended_at(lab, source, since)
    moved = {h: lab.first_via(texts[h], v4, UNDERLAY[target][0]) for h in texts}
    assert all(moved.values()), "no route change of {} via {} on: {}".format(
        v4, target, [h for h, t in moved.items() if t is None])
    out = stats(result)
    m = re.search(r"downtime_ms: '?(\d+)", out)
    s = re.search(r"seconds: '?([0-9.]+)", out)
    row = {"lost": sent - received, "sent": sent, "playbook_s": round(seconds, 1),
           "qemu_downtime_ms": int(m.group(1)) if m else None,
           "virsh_migrate_s": float(s.group(1)) if s else None,
           "core1_moved_ms": round((moved["core1"] - left).total_seconds() * 1000),
           "rr_source_gone_ms": max(round((moved[h] - left).total_seconds() * 1000) for h in ("rr1", "rr2"))}
    RESULTS["{}->{}".format(source, target)] = row
    return result, row


@pytest.mark.parametrize("source, target", [("node1", "node2"), ("node2", "node1")], ids=["there", "back"])
def test_live_migration_loses_at_most_10_replies_beyond_qemus_downtime(lab, vm, source, target, monkeypatch):
    v4, v6 = vm
    result, row = migrate_and_measure(lab, v4, v6, source, target, monkeypatch)
    assert row["lost"] <= allowed_loss(row["qemu_downtime_ms"]), row
    assert row["rr_source_gone_ms"] <= GONE_WITHIN * 1000, row
    assert lab.core_routes("ipv4").get(v4 + "/32") == [UNDERLAY[target][0]]
    assert lab.core_routes("ipv6").get(v6 + "/128") == [UNDERLAY[target][1]]
    assert lab.domstate(target, VM) == "running" and lab.domstate(source, VM) is None
    assert lab.vm_interface(source, VM) is None and lab.vm_interface(target, VM) == VM + "_net0"
    assert not [n for n in networks(lab, source) if v4 in n or v6 in n]
    assert "network {}/32".format(v4) in networks(lab, target)          # normal preference again
    assert "autostart" in lab.lab_exec(target, "virsh", "list", "--autostart", "--name").stdout.replace(VM, "autostart")
    out = stats(result)
    assert "vm_migrate" in out and "to: " + target in out and "moved: true" in out, result
    again = run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=" + target)
    assert again.changed == 0, again


def test_phases_around_the_hypervisors_own_move(lab, vm):
    """A platform that migrates the guest itself: prepare, its own virsh migrate, switch."""
    v4, v6 = vm
    on_node1(lab, v4)
    run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=node2", "-e", "vm_migrate_phase=prepare")
    assert "network {}/32 route-map VMNET_MIGRATING".format(v4) in networks(lab, "node2")
    assert lab.core_routes("ipv4").get(v4 + "/32") == [UNDERLAY["node1"][0]]     # not present on node2 yet
    # a switch before the VM is on node2: the wait gives up (bounded), says what it waited for, what each
    # route reflector holds instead and the likely cause, and removes nothing
    early = run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=node2", "-e", "vm_migrate_phase=switch",
                         "-e", "vm_migrate_wait_timeout=5", check=False)
    assert early.rc != 0, early
    text = " ".join(" ".join(early.failures()).split())     # the YAML callback may fold a long message
    assert "node: node2 is not the best path of {}'s prefixes on rr1, rr2 after 5 s".format(VM) in text, text
    assert "waiting for the best path of {}/32".format(v4) in text and "{}/128".format(v6) in text, text
    assert "best path from 172.16.0.11 (node1)" in text, text      # what the RRs hold instead
    assert "nothing was removed" in text, text
    assert "network {}/32 route-map VMNET_MIGRATING".format(v4) in networks(lab, "node2")
    assert [n for n in networks(lab, "node1") if v4 in n], networks(lab, "node1")
    assert lab.wait_reachable(v4, timeout=30)
    ping = lab.Ping(v4)
    lab.lab_exec("node1", "virsh", "migrate", "--live", "--persistent", "--undefinesource", VM,
                 "qemu+ssh://root@172.16.0.12/system", "tcp://172.16.0.12", timeout=300)
    wait_for("core1 to route {} via node2".format(v4),
             lambda: lab.core_routes("ipv4").get(v4 + "/32") == [UNDERLAY["node2"][0]], 10, interval=0.1)
    run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=node2", "-e", "vm_migrate_phase=switch")
    sent, received = ping.stop()
    down = downtime_ms(lab, "node2")
    RESULTS["phases node1->node2"] = {"lost": sent - received, "sent": sent, "qemu_downtime_ms": down}
    assert sent - received <= allowed_loss(down), RESULTS
    assert lab.core_routes("ipv6").get(v6 + "/128") == [UNDERLAY["node2"][1]]
    assert lab.vm_interface("node1", VM) is None
    assert not [line for line in lab.lab_exec("node1", "ip", "route", "show", "table", "4242").stdout.splitlines() if v4 in line]
    # and back, all at once, for the tests that follow
    run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=node1")


def on_node1(lab, v4):
    """Each case starts with the VM running on node1: a case that failed half-way may have left it on
    node2 (moved back here, so one failure does not fail the cases after it)."""
    if lab.domstate("node1", VM) != "running" and lab.domstate("node2", VM) == "running":
        run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=node1")
    assert lab.domstate("node1", VM) == "running", "{} does not run on node1 before the case".format(VM)
    assert lab.wait_reachable(v4, timeout=60)


def assert_untouched(lab, v4):
    """The VM runs on node1 as before, reachable; node2 holds nothing of it."""
    assert lab.domstate("node1", VM) == "running"
    assert lab.core_routes("ipv4").get(v4 + "/32") == [UNDERLAY["node1"][0]]
    assert lab.wait_reachable(v4, timeout=30)
    assert lab.vm_interface("node2", VM) is None
    assert not [n for n in networks(lab, "node2") if v4 in n]
    assert lab.domstate("node2", VM) is None
    gathered = json.loads(lab.lab_exec("node1", "cat", "/var/lib/vmnet-ipfabric/vm_interfaces.json").stdout)["vms"][VM]
    assert not gathered.get("leaving_to"), gathered


def test_libvirt_refusing_leaves_the_vm_on_the_source(lab, vm):
    """The target lacks the guest's kernel: its libvirt refuses the incoming domain."""
    v4, dummy = vm
    on_node1(lab, v4)
    kernel = "/var/lib/vmnet-lab/guest/vmlinuz"
    lab.lab_exec("node2", "mv", kernel, kernel + ".away")
    try:
        res = run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=node2", check=False)
    finally:
        lab.lab_exec("node2", "mv", kernel + ".away", kernel)
    assert res.rc != 0, res
    assert "vm_name: the live migration of {} from node1 to node2 failed".format(VM) in res.output, res
    assert "vmlinuz" in res.output and "what the prepare phase made on node2 was removed" in res.output, res
    assert_untouched(lab, v4)


def test_target_libvirtd_down_is_refused_before_anything_changes(lab, vm):
    v4, dummy = vm
    on_node1(lab, v4)
    units = ["libvirtd.service", "libvirtd.socket", "libvirtd-ro.socket", "libvirtd-admin.socket"]
    lab.lab_exec("node2", "systemctl", "stop", *units)
    try:
        res = run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=node2", check=False)
    finally:
        lab.lab_exec("node2", "systemctl", "start", *units)
    assert res.rc != 0 and "node: node2's libvirt does not answer" in res.output, res
    assert res.changed == 0, res
    assert_untouched(lab, v4)


def test_target_dying_mid_way_leaves_the_vm_on_the_source(lab, vm):
    """node2 dies (killed, links left up) while the guest's memory is being copied (10 MiB/s)."""
    v4, dummy = vm
    on_node1(lab, v4)
    proc = subprocess.Popen(
        [os.path.join(ANSIBLE_BIN, "ansible-playbook"), "-i", INVENTORY,
         os.path.join(REPO, "playbooks", "vm_migrate.yml"),
         "-e", "vm_name=" + VM, "-e", "node=node2", "-e", "vm_migrate_bandwidth=10"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
        env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1"))
    try:
        wait_for("the incoming guest on node2", lambda: lab.domstate("node2", VM) == "paused", 120, interval=0.2)
        time.sleep(1)
        subprocess.run([lab.LAB, "kill", "node2"], check=True)
        out = proc.communicate(timeout=600)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run([lab.LAB, "reboot", "node2"], check=False)
    assert proc.returncode != 0, out
    assert "vm_name: the live migration of {} from node1 to node2 failed".format(VM) in out, out
    assert "node2 could not be cleaned up" in out, out
    assert lab.domstate("node1", VM) == "running"
    assert lab.wait_reachable(v4, timeout=30)
    assert lab.core_routes("ipv4").get(v4 + "/32") == [UNDERLAY["node1"][0]]
    # once node2 is back, the same request finishes what it started
    assert not wait_established(), "node2's sessions did not come back"
    run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=node2")
    assert lab.domstate("node2", VM) == "running"
    run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=node1")
    assert_untouched(lab, v4)


def test_requests_that_cannot_be_served_are_refused(lab, vm):
    v4, dummy = vm
    on_node1(lab, v4)
    bad = run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=node9", check=False)
    assert bad.rc != 0 and "node: 'node9' is not a host of the group ipfabric_nodes" in bad.output, bad
    missing = run_playbook("vm_migrate.yml", "-e", "vm_name=nosuchvm", "-e", "node=node2", check=False)
    assert missing.rc != 0 and "vm_name: 'nosuchvm' has no interface on any node" in missing.output, missing
    lxd = run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=node3", check=False)
    assert lxd.rc != 0 and "node: 'node3' is a lxd node" in lxd.output and lxd.changed == 0, lxd
    lab.lab_exec("node1", "virsh", "destroy", VM)
    try:
        stopped = run_playbook("vm_migrate.yml", "-e", "vm_name=" + VM, "-e", "node=node2", check=False)
    finally:
        lab.lab_exec("node1", "virsh", "start", VM)
    assert stopped.rc != 0 and "vm_name: {} is shut off on node1, not running".format(VM) in stopped.output, stopped
    assert stopped.changed == 0, stopped
    assert_untouched(lab, v4)
