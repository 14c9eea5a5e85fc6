# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Growth without resets, and a rogue node's flood (issue 12.4), against the lab's real FRR.

- Growing a pool raises the route reflectors' and the core's maximum-prefix (the size of the pools'
  cover) with no session reset: every session on rr1, rr2 and core1 keeps its established time.
- A node that floods /32s inside the pool past ``ipfabric_node_max_prefix`` loses its own session on
  both route reflectors and nothing else: every other session stays up, another node's VM answers a
  10 ms ping from inet1 throughout (0 lost), and when the flood stops the session comes back by itself
  (``maximum-prefix ... restart 1``: FRR 8.4 keeps such a session down until a timer or a clear).

The flood is announced over BGP only, from blackhole routes on node1, for addresses at the top of the
lab's pool that nothing holds; no packet is sent to them. Every wait is bounded and says what it
waited for; the figures go to .build/lab-results/resilience.json (docs/reliability.md).
"""
import json
import re
import time

import pytest

import fabric
from conftest import run_playbook, wait_established
from test_resilience import create, delete, record, vm_prefixes, core_via

NODE1 = "172.16.0.11"
NODE1_ADDRESSES = (NODE1, "fd0c:172:16::11")
GROWN_POOLS = [{"name": "public", "ipv4": ["198.51.100.0/24", "198.51.101.0/24"], "ipv6": ["2001:db8:100::/64"],
                "exclude": ["198.51.100.0", "198.51.100.255"]}]
RESTART_WITHIN = 150    # seconds: FRR's restart timer is 1 minute, then a connect retry


def sessions(host):
    """{peer: (state, connections established, connections dropped)} of a host's BGP sessions: a reset,
    however quick, shows as one more connection dropped."""
    data = fabric.vtysh_json(host, "show bgp neighbors json")
    return {peer: (info.get("bgpState"), info.get("connectionsEstablished"), info.get("connectionsDropped"))
            for peer, info in data.items() if isinstance(info, dict) and "bgpState" in info}


def resets(before, after, skip=()):
    """Sessions that are not up any more or were reset between two ``sessions()``."""
    return {peer: (before[peer], after.get(peer)) for peer in before
            if peer not in skip and (after.get(peer) != before[peer] or before[peer][0] != "Established")}


def maximum_prefix(host):
    """The maximum-prefix lines of a host's running configuration."""
    text = fabric.lab_exec(host, "vtysh", "-c", "show running-config").stdout
    return sorted(set(line.strip() for line in text.splitlines() if "maximum-prefix" in line))


def vtysh_conf(host, *lines):
    args = ["vtysh", "-c", "configure terminal"]
    for line in lines:
        args += ["-c", line]
    fabric.lab_exec(host, *args)


def flood(prefixes):
    vtysh_conf("node1", *(["ip route {} blackhole".format(p) for p in prefixes]
                          + ["router bgp 65000", "address-family ipv4 unicast"]
                          + ["network {}".format(p) for p in prefixes]))


def stop_flood(prefixes):
    vtysh_conf("node1", *(["router bgp 65000", "address-family ipv4 unicast"]
                          + ["no network {}".format(p) for p in prefixes] + ["exit-address-family", "exit"]
                          + ["no ip route {} blackhole".format(p) for p in prefixes]))


def received_from(rr, node_addresses):
    """The most prefixes ``rr`` holds from one of the node's sessions, in either family."""
    counts = [0]
    for family in ("ipv4", "ipv6"):
        data = fabric.vtysh_json(rr, "show bgp {} unicast summary json".format(family))
        counts += [int(data.get("peers", {}).get(peer, {}).get("pfxRcd", 0)) for peer in node_addresses]
    return max(counts)


def reset_reason(rr, peer):
    """The NOTIFICATION ``rr`` last sent ``peer``: (code and subcode, FRR's words)."""
    data = fabric.vtysh_json(rr, "show bgp neighbors {} json".format(peer)).get(peer, {})
    return data.get("lastErrorCodeSubcode"), data.get("lastNotificationReason")


def settled():
    down = wait_established(120)
    assert not down, "BGP sessions not Established: {}".format(down)
    return {h: sessions(h) for h in ("rr1", "rr2", "core1")}


def test_growing_a_pool_raises_maximum_prefix_without_a_reset(site):
    before = settled()
    limits = {h: maximum_prefix(h) for h in before}
    assert all(any(" 254 " in line or line.endswith(" 254") for line in v) for v in limits.values()), limits
    try:
        grown = run_playbook("site.yml", "--limit", "route_reflectors:core_gateways",
                             "-e", json.dumps({"ipfabric_pools": GROWN_POOLS}))
        assert grown.changed > 0, grown
        raised = {h: maximum_prefix(h) for h in before}
        for host, lines in raised.items():
            assert any(re.search(r"maximum-prefix 510\b", line) for line in lines), (host, lines)
        time.sleep(2)   # a reset would show here: FRR re-establishes within a second or two
        after = {h: sessions(h) for h in before}
        for host in before:
            reset = resets(before[host], after[host])
            assert not reset, "raising maximum-prefix reset sessions on {}: {}".format(host, reset)
    finally:
        back = run_playbook("site.yml", "--limit", "route_reflectors:core_gateways", check=False)
    assert back.rc == 0, back
    assert {h: maximum_prefix(h) for h in before} == limits
    after = {h: sessions(h) for h in before}
    for host in before:
        reset = resets(before[host], after[host])
        assert not reset, "lowering maximum-prefix again reset sessions on {}: {}".format(host, reset)


