# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vmnet.ipfabric.bird_bgp through AnsibleModule, on birdc output recorded from BIRD 2.0.12 (the lab's
node3): argv lists, read-only, check mode, a wait that times out, BIRD not answering, bad input."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import sys

import pytest

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _bgp_state
from ansible_collections.vmnet.ipfabric.plugins.modules import bird_bgp

from .modhelper import run_module

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'module_utils'))
from test_bird import FakeBirdc  # noqa: E402


@pytest.fixture(autouse=True)
def no_real_sleep(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(_bgp_state.time, 'monotonic', lambda: now[0])
    monkeypatch.setattr(_bgp_state.time, 'sleep', lambda s: now.__setitem__(0, now[0] + s))


def answer(fake):
    def _answer(args, kwargs):
        assert isinstance(args, list) and not kwargs.get('use_unsafe_shell'), (args, kwargs)
        words = args[1:]
        if words[:1] == ['-s']:
            words = words[2:]
        return fake(['/usr/sbin/birdc'] + words)
    return _answer


def test_gathered_sessions(monkeypatch, capsys):
    res, calls = run_module(bird_bgp.main, {}, answer(FakeBirdc()), monkeypatch, capsys)
    assert [c[0] for c in calls] == [['/usr/bin/birdc', 'show', 'status'], ['/usr/bin/birdc', 'show', 'protocols', 'all']]
    assert res['changed'] is False and not res.get('failed')
    assert len(res['sessions']) == 4 and all(s['state'] == 'Established' for s in res['sessions'])
    assert res['rib'] is None


def test_check_mode_reads_the_same(monkeypatch, capsys):
    args = {'rib': True, 'prefixes': ['198.51.100.1']}
    res, calls = run_module(bird_bgp.main, args, answer(FakeBirdc()), monkeypatch, capsys)
    res2, calls2 = run_module(bird_bgp.main, dict(args, _ansible_check_mode=True), answer(FakeBirdc()), monkeypatch, capsys)
    assert calls == calls2
    for key in ('sessions', 'rib', 'changed'):
        assert res[key] == res2[key]
    assert list(res['rib']['ipv4']) == ['198.51.100.1/32'] and res['rib']['ipv4']['198.51.100.1/32'][0]['local']


def test_socket_option_is_one_argv_word(monkeypatch, capsys):
    res, calls = run_module(bird_bgp.main, {'socket': '/run/bird/other.ctl'}, answer(FakeBirdc()), monkeypatch, capsys)
    assert calls[0][0] == ['/usr/bin/birdc', '-s', '/run/bird/other.ctl', 'show', 'status'], calls


def test_bird_down_is_a_clear_failure(monkeypatch, capsys):
    res, dummy = run_module(bird_bgp.main, {}, answer(FakeBirdc(fail='show status')), monkeypatch, capsys)
    assert res['failed'] and res['changed'] is False
    assert 'birdc show status failed' in res['msg'] and 'Unable to connect' in res['msg'], res['msg']
    assert res['commands'] == ['show status']


def test_wait_absent_times_out_naming_the_prefix(monkeypatch, capsys):
    args = {'rib': True, 'prefixes': ['198.51.100.1'], 'wait': 'absent', 'timeout': 4, 'interval': 1}
    res, calls = run_module(bird_bgp.main, args, answer(FakeBirdc()), monkeypatch, capsys)
    assert res['failed'] and '198.51.100.1/32' in res['msg'], res['msg']
    assert len(calls) > 7      # it read again while it waited


@pytest.mark.parametrize('args,field', [
    ({'peers': ['not-an-address'], 'wait': 'established'}, "peers[0]: 'not-an-address' is not an IP address"),
    ({'timeout': -5, 'wait': 'absent', 'prefixes': ['198.51.100.1']}, 'timeout: -5.0 must be >= 0 seconds'),
    ({'afi': ['inet6']}, 'afi'),
])
def test_bad_input_runs_nothing(monkeypatch, capsys, args, field):
    res, calls = run_module(bird_bgp.main, args, answer(FakeBirdc()), monkeypatch, capsys)
    assert res['failed'] and field in res['msg'] and calls == [], res
