# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 15.4 in the real lab: the metrics agent that site.yml installs (role frr) writes the fabric's state
for Debian's prometheus-node-exporter, whose textfile collector serves it; this test scrapes the real
exporter of every FRR host over the lab's management network (its 198.18.N.0/24 addresses only, checked
before any connection) and holds each value to the fabric as the hosts themselves tell it: vtysh's
sessions and prefix counts, the node's desired state and kernel routes, verify's verdict and findings."""
import ipaddress
import json
import os
import time
import urllib.request

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from conftest import INVENTORY, run_playbook

FRR_HOSTS = ("core1", "rr1", "rr2", "node1", "node2", "node3")
VMS = {"met1": "node1", "met2": "node3"}
MGMT_NET = ipaddress.ip_network("198.18.{}.0/24".format(int(os.environ.get("VMNET_LAB_INSTANCE", "0") or 0)))
EXPORTER_PORT = 9100
INTERVAL = 15          # frr_metrics_interval's default


def mgmt_addresses():
    """host -> its address on this lab's management network, from the inventory the lab wrote; anything
    outside the lab's own management network is refused here, before a packet is sent."""
    with open(os.path.join(INVENTORY, "hosts.yml")) as f:
        inv = yaml.safe_load(f)
    out = {}
    for group in inv["all"]["children"].values():
        for host, hv in (group.get("hosts") or {}).items():
            addr = ipaddress.ip_address(hv["ansible_host"])
            assert addr in MGMT_NET, "{} {} is not on the lab's management network {}".format(host, addr, MGMT_NET)
            out[host] = str(addr)
    return out


def scrape(address):
    """{name: [(labels, value)]} of the exporter's whole /metrics, parsed by the Prometheus client library."""
    assert ipaddress.ip_address(address) in MGMT_NET
    with urllib.request.urlopen("http://{}:{}/metrics".format(address, EXPORTER_PORT), timeout=10) as resp:
        text = resp.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def one(fams, name, **labels):
    hits = [v for lab, v in fams.get(name, []) if all(lab.get(k) == w for k, w in labels.items())]
    assert len(hits) == 1, "{} {}: {}".format(name, labels, fams.get(name))
    return hits[0]


def newer_scrapes(after, hosts=FRR_HOSTS, timeout=3 * INTERVAL + 10):
    """{host: scrape} of every host, each scrape's vmnet_ipfabric_metrics_timestamp_seconds later than
    ``after``: written by the hosts' timers on their own (nothing here starts the agent). The hosts are
    polled together, so the wait is one interval for all of them, not one per host."""
    addresses = mgmt_addresses()
    deadline = time.time() + timeout
    out, last = {}, {}
    while True:
        for host in hosts:
            if host in out:
                continue
            fams = scrape(addresses[host])
            stamp = [v for dummy, v in fams.get("vmnet_ipfabric_metrics_timestamp_seconds", [])]
            last[host] = (stamp, fams.get("node_textfile_scrape_error"))
            if stamp and stamp[0] > after:
                out[host] = fams
        if len(out) == len(hosts):
            return out
        if time.time() > deadline:
            raise AssertionError("no metrics written after {} within {} s by {} (timestamps seen, textfile errors: {})"
                                 .format(after, timeout, sorted(set(hosts) - set(out)),
                                         {h: last[h] for h in hosts if h not in out}))
        time.sleep(1)


@pytest.fixture(scope="module")
def vms(lab, site):
    run_playbook("vm_create.yml", "-e", json.dumps({"vms": [{"name": v, "node": n} for v, n in VMS.items()]}))
    addrs = {v: lab.vm_addresses(n, v) for v, n in VMS.items()}
    for vm, (v4, dummy) in addrs.items():
        assert lab.wait_reachable(v4), (vm, v4)      # a KVM guest boots first: then the VM is present
    yield addrs
    run_playbook("vm_delete.yml", "-e", json.dumps({"vms": [{"name": v} for v in VMS]}), check=False)


def test_site_installs_the_timer_and_the_exporter_serves_its_file(lab, site):
    for host in FRR_HOSTS:
        assert lab.lab_exec(host, "systemctl", "is-active", "vmnet-ipfabric-metrics.timer").stdout.strip() == "active"
        assert lab.lab_exec(host, "systemctl", "is-enabled", "vmnet-ipfabric-metrics.timer").stdout.strip() == "enabled"
        assert lab.lab_exec(host, "systemctl", "is-active", "prometheus-node-exporter").stdout.strip() == "active"
    for host, fams in newer_scrapes(time.time()).items():
        assert one(fams, "node_textfile_scrape_error") == 0, host
        assert one(fams, "vmnet_ipfabric_bgp_up") == 1, host
        assert "vmnet_ipfabric_metrics_errors" not in fams, (host, fams.get("vmnet_ipfabric_metrics_errors"))


