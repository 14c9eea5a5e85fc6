# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os

from ansible_collections.vmnet.ipfabric.plugins.modules import frr_config
from ansible_collections.vmnet.ipfabric.plugins.modules import frr_network

from .modhelper import run_module

FIX = os.path.join(os.path.dirname(__file__), '..', 'module_utils', 'fixtures')
POOLS = ['198.51.100.0/24', '2001:db8:100::/64']


def fixture(name):
    with open(os.path.join(FIX, name)) as f:
        return f.read()


class FakeFrr(object):
    """vtysh that applies 'network' lines of -f files to a running config text."""

    def __init__(self, running):
        self.running = running
        self.files = []

    def __call__(self, args, kwargs):
        if args == ['/usr/bin/vtysh', '-c', 'show running-config']:
            return 0, self.running, ''
        if args[:2] == ['/usr/bin/vtysh', '-C']:
            self.files.append(open(args[-1]).read())
            return 0, '', ''
        if args[:2] == ['/usr/bin/vtysh', '-f']:
            for line in open(args[-1]).read().splitlines():
                s = line.strip()
                if s.startswith('no network '):
                    self.running = '\n'.join(l for l in self.running.splitlines() if l.strip() != s[3:]) + '\n'
                elif s.startswith('network '):
                    fam = 'ipv6' if ':' in s else 'ipv4'
                    anchor = ' address-family %s unicast\n' % fam
                    self.running = self.running.replace(anchor, anchor + '  %s\n' % s, 1)
            return 0, '', ''
        if args == ['/usr/bin/vtysh', '-c', 'write memory']:
            return 0, '', ''
        raise AssertionError('unexpected command %r' % args)


def test_frr_network_outside_pool_fails_before_any_command(monkeypatch, capsys):
    res, calls = run_module(frr_network.main, dict(pools=POOLS, prefixes=['198.51.100.1', '203.0.113.9']),
                            FakeFrr(''), monkeypatch, capsys)
    assert res['failed'] and 'prefixes[1]' in res['msg'] and '203.0.113.9/32' in res['msg']
    assert calls == []


def test_frr_network_check_mode(monkeypatch, capsys):
    frr = FakeFrr(fixture('frr84_running.txt'))
    args = dict(pools=POOLS, prefixes=['198.51.100.10', '198.51.100.12/32', '2001:db8:100::12'], reconcile=True,
                _ansible_check_mode=True, _ansible_diff=True)
    res, calls = run_module(frr_network.main, args, frr, monkeypatch, capsys)
    assert res['changed'] is True
    assert res['added'] == ['198.51.100.12/32', '2001:db8:100::12/128']
    # 192.0.2.0/24 is outside the pools: reconcile leaves it alone
    assert res['removed'] == ['198.51.100.11/32', '2001:db8:100::20/128']
    assert len(calls) == 1 and frr.files == []
    assert 'network 192.0.2.0/24' in res['diff']['after']


def test_frr_network_apply_and_idempotence(monkeypatch, capsys):
    frr = FakeFrr(fixture('frr84_running.txt'))
    args = dict(pools=POOLS, prefixes=['198.51.100.12', '2001:db8:100::12'])
    res, calls = run_module(frr_network.main, args, frr, monkeypatch, capsys)
    assert res['changed'] is True and not res.get('failed'), res
    assert ['/usr/bin/vtysh', '-c', 'write memory'] in [c[0] for c in calls]
    assert frr.files[0].splitlines()[0] == 'router bgp 65000'
    assert not any('clear' in ' '.join(c[0]) for c in calls)
    res2, calls2 = run_module(frr_network.main, args, frr, monkeypatch, capsys)
    assert res2['changed'] is False and len(calls2) == 1


def test_frr_network_asn_mismatch(monkeypatch, capsys):
    res, calls = run_module(frr_network.main, dict(pools=POOLS, prefixes=['198.51.100.12'], asn=65001),
                            FakeFrr(fixture('frr84_running.txt')), monkeypatch, capsys)
    assert res['failed'] and 'router bgp 65000' in res['msg']


