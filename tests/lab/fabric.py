# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the lab's fabric as a network engineer would: from the hosts themselves.

Used by the demo report and by the lab tests. Everything goes through `tests/lab/lab exec`
(nsenter into the lab containers, or into the inet1 namespace): no address outside the lab
is ever contacted.
"""
import json
import os
import subprocess

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


def lab_vms(node):
    return json.loads(lab_exec(node, "/usr/local/sbin/lab-vm", "list").stdout)


def vm_addresses(node, vm):
    links = json.loads(lab_exec(node, "ip", "-n", "vm-" + vm, "-j", "addr", "show", "dev", "eth0").stdout)
    addrs = [a for link in links for a in link.get("addr_info", []) if a.get("scope") == "global"]
    v4 = [a["local"] for a in addrs if a["family"] == "inet"]
    v6 = [a["local"] for a in addrs if a["family"] == "inet6"]
    return (v4[0] if v4 else None), (v6[0] if v6 else None)


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


def find_vm(vm):
    for node in NODES:
        if vm in lab_vms(node):
            return node
    return None
