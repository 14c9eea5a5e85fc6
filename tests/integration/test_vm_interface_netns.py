# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vmnet.ipfabric.vm_interface against real network namespaces (root, iproute2).

Run: .venv/bin/python -m pytest tests/integration/test_vm_interface_netns.py
Every test works in namespaces it creates (vmnet-t-<random>) and deletes them afterwards; no traffic
is sent anywhere.
"""
import os

import pytest

pytestmark = pytest.mark.netns

MAC = '02:00:0a:00:00:01'


def vm_list(n, prefix='vm', long_every=10):
    out = []
    for i in range(n):
        name = ('%s-with-a-rather-long-name-%04d' % (prefix, i)) if i % long_every == 0 else '%s%d' % (prefix, i)
        out.append({'name': name, 'ipv4': ['198.51.%d.%d' % (100 + i // 250, 1 + i % 250)],
                    'ipv6': ['2001:db8:100::%x' % (i + 1)]})
    return out


def managed(ns):
    return dict((l['ifalias'][len('vmnet-ipfabric:'):], l) for l in ns.ip_json('-details', 'link', 'show')
                if (l.get('ifalias') or '').startswith('vmnet-ipfabric:'))


def routes(ns, fam):
    return set((r['dst'], r['dev']) for r in ns.ip_json('-%d' % fam, 'route', 'show', 'table', 'main')
               if r.get('protocol') == 'static')


def test_200_vms_one_call_then_idempotent(netns, tmp_path):
    vms = vm_list(200)
    args = dict(vms=vms, state_dir=str(tmp_path))
    res = netns.module('vm_interface', args)
    if res.get('failed'):
        pytest.fail(str(res.get('msg')), pytrace=False)
    assert res['changed'] is True
    assert len(res['interfaces']) == 200
    # no VM is present yet (nothing holds its tap): no routes (docs/architecture.md, "VM presence")
    assert routes(netns, 4) == set() and routes(netns, 6) == set()
    netns.hold_taps([i['interface'] for i in res['interfaces']])
    netns.presence_pass(tmp_path)

    links = managed(netns)
    assert sorted(links) == sorted(v['name'] for v in vms)
    by_vm = dict((i['vm'], i) for i in res['interfaces'])
    addrs = dict((a['ifname'], set('%s/%s' % (x['local'], x['prefixlen']) for x in a['addr_info']))
                 for a in netns.ip_json('addr', 'show'))
    r4, r6 = routes(netns, 4), routes(netns, 6)
    for v in vms:
        link = links[v['name']]
        ifname = by_vm[v['name']]['interface']
        assert link['ifname'] == ifname and len(ifname) <= 15
        assert link['address'] == MAC
        assert 'UP' in link['flags']
        assert link['linkinfo']['info_kind'] == 'tun' and link['linkinfo']['info_data']['type'] == 'tap'
        assert {'10.0.0.1/32', 'fe80::1/128'} <= addrs[ifname]
        assert (v['ipv4'][0], ifname) in r4
        assert (v['ipv6'][0], ifname) in r6
    assert links['vm-with-a-rather-long-name-0000']['ifname'].startswith('vm-~')
    some = by_vm['vm7']['interface']
    assert netns.sysctl(4, some, 'rp_filter') == '1'
    assert netns.sysctl(4, some, 'forwarding') == '1'
    assert netns.sysctl(6, some, 'accept_ra') == '0'
    assert netns.sysctl(6, some, 'forwarding') == '1'
    for f in ('vm_interfaces.json', 'restore.batch', 'restore.sysctl'):
        assert os.path.getsize(str(tmp_path / f)) > 0

    res2 = netns.module('vm_interface', args)
    assert res2['changed'] is False, res2['commands'][:5]
    assert res2['commands'] == [] and res2['sysctls'] == []


def test_check_mode_predicts_and_changes_nothing(netns, tmp_path):
    vms = vm_list(5)
    args = dict(vms=vms, state_dir=str(tmp_path), kind='veth')
    check = netns.module('vm_interface', dict(args, _ansible_check_mode=True, _ansible_diff=True))
    assert check['changed'] is True
    assert managed(netns) == {}
    assert os.listdir(str(tmp_path)) == []
    # one diff per VM, and one for the anti-spoofing table (the VMs' interfaces and addresses join its sets)
    assert [d['before_header'] for d in check['diff']] == [v['name'] for v in vms] + ['nftables table inet vmnet_ipfabric']
    assert '(absent)' in check['diff'][-1]['before'] and 'vm_ipv4' in check['diff'][-1]['after']
    real = netns.module('vm_interface', args)
    assert real['changed'] is True
    assert real['commands'] == check['commands']
    assert [(i['vm'], i['interface'], i['peer']) for i in real['interfaces']] == \
        [(i['vm'], i['interface'], i['peer']) for i in check['interfaces']]
    assert sorted(real['sysctls']) == sorted(check['sysctls'])
    links = netns.links()
    for i in real['interfaces']:
        assert links[i['peer']]['linkinfo']['info_kind'] == 'veth'
    again = netns.module('vm_interface', dict(args, _ansible_check_mode=True))
    assert again['changed'] is False


def test_drift_is_repaired(netns, tmp_path):
    vms = vm_list(3, long_every=1000)
    args = dict(vms=vms, state_dir=str(tmp_path))
    assert netns.module('vm_interface', args)['changed']
    netns.hold_taps(['vm0_net0', 'vm1_net0', 'vm2_net0'])
    netns.presence_pass(tmp_path)
    netns.run('ip', 'link', 'set', 'vm1_net0', 'address', '02:00:0a:00:00:99')
    netns.run('ip', 'route', 'del', vms[1]['ipv4'][0] + '/32', 'dev', 'vm1_net0')
    netns.run('sh', '-c', 'echo 0 > /proc/sys/net/ipv4/conf/vm2_net0/rp_filter')
    res = netns.module('vm_interface', dict(args, _ansible_diff=True))
    assert res['changed']
    assert sorted(i['vm'] for i in res['interfaces'] if i['changed']) == ['vm1', 'vm2']
    assert netns.links()['vm1_net0']['address'] == MAC
    assert (vms[1]['ipv4'][0], 'vm1_net0') in routes(netns, 4)
    assert netns.sysctl(4, 'vm2_net0', 'rp_filter') == '1'
    assert netns.module('vm_interface', args)['changed'] is False


def test_absent_and_reconcile_touch_only_managed(netns, tmp_path):
    vms = vm_list(6)
    args = dict(vms=vms, state_dir=str(tmp_path))
    assert netns.module('vm_interface', args)['changed']
    # unmanaged interfaces: one with an unrelated name, one that looks like ours but has no alias
    netns.run('ip', 'link', 'add', 'keepme0', 'type', 'veth', 'peer', 'name', 'keepme1')
    netns.run('ip', 'link', 'add', 'stranger_net0', 'type', 'veth', 'peer', 'name', 'stranger_vm0')
    netns.run('ip', 'link', 'set', 'keepme0', 'up')
    netns.run('ip', 'route', 'add', '198.51.100.200/32', 'dev', 'keepme0', 'proto', 'static')

    res = netns.module('vm_interface', dict(vms=[{'name': vms[1]['name']}], state='absent', state_dir=str(tmp_path)))
    assert res['changed'] and vms[1]['name'] not in managed(netns)
    assert (vms[1]['ipv4'][0], 'vm1_net0') not in routes(netns, 4)

    keep = vms[2:4]
    res = netns.module('vm_interface', dict(vms=keep, reconcile=True, state_dir=str(tmp_path)))
    assert res['changed']
    assert sorted(managed(netns)) == sorted(v['name'] for v in keep)
    links = netns.links()
    for name in ('keepme0', 'keepme1', 'stranger_net0', 'stranger_vm0'):
        assert name in links, name
    assert ('198.51.100.200', 'keepme0') in routes(netns, 4)
    import json
    state = json.load(open(str(tmp_path / 'vm_interfaces.json')))
    assert sorted(state['vms']) == sorted(v['name'] for v in keep)
    # an interface we did not make is never adopted: a VM named 'stranger' fails, nothing changes
    res = netns.module('vm_interface', dict(vms=[{'name': 'stranger', 'ipv4': ['198.51.100.201']}], state_dir=str(tmp_path)))
    assert res['failed'] and 'not made by vmnet.ipfabric' in res['msg']
    assert 'ifalias' not in netns.links()['stranger_net0']


def test_restore_batch_recreates_state_in_fresh_namespace(make_netns, tmp_path):
    a, b = make_netns(), make_netns()
    taps = vm_list(20, prefix='t')
    veths = vm_list(10, prefix='v.x', long_every=3)     # dots in names: sysctl paths and restore.sysctl keys
    for i, v in enumerate(veths):
        v['ipv4'] = ['203.0.113.%d' % (i + 1)]
        v['ipv6'] = []
    assert a.module('vm_interface', dict(vms=taps, state_dir=str(tmp_path)))['changed']
    assert a.module('vm_interface', dict(vms=veths, kind='veth', state_dir=str(tmp_path)))['changed']

    b.run('ip', '-force', '-batch', str(tmp_path / 'restore.batch'))
    b.run('sysctl', '-q', '-p', str(tmp_path / 'restore.sysctl'))
    b.run('nft', '-f', str(tmp_path / 'restore.nft'))

    def snapshot(ns):
        out = {}
        addrs = dict((x['ifname'], sorted('%s/%s' % (i['local'], i['prefixlen']) for i in x['addr_info']
                                          if not i['local'].startswith('fe80::') or i['prefixlen'] == 128))
                     for x in ns.ip_json('addr', 'show'))
        for vm, l in managed(ns).items():
            out[vm] = (l['ifname'], l['address'], l['linkinfo']['info_kind'], 'UP' in l['flags'], addrs[l['ifname']],
                       ns.sysctl(4, l['ifname'], 'rp_filter'), ns.sysctl(6, l['ifname'], 'accept_ra'))
        return out, routes(ns, 4), routes(ns, 6)

    assert snapshot(a) == snapshot(b)
    assert len(snapshot(b)[0]) == 30
    table = ('nft', 'list', 'table', 'inet', 'vmnet_ipfabric')
    assert a.run(*table) == b.run(*table)
    # and the module sees the restored namespace as in sync (same state file)
    res = b.module('vm_interface', dict(vms=veths, kind='veth', state_dir=str(tmp_path)))
    assert res['changed'] is False, res['commands']


def test_bad_input_changes_nothing(netns, tmp_path):
    state_dir = tmp_path / 'st'
    for vms, needle in (
        ([{'name': 'good1', 'ipv4': ['198.51.100.1']}, {'name': 'bad name'}], 'vms[1].name'),
        ([{'name': 'good1', 'ipv4': ['198.51.100.1']}, {'name': '-dash'}], 'vms[1].name'),
        ([{'name': 'good1', 'ipv4': ['2001:db8::1']}], 'vms[0].ipv4[0]'),
        ([{'name': 'good1'}, {'name': 'good1'}], 'duplicate'),
        ([{'name': 'good1', 'ipv4': ['198.51.100.1']}, {'name': 'good2', 'ipv4': ['198.51.100.1']}], 'claimed by two VMs'),
    ):
        res = netns.module('vm_interface', dict(vms=vms, state_dir=str(state_dir)))
        assert res['failed'] and needle in res['msg'], res['msg']
        assert managed(netns) == {}
        assert not state_dir.exists()


def test_1000_vms_single_batch(netns, tmp_path):
    """One call makes 1000 VMs, a second one has nothing to do (its speed: tests/benchmarks)."""
    vms = vm_list(1000)
    res = netns.module('vm_interface', dict(vms=vms, state_dir=str(tmp_path)))
    if res.get('failed'):
        pytest.fail(str(res.get('msg')), pytrace=False)
    assert len(managed(netns)) == 1000
    res2 = netns.module('vm_interface', dict(vms=vms, state_dir=str(tmp_path)))
    assert res2['changed'] is False and res2['commands'] == []
