# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import ipaddress
import re
import os

import pytest

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _frr

FIX = os.path.join(os.path.dirname(__file__), 'fixtures')
N = ipaddress.ip_network


def read(name):
    with open(os.path.join(FIX, name)) as f:
        return f.read()


def test_parse_frr84_running_config():
    b = _frr.default_bgp(_frr.strip_vtysh_noise(read('frr84_running.txt')))
    assert b.asn == 65000
    assert set(b.networks) == {N('192.0.2.0/24'), N('198.51.100.10/32'), N('198.51.100.11/32'),
                               N('2001:db8:100::20/128')}
    # the vrf blue block's network is not the default VRF's
    assert N('198.51.100.77/32') not in b.networks
    assert b.networks[N('198.51.100.11/32')]['line'] == 'network 198.51.100.11/32 route-map RM-VM'
    assert b.networks[N('2001:db8:100::20/128')]['af'] == 'ipv6'
    assert set(b.af) == {'ipv4', 'ipv6'}


def test_parse_frr72_running_config_without_exit():
    b = _frr.default_bgp(_frr.strip_vtysh_noise(read('frr72_running.txt')))
    assert b.asn == 65000
    assert set(b.networks) == {N('198.51.100.10/32'), N('2001:db8:100::10/128')}
    lines = _frr.strip_vtysh_noise(read('frr72_running.txt')).splitlines()
    assert lines[b.end] == '!'           # the block ends at the column-0 '!'


def test_router_level_network_is_ipv4():
    b = _frr.default_bgp('router bgp 1\n network 198.51.100.5/32\n!\n')
    assert b.networks[N('198.51.100.5/32')]['af'] == 'ipv4'


def test_no_router_bgp():
    assert _frr.default_bgp('hostname x\nline vty\n!\n') is None


def test_two_default_bgp_blocks_is_error():
    with pytest.raises(_frr.FrrError):
        _frr.default_bgp('router bgp 1\nexit\nrouter bgp 2\nexit\n')


def test_network_changes_config():
    text = _frr.network_changes_config(65000, [N('198.51.100.10/32'), N('2001:db8:100::10/128')],
                                       [N('198.51.100.9/32')])
    assert text == ('router bgp 65000\n'
                    ' address-family ipv4 unicast\n'
                    '  no network 198.51.100.9/32\n'
                    '  network 198.51.100.10/32\n'
                    ' exit-address-family\n'
                    ' address-family ipv6 unicast\n'
                    '  network 2001:db8:100::10/128\n'
                    ' exit-address-family\n'
                    'exit\n')
    assert 'configure terminal' not in text


def test_parse_reload_test_output():
    dels, adds = _frr.parse_reload_test(read('frr84_reload_test.txt'))
    assert 'no router bgp 65000 vrf blue' in dels
    assert '  no network 198.51.100.11/32  route-map RM-VM' in dels
    assert adds == []
    out = ('\nLines To Delete\n===============\n\nLines To Add\n============\nrouter bgp 1\n'
           ' neighbor 10.0.0.2 remote-as 1\n')
    assert _frr.parse_reload_test(out) == ([], ['router bgp 1', ' neighbor 10.0.0.2 remote-as 1'])
    assert _frr.parse_reload_test('\nLines To Delete\n===============\n\nLines To Add\n============\n') == ([], [])


SRC = """frr defaults traditional
hostname node1
!
router bgp 65000
 bgp router-id 172.16.0.11
 neighbor 172.16.0.2 remote-as 65000
 neighbor 172.16.0.2 password t0psecret
 !
 address-family ipv4 unicast
  neighbor 172.16.0.2 activate
 exit-address-family
exit
!
line vty
!
"""


def test_assemble_candidate_inserts_in_af_blocks():
    running = _frr.default_bgp(_frr.strip_vtysh_noise(read('frr84_running.txt')))
    pools = [N('198.51.100.0/24'), N('2001:db8:100::/64')]
    keep = [dict(af=v['af'], line=v['line'], net=n) for n, v in running.networks.items()
            if any(n.version == p.version and n.subnet_of(p) for p in pools)]
    text, inserted = _frr.assemble_candidate(SRC, keep)
    assert sorted(inserted) == ['network 198.51.100.10/32', 'network 198.51.100.11/32 route-map RM-VM',
                                'network 2001:db8:100::20/128']
    lines = text.splitlines()
    # ipv4 lines inside the existing ipv4 block, before its exit-address-family
    i4 = lines.index(' address-family ipv4 unicast')
    e4 = lines.index(' exit-address-family', i4)
    assert lines.index('  network 198.51.100.10/32') in range(i4, e4)
    # a new ipv6 block inside router bgp, before its 'exit'
    i6 = lines.index(' address-family ipv6 unicast')
    assert lines[i6 + 1] == '  network 2001:db8:100::20/128'
    assert lines[i6 + 2] == ' exit-address-family'
    assert lines[i6 + 3] == 'exit'
    assert 'network 192.0.2.0/24' not in text          # outside the pools: not copied
    assert text.endswith('line vty\n!\n')
    # the result parses back with all preserved networks
    b = _frr.default_bgp(text)
    assert set(b.networks) == set(k['net'] for k in keep)