@pytest.fixture()
def victims(site):
    """A VM on node1 (the rogue node; its NIC only) and a real one on node3 that inet1 pings."""
    create(["mp-rogue"], "node1", lab_vms="nic")
    create(["mp-other"], "node3", lab_vms="guest")
    yield vm_prefixes("node1", ["mp-rogue"]), vm_prefixes("node3", ["mp-other"])
    delete(["mp-rogue", "mp-other"])


def test_a_flooding_node_loses_only_its_own_session_and_comes_back(victims):
    rogue_vm, other_vm = victims
    (other_v4, other_v6), = other_vm.values()
    fabric.wait_for("core1 to route mp-rogue via node1 and mp-other via node3",
                    lambda: core_via(rogue_vm, "node1") and core_via(other_vm, "node3"), 60)
    held = max(received_from(rr, NODE1_ADDRESSES) for rr in ("rr1", "rr2"))
    limit = held + 10
    routed = set(fabric.core_routes("ipv4"))
    rogue = ["198.51.100.{}/32".format(i) for i in range(254, 0, -1) if "198.51.100.{}/32".format(i) not in routed]
    rogue = rogue[:limit + 10]
    assert len(rogue) == limit + 10, "the lab's pool has no {} free addresses at its top".format(limit + 10)

    lowered = run_playbook("site.yml", "--limit", "route_reflectors", "-e", "ipfabric_node_max_prefix={}".format(limit))
    assert lowered.changed > 0, lowered
    before = settled()
    ping4, ping6 = fabric.Ping(other_v4), fabric.Ping(other_v6)
    flooding = True
    try:
        t0 = time.monotonic()
        flood(rogue)
        for rr in ("rr1", "rr2"):
            fabric.wait_for("{} to tear down node1's IPv4 session (more than {} prefixes)".format(rr, limit),
                            lambda rr=rr: sessions(rr)[NODE1][0] != "Established", 60)
            reason = reset_reason(rr, NODE1)
            # Cease (6), Maximum Number of Prefixes Reached (1): RFC 4486
            assert reason[0] == "0601", "{} reset node1 for another reason: {!r}".format(rr, reason)
        dropped = time.monotonic() - t0
        time.sleep(2)
        # nobody else lost anything: every other session on the RRs and the core kept its established time
        now = {h: sessions(h) for h in before}
        for host in before:
            other = resets(before[host], now[host], skip=NODE1_ADDRESSES)
            assert not other, "node1's flood reset other sessions on {}: {}".format(host, other)
        assert core_via(other_vm, "node3"), "core1 lost mp-other (node3) during node1's flood"
        assert not any(p in fabric.core_routes("ipv4") for p in rogue), "core1 holds a flooded prefix"
        r4 = fabric.core_routes("ipv4")
        assert list(rogue_vm.values())[0][0] + "/32" not in r4, "node1's IPv4 routes outlived its session"

        stop_flood(rogue)
        flooding = False
        t1 = time.monotonic()
        for rr in ("rr1", "rr2"):
            fabric.wait_for("{} to bring node1's session back by itself after the flood".format(rr),
                            lambda rr=rr: sessions(rr)[NODE1][0] == "Established", RESTART_WITHIN, 1)
        back = time.monotonic() - t1
        fabric.wait_for("core1 to route mp-rogue via node1 again", lambda: core_via(rogue_vm, "node1"), 60)
    finally:
        if flooding:
            stop_flood(rogue)
        ping4.stop()
        ping6.stop()
        restored = run_playbook("site.yml", "--limit", "route_reflectors", check=False)
    assert restored.rc == 0, restored
    assert ping4.lost == 0 and ping6.lost == 0, \
        "mp-other (node3) lost {} of {} IPv4 and {} of {} IPv6 replies during node1's flood".format(
            ping4.lost, ping4.sent, ping6.lost, ping6.sent)
    record("max_prefix_flood", {"limit": limit, "flooded": len(rogue), "session_down_s": round(dropped, 2),
                                "back_after_flood_s": round(back, 1), "other_vm_lost": [ping4.lost, ping6.lost],
                                "other_vm_sent": [ping4.sent, ping6.sent]})
    print("node1 flooded {} /32s past a limit of {}: its sessions down after {:.2f} s, back {:.1f} s after the "
          "flood stopped; mp-other lost {} of {} (IPv4), {} of {} (IPv6)".format(
              len(rogue), limit, dropped, back, ping4.lost, ping4.sent, ping6.lost, ping6.sent))
