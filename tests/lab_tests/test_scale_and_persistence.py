# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 4: the node modules at scale, and what a node keeps across a power cycle.

One node gets 200 VMs in one playbook run (playbooks/vm_create.yml, the real path: IPAM,
vm_interface, frr_network); all 200 /32s must reach core1 with that node as next hop. 100 are
removed again and must be withdrawn on core1 while the rest stay. Then the node's container is
power-cycled (tests/lab/lab reboot) and, with no Ansible run, its interfaces, routes, sysctls,
network statements and the routes on core1 must come back (vmnet-ipfabric-restore.service before
frr.service). A second vm_create run must then report changed=0. No BGP session may reset while
VMs are added or removed: uptime, connection and NOTIFICATION counters are compared on the node,
both route reflectors and core1.

The steps build on each other and run in file order; every wait is bounded polling.
"""
import json
import re
import subprocess
import time

import pytest

from conftest import run_playbook

NODE = "node1"
NODE4, NODE6 = "172.16.0.11", "fd0c:172:16::11"
RRS4, RRS6 = ("172.16.0.2", "172.16.0.3"), ("fd0c:172:16::2", "fd0c:172:16::3")
CORE4, CORE6 = "172.16.0.1", "fd0c:172:16::1"
COUNT, REMOVE = 200, 100
NAMES = ["scale%03d" % i for i in range(COUNT)]
KEEP, GONE = NAMES[:COUNT - REMOVE], NAMES[COUNT - REMOVE:]
GATEWAY_MAC = "02:00:0a:00:00:01"
# the lab's hook holds each tap open (carrier: the VM is present) without booting 200 guests
NIC_ONLY = ("-e", "lab_vms=nic")

# the sessions watched: host -> neighbors
SESSIONS = {
    NODE: RRS4 + RRS6,
    "rr1": (NODE4, NODE6, CORE4, CORE6),
    "rr2": (NODE4, NODE6, CORE4, CORE6),
    "core1": RRS4 + RRS6,
}
NOT_VIA_NODE = {"rr1": (CORE4, CORE6), "rr2": (CORE4, CORE6), "core1": RRS4 + RRS6}


def wait_for(what, probe, timeout, interval=1.0):
    """Poll probe() until it returns a true value; fail with the last value after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail("timed out after {} s waiting for {}; last: {!r}".format(timeout, what, value)[:4000])
        time.sleep(interval)


def sessions(lab, hosts=None):
    """{(host, neighbor): counters} of the watched BGP sessions."""
    out = {}
    for host, neighbors in (hosts or SESSIONS).items():
        table = lab.vtysh_json(host, "show bgp neighbors json")
        for nbr in neighbors:
            n = table.get(nbr, {})
            stats = n.get("messageStats", {})
            out[(host, nbr)] = {
                "state": n.get("bgpState"),
                "up_msec": n.get("bgpTimerUpMsec", 0),
                "epoch": n.get("bgpTimerUpEstablishedEpoch", 0),
                "established": n.get("connectionsEstablished"),
                "dropped": n.get("connectionsDropped"),
                "notifications_sent": stats.get("notificationsSent"),
                "notifications_recv": stats.get("notificationsRecv"),
            }
    return out


def assert_no_reset(before, after):
    problems = []
    for key, b in before.items():
        a = after[key]
        if a["state"] != "Established":
            problems.append("{}: state {}".format(key, a["state"]))
        for counter in ("established", "dropped", "notifications_sent", "notifications_recv"):
            if a[counter] != b[counter]:
                problems.append("{}: {} {} -> {}".format(key, counter, b[counter], a[counter]))
        # the established epoch is derived from uptime and may jitter by a second
        if abs(a["epoch"] - b["epoch"]) > 2 or a["up_msec"] < b["up_msec"]:
            problems.append("{}: up since {} (uptime {} ms) -> up since {} (uptime {} ms)".format(
                key, b["epoch"], b["up_msec"], a["epoch"], a["up_msec"]))
    assert not problems, "BGP sessions were reset:\n" + "\n".join(problems)


def all_established(lab, hosts):
    now = sessions(lab, hosts)
    return now if all(s["state"] == "Established" for s in now.values()) else None


def node_routes(lab, family):
    """{vm: [prefix]} of the proto static routes on NODE's scale interfaces (read from the kernel)."""
    out = {}
    routes = json.loads(lab.lab_exec(NODE, "ip", "-j", family, "route", "show", "proto", "static").stdout or "[]")
    for r in routes:
        m = re.match(r"^(scale\d{3})_net0$", r.get("dev", ""))
        if m:
            plen = 32 if family == "-4" else 128
            dst = r["dst"] if "/" in r["dst"] else "{}/{}".format(r["dst"], plen)
            out.setdefault(m.group(1), []).append(dst)
    return out


