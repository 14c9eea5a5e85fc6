#!/usr/bin/env python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Anti-spoofing benchmark: what the node's nftables table (vm_interface, module_utils/_nft.py) costs a
packet a VM sends, with no table, with one VM's elements and with 1000 VMs' elements loaded.

    .venv/bin/python tests/benchmarks/anti_spoofing_bench.py [--runs N] [--seconds S] [--quick] [--no-write]

Three network namespaces made here and removed at the end (nothing else is touched): a "VM" whose veth
peer in the "node" namespace carries a VM interface name, the node (forwarding, the table under test)
and a "sink". iperf3 sends 64-byte UDP datagrams as fast as it can from the VM to the sink through the
node; the figure is what the sink received per second. The cases alternate (none, 1 VM, 1000 VMs, then
again in another order) for ``--runs`` rounds; the table gives medians, the nanoseconds per packet and
the difference to no table, with the load average before and after. Sender, node and sink share this
machine's cores, so the absolute rate is this machine's, not a NIC's; the difference between the cases
is the table's cost. Writes the ``## Anti-spoofing`` section of docs/benchmarks.md. Not a test.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DOC = os.path.join(REPO, "docs", "benchmarks.md")
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _nft  # noqa: E402  pylint: disable=wrong-import-position

PREFIX = "vmnbench%d" % os.getpid()
VM_NS, NODE_NS, SINK_NS = PREFIX + "-vm", PREFIX + "-node", PREFIX + "-sink"
VM_IF = "bench0500_net0"            # the VM interface on the node, as vm_interface names it
VM_ADDR, NODE_VM_ADDR = "192.0.2.2", "192.0.2.1"
NODE_SINK_ADDR, SINK_ADDR = "192.0.2.5", "192.0.2.6"


def sh(*argv, ns=None, check=True, **kw):
    if ns:
        argv = ("ip", "netns", "exec", ns) + argv
    return subprocess.run(argv, check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kw)


def setup():
    for ns in (VM_NS, NODE_NS, SINK_NS):
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
    sh("ip", "link", "add", "eth0", "netns", VM_NS, "type", "veth", "peer", "name", VM_IF, "netns", NODE_NS)
    sh("ip", "link", "add", "uplink", "netns", NODE_NS, "type", "veth", "peer", "name", "eth0", "netns", SINK_NS)
    sh("ip", "addr", "add", VM_ADDR + "/30", "dev", "eth0", ns=VM_NS)
    sh("ip", "link", "set", "eth0", "up", ns=VM_NS)
    sh("ip", "route", "add", SINK_ADDR + "/32", "via", NODE_VM_ADDR, ns=VM_NS)
    sh("ip", "addr", "add", NODE_VM_ADDR + "/30", "dev", VM_IF, ns=NODE_NS)
    sh("ip", "addr", "add", NODE_SINK_ADDR + "/30", "dev", "uplink", ns=NODE_NS)
    sh("ip", "link", "set", VM_IF, "up", ns=NODE_NS)
    sh("ip", "link", "set", "uplink", "up", ns=NODE_NS)
    sh("sysctl", "-q", "-w", "net.ipv4.ip_forward=1", ns=NODE_NS)      # inside the node namespace only
    sh("ip", "addr", "add", SINK_ADDR + "/30", "dev", "eth0", ns=SINK_NS)
    sh("ip", "link", "set", "eth0", "up", ns=SINK_NS)
    sh("ip", "route", "add", VM_ADDR + "/32", "via", NODE_SINK_ADDR, ns=SINK_NS)
    sh("ping", "-c", "1", "-W", "2", SINK_ADDR, ns=VM_NS)


def teardown():
    for ns in (VM_NS, NODE_NS, SINK_NS):
        sh("ip", "netns", "delete", ns, check=False)


