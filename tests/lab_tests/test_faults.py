# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults in the lab (issue 7): the controller killed mid-play, the management link of a node cut
mid-play. Each test is bounded in time and says what was lost and for how long.

Covered elsewhere: bgpd killed, FRR restarted, a node killed or frozen (test_resilience.py), route
reflector down and FRR rejecting a config push (the RR redundancy / safe apply tests), node reboot (the
reboot persistence test), SIGKILL of an IPAM writer (tests/ipam/test_kill.py), PostgreSQL restarted
mid-run (tests/ipam/test_pg_restart.py).
"""
import json
import os
import signal
import subprocess
import time

import yaml

import fabric
import reliability_lib as rl
from conftest import ANSIBLE_BIN, INVENTORY, REPO, run_playbook

NODE_ADDR = {"node1": "172.16.0.11", "node2": "172.16.0.12", "node3": "172.16.0.13"}


def create(names, node):
    return run_playbook("vm_create.yml", "-e", json.dumps({"vms": [{"name": n, "node": node} for n in names],
                                                           "lab_vms": "nic"}))


def delete(names):
    return run_playbook("vm_delete.yml", "-e", json.dumps({"vms": [{"name": n} for n in names]}), check=False)


def core_has(names, node):
    """True when core1 has the /32 and /128 of every VM in ``names`` with ``node`` as next hop."""
    h = rl.held()
    want4 = {h[n]["ipv4"] + "/32" for n in names}
    want6 = {h[n]["ipv6"] + "/128" for n in names}
    r4, r6 = fabric.core_routes("ipv4"), fabric.core_routes("ipv6")
    nh6 = "fd0c:172:16::" + NODE_ADDR[node].rsplit(".", 1)[1]
    ok4 = all(NODE_ADDR[node] in r4.get(p, []) for p in want4)
    ok6 = all(nh6 in r6.get(p, []) or NODE_ADDR[node] in r6.get(p, []) for p in want6)
    return ok4 and ok6


def start_vm_create(names, node):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    argv = [os.path.join(ANSIBLE_BIN, "ansible-playbook"), "-i", INVENTORY,
            os.path.join(REPO, "playbooks", "vm_create.yml"), "-e",
            json.dumps({"vms": [{"name": n, "node": node} for n in names], "lab_vms": "nic"})]
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, start_new_session=True)


def assert_converged(names, node, first_held):
    """Re-run completes; nothing re-allocated or duplicated; the core routes them; a third run changes nothing."""
    rerun = create(names, node)
    h = rl.held()
    assert {n: h[n] for n in names} == {n: first_held[n] for n in names}, "an allocation changed on re-run"
    addrs = [a for v in h.values() for a in v.values()]
    assert len(addrs) == len(set(addrs)), "an address is held twice"
    rl.wait_for(lambda: core_has(names, node), 90, 2, "the core to route every VM via " + node)
    again = create(names, node)
    assert again.changed == 0, again
    return rerun


def _wait_allocated(proc, names, timeout=240):
    def allocated():
        if proc.poll() is not None:
            raise AssertionError("vm_create ended before the cut:\n" + proc.stdout.read()[-3000:])
        return set(names) <= set(rl.held())
    rl.wait_for(allocated, timeout, 0.2, "the allocation of " + ", ".join(names[:3]) + "...")


def test_controller_killed_mid_play_rerun_converges(site):
    """SIGKILL to ansible-playbook (its whole process group) right after the allocation committed."""
    names = ["rel-k%02d" % i for i in range(20)]
    try:
        proc = start_vm_create(names, "node3")
        _wait_allocated(proc, names)
        first = {n: rl.held()[n] for n in names}
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        made = [n for n in names if fabric.vm_interface("node3", n)]
        print("controller killed mid-play: %d of %d interfaces existed on node3 at the kill" % (len(made), len(names)))
        assert_converged(names, "node3", first)
    finally:
        delete(names)


def fabric_mgmt_address(host):
    with open(os.path.join(INVENTORY, "hosts.yml")) as f:
        inv = yaml.safe_load(f)
    for group in inv["all"]["children"].values():
        if host in (group.get("hosts") or {}):
            return group["hosts"][host]["ansible_host"]
    raise KeyError(host)


def _ssh_to(address):
    return _kill_ssh_to(address, dry_run=True)


def _kill_ssh_to(address, dry_run=False):
    """SIGKILL the ssh processes (clients and the ControlPersist master, which daemonizes out of our
    session) whose command line names ``address``: a management address of this lab instance only."""
    n = 0
    for pid in os.listdir("/proc"):
        try:
            if not pid.isdigit():
                continue
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
            if argv and os.path.basename(argv[0]) == b"ssh" and address.encode() in argv:
                if not dry_run:
                    os.kill(int(pid), signal.SIGKILL)
                n += 1
        except (OSError, ProcessLookupError):
            pass
    return n


def test_management_link_cut_mid_play_rerun_converges(site):
    """node1's mgmt0 (the controller's only way in) down from right after the allocation until 12 s after
    the play tries to reach node1, its SSH connections cut: the play loses node1; a re-run completes
    and converges."""
    names = ["rel-c%02d" % i for i in range(20)]
    ns = "ipfl{}-node1".format(os.environ.get("VMNET_LAB_INSTANCE", "")) if os.environ.get(
        "VMNET_LAB_INSTANCE", "0") not in ("", "0") else "ipflab-node1"
    try:
        proc = start_vm_create(names, "node1")
        _wait_allocated(proc, names)
        first = {n: rl.held()[n] for n in names}
        subprocess.run(["ip", "-n", ns, "link", "set", "mgmt0", "down"], check=True)
        try:
            # down until the play tries node1 and for longer than Ansible's 10 s connection timeout then;
            # an SSH connection that was already up would only wait for the link: cut it
            addr = fabric_mgmt_address("node1")
            rl.wait_for(lambda: _ssh_to(addr) or proc.poll() is not None, 120, 0.5, "the play to connect to node1")
            time.sleep(12)
            killed = _kill_ssh_to(addr, dry_run=True)
            _kill_ssh_to(addr)
        finally:
            subprocess.run(["ip", "-n", ns, "link", "set", "mgmt0", "up"], check=True)
        try:
            out, dummy = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, dummy = proc.communicate()
        print("mgmt0 of node1 down mid-play, %d ssh processes to it cut: first run rc=%s (%s)"
              % (killed, proc.returncode, "node1 UNREACHABLE" if "UNREACHABLE" in out else "no unreachable host"))
        assert killed > 0, "the play never tried node1 while its link was down"
        rl.wait_for(lambda: fabric.lab_exec("node1", "true", check=False).returncode == 0, 30, 1, "node1")
        assert_converged(names, "node1", first)
    finally:
        delete(names)
