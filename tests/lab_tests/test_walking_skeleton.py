# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 2's path end to end: site.yml, then a VM created, routed, announced and reachable."""
import json

from conftest import run_playbook


def bgp_paths(host, prefix, family="ipv4"):
    out = json.loads(__import__("fabric").lab_exec(
        host, "vtysh", "-c", "show bgp {} unicast {} json".format(family, prefix)).stdout or "{}")
    return out.get("paths", [])


def test_site_configures_sessions_and_is_idempotent(lab, site):
    summary = json.loads(lab.lab_exec("core1", "vtysh", "-c", "show bgp ipv4 unicast summary json").stdout)
    peers = summary["peers"]
    assert set(peers) == {"172.16.0.2", "172.16.0.3"}
    assert all(p["state"] == "Established" for p in peers.values()), peers
    for rr in ("rr1", "rr2"):
        peers = json.loads(lab.lab_exec(rr, "vtysh", "-c", "show bgp ipv4 unicast summary json").stdout)["peers"]
        for node_ip in ("172.16.0.11", "172.16.0.12", "172.16.0.13"):
            assert peers[node_ip]["state"] == "Established", (rr, peers)
    again = run_playbook("site.yml")
    assert again.changed == 0, again


def test_vm_create_routes_announces_and_reaches(lab, site):
    run_playbook("vm_create.yml", "-e", "vm_name=skel1", "-e", "node=node2")
    v4, v6 = lab.vm_addresses("node2", "skel1")
    assert v4 and v4.startswith("198.51.100.")
    assert v6 and v6.startswith("2001:db8:100:")
    assert lab.vm_interface("node2", "skel1") == "skel1_net0"

    routes = lab.core_routes("ipv4")
    assert routes.get(v4 + "/32") == ["172.16.0.12"], routes
    # learned through both route reflectors
    paths = bgp_paths("core1", v4 + "/32")
    sources = {p.get("peer", {}).get("peerId") for p in paths}
    assert sources == {"172.16.0.2", "172.16.0.3"}, paths
    assert lab.wait_reachable(v4)                  # a KVM guest: reachable once it has booted
    assert lab.core_routes("ipv6").get(v6 + "/128") == ["fd0c:172:16::12"]
    assert lab.wait_reachable(v6)

    again = run_playbook("vm_create.yml", "-e", "vm_name=skel1", "-e", "node=node2")
    assert again.changed == 0, again
    assert lab.vm_addresses("node2", "skel1") == (v4, v6)


def test_vm_delete_withdraws_and_releases(lab, site):
    run_playbook("vm_create.yml", "-e", "vm_name=skel2", "-e", "node=node3")
    v4, dummy = lab.vm_addresses("node3", "skel2")
    assert v4 + "/32" in lab.core_routes("ipv4")
    run_playbook("vm_delete.yml", "-e", "vm_name=skel2")
    assert v4 + "/32" not in lab.core_routes("ipv4")
    assert "skel2" not in lab.lab_vms("node3")
    assert lab.vm_interface("node3", "skel2") is None
    assert not lab.ping("inet1", v4, count=1)
    again = run_playbook("vm_delete.yml", "-e", "vm_name=skel2")
    assert again.changed == 0, again


def test_verify_passes_on_the_fabric(lab, site, tmp_path):
    run_playbook("vm_create.yml", "-e", "vm_name=skel3", "-e", "node=node1")
    result = run_playbook("verify.yml", "-e", "verify_report_dir=" + str(tmp_path), check=False)
    assert result.rc == 0, result
    with open(str(tmp_path / "findings.json")) as f:
        report = json.load(f)
    assert report["verdict"] == "PASSED" and report["findings"] == [], report["findings"]
    on_nodes = {vm["vm"]: n["name"] for n in report["fabric"]["nodes"] for vm in n["vms"]}
    assert on_nodes.get("skel3") == "node1", on_nodes
    run_playbook("vm_delete.yml", "-e", "vm_name=skel3")
