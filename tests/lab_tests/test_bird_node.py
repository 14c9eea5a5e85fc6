# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 14: BIRD 2 as a node's BGP speaker (ipfabric_bgp_daemon: bird).

Runs on any lab, in `make test` too: the module's fixture switches node3 to BIRD (tests/lab/lab up with
VMNET_LAB_BIRD rewrites the lab's inventory, then site.yml --limit node3 makes the switch the role
makes) and back to what the lab had at the end. The migration tests need a KVM node that runs BIRD
(node3 is the LXD node): they switch node2 too, and back.

Asserted: a VM on the BIRD node answers inet1 over IPv4 and IPv6 with core1's next hop at node3;
site.yml changes nothing on a second run; `birdc configure` and site.yml keep every session (their
`since` unchanged); a config BIRD rejects leaves the running one; a host route outside the pools, or
on an interface that is no VM's, is learnt but never exported, and so is a prefix in the pools that is
not a host route on a VM interface (IPv4 and IPv6); bird killed with -9 comes back and the VM
answers again; node3 power-cycled (lab reboot) brings the VM back with no Ansible run (interface and
routes restored at boot, announced by the new BIRD, core1 via node3, inet1 over IPv4 and IPv6); a live
migration FRR -> BIRD and BIRD -> FRR under a 10 ms ping loses no more than the FRR -> FRR bound of
test_migration.py (VMNET_MIGRATION_MAX_LOST, 10 replies). Figures go to .build/lab-results/bird.json.
"""
import json
import os
import subprocess
import time

import pytest

import fabric
import reliability_lib as rl
from conftest import REPO, bird_nodes, bird_sessions, run_playbook, wait_established

NODE = "node3"
VM = "birdt"
MIG_VM = "birdm"
UNDERLAY = {"node1": ("172.16.0.11", "fd0c:172:16::11"), "node2": ("172.16.0.12", "fd0c:172:16::12"),
            "node3": ("172.16.0.13", "fd0c:172:16::13")}
MAX_LOST = int(os.environ.get("VMNET_MIGRATION_MAX_LOST", "10"))
CONFIG = "/etc/bird/bird.conf"
RESULTS = {}
RESULTS_FILE = os.path.join(REPO, ".build", "lab-results", "bird.json")


def record(key, value):
    RESULTS[key] = value
    os.makedirs(os.path.dirname(RESULTS_FILE), exist_ok=True)
    with open(RESULTS_FILE, "w") as f:
        json.dump(RESULTS, f, indent=2, sort_keys=True)
    print("{}: {}".format(key, json.dumps(value, sort_keys=True)))


def switch(names, limit):
    """Make ``names`` the lab's BIRD nodes (its inventory), apply it to the nodes in ``limit`` with
    site.yml, wait for every session of the fabric."""
    env = dict(os.environ, VMNET_LAB_BIRD=",".join(sorted(names)))
    subprocess.run([fabric.LAB, "up"], env=env, check=True, stdout=subprocess.DEVNULL)
    assert sorted(bird_nodes()) == sorted(names), "the lab's inventory names {} as BIRD nodes, not {}".format(
        bird_nodes(), sorted(names))
    result = run_playbook("site.yml", "--limit", ",".join(limit))
    down = wait_established(120)
    assert not down, "BGP sessions not Established 120 s after switching {}: {}".format(limit, down)
    return result


@pytest.fixture(scope="module")
def bird(lab, site):
    """node3 runs BIRD for this module; the lab's own choice again at its end."""
    before = bird_nodes()
    switched = NODE not in before
    if switched:
        result = switch(set(before) | {NODE}, [NODE])
        record("switch_frr_to_bird", {"changed": result.recap[NODE]["changed"]})
    assert bird_sessions(NODE), "no BGP protocol in BIRD on {}".format(NODE)
    yield
    if switched:
        switch(set(bird_nodes()) - {NODE}, [NODE])


