# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_bgp_state.py on FRR 8.4 output recorded from a fabric of the lab's shape (bgp_fixtures.py)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

import pytest

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _bgp_state as bs

from bgp_fixtures import FakeVtysh, doc, recorded  # noqa: E402  (this directory is on sys.path: no __init__.py)

WEB1 = ['198.51.100.10/32', '2001:db8:100::a/128']
NODE1 = ['172.16.0.11', 'fd0c:172:16::11']
NODE2 = ['172.16.0.12', 'fd0c:172:16::12']
RRS = ['172.16.0.2', '172.16.0.3', 'fd0c:172:16::2', 'fd0c:172:16::3']


class Clock(object):
    """A clock that only moves when the code sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def gather(host, clock=None, vtysh=None, **options):
    clock = clock or Clock()
    fake = vtysh or FakeVtysh(host)
    return bs.gather(bs.check_request(**options), fake.run, me=host, clock=clock, sleep=clock.sleep), fake


# ---------------------------------------------------------------------------------------------------------
# parsers

def test_summary_sessions_per_family():
    sessions, speakers = bs.parse_summary(doc('rr1_summary'))
    by = {(s['afi'], s['peer']): s for s in sessions}
    assert [(s['afi'], s['peer']) for s in sessions] == [
        ('ipv4', '172.16.0.1'), ('ipv4', '172.16.0.11'), ('ipv4', '172.16.0.12'), ('ipv4', '172.16.0.13'),
        ('ipv6', 'fd0c:172:16::1'), ('ipv6', 'fd0c:172:16::11'), ('ipv6', 'fd0c:172:16::12'),
        ('ipv6', 'fd0c:172:16::13')]
    up = by[('ipv4', '172.16.0.12')]
    assert up['state'] == 'Established' and up['hostname'] == 'node2' and up['prefixes_received'] == 2
    assert up['prefixes_sent'] == 2        # FRR's pfxSnt: rr1 sends node2 both VM prefixes of the table
    assert isinstance(up['uptime'], int) and up['connections_established'] == 1
    node3 = by[('ipv4', '172.16.0.13')]       # configured, never up
    assert node3 == {'peer': '172.16.0.13', 'afi': 'ipv4', 'state': 'Active', 'hostname': None,
                     'prefixes_received': 0, 'prefixes_sent': 0, 'uptime': None, 'connections_established': 0,
                     'connections_dropped': 0}
    assert speakers == {'ipv4': {'router_id': '172.16.0.2', 'asn': 65000},
                        'ipv6': {'router_id': '172.16.0.2', 'asn': 65000}}


def test_summary_of_a_route_reflector_without_ipv6_sessions():
    sessions, speakers = bs.parse_summary(doc('rr2_summary'))
    assert set(speakers) == {'ipv4'} and {s['afi'] for s in sessions} == {'ipv4'}
    assert bs.parse_summary(doc('rr2_summary'), afis=['ipv6']) == ([], {})


def test_rib_of_a_route_reflector_two_paths_of_a_migrating_vm():
    rib = bs.parse_rib(doc('rr1_ipv4_unicast'))
    assert sorted(rib) == ['198.51.100.10/32', '198.51.100.11/32']
    assert sorted(rib['198.51.100.10/32'], key=lambda p: p['peer']) == [
        {'peer': '172.16.0.11', 'nexthop': '172.16.0.11', 'best': True, 'local_preference': 100, 'local': False},
        {'peer': '172.16.0.12', 'nexthop': '172.16.0.12', 'best': False, 'local_preference': 50, 'local': False}]
    rib6 = bs.parse_rib(doc('rr1_ipv6_unicast'))
    # the link-local next hop FRR lists with the global one is not the next hop
    assert {p['nexthop'] for p in rib6['2001:db8:100::a/128']} == {'fd0c:172:16::11', 'fd0c:172:16::12'}


def test_rib_of_a_node_local_and_reflected_paths():
    rib = bs.parse_rib(doc('node2_ipv4_unicast'))
    paths = rib['198.51.100.10/32']
    local = [p for p in paths if p['local']]
    assert local == [{'peer': None, 'nexthop': None, 'best': True, 'local_preference': 50, 'local': True}]
    # node1's announcement, reflected back by both route reflectors
    assert sorted((p['peer'], p['nexthop']) for p in paths if not p['local']) == [
        ('172.16.0.2', '172.16.0.11'), ('172.16.0.3', '172.16.0.11')]
    assert bs.parse_rib(doc('node2_ipv4_unicast'), only={'198.51.100.11/32'}) == {
        '198.51.100.11/32': [{'peer': None, 'nexthop': None, 'best': True, 'local_preference': None, 'local': True}]}


def test_rib_local_link_local_and_invalid_paths():
    """Moved from test_fabric_parsers.py: a local path, a link-local next hop, an invalid path dropped."""
    rib = bs.parse_rib({"routes": {"2001:db8:100::1/128": [
        {"valid": True, "peerId": "(unspec)", "weight": 32768, "nexthops": [{"ip": "::"}]},
        {"valid": True, "peerId": "fd0c:172:16::2", "nexthops": [{"ip": "fd0c:172:16::11", "scope": "global"},
                                                                 {"ip": "fe80::1", "scope": "link-local"}]},
        {"peerId": "fd0c:172:16::3", "nexthops": [{"ip": "fd0c:172:16::11"}]}]}})
    assert rib == {"2001:db8:100::1/128": [
        {"local": True, "peer": None, "nexthop": None, "best": False, "local_preference": None},
        {"local": False, "peer": "fd0c:172:16::2", "nexthop": "fd0c:172:16::11", "best": False,
         "local_preference": None}]}


@pytest.mark.parametrize('host,afi,prefix', [('rr1', 'ipv4', WEB1[0]), ('rr1', 'ipv6', WEB1[1]),
                                             ('core1', 'ipv4', WEB1[0]), ('core1', 'ipv6', WEB1[1]),
                                             ('node1', 'ipv4', WEB1[0]), ('node1', 'ipv6', WEB1[1])])
def test_one_prefix_reads_like_the_whole_table(host, afi, prefix):
    """The per-prefix JSON (another shape) gives the same paths as the table."""
    one = bs.parse_rib_prefix(doc('%s_prefix_web1_%s' % (host, afi)))
    table = bs.parse_rib(doc('%s_%s_unicast' % (host, afi)))[prefix]
    assert sorted(one, key=repr) == sorted(table, key=repr) and one


def test_an_absent_prefix_has_no_paths():
    assert bs.parse_rib_prefix(doc('rr1_prefix_absent_ipv4')) == []
    assert bs.parse_rib_prefix(doc('rr1_prefix_absent_ipv6')) == []


def test_installed_routes_of_the_core():
    routes = bs.parse_routes(doc('core1_ipv4_route_bgp'))
    assert routes == {'198.51.100.10/32': {'nexthops': ['172.16.0.11'], 'installed': True},
                      '198.51.100.11/32': {'nexthops': ['172.16.0.12'], 'installed': True}}
    assert bs.parse_routes(doc('core1_route_web1_ipv4')) == {
        '198.51.100.10/32': {'nexthops': ['172.16.0.11'], 'installed': True}}
    assert bs.parse_routes(doc('core1_ipv6_route_bgp'))['2001:db8:100::a/128'] == {
        'nexthops': ['fd0c:172:16::11'], 'installed': True}
    assert bs.parse_routes(doc('core1_route_absent_ipv4')) == {}
    # on the node the kernel route of the VM wins: no BGP route is selected there
    assert bs.parse_routes(doc('node1_route_web1_ipv4')) == {}


def test_several_commands_in_one_vtysh_run():
    rec = recorded('rr1_multi')
    docs = bs.split_documents(rec['stdout'], 4)
    assert 'ipv4Unicast' in docs[0] and docs[3] == {}
    assert bs.parse_rib_prefix(docs[1]) == bs.parse_rib_prefix(doc('rr1_prefix_web1_ipv4'))
    with pytest.raises(bs.BgpReadError, match='printed 4 JSON documents for 5 commands'):
        bs.split_documents(rec['stdout'], 5)
    with pytest.raises(bs.BgpReadError, match='not JSON: % Unknown command'):
        bs.split_documents('{}\n% Unknown command: show bgp foo', 2)


# ---------------------------------------------------------------------------------------------------------
# the request

@pytest.mark.parametrize('options,message', [
    ({'peers': ['rr1']}, "peers[0]: 'rr1' is not an IP address"),
    ({'nexthops': ['172.16.0.300']}, "nexthops[0]: '172.16.0.300' is not an IP address"),
    ({'prefixes': ['198.51.100.1/24']}, "prefixes[0]: '198.51.100.1/24' is not an address or prefix "
                                        "(198.51.100.1/24 has host bits set)"),
    ({'prefixes': ['198.51.100.1', 'web1']}, "prefixes[1]: 'web1' is not an address or prefix"),
    ({'afi': ['ipv4', 'ipv5']}, "afi[1]: 'ipv5' is not an address family (ipv4, ipv6)"),
    ({'afi': []}, 'afi: give at least one of ipv4, ipv6'),
    ({'afi': ['ipv4'], 'peers': ['fd0c:172:16::2']}, 'peers[0]: fd0c:172:16::2 is IPv6 but afi is [ipv4]'),
    ({'timeout': -1}, 'timeout: -1 must be >= 0 seconds'),
    ({'interval': 0}, 'interval: 0 must be > 0 seconds'),
    ({'timeout': '60s'}, "timeout: '60s' is not a number of seconds"),
    ({'wait': 'up'}, "wait: 'up' is not one of established, best_path, installed, absent"),
    ({'wait': 'established'}, 'peers: wait=established needs the peers'),
    ({'wait': 'best_path', 'prefixes': WEB1}, 'peers: wait=best_path needs the peers (or nexthops)'),
    ({'wait': 'absent'}, 'prefixes: wait=absent needs the prefixes'),
    ({'wait': 'installed', 'prefixes': WEB1, 'peers': NODE1}, 'peers: wait=installed looks at the installed routes'),
])
def test_bad_input_names_the_field(options, message):
    with pytest.raises(bs.BgpInputError) as err:
        bs.check_request(**options)
    assert message in str(err.value)


def test_addresses_are_canonical_and_plain_addresses_host_prefixes():
    req = bs.check_request(prefixes=['198.51.100.10', '2001:DB8:100:0::A'], peers=['FD0C:172:16::0002', '172.16.0.2'],
                           nexthops=['172.16.0.12', '172.16.0.12'])
    assert req.prefixes == WEB1 and req.peers == ['fd0c:172:16::2', '172.16.0.2'] and req.nexthops == ['172.16.0.12']


def test_commands_of_a_read():
    def cmds(**options):
        return [c[3] for c in bs.commands(bs.check_request(**options))]

    assert cmds() == ['show bgp summary json']
    assert cmds(rib=True, routes=True) == ['show bgp summary json', 'show bgp ipv4 unicast json',
                                           'show bgp ipv6 unicast json', 'show ip route bgp json',
                                           'show ipv6 route bgp json']
    assert cmds(rib=True, afi=['ipv6']) == ['show bgp summary json', 'show bgp ipv6 unicast json']
    # a wait reads what it needs; prefixes of one family read nothing of the other
    assert cmds(wait='best_path', prefixes=[WEB1[0]], peers=NODE2) == [
        'show bgp summary json', 'show bgp ipv4 unicast 198.51.100.10/32 json']
    assert cmds(wait='installed', prefixes=WEB1) == ['show bgp summary json', 'show ip route 198.51.100.10/32 json',
                                                     'show ipv6 route 2001:db8:100::a/128 json']
    many = ['198.51.100.%d' % i for i in range(1, bs.PER_PREFIX_MAX + 2)]
    assert cmds(rib=True, prefixes=many) == ['show bgp summary json', 'show bgp ipv4 unicast json']


# ---------------------------------------------------------------------------------------------------------
# reading and waiting

def test_read_everything_of_the_core():
    res, fake = gather('core1', rib=True, routes=True)
    assert fake.calls == [['vtysh', '-c', 'show bgp summary json', '-c', 'show bgp ipv4 unicast json',
                           '-c', 'show bgp ipv6 unicast json', '-c', 'show ip route bgp json',
                           '-c', 'show ipv6 route bgp json']]
    assert res['commands'] == fake.calls[0][2::2] and 'wait' not in res
    assert {(s['peer'], s['state']) for s in res['sessions'] if s['afi'] == 'ipv6'} == {
        ('fd0c:172:16::2', 'Established'), ('fd0c:172:16::3', 'Active')}
    assert sorted(res['rib']['ipv4']) == ['198.51.100.10/32', '198.51.100.11/32']
    assert res['routes']['ipv6']['2001:db8:100::b/128'] == {'nexthops': ['fd0c:172:16::12'], 'installed': True}


def test_only_some_prefixes():
    res, fake = gather('rr1', rib=True, prefixes=[WEB1[1], '2001:db8:100::99'])
    assert fake.calls[0][2::2] == ['show bgp summary json', 'show bgp ipv6 unicast 2001:db8:100::a/128 json',
                                   'show bgp ipv6 unicast 2001:db8:100::99/128 json']
    assert res['rib'] == {'ipv4': {}, 'ipv6': {WEB1[1]: res['rib']['ipv6'][WEB1[1]]}}
    assert len(res['rib']['ipv6'][WEB1[1]]) == 2


def test_bgpd_not_running():
    with pytest.raises(bs.BgpReadError, match=r'vtysh failed \(rc 1\): bgpd is not running'):
        gather('node2', vtysh=FakeVtysh('node2', down=True))


def test_wait_established_until_the_sessions_come_up():
    summary = doc('node1_summary')
    down = json.loads(json.dumps(summary))
    for block in down.values():
        for peer in block['peers'].values():
            peer['state'] = 'Connect'
    fake = FakeVtysh('node1', script=[{'show bgp summary json': json.dumps(down)}] * 2 + [{}])
    clock = Clock()
    res, fake = gather('node1', clock=clock, vtysh=fake, wait='established',
                       peers=['172.16.0.2', '172.16.0.3', 'fd0c:172:16::2'], interval=2)
    assert res['wait'] == {'condition': 'established', 'met': True, 'seconds': 4.0, 'reads': 3, 'seen': [
        '172.16.0.2 (rr1) (ipv4): Established', '172.16.0.3 (rr2) (ipv4): Established',
        'fd0c:172:16::2 (rr1) (ipv6): Established']}
    assert clock.sleeps == [2, 2] and len(fake.calls) == 3


def test_wait_established_gives_up_on_a_route_reflector_without_ipv6():
    """Issue 12.5 from the node's side: rr2 (route_reflector.sh) has no IPv6 session with the node."""
    clock = Clock()
    with pytest.raises(bs.WaitTimeout) as err:
        gather('node1', clock=clock, wait='established', peers=RRS, timeout=10, interval=2)
    msg = err.value.message
    assert msg.startswith('gave up after 10 s (6 reads) waiting for the sessions to 172.16.0.2, 172.16.0.3, '
                          'fd0c:172:16::2, fd0c:172:16::3 to be Established. Last seen: ')
    assert 'fd0c:172:16::3 (ipv6): Active' in msg and '172.16.0.3 (rr2) (ipv4): Established' in msg
    assert ('Likely cause: no session to fd0c:172:16::3 in ipv6 (Active, never established): the peer does not '
            'accept it: it has no IPv6 neighbor for node1') in msg
    result = err.value.result
    assert result['wait']['met'] is False and result['wait']['reads'] == 6 and result['sessions']


