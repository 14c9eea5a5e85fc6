# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The presence rule and the event parsers of the presence agent (pure functions)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import socket
import struct

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _iproute
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _libvirt
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _presence

SPEC = {'vm': 'web1', 'interface': 'web1_net0', 'ipv4': ['198.51.100.10/32'], 'ipv6': ['2001:db8:100::10/128'],
        'leaving_to': None}


def link(carrier=True):
    return _iproute.Link('web1_net0', kind='tap', alias='vmnet-ipfabric:web1', up=True, carrier=carrier)


def test_present_needs_carrier_and_no_suspend():
    assert _presence.is_present(link(), 'web1', set())
    assert not _presence.is_present(link(carrier=False), 'web1', set())
    assert not _presence.is_present(link(), 'web1', {'web1'})
    assert not _presence.is_present(None, 'web1', set())


def test_wanted_routes():
    assert _presence.wanted_routes(SPEC, True) == (['198.51.100.10/32', '2001:db8:100::10/128'], {})
    assert _presence.wanted_routes(SPEC, False) == ([], {})
    leaving = dict(SPEC, leaving_to={'ipv4': '172.16.0.12'})
    assert _presence.wanted_routes(leaving, False) == ([], {'198.51.100.10/32': '172.16.0.12'})
    assert _presence.wanted_routes(leaving, True)[1] == {}


def test_route_lines():
    assert _presence.main_route_lines(SPEC, {'198.51.100.10/32'}, True) == [
        'route replace 2001:db8:100::10/128 dev web1_net0 proto static']
    assert _presence.main_route_lines(SPEC, {'198.51.100.10/32', '198.51.100.99/32'}, False) == [
        'route del 198.51.100.10/32 dev web1_net0 proto static', 'route del 198.51.100.99/32 dev web1_net0 proto static']
    assert _presence.handover_lines({'198.51.100.10/32': '172.16.0.12'}, {'198.51.100.10/32': '172.16.0.13'}) == [
        'route del 198.51.100.10/32 table 4242',
        'route replace 198.51.100.10/32 via 172.16.0.12 table 4242 proto static']
    assert _presence.handover_rule_commands(True, {4}) == [['-6', 'rule', 'add', 'priority', '1000', 'lookup', '4242']]
    assert _presence.handover_rule_commands(False, set()) == []


def test_suspended_file_round_trip(tmp_path):
    assert _presence.read_suspended(str(tmp_path)) == set()
    _presence.write_suspended({'b', 'a'}, str(tmp_path / 'run'))
    assert _presence.read_suspended(str(tmp_path / 'run')) == {'a', 'b'}
    (tmp_path / 'run' / 'suspended.json').write_text('not json')
    assert _presence.read_suspended(str(tmp_path / 'run')) == set()


def test_lifecycle_lines():
    assert _presence.parse_lifecycle("event 'lifecycle' for domain 'web1': Suspended Migrated\n") == (
        'web1', 'Suspended', 'Migrated')
    assert _presence.parse_lifecycle("event 'lifecycle' for domain 'db.1': Shutdown Finished after host request") == (
        'db.1', 'Shutdown', 'Finished after host request')
    assert _presence.parse_lifecycle("event 'reboot' for domain 'web1'") is None
    assert _presence.suspended_after('Suspended') is True
    assert _presence.suspended_after('Resumed') is False and _presence.suspended_after('Stopped') is False
    assert _presence.suspended_after('Defined') is None


def _link_msg(name, flags, mtype=_presence.RTM_NEWLINK):
    attr_data = name.encode() + b'\0'
    attr = struct.pack('=HH', 4 + len(attr_data), _presence.IFLA_IFNAME) + attr_data
    attr += b'\0' * ((4 - len(attr) % 4) % 4)
    body = struct.pack('=BxHiII', socket.AF_UNSPEC, 1, 7, flags, 0xffffffff) + attr
    return struct.pack('=IHHII', 16 + len(body), mtype, 0, 0, 0) + body


def test_netlink_link_messages():
    data = _link_msg('web1_net0', 0x10043) + _link_msg('db1_net0', 0x1003) + _link_msg('x_net0', 0, _presence.RTM_DELLINK)
    assert _presence.parse_link_messages(data) == [('web1_net0', True, False), ('db1_net0', False, False),
                                                   ('x_net0', False, True)]
    assert _presence.parse_link_messages(data[:10]) == []


def test_libvirt_parsers():
    assert _libvirt.parse_list(' 1    web1   running\n -    db1    shut off\n') == {'web1': 'running', 'db1': 'shut off'}
    assert _libvirt.parse_domstate('paused (migrating)\n') == ('paused', 'migrating')
    job = _libvirt.parse_jobinfo('Job type:         Completed\nOperation:        Incoming migration\n'
                                 'Time elapsed:     792          ms\nData total:       96.625 MiB\n'
                                 'Total downtime:   129          ms\nIteration:        3\n')
    assert job == {'job': 'Completed', 'operation': 'Incoming migration', 'time_ms': 792, 'downtime_ms': 129,
                   'data_total': 101318656, 'iterations': 3}


def test_lxd_lifecycle_lines():
    line = ('{"location":"none","metadata":{"action":"instance-stopped","requestor":{"address":"@","protocol":"unix",'
            '"username":"root"},"source":"/1.0/instances/ct1"},"project":"default",'
            '"timestamp":"2026-12-01T21:04:14.880363913Z","type":"lifecycle"}')
    assert _presence.parse_lxd_lifecycle(line) == ('ct1', 'instance-stopped')
    assert _presence.parse_lxd_lifecycle(line.replace('instance-stopped', 'instance-paused')) == ('ct1', 'instance-paused')
    assert _presence.parse_lxd_lifecycle('') is None and _presence.parse_lxd_lifecycle('{not json') is None
    assert _presence.parse_lxd_lifecycle('{"type": "logging", "metadata": {}}') is None
    assert _presence.lxd_suspended_after('instance-paused') is True
    assert _presence.lxd_suspended_after('instance-resumed') is False
    assert _presence.lxd_suspended_after('instance-created') is None
