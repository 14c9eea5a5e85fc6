# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""frr_network route_map: the migration's lower-preference announcement and its switch back."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.vmnet.ipfabric.plugins.modules import frr_network

from .modhelper import run_module
from .test_frr_modules import FakeFrr, POOLS, fixture


class ReplacingFrr(FakeFrr):
    """Like FRR: re-entering ``network P [route-map X]`` replaces the statement of P."""

    def __call__(self, args, kwargs):
        if args[:2] == ['/usr/bin/vtysh', '-f']:
            for line in open(args[-1]).read().splitlines():
                s = line.strip()
                if s.startswith('network '):
                    prefix = s.split()[1]
                    self.running = '\n'.join(l for l in self.running.splitlines()
                                             if l.strip().split()[:2] != ['network', prefix]) + '\n'
        return FakeFrr.__call__(self, args, kwargs)


def test_route_map_added_switched_and_idempotent(monkeypatch, capsys):
    frr = ReplacingFrr(fixture('frr84_running.txt'))
    args = dict(pools=POOLS, prefixes=['198.51.100.12', '2001:db8:100::12'], route_map='VMNET_MIGRATING')
    res, dummy = run_module(frr_network.main, args, frr, monkeypatch, capsys)
    assert res['changed'] and res['added'] == ['198.51.100.12/32', '2001:db8:100::12/128'], res
    assert '  network 198.51.100.12/32 route-map VMNET_MIGRATING' in frr.files[-1].splitlines()
    nets = {n['prefix']: n['route_map'] for n in res['networks']}
    assert nets['198.51.100.12/32'] == 'VMNET_MIGRATING' and nets['198.51.100.10/32'] == ''

    res, calls = run_module(frr_network.main, args, frr, monkeypatch, capsys)
    assert res['changed'] is False and len(calls) == 1

    # without route_map the statement keeps its route-map (vm_create re-run after a migration)
    res, calls = run_module(frr_network.main, dict(pools=POOLS, prefixes=['198.51.100.12']), frr, monkeypatch, capsys)
    assert res['changed'] is False and len(calls) == 1

    # the switch: route_map '' re-enters the plain statement
    args['route_map'] = ''
    res, dummy = run_module(frr_network.main, dict(args, _ansible_diff=True), frr, monkeypatch, capsys)
    assert res['changed'] and res['added'] == [] and res['updated'] == ['198.51.100.12/32', '2001:db8:100::12/128']
    assert '  network 198.51.100.12/32' in frr.files[-1].splitlines()
    assert 'VMNET_MIGRATING' in res['diff']['before'] and 'VMNET_MIGRATING' not in res['diff']['after']
    res, dummy = run_module(frr_network.main, args, frr, monkeypatch, capsys)
    assert res['changed'] is False


def test_bad_route_map_name_changes_nothing(monkeypatch, capsys):
    res, calls = run_module(frr_network.main, dict(pools=POOLS, prefixes=['198.51.100.12'], route_map='A B'),
                            FakeFrr(''), monkeypatch, capsys)
    assert res['failed'] and res['msg'].startswith('route_map:')
    assert calls == []