def test_assemble_candidate_does_not_duplicate():
    src = SRC.replace('  neighbor 172.16.0.2 activate', '  neighbor 172.16.0.2 activate\n  network 198.51.100.10/32')
    keep = [dict(af='ipv4', line='network 198.51.100.10/32', net=N('198.51.100.10/32'))]
    text, inserted = _frr.assemble_candidate(src, keep)
    assert inserted == [] and text.count('network 198.51.100.10/32') == 1


def test_assemble_candidate_without_router_bgp_refuses():
    keep = [dict(af='ipv4', line='network 198.51.100.10/32', net=N('198.51.100.10/32'))]
    with pytest.raises(_frr.FrrError) as e:
        _frr.assemble_candidate('hostname x\n', keep)
    assert 'withdraw 1 VM announcement' in str(e.value)
    assert _frr.assemble_candidate('hostname x\n', [])[1] == []


def test_mask():
    text = 'router bgp 1\n neighbor 10.0.0.2 password s3cr3t\n neighbor fabric password "x y"\n'
    masked = _frr.mask(text)
    assert 's3cr3t' not in masked and '"x' not in masked
    assert ' neighbor 10.0.0.2 password ********' in masked
    assert _frr.mask([' no neighbor 10.0.0.2 password abc']) == [' no neighbor 10.0.0.2 password ********']


def test_find_frr_reload():
    assert _frr.find_frr_reload(exists=lambda p: p == '/usr/libexec/frr/frr-reload.py') == '/usr/libexec/frr/frr-reload.py'
    assert _frr.find_frr_reload('/opt/x.py', exists=lambda p: False) is None
    assert _frr.find_frr_reload(exists=lambda p: False) is None


def test_drop_reload_noise():
    running = 'frr version 8.4.4\nhostname n1\n!\nrouter bgp 1\n neighbor x remote-as 1\nexit\n'
    dels = ['no hostname n1', 'router bgp 1', ' no neighbor y remote-as 1']
    adds = ['hostname other', 'ip forwarding', 'ipv6 forwarding', 'router bgp 1', ' neighbor z remote-as 1']
    d, a, notes = _frr.drop_reload_noise(dels, adds, running)
    assert d == ['router bgp 1', ' no neighbor y remote-as 1']
    assert a == ['router bgp 1', ' neighbor z remote-as 1']
    assert len(notes) == 1 and 'hostname other' in notes[0]
    # forwarding off in the running config: adding it is a real change
    d, a, notes = _frr.drop_reload_noise([], ['ip forwarding'], running + 'no ip forwarding\n')
    assert a == ['ip forwarding']


# ---- BFD profile and graceful restart (issue 12) ----------------------------------------------------

def test_bfd_profile_defaults_and_frr_defaults_left_out():
    """The fabric's 3 x 200 ms; a value equal to FRR's own default is not rendered (FRR would not show it
    in its running config, and frr_config checks that every rendered line is there)."""
    assert _frr.bfd_profile_lines("p", {}) == ["bfd", " profile p", "  receive-interval 200", "  transmit-interval 200",
                                               " exit", " !", "exit"]
    assert _frr.bfd_profile_lines("p", {"detect_multiplier": 5, "receive_interval": 300}) == [
        "bfd", " profile p", "  detect-multiplier 5", "  transmit-interval 200", " exit", " !", "exit"]


@pytest.mark.parametrize("profile,message", [
    ({"receive_interval": 5}, "receive_interval: 5 is outside 10..60000"),
    ({"detect_multiplier": "3;reboot"}, "is not a whole number"),
    ({"detect_multiplier": True}, "is not a whole number"),
    ({"echo": 1}, "unknown setting(s) echo"),
    ("fast", "is not a mapping"),
])
def test_bfd_profile_refuses_bad_values(profile, message):
    with pytest.raises(_frr.FrrError, match=re.escape(message)):
        _frr.bfd_profile_lines("p", profile)


def test_graceful_restart_lines():
    assert _frr.graceful_restart_lines({}) == [" bgp graceful-restart", " bgp graceful-restart preserve-fw-state"]
    assert _frr.graceful_restart_lines({"restart_time": 300, "stalepath_time": 360, "preserve_fw_state": False}) == [
        " bgp graceful-restart", " bgp graceful-restart restart-time 300"]
    assert _frr.graceful_restart_lines({"enabled": False, "restart_time": 300}) == []
    with pytest.raises(_frr.FrrError, match="restart_time: 5000 is outside 1..4095"):
        _frr.graceful_restart_lines({"restart_time": 5000})
    with pytest.raises(_frr.FrrError, match="unknown setting"):
        _frr.graceful_restart_lines({"helper": True})