@pytest.fixture(scope="module")
def vm(bird):
    run_playbook("vm_create.yml", "-e", "vm_name=" + VM, "-e", "node=" + NODE)
    v4, v6 = fabric.vm_addresses(NODE, VM)
    assert v4 and v6, "vm_interface recorded no addresses of {} on {}".format(VM, NODE)
    yield v4, v6
    run_playbook("vm_delete.yml", "-e", "vm_name=" + VM, check=False)


def bird_pid():
    pids = fabric.lab_exec(NODE, "pidof", "bird", check=False).stdout.split()
    return pids[0] if len(pids) == 1 else None


def since():
    return {name: when for name, (dummy, when) in bird_sessions(NODE).items()}


def birdc(*args, host=NODE):
    return fabric.lab_exec(host, "birdc", *args).stdout


def test_vm_on_the_bird_node_is_reachable_via_node3(vm):
    v4, v6 = vm
    assert fabric.wait_reachable(v4), "{} does not answer inet1".format(v4)
    assert fabric.wait_reachable(v6), "{} does not answer inet1".format(v6)
    assert fabric.core_routes("ipv4").get(v4 + "/32") == [UNDERLAY[NODE][0]], fabric.core_routes("ipv4")
    assert fabric.core_routes("ipv6").get(v6 + "/128") in ([UNDERLAY[NODE][1]], [UNDERLAY[NODE][0]]), \
        fabric.core_routes("ipv6")
    # learnt from the kernel and exported with the cluster's community to both route reflectors
    for proto in list(bird_sessions(NODE)):
        out = birdc("show", "route", "export", proto)
        assert (v4 if proto.startswith("rr4") else v6) in out, (proto, out)
    # nothing was added to BIRD's config for the VM: the kernel route is all it needs
    assert VM not in fabric.lab_exec(NODE, "cat", CONFIG).stdout


def test_site_is_idempotent_on_the_bird_node(vm):
    before = since()
    again = run_playbook("site.yml", "--limit", NODE)
    assert again.recap[NODE]["changed"] == 0, again
    assert since() == before, "site.yml reset a session: {} -> {}".format(before, since())


def test_reconfigure_keeps_the_sessions(vm):
    before = since()
    assert len(before) == 4, before
    time.sleep(1.1)         # a reset session would show a later `since` (seconds)
    out = birdc("configure")
    assert "Reconfigured" in out or "Reconfiguration in progress" in out, out
    time.sleep(2)
    after = since()
    record("reconfigure_since", {"before": before, "after": after})
    assert after == before, "birdc configure reset a session"
    assert all(state == "Established" for state, dummy in bird_sessions(NODE).values())


def test_rejected_config_leaves_the_running_one(vm):
    v4, dummy = vm
    config = fabric.lab_exec(NODE, "sha256sum", CONFIG).stdout
    before = since()
    bad = run_playbook("site.yml", "--limit", NODE, "-e",
                       json.dumps({"node_bird_extra_config": ["protocol static vmnet_bad { ipv4; route"]}),
                       check=False)
    assert bad.rc != 0, bad
    failures = "\n".join(bad.failures())
    assert "syntax error" in failures.lower() or "parse" in failures.lower(), bad
    assert fabric.lab_exec(NODE, "sha256sum", CONFIG).stdout == config, "the rejected config was written"
    assert "vmnet_bad" not in birdc("show", "protocols")
    assert since() == before
    assert fabric.ping("inet1", v4), "{} stopped answering".format(v4)


