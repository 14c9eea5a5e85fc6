# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Anti-spoofing on the VM interfaces (issue 12): a VM sends only from the addresses the IPAM gave it,
never router advertisements or DHCP/DHCPv6 server messages into its node.

From real lab VMs: an LXD container on node3 (packets made in its network namespace with the node's
own tools: `nsenter -n` into the container) and a KVM guest on node1 (its serial console). What leaves
the node is counted where it would arrive - on inet1's link, with a packet socket in inet1's namespace
(the lab's own) - and what the node dropped by the counters of its anti-spoofing table. The
VM's own traffic must flow in the same run, so each test can fail both ways. Also: the table comes back
by itself after an `nft flush ruleset` (the presence agent) and after a reboot (the restore unit).
"""
import json
import re
import subprocess
import time

import pytest

import fabric
from conftest import run_playbook

INET1_V4, INET1_V6 = "203.0.113.2", "2001:db8:203::2"
SPOOF = {"node3": ("198.51.100.250", "2001:db8:100::fffe"), "node1": ("198.51.100.251", "2001:db8:100::fffd")}
COUNT = 5

# RA (ICMPv6 134), DHCPv4 OFFER-like and DHCPv6 ADVERTISE-like datagrams, sent from inside the VM's netns
SENDER = r"""
import socket, struct, sys
what, ifname = sys.argv[1], sys.argv[2]
n = int(sys.argv[3])
idx = socket.if_nametoindex(ifname)
if what == 'ra':
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
    # type 134, code 0, checksum (kernel), hop limit 64, flags 0, router lifetime 1800 s, reachable, retrans
    ra = struct.pack('!BBHBBHII', 134, 0, 0, 64, 0, 1800, 0, 0)
    for i in range(n):
        s.sendto(ra, ('ff02::1', 0, 0, idx))
elif what == 'dhcp4':
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    s.bind(('0.0.0.0', 67))
    for i in range(n):
        s.sendto(b'\x02\x01\x06\x00' + b'\x00' * 236 + b'\x63\x82\x53\x63\x35\x01\x02\xff', ('255.255.255.255', 68))
elif what == 'dhcp6':
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
    s.bind(('::', 547))
    for i in range(n):
        s.sendto(b'\x02\x00\x00\x01', ('ff02::1', 546, 0, idx))
print('sent', n, what)
"""


# Counts, on inet1's eth0, the IPv4 and IPv6 packets from each of the addresses given (AF_PACKET: sees
# what arrives whatever inet1's stack does with it); prints the counts as JSON when stdin closes.
SNIFFER = r"""
import ipaddress, json, select, socket, sys
wanted = dict((ipaddress.ip_address(a).packed, a) for a in sys.argv[2:])
counts = dict((a, 0) for a in sys.argv[2:])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((sys.argv[1], 0))
print('ready', flush=True)
while True:
    ready = select.select([s, sys.stdin], [], [], 1.0)[0]
    if sys.stdin in ready:
        break
    if s in ready:
        frame = s.recv(65535)
        kind = frame[12:14]
        src = frame[26:30] if kind == b'\x08\x00' else frame[22:38] if kind == b'\x86\xdd' else None
        if src in wanted:
            counts[wanted[src]] += 1
print(json.dumps(counts), flush=True)
"""


class Inet1Counter:
    """Packets arriving at inet1 from each address of ``sources`` while it runs."""

    def __init__(self, sources):
        self.proc = subprocess.Popen([fabric.LAB, "exec", "inet1", "--", "python3", "-c", SNIFFER, "eth0"] + list(sources),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, universal_newlines=True)
        assert self.proc.stdout.readline().strip() == "ready", "the packet counter on inet1 did not start"

    def stop(self):
        out, dummy = self.proc.communicate("", timeout=30)
        return json.loads(out.strip().splitlines()[-1])


def node_drops(node):
    """The anti-spoofing counters of ``node``: {reason: packets}."""
    result = json.loads(fabric.lab_exec(node, "nft", "-j", "list", "table", "inet", "vmnet_ipfabric").stdout)
    drops = {}
    for item in result["nftables"]:
        rule = item.get("rule")
        if rule:
            for expr in rule["expr"]:
                if "counter" in expr:
                    drops[rule["comment"].split(": ", 1)[1]] = expr["counter"]["packets"]
    return drops


def snmp6(node, key):
    text = fabric.lab_exec(node, "cat", "/proc/net/snmp6").stdout
    m = re.search(r"^{}\s+(\d+)$".format(key), text, re.M)
    return int(m.group(1))


@pytest.fixture(scope="module")
def vms(site):
    request = {"vms": [{"name": "spoof-ct", "node": "node3"}, {"name": "spoof-kvm", "node": "node1"}]}
    run_playbook("vm_create.yml", "-e", json.dumps(request))
    out = {"node3": ("spoof-ct",) + fabric.vm_addresses("node3", "spoof-ct"),
           "node1": ("spoof-kvm",) + fabric.vm_addresses("node1", "spoof-kvm")}
    for node, (name, v4, v6) in out.items():
        assert fabric.wait_reachable(v4, timeout=120) and fabric.wait_reachable(v6, timeout=60), \
            "{} on {} does not answer on {} / {}".format(name, node, v4, v6)
    yield out
    run_playbook("vm_delete.yml", "-e", json.dumps({"vms": [{"name": "spoof-ct"}, {"name": "spoof-kvm"}]}), check=False)


def container_pid(name):
    data = json.loads(fabric.lab_exec("node3", "lxc", "list", name, "--format", "json").stdout)
    return str(data[0]["state"]["pid"])


def in_container(name, *cmd, check=True):
    return fabric.lab_exec("node3", "nsenter", "-t", container_pid(name), "-n", "--", *cmd, check=check)


def test_container_sends_only_from_its_own_addresses(vms):
    name, v4, v6 = vms["node3"]
    s4, s6 = SPOOF["node3"]
    before = node_drops("node3")
    counter = Inet1Counter([v4, v6, s4, s6])
    try:
        in_container(name, "ip", "addr", "add", s4 + "/32", "dev", "eth0")
        in_container(name, "ip", "-6", "addr", "add", s6 + "/128", "dev", "eth0", "nodad")
        own4 = in_container(name, "ping", "-n", "-c", str(COUNT), "-i", "0.2", "-W", "1", "-I", v4, INET1_V4, check=False)
        own6 = in_container(name, "ping", "-6", "-n", "-c", str(COUNT), "-i", "0.2", "-W", "1", "-I", v6, INET1_V6, check=False)
        in_container(name, "ping", "-n", "-c", str(COUNT), "-i", "0.2", "-W", "1", "-I", s4, INET1_V4, check=False)
        in_container(name, "ping", "-6", "-n", "-c", str(COUNT), "-i", "0.2", "-W", "1", "-I", s6, INET1_V6, check=False)
    finally:
        in_container(name, "ip", "addr", "del", s4 + "/32", "dev", "eth0", check=False)
        in_container(name, "ip", "-6", "addr", "del", s6 + "/128", "dev", "eth0", check=False)
        counts = counter.stop()
    after = node_drops("node3")
    print("container on node3: at inet1 {}; node3 dropped {} more from other sources".format(
        counts, after["any other source address"] - before["any other source address"]))
    assert own4.returncode == 0 and own6.returncode == 0, "the VM's own traffic did not flow:\n{}{}".format(own4.stdout, own6.stdout)
    assert counts[v4] >= COUNT and counts[v6] >= COUNT, counts
    assert counts[s4] == 0 and counts[s6] == 0, "spoofed packets reached inet1: {}".format(counts)
    assert after["any other source address"] - before["any other source address"] >= 2 * COUNT


@pytest.mark.parametrize("what,reason", [("ra", "router advertisement or redirect"),
                                         ("dhcp4", "DHCP or DHCPv6 server message"),
                                         ("dhcp6", "DHCP or DHCPv6 server message")])
def test_container_cannot_play_router_or_dhcp_server(vms, what, reason):
    name = vms["node3"][0]
    before, ra_before = node_drops("node3"), snmp6("node3", "Icmp6InRouterAdvertisements")
    sent = in_container(name, "python3", "-c", SENDER, what, "eth0", str(COUNT))
    assert "sent {}".format(COUNT) in sent.stdout, sent.stdout + sent.stderr
    after, ra_after = node_drops("node3"), snmp6("node3", "Icmp6InRouterAdvertisements")
    print("{} x {} from the container: node3 dropped {} ({}), took in {} RAs".format(
        COUNT, what, after[reason] - before[reason], reason, ra_after - ra_before))
    assert after[reason] - before[reason] == COUNT
    assert ra_after == ra_before, "node3's own stack received a router advertisement from a VM"


def test_kvm_guest_sends_only_from_its_own_addresses(vms):
    name, v4, v6 = vms["node1"]
    s4, s6 = SPOOF["node1"]
    before = node_drops("node1")
    counter = Inet1Counter([v4, v6, s4, s6])
    try:
        # busybox's ip has no nodad: wait out duplicate address detection before using the address
        fabric.guest("node1", name, "ip addr add {}/32 dev eth0; ip -6 addr add {}/128 dev eth0; sleep 3".format(s4, s6))
        for src, dst, six in ((v4, INET1_V4, ""), (v6, INET1_V6, "-6 "), (s4, INET1_V4, ""), (s6, INET1_V6, "-6 ")):
            fabric.guest("node1", name, "ping {}-c {} -W 1 -I {} {} >/dev/null 2>&1; true".format(six, COUNT, src, dst),
                         timeout=60)
    finally:
        fabric.guest("node1", name, "ip addr del {}/32 dev eth0; ip -6 addr del {}/128 dev eth0".format(s4, s6), check=False)
        counts = counter.stop()
    after = node_drops("node1")
    print("KVM guest on node1: at inet1 {}; node1 dropped {} more from other sources".format(
        counts, after["any other source address"] - before["any other source address"]))
    assert counts[v4] >= COUNT and counts[v6] >= COUNT, "the guest's own traffic did not reach inet1: {}".format(counts)
    assert counts[s4] == 0 and counts[s6] == 0, "spoofed packets reached inet1: {}".format(counts)
    assert after["any other source address"] - before["any other source address"] >= 2 * COUNT


def test_table_comes_back_after_a_flush(vms):
    """Another tool flushes the whole ruleset: the presence agent loads restore.nft again within a resync."""
    fabric.lab_exec("node3", "nft", "flush", "ruleset")
    t0 = time.monotonic()
    fabric.wait_for("node3's anti-spoofing table back after nft flush ruleset",
                    lambda: fabric.lab_exec("node3", "nft", "list", "table", "inet", "vmnet_ipfabric", check=False).returncode == 0,
                    75, 1)
    print("anti-spoofing table back {:.1f} s after the flush".format(time.monotonic() - t0))
    again = run_playbook("vm_create.yml", "-e", json.dumps({"vms": [{"name": "spoof-ct", "node": "node3"}]}))
    assert again.changed == 0, "the table the agent loaded is not what vm_interface wants: {}".format(again)


def test_table_restored_at_boot_before_the_vms(vms):
    """node3 power-cycled: the restore unit loads the table (with spoof-ct's addresses) before LXD starts."""
    name, v4, v6 = vms["node3"]
    want = fabric.lab_exec("node3", "nft", "list", "set", "inet", "vmnet_ipfabric", "vm_ipv4").stdout
    assert v4 in want
    reboot = subprocess.run([fabric.LAB, "reboot", "node3"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, timeout=300, check=False)
    assert reboot.returncode == 0, reboot.stdout
    fabric.wait_for("the restore unit on node3", lambda: fabric.lab_exec(
        "node3", "systemctl", "is-active", "vmnet-ipfabric-restore", check=False).stdout.strip() in ("active", "failed"), 120, 1)
    status = fabric.lab_exec("node3", "systemctl", "is-active", "vmnet-ipfabric-restore", check=False).stdout.strip()
    assert status == "active", fabric.lab_exec("node3", "journalctl", "-b", "-u", "vmnet-ipfabric-restore", "--no-pager",
                                               check=False).stdout[-3000:]
    got = fabric.lab_exec("node3", "nft", "list", "set", "inet", "vmnet_ipfabric", "vm_ipv4").stdout
    assert v4 in got, got
    # ordered before LXD: the unit finished before lxd (the lab's LXD service) started
    order = fabric.lab_exec("node3", "systemctl", "show", "-p", "Before", "vmnet-ipfabric-restore").stdout
    assert "lxd" in order, order
    assert fabric.wait_reachable(v4, timeout=120), "spoof-ct not back after node3's reboot"
