# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_bird.py: rendering (pool function, BFD, BGP protocols) and the parsers of birdc's output,
against output recorded from BIRD 2.0.12 on the lab's node3 (fixtures/bird2012)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os

import pytest

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _bgp_state
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _bird

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'bird2012')


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


class FakeBirdc(object):
    """birdc answering from the recorded files; ``iso``: the recording made with timeformat iso long."""

    def __init__(self, iso=True, fail=None):
        self.iso = iso
        self.fail = fail
        self.calls = []

    def __call__(self, argv):
        self.calls.append(argv)
        assert argv[0] == '/usr/sbin/birdc'
        text = ' '.join(argv[1:])
        if self.fail and self.fail in text:
            return 1, 'Unable to connect to server control socket (/run/bird/bird.ctl): No such file or directory\n', ''
        suffix = '_iso' if self.iso else ''
        files = {'show status': 'node3_status' + suffix, 'show protocols all': 'node3_protocols_all' + suffix,
                 'show route all': 'node3_route_all', 'show route export rr4_172_16_0_2 all': 'node3_export_rr4',
                 'show route export rr4_172_16_0_3 all': 'node3_export_rr4',
                 'show route export rr6_fd0c_172_16__2 all': 'node3_export_rr6',
                 'show route export rr6_fd0c_172_16__3 all': 'node3_export_rr6'}
        return 0, fixture(files[text] + '.txt'), ''


def test_protocols_of_bird_2_0_12():
    protocols = _bird.parse_protocols(fixture('node3_protocols_all_iso.txt'))
    names = [p['name'] for p in protocols]
    assert names == ['device1', 'kernel4', 'kernel6', 'vmnet_bfd', 'rr4_172_16_0_2', 'rr4_172_16_0_3',
                     'rr6_fd0c_172_16__2', 'rr6_fd0c_172_16__3']
    rr = protocols[4]
    assert rr['proto'] == 'BGP' and rr['bgp_state'] == 'Established' and rr['neighbor'] == '172.16.0.2'
    assert rr['since'] == '2026-12-01 23:06:36' and rr['local_as'] == 65000
    assert set(rr['channels']) == {'ipv4'}


def test_sessions_in_frr_bgps_shape():
    sessions = _bird.sessions_of(_bird.parse_protocols(fixture('node3_protocols_all_iso.txt')))
    assert [(s['afi'], s['peer'], s['state']) for s in sessions] == [
        ('ipv4', '172.16.0.2', 'Established'), ('ipv4', '172.16.0.3', 'Established'),
        ('ipv6', 'fd0c:172:16::2', 'Established'), ('ipv6', 'fd0c:172:16::3', 'Established')]
    assert sessions[0]['protocol'] == 'rr4_172_16_0_2'


def test_routes_learnt_from_the_kernel_and_received():
    table = _bird.parse_routes(fixture('node3_route_all.txt'))
    received = table['198.51.100.2/32']
    assert [r['protocol'] for r in received] == ['rr4_172_16_0_2', 'rr4_172_16_0_3']
    assert received[0]['primary'] and not received[1]['primary']
    assert received[0]['nexthop'] == '172.16.0.11' and received[0]['local_preference'] == 100
    assert received[0]['communities'] == ['65000:100']
    local = table['198.51.100.1/32'][0]
    assert local['protocol'] == 'kernel4' and local['interface'] == 'bv1_net0' and local['krt_source'] == 4
    exported = _bird.parse_routes(fixture('node3_export_rr6.txt'))
    assert list(exported) == ['2001:db8:100::1/128'] and exported['2001:db8:100::1/128'][0]['communities'] == ['65000:100']


