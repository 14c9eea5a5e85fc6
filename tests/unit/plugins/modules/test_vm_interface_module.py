# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os

import pytest

from ansible_collections.vmnet.ipfabric.plugins.modules import vm_interface
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _iproute

from .modhelper import run_module

FIX = os.path.join(os.path.dirname(__file__), '..', 'module_utils', 'fixtures')


def fixture(name):
    with open(os.path.join(FIX, name)) as f:
        return f.read()


def ip_answer(args, kwargs):
    if args[:2] == ['/usr/bin/ip', '-json']:
        rest = args[2:]
        if rest[:2] == ['-details', 'link']:
            return 0, fixture('ip_link.json'), ''
        if rest[:1] == ['addr']:
            return 0, fixture('ip_addr.json'), ''
        if rest[:2] == ['-4', 'route']:
            return 0, fixture('ip_route4.json'), ''
        if rest[:2] in (['-4', 'route'], ['-6', 'route']) and rest[-2:] == ['table', '4242']:
            return 2, '', 'Error: ipv4: FIB table does not exist.\nDump terminated\n'
        if rest[:2] == ['-6', 'route']:
            return 0, fixture('ip_route6.json'), ''
        if rest[1:2] == ['rule']:
            return 0, '[]', ''
    if args == ['/usr/bin/ip', '-batch', '-']:
        return 0, '', ''
    if args == ['/usr/bin/nft', '-j', 'list', 'table', 'inet', 'vmnet_ipfabric']:
        return 1, '', 'Error: No such file or directory\nlist table inet vmnet_ipfabric\n'
    if args == ['/usr/bin/nft', '-f', '-']:
        return 0, '', ''
    raise AssertionError('unexpected command %r' % args)


@pytest.fixture
def state_dir(tmp_path):
    d = tmp_path / 'state'
    d.mkdir()
    with open(str(d / 'vm_interfaces.json'), 'w') as f:
        f.write(fixture('vm_interfaces.json'))
    return str(d)


def test_bad_input_fails_before_any_command(monkeypatch, capsys, state_dir):
    args = dict(state_dir=state_dir, vms=[{'name': 'ok1', 'ipv4': ['198.51.100.1']}, {'name': 'bad/name'}])
    res, calls = run_module(vm_interface.main, args, ip_answer, monkeypatch, capsys)
    assert res['failed'] and 'vms[1].name' in res['msg']
    assert calls == []


def test_duplicate_address_fails_before_any_command(monkeypatch, capsys, state_dir):
    args = dict(state_dir=state_dir, vms=[{'name': 'a', 'ipv4': ['198.51.100.1']}, {'name': 'b', 'ipv4': ['198.51.100.1']}])
    res, calls = run_module(vm_interface.main, args, ip_answer, monkeypatch, capsys)
    assert res['failed'] and 'claimed by two VMs' in res['msg'] and calls == []


def test_check_mode_predicts_without_changing(monkeypatch, capsys, state_dir):
    monkeypatch.setattr(_iproute, 'read_sysctl', lambda path: None if 'vm1_net0' in path else 'x')
    before = os.listdir(state_dir)
    args = dict(state_dir=state_dir, _ansible_check_mode=True, _ansible_diff=True,
                vms=[{'name': 'vm1', 'ipv4': ['198.51.100.10'], 'ipv6': ['2001:db8:100::10']},
                     {'name': 'new-and-quite-long-vm', 'ipv4': ['198.51.100.40']}])
    res, calls = run_module(vm_interface.main, args, ip_answer, monkeypatch, capsys)
    assert res['changed'] is True
    assert [c[0] for c in calls if '-batch' in c[0]] == []          # nothing applied
    assert os.listdir(state_dir) == before                             # nothing written
    by_vm = dict((i['vm'], i) for i in res['interfaces'])
    assert by_vm['new-and-quite-long-vm']['interface'].startswith('new~')
    assert len(by_vm['new-and-quite-long-vm']['interface']) == 15
    assert 'link set dev vm1_net0 address 02:00:0a:00:00:01' in res['commands']
    assert [d['before_header'] for d in res['diff']] == ['vm1', 'new-and-quite-long-vm', 'nftables table inet vmnet_ipfabric']
    assert [c for c in calls if c[0][:2] == ['/usr/bin/nft', '-f']] == []          # the table neither
    assert res['state_files']['changed'] is True