def test_rogue_host_routes_are_not_exported(vm):
    """Host routes BIRD learns from the kernel that are no VM's: one outside the pools on a *_net0
    interface, one inside the pools on another interface. Neither leaves node3."""
    outside, inside = "203.0.113.77", "198.51.100.251"
    cmds = [["ip", "link", "add", "rogue_net0", "type", "veth", "peer", "name", "rogue_p0"],
            ["ip", "link", "add", "rogue0", "type", "veth", "peer", "name", "rogue_p1"]]
    cmds += [["ip", "link", "set", name, "up"] for name in ("rogue_p0", "rogue_p1", "rogue_net0", "rogue0")]
    cmds += [["ip", "route", "add", outside + "/32", "dev", "rogue_net0", "proto", "static"],
             ["ip", "route", "add", inside + "/32", "dev", "rogue0", "proto", "static"]]
    try:
        for cmd in cmds:
            fabric.lab_exec(NODE, *cmd)
        for address in (outside, inside):      # learnt (the filter, not the kernel protocol, drops them)
            fabric.wait_for("BIRD to learn {}".format(address),
                            lambda a=address: a + "/32" in birdc("show", "route", a + "/32"), 30)
        time.sleep(2)
        for proto in [p for p in bird_sessions(NODE) if p.startswith("rr4")]:
            out = birdc("show", "route", "export", proto)
            assert outside not in out and inside not in out, (proto, out)
        for host in ("rr1", "rr2", "core1"):
            table = fabric.vtysh_json(host, "show ip bgp json").get("routes", {})
            assert outside + "/32" not in table and inside + "/32" not in table, (host, sorted(table))
    finally:
        fabric.lab_exec(NODE, "ip", "link", "del", "rogue_net0", check=False)
        fabric.lab_exec(NODE, "ip", "link", "del", "rogue0", check=False)


def test_bird_killed_comes_back_and_the_vm_stays_reachable(vm):
    v4, v6 = vm
    old = bird_pid()
    assert old, "no single bird on {}".format(NODE)
    pings = [fabric.Ping(v4), fabric.Ping(v6)]
    t0 = time.monotonic()
    try:
        fabric.lab_exec(NODE, "kill", "-9", old)
        fabric.wait_for("bird running again on {}".format(NODE), lambda: bird_pid() not in (None, old), 60)
        down = wait_established(120)
        took = time.monotonic() - t0
        assert not down, "sessions not Established 120 s after bird was killed: {}".format(down)
        time.sleep(2)
    finally:
        results = [p.stop() for p in pings]
    lost = {"ipv4": results[0][0] - results[0][1], "ipv6": results[1][0] - results[1][1]}
    record("bird-killed-on-node3", {"sent": [r[0] for r in results], "lost_ipv4": lost["ipv4"],
                                    "lost_ipv6": lost["ipv6"], "recovered_s": round(took, 1)})
    # a restarted BIRD exports once its kernel protocol has scanned the routes again: bounded wait
    fabric.wait_for("core1 to route {} via {} again".format(v4, NODE),
                    lambda: fabric.core_routes("ipv4").get(v4 + "/32") == [UNDERLAY[NODE][0]], 60)
    assert fabric.wait_reachable(v4, timeout=30) and fabric.wait_reachable(v6, timeout=30)
    # The FRR node loses nothing (test_resilience.py: bfdd outlives bgpd, graceful restart keeps the routes).
    # BIRD's BFD dies with it, so the route reflectors drop the node's routes at once and the VM is
    # unreachable until systemd has started BIRD again and its sessions are up (docs/architecture.md):
    # asserted is that it recovers by itself, and that the replies came back before the ping ended.
    assert lost["ipv4"] < results[0][0] and lost["ipv6"] < results[1][0], lost
    assert fabric.ping("inet1", v4, count=20, interval="0.05") and fabric.ping("inet1", v6, count=20, interval="0.05")


