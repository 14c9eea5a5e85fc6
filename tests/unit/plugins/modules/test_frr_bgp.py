# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vmnet.ipfabric.frr_bgp through AnsibleModule: argv lists, read-only, check mode, bad input, a failed wait."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import sys

import pytest

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _bgp_state
from ansible_collections.vmnet.ipfabric.plugins.modules import frr_bgp

from .modhelper import run_module

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'module_utils'))
from bgp_fixtures import FakeVtysh  # noqa: E402


@pytest.fixture(autouse=True)
def no_real_sleep(monkeypatch):
    """Waits run on a clock that moves only when the module sleeps."""
    now = [100.0]
    monkeypatch.setattr(_bgp_state.time, 'monotonic', lambda: now[0])
    monkeypatch.setattr(_bgp_state.time, 'sleep', lambda s: now.__setitem__(0, now[0] + s))


def answer(fake):
    def _answer(args, kwargs):
        assert isinstance(args, list) and not kwargs.get('use_unsafe_shell'), (args, kwargs)
        return fake(args)
    return _answer


def test_gathered_reads_the_sessions_with_one_argv(monkeypatch, capsys):
    res, calls = run_module(frr_bgp.main, {}, answer(FakeVtysh('rr1')), monkeypatch, capsys)
    assert [c[0] for c in calls] == [['/usr/bin/vtysh', '-c', 'show bgp summary json']]
    assert res['changed'] is False and not res.get('failed')
    assert res['commands'] == ['show bgp summary json'] and 'rib' in res and res['rib'] is None
    assert len(res['sessions']) == 8 and res['speakers']['ipv6'] == {'router_id': '172.16.0.2', 'asn': 65000}


def test_check_mode_reads_the_same(monkeypatch, capsys):
    args = {'rib': True, 'routes': True, 'prefixes': ['198.51.100.10']}
    res, calls = run_module(frr_bgp.main, args, answer(FakeVtysh('core1')), monkeypatch, capsys)
    res_check, calls_check = run_module(frr_bgp.main, dict(args, _ansible_check_mode=True),
                                        answer(FakeVtysh('core1')), monkeypatch, capsys)
    assert calls == calls_check and [c[0] for c in calls] == [[
        '/usr/bin/vtysh', '-c', 'show bgp summary json', '-c', 'show bgp ipv4 unicast 198.51.100.10/32 json',
        '-c', 'show ip route 198.51.100.10/32 json']]
    for key in ('sessions', 'rib', 'routes', 'commands', 'changed'):
        assert res[key] == res_check[key]
    assert res['routes'] == {'ipv4': {'198.51.100.10/32': {'nexthops': ['172.16.0.11'], 'installed': True}},
                             'ipv6': {}}


@pytest.mark.parametrize('args,field', [
    ({'peers': ['not-an-address'], 'wait': 'established'}, "peers[0]: 'not-an-address' is not an IP address"),
    ({'afi': ['ipv4', 'inet6']}, 'afi'),
    ({'timeout': -5, 'wait': 'absent', 'prefixes': ['198.51.100.10']}, 'timeout: -5.0 must be >= 0 seconds'),
    ({'wait': 'best_path', 'prefixes': ['198.51.100.10']}, 'peers: wait=best_path needs'),
    ({'state': 'present'}, 'state'),
])
def test_bad_input_fails_before_any_command(monkeypatch, capsys, args, field):
    res, calls = run_module(frr_bgp.main, args, answer(FakeVtysh('rr1')), monkeypatch, capsys)
    assert res['failed'] and field in res['msg'] and calls == [], res
    assert not res.get('changed')


def test_a_wait_that_gives_up_says_why_and_returns_the_last_read(monkeypatch, capsys):
    args = {'wait': 'best_path', 'prefixes': ['198.51.100.10', '2001:db8:100::a'],
            'peers': ['172.16.0.11', 'fd0c:172:16::11'], 'timeout': 6, 'interval': 2}
    res, calls = run_module(frr_bgp.main, args, answer(FakeVtysh('rr2')), monkeypatch, capsys)
    assert res['failed'] and res['changed'] is False
    assert res['msg'].startswith('gave up after 6 s (4 reads) waiting for the best path of 198.51.100.10/32, '
                                 '2001:db8:100::a/128 to come from 172.16.0.11, fd0c:172:16::11.')
    assert 'no session to fd0c:172:16::11 in ipv6' in res['msg']
    assert len(calls) == 4 and res['wait']['reads'] == 4 and res['wait']['met'] is False
    assert [p['peer'] for p in res['rib']['ipv4']['198.51.100.10/32'] if p['best']] == ['172.16.0.11']


def test_a_wait_that_holds(monkeypatch, capsys):
    args = {'wait': 'established', 'peers': ['172.16.0.2', 'fd0c:172:16::2']}
    res, calls = run_module(frr_bgp.main, args, answer(FakeVtysh('node1')), monkeypatch, capsys)
    assert not res.get('failed') and res['changed'] is False and res['wait']['met'] and len(calls) == 1


def test_bgpd_down_fails_with_vtysh_s_words(monkeypatch, capsys):
    res, calls = run_module(frr_bgp.main, {}, answer(FakeVtysh('node2', down=True)), monkeypatch, capsys)
    assert res['failed'] and res['msg'] == 'vtysh failed (rc 1): bgpd is not running'
    assert res['commands'] == ['show bgp summary json']
