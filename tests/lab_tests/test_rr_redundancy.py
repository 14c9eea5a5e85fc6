# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 5, route_reflector: both RRs configured alike; losing either RR loses no VM route on the core.

FRR is stopped on rr1 (then rr2) while VMs run on all three nodes: core1 must keep every VM's /32
and /128, pointing at the VM's node, the whole time (polled), and inet1 must still reach every VM.
When FRR starts again its sessions come back and core1 learns each route from both RRs again.
"""
import json
import re
import time

from conftest import run_playbook

VMS = {"rrvm1": "node1", "rrvm2": "node2", "rrvm3": "node3"}
RRS = {"rr1": ("172.16.0.2", "fd0c:172:16::2"), "rr2": ("172.16.0.3", "fd0c:172:16::3")}
OUTAGE_POLL = 12          # seconds of polling core1 while an RR is down
RECOVERY_TIMEOUT = 60     # seconds for the sessions of a restarted RR to be Established again


def states(lab, host):
    """{peer: state} of every IPv4 and IPv6 unicast session of HOST."""
    try:
        out = lab.vtysh_json(host, "show bgp summary json")
    except (RuntimeError, ValueError):       # FRR (re)starting: vtysh cannot answer yet
        return {}
    peers = {}
    for af in ("ipv4Unicast", "ipv6Unicast"):
        peers.update({p: v.get("state") for p, v in out.get(af, {}).get("peers", {}).items()})
    return peers


def wait_for(what, pred, timeout):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last is True:
            return
        time.sleep(1)
    raise AssertionError("timed out after {} s waiting for {}: {}".format(timeout, what, last))


def expected_routes(lab):
    """{'ipv4': {prefix: [next hop]}, 'ipv6': {...}} core1 must always have."""
    want = {"ipv4": {}, "ipv6": {}}
    for vm, node in VMS.items():
        v4, v6 = lab.vm_addresses(node, vm)
        want["ipv4"][v4 + "/32"] = [lab.NODES[node]]
        want["ipv6"][v6 + "/128"] = ["fd0c:172:16::" + lab.NODES[node].rsplit(".", 1)[1]]
    return want


def missing_routes(lab, want):
    """The VM routes core1 lacks or routes elsewhere, as {prefix: (wanted, got)}."""
    bad = {}
    for fam, routes in want.items():
        have = lab.core_routes(fam)
        for prefix, nexthops in routes.items():
            if have.get(prefix) != nexthops:
                bad[prefix] = (nexthops, have.get(prefix))
    return bad


def rr_shape(lab, rr):
    """rr's running config with what must differ between the RRs (hostname, own addresses) masked."""
    own4, own6 = RRS[rr]
    out = lab.lab_exec(rr, "vtysh", "-c", "show running-config").stdout
    lines = []
    for line in out.splitlines():
        if line.startswith(("Building configuration", "Current configuration", "hostname ")):
            continue
        if not line.strip().startswith("bgp cluster-id"):
            line = re.sub(r"(?<![\w:.])({}|{})(?![\w:.])".format(re.escape(own4), re.escape(own6)), "SELF", line)
        lines.append(line)
    return lines


def test_rrs_are_configured_alike(lab, site):
    rr1, rr2 = rr_shape(lab, "rr1"), rr_shape(lab, "rr2")
    assert rr1 == rr2
    assert " bgp cluster-id 172.16.0.2" in rr1          # one cluster-id for the pair
    assert " bgp router-id SELF" in rr1


def test_losing_either_rr_loses_no_vm_route(lab, site):
    run_playbook("vm_create.yml", "-e", json.dumps({"vms": [{"name": vm, "node": node} for vm, node in VMS.items()]}))
    want = expected_routes(lab)
    wait_for("every VM route on core1", lambda: not missing_routes(lab, want) or missing_routes(lab, want), 30)
    addresses = [p.split("/")[0] for fam in want.values() for p in fam]
    for address in addresses:                               # the KVM guests boot first
        assert lab.wait_reachable(address), address
    try:
        for rr, (rr4, rr6) in RRS.items():
            lab.lab_exec(rr, "systemctl", "stop", "frr")
            # core1 notices: its sessions to that RR go down (FRR sends a Cease on stop)
            wait_for("core1's sessions to {} to go down".format(rr),
                     lambda: all(states(lab, "core1").get(a) != "Established" for a in (rr4, rr6))
                     or states(lab, "core1"), 20)
            deadline = time.time() + OUTAGE_POLL
            while time.time() < deadline:                  # during the outage, over and over
                assert not missing_routes(lab, want), (rr, "down", missing_routes(lab, want))
                time.sleep(1)
            for address in addresses:
                assert lab.ping("inet1", address), (rr, "down", address)

            lab.lab_exec(rr, "systemctl", "start", "frr")
            wait_for("{}'s sessions to be Established again".format(rr),
                     lambda: (all(s == "Established" for s in states(lab, rr).values())
                              and len(states(lab, rr)) == 8
                              and all(states(lab, "core1").get(a) == "Established" for a in (rr4, rr6)))
                     or (states(lab, rr), states(lab, "core1")), RECOVERY_TIMEOUT)
            assert not missing_routes(lab, want), (rr, "back", missing_routes(lab, want))
            # learned through both route reflectors again
            for prefix in want["ipv4"]:
                wait_for("{} from both RRs".format(prefix),
                         lambda: {p.get("peer", {}).get("peerId") for p in lab.vtysh_json(
                             "core1", "show bgp ipv4 unicast {} json".format(prefix)).get("paths", [])}
                         == {"172.16.0.2", "172.16.0.3"} or prefix, 30)
    finally:
        for rr in RRS:
            lab.lab_exec(rr, "systemctl", "start", "frr", check=False)
        run_playbook("vm_delete.yml", "-e", json.dumps({"vms": [{"name": vm} for vm in VMS]}), check=False)
