# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

import pytest

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _names


def test_short_name_kept_when_it_fits():
    assert _names.interface_name('vm1') == 'vm1_net0'
    assert _names.interface_name('abcdefghij') == 'abcdefghij_net0'      # 10 + 5 = 15
    assert _names.peer_name('abcdefghij') == 'abcdefghij_vm0'
    assert not _names.is_shortened('abcdefghij')


def test_long_name_shortened_deterministically():
    name = 'abcdefghijk'   # 11 chars: does not fit
    a = _names.interface_name(name)
    assert a == _names.interface_name(name)
    assert len(a) == 15
    assert re.match(r'^abc~[a-z2-7]{6}_net0$', a)
    assert _names.peer_name(name) == a[:-len('_net0')] + '_vm0'
    # pinned value: the filter plugin and the docs use the same algorithm
    assert _names.interface_name('a-very-long-vm-name.example') == 'a-v~djjv35_net0'


@pytest.mark.parametrize('name', ['a' * 63, 'x' * 11, 'vm.with.dots.and-dash_1', 'Z9' * 20])
def test_all_names_fit_linux(name):
    for n in (_names.interface_name(name), _names.peer_name(name)):
        assert len(n) <= 15
        assert '/' not in n and ':' not in n and ' ' not in n


def test_different_long_names_get_different_short_names():
    names = ['customer-%04d-vm' % i for i in range(2000)]
    shorts = set(_names.interface_name(n) for n in names)
    assert len(shorts) == len(names)
    assert _names.find_collisions(names) == {}


def test_collision_detection(monkeypatch):
    monkeypatch.setattr(_names, 'name_hash', lambda name: 'aaaaaa')
    found = _names.find_collisions(['longname-one', 'longname-two', 'vm1'])
    assert found == {'lon~aaaaaa_net0': ['longname-one', 'longname-two']}


@pytest.mark.parametrize('bad', ['', '-vm', '_vm', 'vm 1', 'vm/1', 'vm:1', 'vm~1', 'a' * 64, 'vm\n', None, 5])
def test_invalid_names_rejected(bad):
    assert _names.validate_vm_name(bad) is not None
    if isinstance(bad, str):
        with pytest.raises(_names.NameError_):
            _names.interface_name(bad)


def test_alias_roundtrip():
    assert _names.alias_for('vm1') == 'vmnet-ipfabric:vm1'
    assert _names.vm_from_alias('vmnet-ipfabric:vm1') == 'vm1'
    assert _names.vm_from_alias('something else') is None
    assert _names.vm_from_alias(None) is None
    assert _names.vm_from_alias('vmnet-ipfabric:') is None
