# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the lab's fabric as a network engineer would: from the hosts themselves.

Used by the demo report and by the lab tests. Everything goes through `tests/lab/lab exec`
(nsenter into the lab containers, or into the inet1 namespace): no address outside the lab
is ever contacted.
"""
import datetime
import json
import os
import re
import signal
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


def inventory_dir():
    """The lab's inventory of instance $VMNET_LAB_INSTANCE (tests/lab/lab up writes it)."""
    instance = os.environ.get("VMNET_LAB_INSTANCE", "0")
    return os.path.join(os.path.dirname(os.path.dirname(HERE)), "inventories",
                        "lab" + ("" if instance in ("", "0") else instance))


def bird_nodes(inventory=None):
    """The lab nodes whose BGP speaker is BIRD now (ipfabric_bgp_daemon: bird in the lab's inventory)."""
    try:
        with open(os.path.join(inventory or inventory_dir(), "hosts.yml")) as f:
            text = f.read()
    except OSError:
        return []
    return re.findall(r"^ {8}(\S+):\n(?: {10}.*\n)*? {10}ipfabric_bgp_daemon: bird$", text, re.M)


def bird_sessions(host):
    """{protocol name: (state, since)} of the BGP protocols of BIRD on ``host`` (birdc show protocols)."""
    out = lab_exec(host, "birdc", "show", "protocols", check=False).stdout
    sessions = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "BGP":
            sessions[fields[0]] = (fields[6] if len(fields) > 6 else fields[3], fields[4] + " " + fields[5])
    return sessions


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


class Ping:
    """``ping -i 0.01`` from inet1 to ``address`` (IPv4 or IPv6), bounded by its count (no -w: with a
    deadline ping stops at the first ICMP error). stop() ends it (SIGINT: ping prints its statistics)
    and returns (transmitted, received); ``lost`` is the difference."""

    def __init__(self, address, count=30000, src="inet1", reachable_first=True):
        if reachable_first:
            assert wait_reachable(address, src=src), "{} does not answer from {} before the test".format(address, src)
        self.address = address
        self.proc = subprocess.Popen(
            [LAB, "exec", src, "--", "ping", "-n", "-q", "-i", "0.01", "-c", str(count), "-W", "1", address],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, start_new_session=True)
        time.sleep(0.5)

    def stop(self):
        time.sleep(1.0)                 # replies still on their way come back late, not lost
        still_running = self.proc.poll() is None
        if still_running:
            os.killpg(self.proc.pid, signal.SIGINT)
        out, dummy = self.proc.communicate(timeout=20)
        assert still_running, "the ping of {} ended before the test did (raise its count):\n{}".format(self.address, out)
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        assert m, out
        self.sent, self.received = int(m.group(1)), int(m.group(2))
        self.lost = self.sent - self.received
        return self.sent, self.received


class RouteMonitor:
    """``ip -ts monitor route`` on a lab host (bounded by ``seconds``); stop() returns its output."""

    def __init__(self, host, seconds=120):
        self.proc = subprocess.Popen([LAB, "exec", host, "--", "timeout", "--foreground", str(seconds),
                                      "ip", "-ts", "monitor", "route"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                                     start_new_session=True)
        time.sleep(0.3)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        return self.proc.communicate(timeout=20)[0]


_MONITOR_LINE = re.compile(r"^\[(\S+)\] (Deleted )?(\S+) .*?\bvia (\S+) ")


def route_events(text):
    """[(datetime UTC, 'add'|'del', prefix address, via)] of ``ip -ts monitor route`` output."""
    out = []
    for line in text.splitlines():
        m = _MONITOR_LINE.match(line)
        if m:
            when = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc)
            out.append((when, "del" if m.group(2) else "add", m.group(3), m.group(4)))
    return out


def first_via(text, prefix, via):
    """Time (datetime, UTC) of the first route change to ``prefix`` via ``via`` in monitor output."""
    for when, dummy, address, hop in route_events(text):
        if address == prefix.split("/")[0] and hop == via:
            return when
    return None


def first_reply(address, timeout=30, src="inet1"):
    """time.monotonic() of the first answer from ``address`` to a ping every 10 ms from ``src``, or
    None when nothing answered within ``timeout`` seconds."""
    proc = subprocess.Popen([LAB, "exec", src, "--", "ping", "-n", "-i", "0.01", "-W", "1",
                             "-c", str(int(timeout * 100)), address],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                            start_new_session=True)
    try:
        for line in proc.stdout:
            if " bytes from " in line:
                return time.monotonic()
        return None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=20)