def test_apply_runs_one_batch(monkeypatch, capsys, state_dir):
    writes = []
    monkeypatch.setattr(_iproute, 'read_sysctl', lambda path: '0')
    monkeypatch.setattr(_iproute, 'write_sysctl', lambda path, value: writes.append((path, value)))
    args = dict(state_dir=state_dir, vms=[{'name': 'vm1', 'ipv4': ['198.51.100.10'], 'ipv6': ['2001:db8:100::10']}])
    res, calls = run_module(vm_interface.main, args, ip_answer, monkeypatch, capsys)
    # the fake node never changes, so verification must fail: the module does not trust the batch blindly
    batches = [c for c in calls if c[0] == ['/usr/bin/ip', '-batch', '-']]
    assert len(batches) == 1
    assert batches[0][1]['data'] == 'link set dev vm1_net0 address 02:00:0a:00:00:01\n'
    assert res['failed'] and 'verification' in res['msg']
    assert ('/proc/sys/net/ipv4/conf/vm1_net0/rp_filter', '1') in writes
    # no anti-spoofing table on the node: the whole table, with every VM of the state file, in one nft run,
    # before the ip batch (a new interface is guarded before its VM can send)
    nfts = [i for i, c in enumerate(calls) if c[0] == ['/usr/bin/nft', '-f', '-']]
    assert len(nfts) == 1 and nfts[0] < calls.index(batches[0])
    script = calls[nfts[0]][1]['data']
    assert 'table inet vmnet_ipfabric {' in script and 'chain vm_source {' in script
    assert '"vm1_net0" . 198.51.100.10' in script.split('add element inet vmnet_ipfabric vm_ipv4 {')[1].split('}')[0]
    assert res['nft'] and not any(line.startswith('#') for line in res['nft'])


def test_gathered(monkeypatch, capsys, state_dir):
    res, calls = run_module(vm_interface.main, dict(state='gathered', state_dir=state_dir), ip_answer, monkeypatch, capsys)
    assert res['changed'] is False
    assert sorted(i['vm'] for i in res['interfaces']) == ['a-very-long-vm-name.example', 'vm1', 'vm2']
    assert len(calls) == 5     # one ip -json call each for link, addr, route -4, route -6; one nft -j list
    assert res['anti_spoofing'] == {'present': False, 'current': False, 'counters': {}}
    assert not any(i['anti_spoofing'] for i in res['interfaces'])


def test_anti_spoofing_needs_nft(monkeypatch, capsys, state_dir):
    """Without nft the module fails naming it, before any change; with anti_spoofing false it does not need it."""
    def no_nft(self, module):
        self.module, self.binary = module, None
    monkeypatch.setattr(vm_interface.Nft, '__init__', no_nft)
    monkeypatch.setattr(_iproute, 'read_sysctl', lambda path: '1')
    args = dict(state_dir=state_dir, vms=[{'name': 'vm1', 'ipv4': ['198.51.100.10']}])
    res, calls = run_module(vm_interface.main, args, ip_answer, monkeypatch, capsys)
    assert res['failed'] and 'anti_spoofing: the nft command is not installed' in res['msg']
    assert not [c for c in calls if '-batch' in c[0]]
    res, calls = run_module(vm_interface.main, dict(args, anti_spoofing=False, _ansible_check_mode=True),
                            ip_answer, monkeypatch, capsys)
    assert not res.get('failed') and res['nft'] == []


def test_no_json_iproute(monkeypatch, capsys, state_dir):
    def old_ip(args, kwargs):
        return 255, '', 'Option "-json" is unknown, try "ip -help".'
    res, calls = run_module(vm_interface.main, dict(state_dir=state_dir, vms=[{'name': 'vm1'}]), old_ip, monkeypatch, capsys)
    assert res['failed'] and 'JSON' in res['msg']


def test_reconcile_needs_present(monkeypatch, capsys, state_dir):
    res, calls = run_module(vm_interface.main, dict(state_dir=state_dir, state='absent', reconcile=True),
                            ip_answer, monkeypatch, capsys)
    assert res['failed'] and 'reconcile' in res['msg'] and calls == []