def desired(n):
    """n VMs as vm_interface's plan holds them; the benchmark's VM is one of them."""
    out = {"bench0500": {"interface": VM_IF, "ipv4": [VM_ADDR], "ipv6": ["2001:db8:b::2"]}}
    for i in range(n - 1):
        out["vm%04d" % i] = {"interface": "vm%04d_net0" % i, "ipv4": ["10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255)],
                             "ipv6": ["2001:db8:100::%x" % (i + 1)]}
    return out


def load_table(n):
    if n == 0:
        sh("nft", "-f", "-", ns=NODE_NS, input=_nft.remove_script())
        return
    sh("nft", "-f", "-", ns=NODE_NS, input=_nft.table_script(_nft.elements(desired(n))))
    listed = sh("nft", "-j", "list", "set", _nft.FAMILY, _nft.TABLE, "vm_ipv4", ns=NODE_NS).stdout
    got = sum(len(x["set"].get("elem", [])) for x in json.loads(listed)["nftables"] if "set" in x)
    assert got == n, "the table holds {} IPv4 elements, not {}".format(got, n)


def dropped():
    """Packets the table dropped (the last rule's counter): must stay 0, the VM sends from its own address."""
    if sh("nft", "list", "table", _nft.FAMILY, _nft.TABLE, ns=NODE_NS, check=False).returncode != 0:
        return 0
    text = sh("nft", "list", "chain", _nft.FAMILY, _nft.TABLE, "vm_source", ns=NODE_NS).stdout
    m = re.search(r"counter packets (\d+) bytes \d+ drop comment \"[^\"]*any other source", text)
    return int(m.group(1)) if m else 0


def rate(seconds):
    server = subprocess.Popen(["ip", "netns", "exec", SINK_NS, "iperf3", "-s", "-1", "-B", SINK_ADDR],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        out = sh("iperf3", "-c", SINK_ADDR, "-u", "-b", "0", "-l", "64", "-t", str(seconds), "-J", ns=VM_NS,
                 timeout=seconds + 30).stdout
    finally:
        server.wait(timeout=30)
    s = json.loads(out)["end"]["sum"]
    return (s["packets"] - s["lost_packets"]) / s["seconds"]


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="2 runs of 2 s")
    ap.add_argument("--no-write", action="store_true", help="print only, do not touch docs/benchmarks.md")
    opts = ap.parse_args()
    if opts.quick:
        opts.runs, opts.seconds = 2, 2
    for tool in ("iperf3", "nft"):
        if subprocess.call(["sh", "-c", "command -v " + tool], stdout=subprocess.DEVNULL) != 0:
            sys.exit("{} is not installed (make deps installs it)".format(tool))
    cases = [0, 1, 1000]
    rates = {n: [] for n in cases}
    load_before = loadavg()
    setup()
    try:
        for r in range(opts.runs):
            order = cases if r % 2 == 0 else list(reversed(cases))
            for n in order:
                load_table(n)
                rates[n].append(rate(opts.seconds))
                assert dropped() == 0, "the table dropped the VM's own packets"
                print("run {} table of {:>4} VMs: {:,.0f} packets/s".format(r + 1, n, rates[n][-1]), flush=True)
    finally:
        teardown()
    load_after = loadavg()
    med = {n: statistics.median(rates[n]) for n in cases}
    rows = ["| table | packets/s received (median of {}) | ns per packet | cost of the table per packet |".format(opts.runs),
            "| --- | ---: | ---: | ---: |"]
    for n in cases:
        ns = 1e9 / med[n]
        delta = ns - 1e9 / med[0]
        label = "none" if n == 0 else "{} VM{}".format(n, "s" if n > 1 else "")
        rows.append("| {} | {:,.0f} | {:,.0f} | {} |".format(label, med[n], ns, "-" if n == 0 else "{:+.0f} ns ({:+.1f} %)".format(
            delta, 100.0 * (med[0] / med[n] - 1))))
    text = "\n".join(rows) + (
        "\n\nRuns alternated in one process; {} s each, 64-byte UDP (iperf3) from a VM namespace through the "
        "node namespace. Load average before: {}; after: {} ({} cores).\n").format(
            opts.seconds, load_before, load_after, os.cpu_count())
    print(text)
    if not opts.no_write:
        section = ("## Anti-spoofing\n\nProduced by `python tests/benchmarks/anti_spoofing_bench.py`: what the "
                   "`inet vmnet_ipfabric` table costs each packet a VM sends (docs/architecture.md, \"Anti-spoofing\").\n\n"
                   + text)
        old = open(DOC, encoding="utf-8").read()
        pattern = re.compile(r"^## Anti-spoofing\n.*?(?=^## |\Z)", re.S | re.M)
        new = pattern.sub(lambda _m: section + "\n", old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + section
        with open(DOC, "w", encoding="utf-8") as fh:
            fh.write(new)
        print("wrote the Anti-spoofing section of " + DOC)
    return 0


if __name__ == "__main__":
    sys.exit(main())