def test_rogue_prefixes_are_not_exported(vm):
    """Routes in node3's kernel that BIRD's kernel protocol learns (proto static, like a VM's) but that
    are no VM's host route: prefixes inside the pools that are not host routes, on a VM interface
    (*_net0), IPv4 and IPv6; an IPv6 host route outside the pools on a VM interface; an IPv6 host route
    inside the pools on another interface. The export filter drops each: neither rr1, rr2 nor core1
    ever has them. A real-looking host route on the same interface, added last, is the control: once
    core1 has it, BIRD has exported what it learnt with it."""
    rogue4 = ["198.51.100.128/25"]
    rogue6 = ["2001:db8:100::/120", "2001:db8:999::77/128"]
    control = ["198.51.100.249/32", "2001:db8:100::1:fffe/128"]
    cmds = [["ip", "link", "add", "rogpfx_net0", "type", "veth", "peer", "name", "rogpfx_p0"],
            ["ip", "link", "add", "rogpfx", "type", "veth", "peer", "name", "rogpfx_p1"]]
    cmds += [["ip", "link", "set", name, "up"] for name in ("rogpfx_p0", "rogpfx_p1", "rogpfx_net0", "rogpfx")]
    cmds += [["ip", "route", "add", prefix, "dev", "rogpfx_net0", "proto", "static"] for prefix in rogue4 + rogue6]
    cmds += [["ip", "-6", "route", "add", "2001:db8:100::1:fffd/128", "dev", "rogpfx", "proto", "static"]]
    rogue6.append("2001:db8:100::1:fffd/128")
    cmds += [["ip", "route", "add", prefix, "dev", "rogpfx_net0", "proto", "static"] for prefix in control]
    try:
        for cmd in cmds:
            fabric.lab_exec(NODE, *cmd)
        for prefix in rogue4 + rogue6:      # learnt (the filter, not the kernel protocol, drops them)
            fabric.wait_for("BIRD on {} to learn {}".format(NODE, prefix),
                            lambda p=prefix: p in birdc("show", "route", "for", p.split("/")[0]), 60)
        fabric.wait_for("core1 to have the control routes {} via {}".format(control, NODE), lambda: (
            fabric.core_routes("ipv4").get(control[0]) == [UNDERLAY[NODE][0]]
            and fabric.core_routes("ipv6").get(control[1]) in ([UNDERLAY[NODE][1]], [UNDERLAY[NODE][0]])), 90)
        for proto in bird_sessions(NODE):
            out = birdc("show", "route", "export", proto)
            leaked = [p for p in rogue4 + rogue6 if p in out]
            assert not leaked, "BIRD's export filter let {} out to {}:\n{}".format(leaked, proto, out)
        for host in ("rr1", "rr2", "core1"):
            seen = [p for p in rogue4 if p in rl.rib_prefixes(host, "ipv4")]
            seen += [p for p in rogue6 if p in rl.rib_prefixes(host, "ipv6")]
            assert not seen, "{} has {} from {}".format(host, seen, NODE)
        print("rogue prefixes {} learnt by BIRD on {}, exported to none of rr1, rr2, core1 (control {} on core1)".format(
            rogue4 + rogue6, NODE, control))
    finally:
        fabric.lab_exec(NODE, "ip", "link", "del", "rogpfx_net0", check=False)
        fabric.lab_exec(NODE, "ip", "link", "del", "rogpfx", check=False)
    fabric.wait_for("core1 to drop the control routes", lambda: not (
        set(control) & (set(fabric.core_routes("ipv4")) | set(fabric.core_routes("ipv6")))), 60)