def test_bgp_sessions_and_prefixes_match_vtysh(lab, site, vms):
    addresses = mgmt_addresses()
    for host, fams in newer_scrapes(time.time()).items():
        written = one(fams, "vmnet_ipfabric_metrics_timestamp_seconds")
        asked = time.time()
        summary = lab.vtysh_json(host, "show bgp summary json")
        seen = 0
        for family, afi in (("ipv4Unicast", "ipv4"), ("ipv6Unicast", "ipv6")):
            for peer, info in summary.get(family, {}).get("peers", {}).items():
                peer = str(ipaddress.ip_address(peer))
                labels = {"afi": afi, "peer": peer}
                up = info["state"] == "Established"
                assert one(fams, "vmnet_ipfabric_bgp_session_up", **labels) == (1 if up else 0), (host, labels)
                assert up, (host, peer, info["state"])          # a settled lab: every session of the design is up
                assert one(fams, "vmnet_ipfabric_bgp_session_prefixes_received", **labels) == info["pfxRcd"], (host, labels)
                assert one(fams, "vmnet_ipfabric_bgp_session_prefixes_announced", **labels) == info["pfxSnt"], (host, labels)
                # the uptime exported is vtysh's, as old as the file is (the agent's own run: a few seconds)
                uptime = one(fams, "vmnet_ipfabric_bgp_session_uptime_seconds", **labels)
                now = info["peerUptimeMsec"] // 1000
                age = asked - written
                assert now - age - 10 <= uptime <= now, (host, labels, uptime, now, age)
                seen += 1
        assert seen == len(fams["vmnet_ipfabric_bgp_session_up"]) and seen > 0, host
    # the VMs' prefixes are what the nodes announce and the core receives
    node1 = scrape(addresses["node1"])
    assert one(node1, "vmnet_ipfabric_bgp_session_prefixes_announced", afi="ipv4", peer="172.16.0.2") >= 1


def test_vms_per_node_match_the_node(lab, site, vms):
    addresses = mgmt_addresses()
    for node, fams in newer_scrapes(time.time(), hosts=("node1", "node2", "node3")).items():
        state = json.loads(lab.lab_exec(node, "cat", "/var/lib/vmnet-ipfabric/vm_interfaces.json", check=False).stdout
                           or '{"vms": {}}')["vms"]
        routes = set()
        for family in ("-4", "-6"):
            for r in json.loads(lab.lab_exec(node, "ip", "-json", family, "route", "show", "table", "main").stdout):
                if r.get("protocol") == "static":
                    routes.add((r["dev"], str(ipaddress.ip_network(r["dst"]))))
        # routed: every address of the VM routed to its interface
        routed = [vm for vm, spec in state.items()
                  if all((spec["interface"], str(ipaddress.ip_network(a))) in routes for a in spec["ipv4"] + spec["ipv6"])]
        assert one(fams, "vmnet_ipfabric_vms", state="configured") == len(state), (node, state)
        assert one(fams, "vmnet_ipfabric_vms", state="routed") == len(routed), (node, state, routes)
        for vm, where in VMS.items():
            if where == node:
                assert vm in state
    assert one(scrape(addresses["node1"]), "vmnet_ipfabric_vms", state="routed") >= 1


def test_verify_verdict_and_findings_by_kind(lab, site, vms, tmp_path):
    addresses = mgmt_addresses()
    before = time.time() - 1
    res = run_playbook("verify.yml", "-e", "verify_report_dir=" + str(tmp_path / "clean"), check=False)
    assert res.rc == 0, res
    for host, fams in newer_scrapes(time.time()).items():
        assert one(fams, "vmnet_ipfabric_verify_ok") == 1, host
        assert one(fams, "vmnet_ipfabric_verify_last_run_timestamp_seconds") >= int(before), host
        assert "vmnet_ipfabric_verify_findings" not in fams, (host, fams.get("vmnet_ipfabric_verify_findings"))

    # a fault verify finds on node1 (as test_verify plants it): the presence agent stopped, a VM route deleted
    v4 = vms["met1"][0] + "/32"
    lab.lab_exec("node1", "systemctl", "stop", "vmnet-ipfabric-presence")
    lab.lab_exec("node1", "ip", "route", "del", v4, "dev", "met1_net0")
    try:
        res = run_playbook("verify.yml", "-e", "verify_report_dir=" + str(tmp_path / "broken"), check=False)
        assert res.rc != 0 and "missing_kernel_route" in res.output, res
        with open(str(tmp_path / "broken" / "findings.json")) as f:
            findings = json.load(f)["findings"]
        by_kind = {}
        for f in findings:
            by_kind[(f["kind"], f["severity"])] = by_kind.get((f["kind"], f["severity"]), 0) + 1
        for host, fams in newer_scrapes(time.time()).items():
            assert one(fams, "vmnet_ipfabric_verify_ok") == 0, host
            exported = {(l["kind"], l["severity"]): v for l, v in fams["vmnet_ipfabric_verify_findings"]}
            assert exported == by_kind, (host, exported, by_kind)
        node1 = scrape(addresses["node1"])
        assert one(node1, "vmnet_ipfabric_verify_host_findings", kind="missing_kernel_route", severity="error") == 1
        # the node now has one VM configured whose route is gone
        assert one(node1, "vmnet_ipfabric_vms", state="routed") == one(node1, "vmnet_ipfabric_vms", state="configured") - 1
        rr1 = scrape(addresses["rr1"])
        assert not [l for l, dummy in rr1.get("vmnet_ipfabric_verify_host_findings", [])
                    if l["kind"] == "missing_kernel_route"], rr1.get("vmnet_ipfabric_verify_host_findings")
    finally:
        lab.lab_exec("node1", "systemctl", "start", "vmnet-ipfabric-presence")    # its first pass repairs it
    lab.wait_for("met1 back on core1", lambda: v4 in lab.core_routes("ipv4"), timeout=60)


def test_site_twice_changes_nothing(lab, site):
    again = run_playbook("site.yml")
    assert again.changed == 0, again