def test_wait_best_path_gives_up_on_a_route_reflector_without_ipv6():
    """Issue 12.5 from the route reflector's side (vm_migrate.yml's wait): rr2 never gets the IPv6 prefix."""
    with pytest.raises(bs.WaitTimeout) as err:
        gather('rr2', wait='best_path', prefixes=WEB1, peers=NODE1, timeout=0)
    msg = err.value.message
    assert 'gave up after 0 s (1 read) waiting for the best path of 198.51.100.10/32, 2001:db8:100::a/128 to ' \
           'come from 172.16.0.11, fd0c:172:16::11.' in msg
    assert '198.51.100.10/32: best path from 172.16.0.11 (node1) (local-preference 100)' in msg
    assert '2001:db8:100::a/128: not in the BGP table' in msg
    assert ('Likely cause: 2001:db8:100::a/128: no path from 172.16.0.11, fd0c:172:16::11: no session to '
            'fd0c:172:16::11 in ipv6: rr2 has no IPv6 unicast session with any peer') in msg
    assert "route_reflector.sh" in msg


def test_wait_best_path_while_the_source_still_announces():
    with pytest.raises(bs.WaitTimeout) as err:
        gather('rr1', wait='best_path', prefixes=WEB1, peers=NODE2, timeout=0)
    msg = err.value.message
    assert ('198.51.100.10/32: the path from 172.16.0.12 (node2) (local-preference 50) is there but not best '
            '(from 172.16.0.11 (node1) (local-preference 100) is preferred)') in msg