def core_has(lab, prefixes, family, next_hop):
    """(missing, wrong next hop) of prefixes on core1."""
    routes = lab.core_routes(family)
    missing = [p for p in prefixes if p not in routes]
    wrong = {p: routes[p] for p in prefixes if p in routes and routes[p] != [next_hop]}
    return missing, wrong


def core_lacks(lab, prefixes, family):
    routes = lab.core_routes(family)
    return [p for p in prefixes if p in routes]


def wait_core_has(lab, prefixes, family, next_hop, timeout):
    def probe():
        missing, wrong = core_has(lab, prefixes, family, next_hop)
        return True if not missing and not wrong else None
    try:
        wait_for("{} {} routes on core1 via {}".format(len(prefixes), family, next_hop), probe, timeout)
    except pytest.fail.Exception:
        missing, wrong = core_has(lab, prefixes, family, next_hop)
        pytest.fail("core1: {} of {} routes missing (e.g. {}), wrong next hop: {}".format(
            len(missing), len(prefixes), missing[:5], dict(list(wrong.items())[:5])))


def vms_arg(names):
    return json.dumps({"vms": [{"name": n, "node": NODE} for n in names]})


@pytest.fixture(scope="module")
def fleet(lab, site):
    """Shared state of the steps; at the end every scale VM is deleted and its addresses released."""
    state = {}
    yield state
    run_playbook("vm_delete.yml", "-e", vms_arg(NAMES), check=False)


def test_create_200_vms_in_one_run(lab, fleet):
    fleet["sessions"] = sessions(lab)
    t0 = time.monotonic()
    res = run_playbook("vm_create.yml", "-e", vms_arg(NAMES), *NIC_ONLY)
    fleet["create_seconds"] = time.monotonic() - t0
    assert res.recap[NODE]["changed"] > 0, res

    # the presence agent routes each VM once its tap is held (events; bounded wait)
    wait_for("the routes of all 200 VMs on {}".format(NODE),
             lambda: sorted(node_routes(lab, "-4")) == NAMES and sorted(node_routes(lab, "-6")) == NAMES, 60)
    v4, v6 = node_routes(lab, "-4"), node_routes(lab, "-6")
    assert sorted(v4) == NAMES and sorted(v6) == NAMES, (sorted(set(NAMES) - set(v4)), sorted(set(NAMES) - set(v6)))
    assert all(len(v) == 1 for v in list(v4.values()) + list(v6.values()))
    fleet["v4"] = {vm: p[0] for vm, p in v4.items()}
    fleet["v6"] = {vm: p[0] for vm, p in v6.items()}
    assert len(set(fleet["v4"].values())) == COUNT and all(p.startswith("198.51.100.") for p in fleet["v4"].values())

    wait_core_has(lab, sorted(fleet["v4"].values()), "ipv4", NODE4, timeout=60)
    wait_core_has(lab, sorted(fleet["v6"].values()), "ipv6", NODE6, timeout=60)
    assert_no_reset(fleet["sessions"], sessions(lab))


def test_remove_100_withdraws_them_and_keeps_the_rest(lab, fleet):
    assert "v4" in fleet, "needs test_create_200_vms_in_one_run"
    before = sessions(lab)
    run_playbook("vm_delete.yml", "-e", vms_arg(GONE))
    gone = [fleet["v4"][n] for n in GONE] + [fleet["v6"][n] for n in GONE]
    wait_for("100 VMs withdrawn on core1",
             lambda: not core_lacks(lab, gone[:REMOVE], "ipv4") and not core_lacks(lab, gone[REMOVE:], "ipv6"),
             timeout=60)
    missing, wrong = core_has(lab, [fleet["v4"][n] for n in KEEP], "ipv4", NODE4)
    assert not missing and not wrong, (missing, wrong)
    missing, wrong = core_has(lab, [fleet["v6"][n] for n in KEEP], "ipv6", NODE6)
    assert not missing and not wrong, (missing, wrong)
    assert sorted(node_routes(lab, "-4")) == KEEP
    assert sorted(node_routes(lab, "-6")) == KEEP
    assert_no_reset(before, sessions(lab))
    # the whole run added and removed VMs: still the very sessions of before the first VM
    assert_no_reset(fleet["sessions"], sessions(lab))


def restore_unit_times(lab):
    props = lab.lab_exec(NODE, "systemctl", "show", "-p", "ActiveState", "-p", "Result", "-p",
                         "ExecMainExitTimestampMonotonic", "vmnet-ipfabric-restore.service").stdout
    frr = lab.lab_exec(NODE, "systemctl", "show", "-p", "ExecMainStartTimestampMonotonic", "frr.service").stdout
    kv = dict(line.split("=", 1) for line in (props + frr).splitlines() if "=" in line)
    return kv