def test_frr_network_without_router_bgp(monkeypatch, capsys):
    res, calls = run_module(frr_network.main, dict(pools=POOLS, prefixes=['198.51.100.12']),
                            FakeFrr('hostname x\n'), monkeypatch, capsys)
    assert res['failed'] and 'no "router bgp"' in res['msg']


SRC = """router bgp 65000
 neighbor 172.16.0.2 remote-as 65000
 neighbor 172.16.0.2 password t0psecret
 address-family ipv4 unicast
  neighbor 172.16.0.2 activate
 exit-address-family
exit
"""


class FakeReload(FakeFrr):
    def __init__(self, running, test_output, syntax_ok=True):
        FakeFrr.__init__(self, running)
        self.test_output = test_output
        self.syntax_ok = syntax_ok
        self.reloaded = False

    def __call__(self, args, kwargs):
        if args[:2] == ['/usr/bin/vtysh', '-C']:
            self.files.append(open(args[-1]).read())
            if not self.syntax_ok:
                return 2, 'line 3: % Unknown command[4]:  neighbor 172.16.0.2 password t0psecret', ''
            return 0, '', ''
        if '--test' in args:
            return 0, ('' if self.reloaded else self.test_output), ''
        if '--reload' in args:
            self.reloaded = True
            return 0, '', ''
        return FakeFrr.__call__(self, args, kwargs)


TEST_OUT = """
Lines To Delete
===============
router bgp 65000
 no neighbor 172.16.0.2 password 0ldsecret

Lines To Add
============
router bgp 65000
 neighbor 172.16.0.2 password t0psecret
"""


def _src(tmp_path):
    p = tmp_path / 'base.conf'
    p.write_text(SRC)
    reload_py = tmp_path / 'frr-reload.py'
    reload_py.write_text('#!/usr/bin/python3\n')
    return str(p), str(reload_py)


def test_frr_config_check_mode_masks_and_preserves(monkeypatch, capsys, tmp_path):
    src, reload_py = _src(tmp_path)
    frr = FakeReload(fixture('frr84_running.txt'), TEST_OUT)
    args = dict(src=src, pools=POOLS, frr_reload=reload_py, _ansible_check_mode=True, _ansible_diff=True)
    res, calls = run_module(frr_config.main, args, frr, monkeypatch, capsys)
    assert res['changed'] is True
    text = capsys.readouterr().out + repr(res)
    assert 't0psecret' not in text and '0ldsecret' not in text
    assert ' neighbor 172.16.0.2 password ********' in res['lines_to_add']
    assert not frr.reloaded
    cand = frr.files[0]
    assert '  network 198.51.100.11/32 route-map RM-VM' in cand
    assert '  network 2001:db8:100::20/128' in cand
    assert 'network 192.0.2.0/24' not in cand
    assert sorted(res['preserved_networks']) == ['network 198.51.100.10/32', 'network 198.51.100.11/32 route-map RM-VM',
                                                 'network 2001:db8:100::20/128']


def test_frr_config_apply_then_no_change(monkeypatch, capsys, tmp_path):
    src, reload_py = _src(tmp_path)
    frr = FakeReload(fixture('frr84_running.txt'), TEST_OUT)
    res, calls = run_module(frr_config.main, dict(src=src, pools=POOLS, frr_reload=reload_py), frr, monkeypatch, capsys)
    assert res['changed'] and frr.reloaded and not res.get('failed')
    assert ['/usr/bin/vtysh', '-c', 'write memory'] in [c[0] for c in calls]
    res2, calls2 = run_module(frr_config.main, dict(src=src, pools=POOLS, frr_reload=reload_py), frr, monkeypatch, capsys)
    assert res2['changed'] is False
    assert not any('--reload' in c[0] for c in calls2)