def test_wait_best_path_after_the_switch():
    switched = {'show bgp ipv4 unicast 198.51.100.10/32 json': recorded('rr1_switched_web1_ipv4')['stdout'],
                'show bgp ipv6 unicast 2001:db8:100::a/128 json': recorded('rr1_switched_web1_ipv6')['stdout']}
    res, dummy = gather('rr1', vtysh=FakeVtysh('rr1', override=switched), wait='best_path', prefixes=WEB1,
                        peers=NODE2)
    assert res['wait']['met'] and res['wait']['reads'] == 1
    assert res['wait']['seen'] == [
        '198.51.100.10/32: best path from 172.16.0.12 (node2) (local-preference 50)',
        '2001:db8:100::a/128: best path from fd0c:172:16::12 (node2) (local-preference 50)']


def test_wait_best_path_by_next_hop_on_the_core():
    """The core's paths come from the route reflectors; the node is the next hop."""
    res, dummy = gather('core1', wait='best_path', prefixes=WEB1, nexthops=NODE1)
    assert res['wait']['met']
    assert res['wait']['seen'][0].startswith('198.51.100.10/32: best path from 172.16.0.2 (rr1) via 172.16.0.11')
    with pytest.raises(bs.WaitTimeout, match='no path via 172.16.0.12, fd0c:172:16::12'):
        gather('core1', wait='best_path', prefixes=WEB1, nexthops=NODE2, timeout=0)