def test_bird_node_reboot_restores_the_vm(vm):
    """node3 power-cycled (tests/lab/lab reboot: every link and route of its kernel lost), no Ansible run:
    the restore unit brings the VM's interface back, the presence agent its routes once the LXD
    container is up again, BIRD (a new process) learns them from the kernel and announces them, core1
    routes them via node3 and inet1 reaches the VM over IPv4 and IPv6; every wait bounded."""
    v4, v6 = vm
    assert fabric.wait_reachable(v4) and fabric.wait_reachable(v6), "{} does not answer before the reboot".format(VM)
    old_since = since()
    t0 = time.monotonic()
    reboot = subprocess.run([fabric.LAB, "reboot", NODE], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, timeout=300, check=False)
    assert reboot.returncode == 0, reboot.stdout
    booted = time.monotonic() - t0
    fabric.wait_for("the restore unit on {}".format(NODE), lambda: fabric.lab_exec(
        NODE, "systemctl", "is-active", "vmnet-ipfabric-restore", check=False).stdout.strip() in ("active", "failed"), 120, 1)
    status = fabric.lab_exec(NODE, "systemctl", "is-active", "vmnet-ipfabric-restore", check=False).stdout.strip()
    assert status == "active", fabric.lab_exec(NODE, "journalctl", "-b", "-u", "vmnet-ipfabric-restore", "--no-pager",
                                               check=False).stdout[-3000:]
    # BIRD running again with every session up, each Established after the reboot (a later `since`)
    fabric.wait_for("bird running on {} after the reboot".format(NODE), bird_pid, 120)
    fabric.wait_for("BIRD's 4 sessions on {} Established".format(NODE), lambda: len(bird_sessions(NODE)) == 4 and all(
        state == "Established" for state, dummy in bird_sessions(NODE).values()), 180)
    sessions_s = time.monotonic() - t0
    assert all(since()[name] != old_since.get(name) for name in since()), (old_since, since())
    # the interface (restored at boot) and the VM's /32 and /128 on it (the presence agent, once LXD has
    # started the container again)
    ifname = fabric.wait_for("{}'s interface on {}".format(VM, NODE), lambda: fabric.vm_interface(NODE, VM), 120)

    def routed():
        out4 = fabric.lab_exec(NODE, "ip", "-4", "route", "show", "dev", ifname, check=False).stdout
        out6 = fabric.lab_exec(NODE, "ip", "-6", "route", "show", "dev", ifname, check=False).stdout
        return (v4 + " " in out4 or v4 + "/32" in out4) and (v6 + " " in out6 or v6 + "/128" in out6)
    fabric.wait_for("{} and {} routed to {} on {}".format(v4, v6, ifname, NODE), routed, 180)
    # announced by the new BIRD and routed by core1 via node3
    fabric.wait_for("core1 to route {} and {} via {}".format(v4, v6, NODE), lambda: (
        fabric.core_routes("ipv4").get(v4 + "/32") == [UNDERLAY[NODE][0]]
        and fabric.core_routes("ipv6").get(v6 + "/128") in ([UNDERLAY[NODE][1]], [UNDERLAY[NODE][0]])), 180)
    routes_s = time.monotonic() - t0
    assert fabric.wait_reachable(v4, timeout=180), "{} does not answer inet1 after {}'s reboot".format(v4, NODE)
    assert fabric.wait_reachable(v6, timeout=180), "{} does not answer inet1 after {}'s reboot".format(v6, NODE)
    reachable_s = time.monotonic() - t0
    for proto in bird_sessions(NODE):
        out = birdc("show", "route", "export", proto)
        assert (v4 if proto.startswith("rr4") else v6) in out, (proto, out)
    record("bird-node-reboot", {"lab_reboot_s": round(booted, 1), "sessions_up_s": round(sessions_s, 1),
                                "core1_routes_s": round(routes_s, 1), "reachable_s": round(reachable_s, 1)})


# --- migration between an FRR node and a BIRD node (node2 switched to BIRD: node3 is the LXD node) ---

def migrate(v4, target):
    ping = fabric.Ping(v4)
    t0 = time.monotonic()
    run_playbook("vm_migrate.yml", "-e", "vm_name=" + MIG_VM, "-e", "node=" + target)
    seconds = time.monotonic() - t0
    sent, received = ping.stop()
    return {"lost": sent - received, "sent": sent, "playbook_s": round(seconds, 1)}


FRR_BASELINE = {}


@pytest.fixture(scope="module")
def bird_kvm(bird):
    """A guest on node1; FRR -> FRR there and back first (the baseline, on this machine, now), then
    node2 runs BIRD."""
    before = bird_nodes()
    run_playbook("vm_create.yml", "-e", "vm_name=" + MIG_VM, "-e", "node=node1")
    v4, v6 = fabric.vm_addresses("node1", MIG_VM)
    assert fabric.wait_reachable(v4) and fabric.wait_reachable(v6)
    switched = "node2" not in before
    if switched:
        for source, target in (("node1", "node2"), ("node2", "node1")):
            FRR_BASELINE["{}->{}".format(source, target)] = migrate(v4, target)
        record("migration frr->frr (baseline)", FRR_BASELINE)
        switch(set(before) | {"node2"}, ["node2"])
    yield v4, v6
    run_playbook("vm_delete.yml", "-e", "vm_name=" + MIG_VM, check=False)
    if switched:
        switch(set(bird_nodes()) - {"node2"}, ["node2"])


@pytest.mark.parametrize("source, target", [("node1", "node2"), ("node2", "node1")],
                         ids=["frr-to-bird", "bird-to-frr"])
