# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security in the lab (issue 7): rogue announcements and where each filter drops them, a node
announcing another node's VM, MD5 on every session (a wrong key stays down), no secret in any output.

Rogue prefixes (0.0.0.0/0, 198.51.100.0/24, 192.0.2.99/32) are only announced over BGP inside the lab,
from blackhole routes; no packet is ever sent to them. Every host's FRR running config is compared with
the one before the test when it ends.
"""
import json
import re
import time

import pytest

import fabric
import reliability_lib as rl
from conftest import run_playbook

ROGUE = ["0.0.0.0/0", "198.51.100.0/24", "192.0.2.99/32"]
SECRET = "Rel8-s3cret-Md5"


def vtysh_conf(host, *lines):
    args = ["vtysh", "-c", "configure terminal"]
    for line in lines:
        args += ["-c", line]
    fabric.lab_exec(host, *args)


def advertised(host, peer):
    data = fabric.vtysh_json(host, "show bgp ipv4 unicast neighbors {} advertised-routes json".format(peer))
    return set(data.get("advertisedRoutes", {}))


def table(host):
    return set(rl.rib_prefixes(host, "ipv4"))


def running(host):
    return rl.host_snapshot(host)["frr"]


def originate(host, prefixes):
    lines = ["ip route {} blackhole".format(p) for p in prefixes] + ["router bgp 65000", "address-family ipv4 unicast"]
    vtysh_conf(host, *(lines + ["network {}".format(p) for p in prefixes]))


def withdraw(host, prefixes):
    vtysh_conf(host, *(["router bgp 65000", "address-family ipv4 unicast"] + ["no network {}".format(p) for p in prefixes]
                       + ["exit-address-family", "exit"] + ["no ip route {} blackhole".format(p) for p in prefixes]))


def test_rogue_announcements_dropped_at_each_filter(site):
    before = {h: running(h) for h in ("node1", "rr1", "rr2", "core1")}
    try:
        # 1. node1 originates them: they are in its own table, its route-map IPV4_EXPORT keeps them in
        originate("node1", ROGUE)
        rl.wait_for(lambda: set(ROGUE) <= table("node1"), 30, 1, "node1 to originate the rogue prefixes")
        time.sleep(3)
        for rr in ("172.16.0.2", "172.16.0.3"):
            assert not set(ROGUE) & advertised("node1", rr), "node1's export route-map let a rogue prefix out"
        # 2. a compromised node1 without its export filter: they leave node1, the RRs' import drops them
        vtysh_conf("node1", "router bgp 65000", "address-family ipv4 unicast", "no neighbor RR route-map IPV4_EXPORT out")
        rl.wait_for(lambda: set(ROGUE) <= advertised("node1", "172.16.0.2") and set(ROGUE) <= advertised(
            "node1", "172.16.0.3"), 30, 1, "node1 to send the rogue prefixes")
        time.sleep(3)
        for rr in ("rr1", "rr2"):
            assert not set(ROGUE) & table(rr), rr + " accepted a rogue prefix from node1"
        assert not set(ROGUE) & table("core1")
        # 3. rr1 originates them itself: its export route-map to the core drops them
        originate("rr1", ROGUE)
        rl.wait_for(lambda: set(ROGUE) <= table("rr1"), 30, 1, "rr1 to originate the rogue prefixes")
        time.sleep(3)
        assert not set(ROGUE) & advertised("rr1", "172.16.0.1"), "rr1's export route-map let a rogue prefix out"
        # 4. a compromised rr1 without its export filter: they reach core1, whose import policy drops them
        vtysh_conf("rr1", "router bgp 65000", "address-family ipv4 unicast",
                   "no neighbor core route-map IPV4_CORE_EXPORT out")
        rl.wait_for(lambda: set(ROGUE) <= advertised("rr1", "172.16.0.1"), 30, 1, "rr1 to send the rogue prefixes")
        time.sleep(3)
        assert not set(ROGUE) & table("core1"), "core1 accepted a rogue prefix from rr1"
        assert not set(ROGUE) & set(fabric.core_routes("ipv4"))
        print("rogue prefixes %s: dropped by node1's export route-map; without it by rr1/rr2's import "
              "route-map; from rr1 by its export route-map; without it by core1's import policy" % ROGUE)
    finally:
        withdraw("node1", ROGUE)
        vtysh_conf("node1", "router bgp 65000", "address-family ipv4 unicast", "neighbor RR route-map IPV4_EXPORT out")
        withdraw("rr1", ROGUE)
        vtysh_conf("rr1", "router bgp 65000", "address-family ipv4 unicast",
                   "neighbor core route-map IPV4_CORE_EXPORT out")
    after = {h: running(h) for h in before}
    assert after == before, "the test did not restore the configuration"


def test_node_announcing_a_vm_it_does_not_host_is_flagged(site, tmp_path):
    if not __import__("os").path.exists(rl.REPO + "/playbooks/verify.yml"):
        pytest.skip("playbooks/verify.yml does not exist yet")
    run_playbook("vm_create.yml", "-e", json.dumps({"vms": [{"name": "rel-h0", "node": "node2"}],
                                                   "lab_vms": "nic"}))
    addr = rl.held()["rel-h0"]["ipv4"] + "/32"
    try:
        originate("node3", [addr])
        rl.wait_for(lambda: addr in table("rr1"), 30, 1, "the hijack to reach rr1")
        t0 = time.monotonic()
        res = run_playbook("verify.yml", "-e", "verify_report_dir=" + str(tmp_path), check=False)
        took = time.monotonic() - t0
        assert res.rc != 0, res
        findings = json.loads((tmp_path / "findings.json").read_text())
        text = json.dumps(findings)
        assert addr.split("/")[0] in text and "node3" in text, text[:3000]
        print("hijack of %s by node3: verify.yml failed in %.0f s, findings name it" % (addr, took))
    finally:
        withdraw("node3", [addr])
        run_playbook("vm_delete.yml", "-e", "vm_name=rel-h0", check=False)


def _established(host, family="ipv4"):
    return {p: s == "Established" for p, s in rl.bgp_peers(host, family).items()}


def _all_up():
    return all(all(_established(rr, fam).values()) and len(_established(rr, fam)) == 4
               for rr in ("rr1", "rr2") for fam in ("ipv4", "ipv6"))


def _grep_hosts(secret):
    hits = {}
    for host in rl.HOSTS:
        res = fabric.lab_exec(host, "sh", "-c", "grep -rlF -- \"$1\" /var/log 2>/dev/null; "
                              "journalctl --no-pager -q 2>/dev/null | grep -cF -- \"$1\"", "sh", secret, check=False)
        lines = res.stdout.split()
        if lines and (lines[:-1] or lines[-1] != "0"):
            hits[host] = lines
    return hits


def test_md5_on_every_session_wrong_key_stays_down_no_secret_leaks(site):
    try:
        res = run_playbook("site.yml", "-e", "ipfabric_bgp_password=" + SECRET, "--diff", "-v")
        assert SECRET not in res.output, "the BGP password appears in the playbook output (--diff -v)"
        rl.wait_for(_all_up, 90, 2, "every session Established with MD5")
        for host in rl.HOSTS:
            conf = running(host)
            groups = {m.group(1) for line in conf for m in [re.match(r"\s*neighbor (\S+) remote-as ", line)] if m}
            with_pw = {m.group(1) for line in conf for m in [re.match(r"\s*neighbor (\S+) password (\S+)", line)]
                       if m and m.group(2) == SECRET}
            assert groups and groups <= with_pw, "{}: sessions without the password: {}".format(host, groups - with_pw)
        # a wrong key on node3 only: its sessions go down and stay down, the others stay up
        vtysh_conf("node3", "router bgp 65000", "neighbor RR password wrong-key", "neighbor RR6 password wrong-key")
        t_end = time.monotonic() + 25
        time.sleep(5)
        while time.monotonic() < t_end:
            for rr in ("rr1", "rr2"):
                up = _established(rr)
                assert up.get("172.16.0.13") is False, "node3's session is up with a wrong key"
                assert up.get("172.16.0.11") and up.get("172.16.0.12") and up.get("172.16.0.1"), up
            time.sleep(2)
        vtysh_conf("node3", "router bgp 65000", "neighbor RR password " + SECRET, "neighbor RR6 password " + SECRET)
        rl.wait_for(_all_up, 90, 2, "node3's sessions back with the right key")
        assert _grep_hosts(SECRET) == {}, "the BGP password is in a log on a host"
    finally:
        res = run_playbook("site.yml", "--diff", "-v", check=False)   # back to no password
    assert res.rc == 0, res
    assert SECRET not in res.output, "removing the password showed it (diff)"
    rl.wait_for(_all_up, 90, 2, "every session Established again without MD5")