def test_wait_installed():
    res, fake = gather('core1', wait='installed', prefixes=WEB1, nexthops=NODE1)
    assert res['wait']['met'] and res['routes']['ipv4'] == {WEB1[0]: {'nexthops': ['172.16.0.11'], 'installed': True}}
    with pytest.raises(bs.WaitTimeout) as err:
        gather('core1', wait='installed', prefixes=[WEB1[0], '198.51.100.99'], nexthops=NODE2, timeout=0)
    msg = err.value.message
    assert '198.51.100.10/32: installed via 172.16.0.11, not via 172.16.0.12, fd0c:172:16::12' in msg
    assert '198.51.100.99/32: no BGP route installed' in msg


def test_wait_absent():
    res, dummy = gather('rr1', wait='absent', prefixes=['198.51.100.99', '2001:db8:100::99'])
    assert res['wait']['met'] and res['wait']['seen'] == ['198.51.100.99/32: absent', '2001:db8:100::99/128: absent']
    # from one peer only: node1's path goes, node2's stays
    with pytest.raises(bs.WaitTimeout) as err:
        gather('rr1', wait='absent', prefixes=[WEB1[0]], peers=['172.16.0.11'], timeout=0)
    assert ('198.51.100.10/32 is still announced: withdraw it on 172.16.0.11 (node1) (its network statement, '
            'or the route that import-check follows)') in err.value.message
    assert 'node2' not in err.value.message.split('Likely cause')[1]