def test_live_migration_between_frr_and_bird(bird_kvm, source, target):
    v4, v6 = bird_kvm
    assert fabric.core_routes("ipv4").get(v4 + "/32") == [UNDERLAY[source][0]]
    row = migrate(v4, target)
    row["frr_to_frr_lost"] = [b["lost"] for b in FRR_BASELINE.values()]
    record("migration {}({})->{}({})".format(source, "frr" if source == "node1" else "bird", target,
                                             "frr" if target == "node1" else "bird"), row)
    # no worse than FRR -> FRR: its bound (test_migration.py), plus what FRR itself lost here just now
    # (under load the source's presence agent takes longer from libvirt's suspend to the route's removal)
    bound = MAX_LOST + max(row["frr_to_frr_lost"] or [0])
    assert row["lost"] <= bound, "lost {} of {} (FRR -> FRR here: {}; bound {})".format(
        row["lost"], row["sent"], row["frr_to_frr_lost"], bound)
    assert fabric.core_routes("ipv4").get(v4 + "/32") == [UNDERLAY[target][0]]
    assert fabric.core_routes("ipv6").get(v6 + "/128") in ([UNDERLAY[target][1]], [UNDERLAY[target][0]])
    assert fabric.domstate(target, MIG_VM) == "running" and fabric.domstate(source, MIG_VM) is None
    assert fabric.vm_interface(source, MIG_VM) is None
    if target == "node2":   # BIRD: announced from the kernel route, with the normal preference again
        out = birdc("show", "route", "export", "rr4_172_16_0_2", "all", host="node2")
        assert v4 in out and "BGP.local_pref: 50" not in out, out
    again = run_playbook("vm_migrate.yml", "-e", "vm_name=" + MIG_VM, "-e", "node=" + target)
    assert again.changed == 0, again


def test_metrics_agent_reads_bird(vm):
    """Issue 15.4 on the BIRD node: the metrics agent the node role installs there reads birdc, and
    node_exporter serves its sessions, what it exports to each route reflector and its VMs."""
    from test_metrics import newer_scrapes, one     # the scraping of test_metrics.py (management network only)
    fams = newer_scrapes(time.time(), hosts=(NODE,))[NODE]
    assert one(fams, "vmnet_ipfabric_bgp_up") == 1
    assert "vmnet_ipfabric_metrics_errors" not in fams, fams.get("vmnet_ipfabric_metrics_errors")
    protocols = bird_sessions(NODE)
    exported = {}
    for name in protocols:
        out = fabric.lab_exec(NODE, "birdc", "show", "route", "export", name, "count").stdout
        counts = [line.split()[0] for line in out.splitlines() if "routes for" in line]
        exported[name] = int(counts[0]) if counts else None
    sessions = {(lab["afi"], lab["peer"]): v for lab, v in fams["vmnet_ipfabric_bgp_session_up"]}
    rrs = {("ipv4", "172.16.0.2"), ("ipv4", "172.16.0.3"), ("ipv6", "fd0c:172:16::2"), ("ipv6", "fd0c:172:16::3")}
    assert set(sessions) == rrs and set(sessions.values()) == {1}, (sessions, protocols)
    for afi, peer in rrs:
        name = "rr{}_{}".format(afi[-1], peer.replace(".", "_").replace(":", "_"))
        assert protocols[name][0] == "Established", protocols
        assert one(fams, "vmnet_ipfabric_bgp_session_prefixes_announced", afi=afi, peer=peer) == exported[name], \
            (name, exported)
        assert exported[name] >= 1, (name, exported)       # the VM's /32 or /128 at least
    # BIRD counts no session drops: the agent exports none rather than a made-up 0
    assert "vmnet_ipfabric_bgp_session_drops_total" not in fams
    state = json.loads(fabric.lab_exec(NODE, "cat", "/var/lib/vmnet-ipfabric/vm_interfaces.json").stdout)["vms"]
    assert VM in state
    assert one(fams, "vmnet_ipfabric_vms", state="configured") == len(state), state
    assert one(fams, "vmnet_ipfabric_vms", state="routed") >= 1