def test_frr_config_syntax_error_changes_nothing(monkeypatch, capsys, tmp_path):
    src, reload_py = _src(tmp_path)
    frr = FakeReload(fixture('frr84_running.txt'), TEST_OUT, syntax_ok=False)
    res, calls = run_module(frr_config.main, dict(src=src, pools=POOLS, frr_reload=reload_py), frr, monkeypatch, capsys)
    assert res['failed'] and 'Unknown command' in res['msg'] and 't0psecret' not in res['msg']
    assert not any('--test' in c[0] or '--reload' in c[0] for c in calls)
    assert not frr.reloaded


FRR_REJECT = """% Configuration failed.

Error type: validation
Error description: Invalid prefix range for 192.0.2.0/24: Make sure that mask length <= ge <= le
The following commands were dynamically grouped into the same transaction and rejected:
- ip prefix-list SAFE_TEST seq 5 permit 192.0.2.0/24 ge 8
"""


class FakeFailingReload(FakeReload):
    """frr-reload.py whose --reload of the candidate half-applies it: FRR rejects a line (rc 0 or
    ``reload_rc``), so --test still reports lines to add. --reload of the saved config restores."""

    def __init__(self, running, test_output, reload_rc=0, rollback_ok=True):
        FakeReload.__init__(self, running, test_output)
        self.reload_rc = reload_rc
        self.rollback_ok = rollback_ok
        self.state = 'before'     # before | half | restored
        self.saved_text = None

    def __call__(self, args, kwargs):
        target = args[-1]
        saved = 'saved-running' in target
        if '--reload' in args:
            if saved:
                self.saved_text = open(target).read()
                if self.rollback_ok:
                    self.state = 'restored'
                    return 0, '', ''
                return 1, '% Unknown command: boom', ''
            self.state = 'half'
            return self.reload_rc, FRR_REJECT, ''
        if '--test' in args:
            if saved:
                return 0, ('' if self.state == 'restored' else 'Lines To Add\n============\nlog syslog informational\n'), ''
            return 0, self.test_output, ''
        return FakeReload.__call__(self, args, kwargs)


def _reload_calls(calls):
    return [c[0][-1] for c in calls if '--reload' in c[0]]


def test_frr_config_rejected_line_rolls_back_and_fails_with_frr_message(monkeypatch, capsys, tmp_path):
    src, reload_py = _src(tmp_path)
    frr = FakeFailingReload(fixture('frr84_running.txt'), TEST_OUT)
    res, calls = run_module(frr_config.main, dict(src=src, pools=POOLS, frr_reload=reload_py), frr, monkeypatch, capsys)
    assert res['failed']
    assert 'Invalid prefix range for 192.0.2.0/24' in res['msg']
    assert 'rolled back to the previous running config' in res['msg']
    assert 'did not apply lines of the candidate' in res['msg']
    assert 't0psecret' not in res['msg'] and '0ldsecret' not in repr(res)
    reloads = _reload_calls(calls)
    assert len(reloads) == 2 and 'saved-running' in reloads[1]
    # the saved config is the running config read just before the reload
    assert frr.saved_text.strip() == frr_config._frr.strip_vtysh_noise(frr.running).strip()
    assert frr.state == 'restored'
    assert ['/usr/bin/vtysh', '-c', 'write memory'] in [c[0] for c in calls]
    assert not os.path.exists(reloads[1])


def test_frr_config_reload_error_rolls_back(monkeypatch, capsys, tmp_path):
    src, reload_py = _src(tmp_path)
    frr = FakeFailingReload(fixture('frr84_running.txt'), TEST_OUT, reload_rc=1)
    res, calls = run_module(frr_config.main, dict(src=src, pools=POOLS, frr_reload=reload_py), frr, monkeypatch, capsys)
    assert res['failed'] and 'frr-reload.py --reload failed (rc=1)' in res['msg']
    assert 'Invalid prefix range' in res['msg'] and 'rolled back' in res['msg']
    assert frr.state == 'restored'