def test_node_reboot_restores_everything_without_ansible(lab, fleet):
    assert "v4" in fleet, "needs test_create_200_vms_in_one_run"
    others_before = sessions(lab, NOT_VIA_NODE)
    reboot = subprocess.run([lab.LAB, "reboot", NODE], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, timeout=180, check=False)
    assert reboot.returncode == 0, reboot.stdout

    # the node was really power-cycled: its sessions came up again, after the reboot
    after = wait_for("BGP sessions of {} up again".format(NODE),
                     lambda: all_established(lab, {NODE: SESSIONS[NODE]}), timeout=120)
    assert all(s["up_msec"] < 180000 for s in after.values()), after

    # the restore unit ran, succeeded, and finished before FRR started
    kv = restore_unit_times(lab)
    assert kv.get("ActiveState") == "active" and kv.get("Result") == "success", kv
    assert 0 < int(kv["ExecMainExitTimestampMonotonic"]) <= int(kv["ExecMainStartTimestampMonotonic"]), kv

    # interfaces: name, alias, MAC, up, gateway addresses
    links = json.loads(lab.lab_exec(NODE, "ip", "-d", "-j", "addr", "show").stdout)
    ours = {l["ifname"]: l for l in links if l.get("ifalias", "").startswith("vmnet-ipfabric:scale")}
    assert sorted(ours) == sorted(n + "_net0" for n in KEEP), sorted(ours)[:10]
    for name, link in ours.items():
        assert link["ifalias"] == "vmnet-ipfabric:" + name[:-len("_net0")]
        assert link["address"] == GATEWAY_MAC, link
        assert "UP" in link["flags"], link
        addrs = {(a["local"], a["prefixlen"]) for a in link.get("addr_info", [])}
        assert {("10.0.0.1", 32), ("fe80::1", 128)} <= addrs, (name, addrs)

    # /32 and /128 routes: the presence agent adds them as the "VMs" come back (lab-vm-boot.service)
    wait_for("the routes of the kept VMs on {}".format(NODE),
             lambda: {vm: p[0] for vm, p in node_routes(lab, "-6").items()} == {n: fleet["v6"][n] for n in KEEP}, 90)
    assert {vm: p[0] for vm, p in node_routes(lab, "-4").items()} == {n: fleet["v4"][n] for n in KEEP}
    assert {vm: p[0] for vm, p in node_routes(lab, "-6").items()} == {n: fleet["v6"][n] for n in KEEP}

    # per-interface sysctls (restore.sysctl) and the node role's forwarding
    out = lab.lab_exec(NODE, "sh", "-c", "grep -H . /proc/sys/net/ipv4/conf/scale*_net0/rp_filter "
                       "/proc/sys/net/ipv6/conf/scale*_net0/accept_ra /proc/sys/net/ipv4/ip_forward "
                       "/proc/sys/net/ipv6/conf/all/forwarding").stdout
    values = dict(line.rsplit(":", 1) for line in out.splitlines())
    for n in KEEP:
        assert values.get("/proc/sys/net/ipv4/conf/{}_net0/rp_filter".format(n)) == "1", n
        assert values.get("/proc/sys/net/ipv6/conf/{}_net0/accept_ra".format(n)) == "0", n
    assert values["/proc/sys/net/ipv4/ip_forward"] == "1"
    assert values["/proc/sys/net/ipv6/conf/all/forwarding"] == "1"

    # network statements (frr.conf via write memory), only the kept VMs
    running = lab.lab_exec(NODE, "vtysh", "-c", "show running-config").stdout
    networks = set(re.findall(r"^\s+network (\S+)", running, re.M))
    for n in KEEP:
        assert fleet["v4"][n] in networks and fleet["v6"][n] in networks, n
    assert not networks & set(fleet["v4"][n] for n in GONE)

    # and the routes on core1, via this node
    wait_core_has(lab, [fleet["v4"][n] for n in KEEP], "ipv4", NODE4, timeout=90)
    wait_core_has(lab, [fleet["v6"][n] for n in KEEP], "ipv6", NODE6, timeout=90)
    assert not core_lacks(lab, [fleet["v4"][n] for n in GONE], "ipv4")
    # the node's reboot left the sessions between the route reflectors and the core alone
    assert_no_reset(others_before, sessions(lab, NOT_VIA_NODE))
    fleet["rebooted"] = True


def test_second_run_after_reboot_changes_nothing(lab, fleet):
    assert fleet.get("rebooted"), "needs test_node_reboot_restores_everything_without_ansible"
    before = sessions(lab)
    res = run_playbook("vm_create.yml", "-e", vms_arg(KEEP), *NIC_ONLY)
    assert res.changed == 0, res
    assert_no_reset(before, sessions(lab))
