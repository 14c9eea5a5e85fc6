# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the lab's fabric as a network engineer would: from the hosts themselves.

Used by the demo report and by the lab tests. Everything goes through `tests/lab/lab exec`
(nsenter into the lab containers, or into the inet1 namespace): no address outside the lab
is ever contacted.
"""
import json
import os
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(HERE, "lab")
NODES = {"node1": "172.16.0.11", "node2": "172.16.0.12", "node3": "172.16.0.13"}
NODE_BY_UNDERLAY = {v: k for k, v in NODES.items()}
NODE_BY_UNDERLAY.update({"fd0c:172:16::11": "node1", "fd0c:172:16::12": "node2", "fd0c:172:16::13": "node3"})


def lab_exec(host, *cmd, check=True, timeout=60):
    res = subprocess.run([LAB, "exec", host, "--"] + list(cmd), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout, check=False)
    if check and res.returncode != 0:
        raise RuntimeError("{}: {} failed ({}): {}".format(host, " ".join(cmd), res.returncode, res.stderr.strip()))
    return res


def vtysh_json(host, command):
    out = lab_exec(host, "vtysh", "-c", command).stdout
    return json.loads(out) if out.strip() else {}


STATE_FILE = "/var/lib/vmnet-ipfabric/vm_interfaces.json"     # vmnet.ipfabric.vm_interface's, on each node
HYPERVISOR = {"node1": "kvm", "node2": "kvm", "node3": "lxd"}  # as tests/lab/lab writes the inventory


def lab_vms(node):
    """The VMs running on a node: libvirt domains on KVM nodes, LXD containers on the LXD node."""
    if HYPERVISOR.get(node) == "kvm":
        out = lab_exec(node, "virsh", "-q", "list", "--name").stdout
        return sorted(l.strip() for l in out.splitlines() if l.strip())
    out = lab_exec(node, "lxc", "list", "--format", "json").stdout
    return sorted(c["name"] for c in json.loads(out or "[]") if c.get("status") == "Running")


def domstate(node, vm):
    """libvirt's state of domain ``vm`` on ``node`` ('running', 'paused', 'shut off'), None if undefined."""
    res = lab_exec(node, "virsh", "-q", "domstate", vm, check=False)
    return res.stdout.strip() if res.returncode == 0 else None


def vm_addresses(node, vm):
    """(IPv4, IPv6) of a VM, from its node's desired state (what vm_interface routes to it)."""
    res = lab_exec(node, "cat", STATE_FILE, check=False)
    spec = (json.loads(res.stdout).get("vms", {}) if res.returncode == 0 and res.stdout.strip() else {}).get(vm)
    if not spec:
        return None, None
    v4 = [a.split("/")[0] for a in spec.get("ipv4") or []]
    v6 = [a.split("/")[0] for a in spec.get("ipv6") or []]
    return (v4[0] if v4 else None), (v6[0] if v6 else None)


def guest(node, vm, line, check=True, timeout=60):
    """Run one shell line inside the lab VM ``vm`` on ``node`` (the KVM guest's serial console, the LXD
    container's lxc exec); returns (exit status, output)."""
    if HYPERVISOR.get(node) == "kvm":
        res = lab_exec(node, "/usr/local/sbin/lab-vm", "console", vm, line, check=False, timeout=timeout)
    else:
        res = lab_exec(node, "lxc", "exec", vm, "--", "sh", "-c", line, check=False, timeout=timeout)
    if check and res.returncode != 0:
        raise RuntimeError("{} on {}: {!r} failed ({}): {}{}".format(vm, node, line, res.returncode, res.stdout, res.stderr))
    return res.returncode, res.stdout


def vm_interface(node, vm):
    links = json.loads(lab_exec(node, "ip", "-d", "-j", "link", "show").stdout)
    for link in links:
        if link.get("ifalias") == "vmnet-ipfabric:" + vm:
            return link["ifname"]
    return None


def core_routes(family="ipv4"):
    """{prefix: [next hop addresses]} of the BGP routes the core gateway installed."""
    cmd = "show ip route bgp json" if family == "ipv4" else "show ipv6 route bgp json"
    table = vtysh_json("core1", cmd)
    routes = {}
    for prefix, entries in table.items():
        for entry in entries:
            if entry.get("selected") or entry.get("installed"):
                routes[prefix] = [nh.get("ip") for nh in entry.get("nexthops", []) if nh.get("ip")]
    return routes


def ping(src_host, address, count=3, interval="0.2", wait="1"):
    cmd = ["ping", "-n", "-q", "-c", str(count), "-i", interval, "-W", wait, address]
    res = lab_exec(src_host, *cmd, check=False, timeout=count * 2 + 10)
    return res.returncode == 0


def wait_reachable(address, timeout=90, src="inet1"):
    """Poll (bounded) until ``address`` answers ping from ``src``; True when it did. A real guest needs
    some seconds to boot under qemu's TCG; this waits for the answer, not for a fixed time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ping(src, address, count=1, wait="1"):
            return True
        time.sleep(0.5)
    return False


def find_vm(vm):
    for node in NODES:
        if vm in lab_vms(node):
            return node
    return None


def wait_for(what, probe, timeout, interval=0.5):
    """Poll probe() until it returns a true value and return that value; after ``timeout`` seconds
    raise AssertionError naming what was waited for and the last value seen (bounded, never a sleep
    standing in for a condition)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after {} s waiting for {}; last: {!r}".format(timeout, what, value)[:4000])
        time.sleep(interval)