def test_read_gives_frr_bgps_shape_with_uptime():
    fake = FakeBirdc()
    req = _bgp_state.check_request(afi=['ipv4', 'ipv6'], rib=True, prefixes=[], peers=[], nexthops=[], wait=None,
                                   timeout=0, interval=1)
    cmds, state = _bird.read(req, fake, ['/usr/sbin/birdc'])
    assert cmds[:2] == ['show status', 'show protocols all'] and len(cmds) == 7
    assert all(isinstance(c, list) for c in fake.calls)
    s = state['sessions'][0]
    assert s['uptime'] is not None and s['uptime'] >= 0 and s['state'] == 'Established'
    assert state['speakers']['ipv4'] == {'router_id': '172.16.0.13', 'asn': 65000}
    rib4 = state['rib']['ipv4']
    assert rib4['198.51.100.1/32'][0]['local'] and rib4['198.51.100.1/32'][0]['best']
    assert [p['peer'] for p in rib4['198.51.100.2/32']] == ['172.16.0.2', '172.16.0.3']


def test_read_fails_clearly_when_bird_does_not_answer():
    req = _bgp_state.check_request(afi=['ipv4'], rib=False, prefixes=[], peers=[], nexthops=[], wait=None,
                                   timeout=0, interval=1)
    with pytest.raises(_bird.BirdReadError) as exc:
        _bird.read(req, FakeBirdc(fail='show status'), ['/usr/sbin/birdc'])
    assert 'birdc show status failed' in str(exc.value) and 'Unable to connect' in str(exc.value)
    assert exc.value.commands == ['show status']


def test_uptime_of():
    assert _bird.uptime_of('2026-12-01 23:06:36', '2026-12-01 23:07:40.100') == 64
    assert _bird.uptime_of('23:06:36.100', '2026-12-01 23:07:40') is None


def test_pool_function_excludes_first_then_host_routes():
    lines = _bird.pool_function_lines('vmnet_pool4', 'ipv4', ['198.51.100.0/24'], ['198.51.100.0/28', '198.51.100.255/32'])
    assert lines == ['function vmnet_pool4()', '{',
                     '  if net ~ [ 198.51.100.0/28{32,32}, 198.51.100.255/32 ] then return false;',
                     '  return net ~ [ 198.51.100.0/24{32,32} ];', '}']
    assert _bird.pool_function_lines('vmnet_pool6', 'ipv6', [], [])[2] == '  return false;'


def test_bgp_protocol_and_masked_password():
    lines = _bird.bgp_lines({'afi': 'ipv6', 'peer': 'fd0c:172:16::2', 'source': 'fd0c:172:16::13', 'asn': 65000,
                             'password': 's3cret', 'bfd': True, 'graceful_restart': {'restart_time': 120},
                             'timers': {}, 'import_filter': 'vmnet_import6', 'export_filter': 'vmnet_export6'})
    assert lines[0] == 'protocol bgp rr6_fd0c_172_16__2 {'
    assert '  password "s3cret";' in lines and '  bfd on;' in lines and '  graceful restart time 120;' in lines
    assert 's3cret' not in '\n'.join(_bird.mask(lines))


@pytest.mark.parametrize('session,message', [
    ({'afi': 'ipv4', 'peer': 'fd0c:172:16::2', 'source': '172.16.0.13'}, 'must both be ipv4'),
    ({'afi': 'ipv4', 'peer': '172.16.0.2', 'source': '172.16.0.13', 'asn': 0}, 'outside 1..4294967295'),
    ({'afi': 'ipv4', 'peer': '172.16.0.2', 'source': '172.16.0.13', 'asn': 65000, 'password': 'a"b'},
     'node_bgp_password: ******** cannot be written'),
])
def test_bad_sessions_are_refused(session, message):
    base = {'timers': {}, 'import_filter': 'i', 'export_filter': 'e', 'asn': 65000}
    with pytest.raises(_bird.BirdError) as exc:
        _bird.bgp_lines(dict(base, **session))
    assert message in str(exc.value)
    assert 'a"b' not in str(exc.value)


def test_bfd_and_communities():
    assert '    multiplier 3;' in _bird.bfd_lines({'receive_interval': 150})
    with pytest.raises(_bird.BirdError):
        _bird.bfd_lines({'echo': 1})
    assert _bird.community_pairs(['65000:100', 'no-export', '65000:100']) == [(65000, 100), (65535, 65281)]
    with pytest.raises(_bird.BirdError):
        _bird.community_pairs(['65000:70000'])