def test_frr_config_failed_rollback_is_reported_and_kept(monkeypatch, capsys, tmp_path):
    src, reload_py = _src(tmp_path)
    frr = FakeFailingReload(fixture('frr84_running.txt'), TEST_OUT, rollback_ok=False)
    res, calls = run_module(frr_config.main, dict(src=src, pools=POOLS, frr_reload=reload_py), frr, monkeypatch, capsys)
    assert res['failed'] and 'ROLLBACK to the previous running config FAILED' in res['msg']
    kept = src + '.running-before-failed-reload'
    assert kept in res['msg'] and os.path.exists(kept)
    assert oct(os.stat(kept).st_mode & 0o777) == oct(0o600)


def test_frr_config_content_writes_dest_only_once_frr_runs_it(monkeypatch, capsys, tmp_path):
    """content + dest: base.conf is written after the reload succeeded, and a second run is a no-op."""
    dummy, reload_py = _src(tmp_path)
    dest = str(tmp_path / 'frr' / 'base.conf')
    frr = FakeReload(fixture('frr84_running.txt'), TEST_OUT)
    args = dict(content=SRC, dest=dest, dest_group='no-such-group-here', pools=POOLS, frr_reload=reload_py)
    res, calls = run_module(frr_config.main, dict(args, _ansible_check_mode=True), frr, monkeypatch, capsys)
    assert res['changed'] and res['dest_changed'] and not os.path.exists(dest)      # check mode: nothing written
    res, calls = run_module(frr_config.main, args, frr, monkeypatch, capsys)
    assert res['changed'] and frr.reloaded and open(dest).read() == SRC
    assert oct(os.stat(dest).st_mode & 0o777) == oct(0o640)
    assert 't0psecret' not in capsys.readouterr().out
    res2, dummy = run_module(frr_config.main, args, frr, monkeypatch, capsys)
    assert res2['changed'] is False and res2['dest_changed'] is False


def test_frr_config_content_rejected_leaves_dest_as_it_was(monkeypatch, capsys, tmp_path):
    """The put-back on rejection is the module's: a config FRR refuses never reaches dest."""
    dummy, reload_py = _src(tmp_path)
    dest = tmp_path / 'base.conf.kept'
    dest.write_text('! the config FRR accepted last time\n')
    frr = FakeFailingReload(fixture('frr84_running.txt'), TEST_OUT)
    res, calls = run_module(frr_config.main, dict(content=SRC, dest=str(dest), pools=POOLS, frr_reload=reload_py),
                            frr, monkeypatch, capsys)
    assert res['failed'] and 'rolled back' in res['msg']
    assert dest.read_text() == '! the config FRR accepted last time\n'
    frr = FakeReload(fixture('frr84_running.txt'), TEST_OUT, syntax_ok=False)
    res, calls = run_module(frr_config.main, dict(content=SRC, dest=str(dest), pools=POOLS, frr_reload=reload_py),
                            frr, monkeypatch, capsys)
    assert res['failed'] and dest.read_text() == '! the config FRR accepted last time\n'


def test_frr_config_dest_is_rewritten_when_frr_already_runs_the_config(monkeypatch, capsys, tmp_path):
    dummy, reload_py = _src(tmp_path)
    dest = tmp_path / 'base.conf'
    dest.write_text('! stale\n')
    frr = FakeReload(fixture('frr84_running.txt'), TEST_OUT)
    frr.reloaded = True            # --test reports nothing to do
    res, calls = run_module(frr_config.main, dict(content=SRC, dest=str(dest), pools=POOLS, frr_reload=reload_py),
                            frr, monkeypatch, capsys)
    assert res['changed'] and res['dest_changed'] and dest.read_text() == SRC
    assert not any('--reload' in c[0] for c in calls)


def test_frr_config_needs_exactly_one_source(monkeypatch, capsys, tmp_path):
    src, reload_py = _src(tmp_path)
    res, calls = run_module(frr_config.main, dict(content=SRC, src=src, pools=POOLS), FakeFrr(''), monkeypatch, capsys)
    assert res['failed'] and 'mutually exclusive' in res['msg'] and calls == []
    res, calls = run_module(frr_config.main, dict(dest=src, pools=POOLS), FakeFrr(''), monkeypatch, capsys)
    assert res['failed'] and calls == []
