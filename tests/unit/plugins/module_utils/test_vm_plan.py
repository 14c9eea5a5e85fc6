# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan computation from ip -json output recorded on a real namespace.

The recording (fixtures/ip_*.json) holds what vm_interface made for vm1 (tap), vm2 (veth) and
a-very-long-vm-name.example (tap), then hand-made drift: vm1's MAC changed to 02:00:0a:00:00:99,
vm2 lost its route to 198.51.100.13, got an extra static route 198.51.100.50 and an extra address
10.9.9.9/32; plus an unmanaged veth other0/other1 with 192.0.2.1/24 and a static route 198.51.100.99.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os

import pytest

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _files
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _iproute
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _names
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _vm_plan
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _vm_spec
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _vm_state

FIX = os.path.join(os.path.dirname(__file__), 'fixtures')
GW = ('10.0.0.1', 'fe80::1', '02:00:0a:00:00:01')
LONG = 'a-very-long-vm-name.example'


def load(name):
    with open(os.path.join(FIX, name)) as f:
        return json.load(f)


@pytest.fixture
def live():
    return _iproute.parse_state(load('ip_link.json'), load('ip_addr.json'),
                                load('ip_route4.json'), load('ip_route6.json'))


@pytest.fixture
def known():
    return load('vm_interfaces.json')['vms']


def vms(*items, **kw):
    kind = kw.get('kind', 'tap')
    return _vm_spec.validate_vms(list(items), kw.get('state', 'present'), kind, *GW)


VM1 = {'name': 'vm1', 'ipv4': ['198.51.100.10'], 'ipv6': ['2001:db8:100::10']}
VM2 = {'name': 'vm2', 'ipv4': ['198.51.100.12', '198.51.100.13/32']}
VML = {'name': LONG, 'ipv4': ['198.51.100.11']}


def test_parse_state(live):
    vm1 = live['vm1_net0']
    assert vm1.kind == 'tap' and vm1.vm == 'vm1' and vm1.up
    assert vm1.mac == '02:00:0a:00:00:99'
    assert vm1.addresses == {'10.0.0.1/32', 'fe80::1/128'}
    assert set(vm1.routes) == {'198.51.100.10/32', '2001:db8:100::10/128'}
    assert live['vm2_net0'].kind == 'veth' and live['vm2_net0'].peer == 'vm2_vm0'
    assert set(live['vm2_net0'].routes) == {'198.51.100.12/32', '198.51.100.50/32'}
    assert live['a-v~djjv35_net0'].vm == LONG
    assert live['other0'].vm is None
    assert '192.0.2.0/24' not in live['other0'].routes   # proto kernel, not a host route


def test_plan_repairs_drift_only(live, known):
    present, absent = vms(VM1, VML)
    p2 = vms(VM2, kind='veth')[0]
    plan = _vm_plan.compute(present + p2, absent, live, known, False, 'tap', *GW)
    assert plan.delete_lines == []
    assert plan.lines == [
        'link set dev vm1_net0 address 02:00:0a:00:00:01',
        'addr del 10.9.9.9/32 dev vm2_net0',
        'route del 198.51.100.50/32 dev vm2_net0 proto static',
        'route replace 198.51.100.13/32 dev vm2_net0 proto static',
    ]
    changed = dict((i['vm'], i['changed']) for i in plan.items)
    assert changed == {'vm1': True, LONG: False, 'vm2': True}
    assert not any('other0' in line for line in plan.batch)


def test_plan_in_sync_is_empty(live, known):
    present, absent = vms(VML)
    plan = _vm_plan.compute(present, absent, live, known, False, 'tap', *GW)
    assert plan.batch == []
    assert set(plan.desired) == {'vm1', 'vm2', LONG}


def test_reconcile_removes_only_managed(live, known):
    present, absent = vms(VM1)
    plan = _vm_plan.compute(present, absent, live, known, True, 'tap', *GW)
    assert sorted(plan.delete_lines) == ['link del dev a-v~djjv35_net0', 'link del dev vm2_net0']
    assert set(plan.desired) == {'vm1'}
    assert not any('other' in line for line in plan.batch)


def test_absent_removes_and_unknown_absent_is_noop(live, known):
    present, absent = vms({'name': 'vm2'}, {'name': 'never-made'}, state='absent')
    plan = _vm_plan.compute(present, absent, live, known, False, 'tap', *GW)
    assert plan.delete_lines == ['link del dev vm2_net0']
    items = dict((i['vm'], i) for i in plan.items)
    assert items['vm2']['changed'] and not items['never-made']['changed']
    assert 'vm2' not in plan.desired