def test_wait_on_bgpd_that_is_down_says_so():
    with pytest.raises(bs.WaitTimeout) as err:
        gather('node2', vtysh=FakeVtysh('node2', down=True), wait='established', peers=['172.16.0.2'], timeout=4)
    msg = err.value.message
    assert 'Last seen: the read failed: vtysh failed (rc 1): bgpd is not running.' in msg
    assert 'Likely cause: FRR could not be read' in msg


@pytest.mark.parametrize('host,options', [
    ('node1', {'wait': 'established', 'peers': ['fd0c:172:16::3']}),
    ('rr2', {'wait': 'best_path', 'prefixes': WEB1, 'peers': NODE1}),
    ('rr2', {'wait': 'best_path', 'prefixes': ['2001:db8:100::a'], 'nexthops': ['fd0c:172:16::11']}),
    ('rr1', {'wait': 'absent', 'prefixes': WEB1}),
    ('core1', {'wait': 'installed', 'prefixes': ['198.51.100.99']}),
])
def test_a_timeout_never_has_an_empty_message(host, options):
    with pytest.raises(bs.WaitTimeout) as err:
        gather(host, timeout=0, **options)
    head, dummy, cause = err.value.message.partition('Likely cause: ')
    assert 'Last seen: ' in head and len(cause.strip(' .')) > 20, err.value.message
