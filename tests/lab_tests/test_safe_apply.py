# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issues 5 and 11: safe apply against the real FRR 8.4 of the lab, for the three roles alike.

FRR accepts ``ip prefix-list P seq 5 permit 192.0.2.0/24 ge 8`` in ``vtysh -C`` (syntax) but rejects
it when applying ("Invalid prefix range"), and frr-reload.py --reload still exits 0 after it has run
its ``no ...`` lines. Each role (node, route_reflector, core_gateway: one shared FRR lifecycle) must
fail with FRR's message, leave the previous running config running (roll back), reset no BGP session,
leave base.conf as it was (the file holds what FRR accepted), and a re-run with a good config must
change nothing.
"""
import json

import pytest

from conftest import run_playbook

# host -> the role's extra-config variable
ROLES = {"node1": "node_frr_extra_config", "rr1": "route_reflector_frr_extra_config",
         "core1": "core_gateway_frr_extra_config"}
GOOD = ["ip prefix-list SAFE_APPLY_OLD seq 5 permit 192.0.2.0/24"]
# the good line goes (frr-reload.py deletes it first), the rejected line comes
BAD = ["ip prefix-list SAFE_APPLY_NEW seq 5 permit 192.0.2.0/24 ge 8"]


def extra(var, lines):
    return json.dumps({var: lines})


def running_config(lab, host):
    out = lab.lab_exec(host, "vtysh", "-c", "show running-config").stdout
    return "\n".join(l for l in out.splitlines()
                     if not l.startswith(("Building configuration", "Current configuration")))


def sessions(lab, host):
    """{peer: (state, established epoch)} of every IPv4 and IPv6 session."""
    out = {}
    for fam in ("ipv4", "ipv6"):
        peers = lab.vtysh_json(host, "show bgp {} unicast summary json".format(fam)).get("peers", {})
        for peer, p in peers.items():
            out[peer] = (p.get("state"), p.get("peerUptimeEstablishedEpoch"))
    return out


def assert_no_reset(before, after):
    """Same peers in the same state, established at the same time. FRR derives the epoch from the
    uptime, so two readings of a session that never dropped may differ by a second."""
    assert set(before) == set(after), (before, after)
    for peer, (state, epoch) in before.items():
        assert after[peer][0] == state, (peer, before[peer], after[peer])
        assert abs(after[peer][1] - epoch) <= 2, (peer, before[peer], after[peer])


@pytest.fixture(scope="module")
def announced_vm(lab, site):
    """A VM on node1, so node1's running config holds an announcement that must stay."""
    run_playbook("vm_create.yml", "-e", "vm_name=safe1", "-e", "node=node1", "-e", "lab_vms=nic")
    yield
    run_playbook("vm_delete.yml", "-e", "vm_name=safe1", check=False)


@pytest.mark.parametrize("host", sorted(ROLES))
def test_rejected_config_rolls_back_without_session_reset(lab, announced_vm, host):
    var = ROLES[host]
    run_playbook("site.yml", "--limit", host, "-e", extra(var, GOOD))
    before = running_config(lab, host)
    assert "ip prefix-list SAFE_APPLY_OLD" in before
    if host == "node1":
        assert "network 198.51.100." in before      # the VM's announcement is part of what must stay
    sess_before = sessions(lab, host)
    assert sess_before and all(s[0] == "Established" for s in sess_before.values()), sess_before
    base_before = lab.lab_exec(host, "cat", "/etc/frr/vmnet-ipfabric/base.conf").stdout

    # the rejected line passes the syntax check
    check = lab.lab_exec(host, "sh", "-c", "printf '%s\\n' '{}' > /tmp/safe.conf && vtysh -C -f /tmp/safe.conf".format(BAD[0]),
                         check=False)
    assert check.returncode == 0, check

    bad = run_playbook("site.yml", "--limit", host, "-e", extra(var, BAD), check=False)
    assert bad.rc != 0 and bad.recap[host]["failed"] == 1, bad
    assert "Invalid prefix range for 192.0.2.0/24" in bad.output, bad      # FRR's own message
    assert "rolled back to the previous running config" in bad.output, bad

    assert running_config(lab, host) == before
    assert_no_reset(sess_before, sessions(lab, host))   # same state, same established time: no reset
    saved = lab.lab_exec(host, "cat", "/etc/frr/frr.conf").stdout
    assert "SAFE_APPLY_OLD" in saved and "SAFE_APPLY_NEW" not in saved
    base = lab.lab_exec(host, "cat", "/etc/frr/vmnet-ipfabric/base.conf").stdout
    assert base == base_before and "SAFE_APPLY_NEW" not in base      # the file still holds what FRR accepted

    again = run_playbook("site.yml", "--limit", host, "-e", extra(var, GOOD))
    assert again.changed == 0, again
    assert running_config(lab, host) == before

    # leave the host as site.yml makes it (other tests expect the plain config)
    run_playbook("site.yml", "--limit", host)
    assert "SAFE_APPLY" not in running_config(lab, host)