def test_new_vm_is_created_without_routes_until_present(live, known):
    """A new interface has no carrier: its VM is not there yet, so it gets no route (and no
    announcement); once the VM holds it (carrier), the same plan adds exactly its routes."""
    present, absent = vms({'name': 'vm3', 'ipv4': ['198.51.100.30'], 'ipv6': ['2001:db8:100::30/128']}, kind='veth')
    plan = _vm_plan.compute(present, absent, live, known, False, 'veth', *GW)
    assert plan.lines == [
        'link add vm3_net0 type veth peer name vm3_vm0',
        'link set dev vm3_net0 address 02:00:0a:00:00:01 alias vmnet-ipfabric:vm3 up',
        'addr replace 10.0.0.1/32 dev vm3_net0',
        'addr replace fe80::1/128 dev vm3_net0 nodad',
    ]
    assert plan.items[0]['interface'] == 'vm3_net0' and plan.items[0]['peer'] == 'vm3_vm0'
    assert plan.items[0]['present'] is False and plan.items[0]['after']['ipv4'] == []
    link = _iproute.Link('vm3_net0', kind='veth', mac=GW[2], alias='vmnet-ipfabric:vm3', up=True, carrier=True)
    link.addresses = {'10.0.0.1/32', 'fe80::1/128'}
    live['vm3_net0'] = link
    plan = _vm_plan.compute(present, absent, live, dict(known, vm3=present[0]), False, 'veth', *GW)
    assert plan.lines == [
        'route replace 198.51.100.30/32 dev vm3_net0 proto static',
        'route replace 2001:db8:100::30/128 dev vm3_net0 proto static',
    ]


def test_routes_follow_presence(live, known):
    """No carrier (the VM stopped, crashed or left) or suspended by the hypervisor: its routes go."""
    present, absent = vms(VM1)
    live['vm1_net0'].carrier = False
    plan = _vm_plan.compute(present, absent, live, known, False, 'tap', *GW)
    assert 'route del 198.51.100.10/32 dev vm1_net0 proto static' in plan.lines
    assert 'route del 2001:db8:100::10/128 dev vm1_net0 proto static' in plan.lines
    live['vm1_net0'].carrier = True
    plan = _vm_plan.compute(present, absent, live, known, False, 'tap', *GW, suspended={'vm1'})
    assert [l for l in plan.lines if l.startswith('route')] == [
        'route del 198.51.100.10/32 dev vm1_net0 proto static',
        'route del 2001:db8:100::10/128 dev vm1_net0 proto static']
    assert plan.items[0]['present'] is False


def test_a_vm_that_left_gets_its_handover(live, known):
    """leaving_to: once the VM is not present, its addresses go via the target node in the handover
    table (not the main table, which FRR reads: the source still withdraws)."""
    leaving = dict(VM1, leaving_to={'ipv4': '172.16.0.12', 'ipv6': 'fd0c:172:16::12'})
    present, absent = vms(leaving)
    plan = _vm_plan.compute(present, absent, live, known, False, 'tap', *GW, handover_rules=())
    assert [l for l in plan.lines if 'table' in l] == [] and plan.rules == []   # still present: nothing
    live['vm1_net0'].carrier = False
    plan = _vm_plan.compute(present, absent, live, known, False, 'tap', *GW, handover_rules=())
    assert plan.rules == [['-4', 'rule', 'add', 'priority', '1000', 'lookup', '4242'],
                          ['-6', 'rule', 'add', 'priority', '1000', 'lookup', '4242']]
    assert plan.lines[-2:] == [
        'route replace 198.51.100.10/32 via 172.16.0.12 table 4242 proto static',
        'route replace 2001:db8:100::10/128 via fd0c:172:16::12 table 4242 proto static']
    # the switch removes the VM from the source: the handover goes with it
    present, absent = vms({'name': 'vm1'}, state='absent')
    known['vm1']['leaving_to'] = leaving['leaving_to']
    plan = _vm_plan.compute(present, absent, live, known, False, 'tap', *GW,
                            handover={'198.51.100.10/32': '172.16.0.12', '2001:db8:100::10/128': 'fd0c:172:16::12'})
    assert 'route del 198.51.100.10/32 table 4242' in plan.lines
    assert 'route del 2001:db8:100::10/128 table 4242' in plan.lines


def test_kind_change_recreates(live, known):
    present, absent = vms(VM1, kind='veth')
    plan = _vm_plan.compute(present, absent, live, known, False, 'veth', *GW)
    assert plan.delete_lines == ['link del dev vm1_net0']
    assert plan.lines[0] == 'link add vm1_net0 type veth peer name vm1_vm0'


def test_address_still_routed_to_other_vm_is_error(live, known):
    present, absent = vms({'name': 'vm9', 'ipv4': ['198.51.100.12']})
    with pytest.raises(_vm_spec.PlanError) as e:
        _vm_plan.compute(present, absent, live, known, False, 'tap', *GW)
    assert "198.51.100.12/32" in str(e.value) and "'vm2'" in str(e.value)
    # allowed when vm2 is removed in the same call
    items = [{'name': 'vm9', 'ipv4': ['198.51.100.12']}, {'name': 'vm2', 'state': 'absent'}]
    present, absent = vms(*items)
    plan = _vm_plan.compute(present, absent, live, known, False, 'tap', *GW)
    assert plan.delete_lines == ['link del dev vm2_net0']


