# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 5, node: safe apply against the real FRR 8.4 of the lab.

FRR accepts ``ip prefix-list P seq 5 permit 192.0.2.0/24 ge 8`` in ``vtysh -C`` (syntax) but rejects
it when applying ("Invalid prefix range"), and frr-reload.py --reload still exits 0 after it has run
its ``no ...`` lines. The node role must fail with FRR's message, leave the previous running config
running (roll back), reset no BGP session, and a re-run with a good config must change nothing.
"""
import json

from conftest import run_playbook

NODE = "node1"
GOOD = ["ip prefix-list SAFE_APPLY_OLD seq 5 permit 192.0.2.0/24"]
# the good line goes (frr-reload.py deletes it first), the rejected line comes
BAD = ["ip prefix-list SAFE_APPLY_NEW seq 5 permit 192.0.2.0/24 ge 8"]


def extra(lines):
    return json.dumps({"node_frr_extra_config": lines})


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


def test_rejected_config_rolls_back_without_session_reset(lab, site):
    run_playbook("vm_create.yml", "-e", "vm_name=safe1", "-e", "node=" + NODE)
    run_playbook("site.yml", "--limit", NODE, "-e", extra(GOOD))
    before = running_config(lab, NODE)
    assert "ip prefix-list SAFE_APPLY_OLD" in before
    assert "network 198.51.100." in before          # the VM's announcement is part of what must stay
    sess_before = sessions(lab, NODE)
    assert sess_before and all(s[0] == "Established" for s in sess_before.values()), sess_before

    # the rejected line passes the syntax check
    check = lab.lab_exec(NODE, "sh", "-c", "printf '%s\\n' '{}' > /tmp/safe.conf && vtysh -C -f /tmp/safe.conf".format(BAD[0]),
                         check=False)
    assert check.returncode == 0, check

    bad = run_playbook("site.yml", "--limit", NODE, "-e", extra(BAD), check=False)
    assert bad.rc != 0 and bad.recap[NODE]["failed"] == 1, bad
    assert "Invalid prefix range for 192.0.2.0/24" in bad.output, bad      # FRR's own message
    assert "rolled back to the previous running config" in bad.output, bad

    after = running_config(lab, NODE)
    assert after == before
    assert_no_reset(sess_before, sessions(lab, NODE))   # same state, same established time: no reset
    saved = lab.lab_exec(NODE, "cat", "/etc/frr/frr.conf").stdout
    assert "SAFE_APPLY_OLD" in saved and "SAFE_APPLY_NEW" not in saved
    base = lab.lab_exec(NODE, "cat", "/etc/frr/vmnet-ipfabric/base.conf").stdout
    assert "SAFE_APPLY_OLD" in base and "SAFE_APPLY_NEW" not in base      # the file matches what runs

    again = run_playbook("site.yml", "--limit", NODE, "-e", extra(GOOD))
    assert again.changed == 0, again
    assert running_config(lab, NODE) == before


def test_back_to_the_plain_config(lab, site):
    """Leave node1 as site.yml makes it (other tests expect the plain config)."""
    run_playbook("site.yml", "--limit", NODE)
    assert "SAFE_APPLY" not in running_config(lab, NODE)
    run_playbook("vm_delete.yml", "-e", "vm_name=safe1")