def test_foreign_interface_is_error(live, known):
    live['vmx_net0'] = _iproute.Link('vmx_net0', kind='veth', alias=None)
    present, absent = vms({'name': 'vmx'})
    with pytest.raises(_vm_spec.PlanError) as e:
        _vm_plan.compute(present, absent, live, known, False, 'tap', *GW)
    assert 'not made by vmnet.ipfabric' in str(e.value)


def test_alias_collision_is_error(live, known, monkeypatch):
    # another long VM whose short name equals the live one's
    monkeypatch.setattr(_names, 'name_hash', lambda n: 'djjv35')
    present, absent = vms({'name': 'a-vXXXXXXXXXXXXXXX'})
    with pytest.raises(_vm_spec.PlanError) as e:
        _vm_plan.compute(present, absent, live, known, False, 'tap', *GW)
    assert 'collision' in str(e.value) and LONG in str(e.value)


@pytest.mark.parametrize('items,needle', [
    ([{'name': 'bad name'}], 'vms[0].name'),
    ([{'name': 'vm1'}, {'name': 'vm1'}], 'duplicate VM name'),
    ([{'name': 'vm1', 'ipv4': ['2001:db8::1']}], 'vms[0].ipv4[0]'),
    ([{'name': 'vm1', 'ipv6': ['198.51.100.1']}], 'expected IPv6'),
    ([{'name': 'vm1', 'ipv4': ['198.51.100.0/24']}], 'single address'),
    ([{'name': 'vm1', 'ipv4': ['198.51.100.300']}], 'not a valid IPv4'),
    ([{'name': 'vm1', 'ipv4': ['127.0.0.1']}], 'loopback'),
    ([{'name': 'vm1', 'ipv4': ['198.51.100.1']}, {'name': 'vm2', 'ipv4': ['198.51.100.1/32']}], 'claimed by two VMs'),
    ([{'name': 'vm1', 'state': 'gone'}], 'vms[0].state'),
    ([{'name': 'vm1', 'leaving_to': {'ipv4': 'node2'}}], 'vms[0].leaving_to.ipv4'),
    ([{'name': 'vm1', 'leaving_to': {'ipv4': 'fd0c::12'}}], 'not a unicast IPv4'),
    ([{'name': 'vm1', 'leaving_to': {'host': '172.16.0.12'}}], 'vms[0].leaving_to'),
])
def test_validation_errors(items, needle):
    with pytest.raises(_vm_spec.PlanError) as e:
        _vm_spec.validate_vms(items, 'present', 'tap', *GW)
    assert needle in str(e.value)


def test_hash_collision_in_input(monkeypatch):
    monkeypatch.setattr(_names, 'name_hash', lambda n: 'aaaaaa')
    with pytest.raises(_vm_spec.PlanError) as e:
        _vm_spec.validate_vms([{'name': 'longname-one'}, {'name': 'longname-two'}], 'present', 'tap', *GW)
    assert 'lon~aaaaaa_net0' in str(e.value)


def test_restore_files(known):
    batch = _vm_state.render_restore_batch(known)
    lines = [l for l in batch.splitlines() if l and not l.startswith('#')]
    assert lines.count('tuntap add dev vm1_net0 mode tap') == 1
    assert 'link add vm2_net0 type veth peer name vm2_vm0' in lines
    # routes are the presence agent's once each VM is there again (the restore runs before the VMs start)
    assert not [l for l in lines if l.startswith('route')]
    sysctl = _vm_state.render_restore_sysctl(known)
    assert 'net/ipv6/conf/vm1_net0/accept_ra = 0' in sysctl.splitlines()
    assert 'net/ipv4/conf/a-v~djjv35_net0/rp_filter = 1' in sysctl.splitlines()
    assert json.loads(_vm_state.render_state(known))['vms'] == known


def test_write_atomic(tmp_path):
    p = str(tmp_path / 'f.json')
    _files.write_atomic(p, 'one\n')
    _files.write_atomic(p, 'two\n')
    assert open(p).read() == 'two\n'
    assert os.listdir(str(tmp_path)) == ['f.json']


def test_load_json_rejects_non_json():
    with pytest.raises(_iproute.IprouteError) as e:
        _iproute._load_json('1: lo: <LOOPBACK,UP> mtu 65536', 'link')
    assert 'JSON' in str(e.value)
    assert _iproute._load_json('', 'route') == []


def test_gateway_change_replaces_addresses(live, known):
    present, absent = _vm_spec.validate_vms([VML], 'present', 'tap', '10.0.0.2', 'fe80::2', GW[2])
    plan = _vm_plan.compute(present, absent, live, known, False, 'tap', '10.0.0.2', 'fe80::2', GW[2])
    assert plan.lines == [
        'addr del 10.0.0.1/32 dev a-v~djjv35_net0',
        'addr del fe80::1/128 dev a-v~djjv35_net0',
        'addr replace 10.0.0.2/32 dev a-v~djjv35_net0',
        'addr replace fe80::2/128 dev a-v~djjv35_net0 nodad',
    ]
