#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: frr_network
short_description: BGP network statements for VM prefixes in FRR
version_added: 0.1.0
author:
  - vmnet.ipfabric developers (@vmnet)
description:
  - Keeps C(network) statements for VM prefixes under the node's default-VRF C(router bgp), in the
    C(address-family ipv4 unicast) and C(address-family ipv6 unicast) blocks.
  - Reads the running config with one C(vtysh -c 'show running-config'), computes the change, checks the
    generated config with C(vtysh -C -f FILE), applies it with one C(vtysh -f FILE) run and saves it with
    C(vtysh -c 'write memory'), so a FRR restart keeps the statements. Nothing is restarted or cleared;
    adding or removing a network statement never resets a BGP session.
  - The node role applies its base config with M(vmnet.ipfabric.frr_config), which copies these statements
    into its candidate, so re-running the role never drops them.
  - Works with FRR 7.x (AlmaLinux 8, Ubuntu 20.04) and 8.x (Debian 12). The file given to C(vtysh -f)
    contains no C(configure terminal) (vtysh starts it in config mode).
extends_documentation_fragment:
  - vmnet.ipfabric.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  prefixes:
    description:
      - VM prefixes. A plain address becomes a /32 or /128. Each must lie inside one of O(pools), else the
        module fails naming the prefix, before anything is changed.
    type: list
    elements: str
    default: []
  state:
    description:
      - V(present) adds the statements, V(absent) removes them, V(gathered) changes nothing and returns
        the statements the running config has.
    type: str
    choices: [present, absent, gathered]
    default: present
  reconcile:
    description:
      - With O(state=present), also remove every C(network) statement inside O(pools) that is not in
        O(prefixes). Statements outside the pools are never touched.
    type: bool
    default: false
  pools:
    description:
      - The pools (CIDRs) VM prefixes come from. Required unless O(state=gathered).
    type: list
    elements: str
    default: []
  asn:
    description:
      - The node's AS number. Detected from C(router bgp N) in the running config when omitted; a mismatch
        is an error. The module never creates a C(router bgp) block.
    type: int
notes:
  - Needs the node's base BGP config (the C(router bgp) block) to be applied first.
  - With FRR's default C(bgp network import-check), a prefix is announced only while its route (made by
    M(vmnet.ipfabric.vm_interface)) is in the routing table.
requirements:
  - FRR 7.2 or later with vtysh
seealso:
  - module: vmnet.ipfabric.vm_interface
  - module: vmnet.ipfabric.frr_config
'''

EXAMPLES = r'''
- name: Announce two VMs
  vmnet.ipfabric.frr_network:
    pools: [198.51.100.0/24, "2001:db8:100::/64"]
    prefixes: [198.51.100.10, "2001:db8:100::10"]

- name: Exactly these VMs, withdraw every other pool prefix
  vmnet.ipfabric.frr_network:
    pools: "{{ ipfabric_pools | map(attribute='ipv4') | flatten }}"
    prefixes: "{{ node_vm_addresses }}"
    reconcile: true

- name: Withdraw a VM
  vmnet.ipfabric.frr_network:
    pools: [198.51.100.0/24]
    prefixes: [198.51.100.10/32]
    state: absent
'''

RETURN = r'''
asn:
  description: AS number of the router bgp block.
  returned: when a router bgp block exists
  type: int
  sample: 65000
added:
  description: Prefixes whose network statement was (or in check mode would be) added.
  returned: always
  type: list
  elements: str
  sample: [198.51.100.10/32]
removed:
  description: Prefixes whose network statement was (or would be) removed.
  returned: always
  type: list
  elements: str
  sample: ["2001:db8:100::10/128"]
networks:
  description: All network statements under router bgp after the run (with O(state=gathered), the current ones).
  returned: always
  type: list
  elements: dict
  contains:
    prefix:
      description: The prefix.
      type: str
      sample: 198.51.100.10/32
    address_family:
      description: V(ipv4) or V(ipv6).
      type: str
      sample: ipv4
    in_pools:
      description: Whether the prefix lies inside O(pools).
      type: bool
      sample: true
commands:
  description: The config lines given to vtysh (empty when nothing changes).
  returned: always
  type: list
  elements: str
  sample: ["router bgp 65000", " address-family ipv4 unicast", "  network 198.51.100.10/32", " exit-address-family", "exit"]
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _addresses
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _lock
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _frr

LOCK_NAME = 'vmnet-ipfabric-frr.lock'  # serializes runs on the node (see module_utils/_lock.py)


def _net_key(n):
    return (n.version, n)


def networks_view(block, pools):
    if block is None:
        return []
    return [{'prefix': str(n), 'address_family': block.networks[n]['af'], 'in_pools': _addresses.in_pools(n, pools)}
            for n in sorted(block.networks, key=_net_key)]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            prefixes=dict(type='list', elements='str', default=[]),
            state=dict(type='str', choices=['present', 'absent', 'gathered'], default='present'),
            reconcile=dict(type='bool', default=False),
            pools=dict(type='list', elements='str', default=[]),
            asn=dict(type='int'),
        ),
        supports_check_mode=True,
    )
    if module.check_mode:
        run(module)     # reads only; exits
    try:
        with _lock.FileLock(_lock.lock_path(LOCK_NAME)):
            run(module)
    except _lock.LockTimeout as e:
        module.fail_json(msg=str(e))


def run(module):
    p = module.params
    result = dict(changed=False, added=[], removed=[], networks=[], commands=[])

    # validate input before touching anything
    try:
        pools = _addresses.pools(p['pools'])
        wanted = []
        for i, v in enumerate(p['prefixes']):
            net = _addresses.prefix(v, 'prefixes[%d]' % i)
            if p['state'] != 'gathered' and not _addresses.in_pools(net, pools):
                raise _addresses.AddressError('prefixes[%d]: %s is outside the pools (%s)'
                                              % (i, net, ', '.join(str(x) for x in pools) or 'none given'))
            if net not in wanted:
                wanted.append(net)
    except _addresses.AddressError as e:
        module.fail_json(msg=str(e), **result)
    if p['state'] != 'gathered' and not pools:
        module.fail_json(msg='pools: required (the CIDRs VM prefixes come from) unless state=gathered', **result)
    if p['reconcile'] and p['state'] != 'present':
        module.fail_json(msg='reconcile: requires state=present (got state=%s)' % p['state'], **result)
    if p['asn'] is not None and not 1 <= p['asn'] <= 4294967295:
        module.fail_json(msg='asn: %d is not in 1..4294967295' % p['asn'], **result)

    vtysh = _frr.Vtysh(module)
    try:
        block = _frr.default_bgp(vtysh.running_config())
    except _frr.FrrError as e:
        module.fail_json(msg=str(e), **result)

    if p['state'] == 'gathered':
        if block is not None:
            result['asn'] = block.asn
        result['networks'] = networks_view(block, pools)
        module.exit_json(**result)

    if block is None:
        module.fail_json(msg='the running config has no "router bgp" block; apply the node\'s base config '
                             '(role vmnet.ipfabric.node) first', **result)
    result['asn'] = block.asn
    if p['asn'] is not None and p['asn'] != block.asn:
        module.fail_json(msg='asn: %d does not match the running config (router bgp %d)' % (p['asn'], block.asn), **result)

    current = set(block.networks)
    if p['state'] == 'present':
        add = [n for n in wanted if n not in current]
        remove = []
        if p['reconcile']:
            remove = [n for n in current if n not in wanted and _addresses.in_pools(n, pools)]
    else:
        add = []
        remove = [n for n in wanted if n in current]
    add.sort(key=_net_key)
    remove.sort(key=_net_key)
    result['added'] = [str(n) for n in add]
    result['removed'] = [str(n) for n in remove]
    after = (current - set(remove)) | set(add)
    result['networks'] = [{'prefix': str(n), 'address_family': 'ipv%d' % n.version, 'in_pools': _addresses.in_pools(n, pools)}
                          for n in sorted(after, key=_net_key)]
    if not add and not remove:
        module.exit_json(**result)

    config = _frr.network_changes_config(block.asn, add, remove)
    result['commands'] = config.splitlines()
    result['changed'] = True
    if module._diff:
        before_lines = sorted(current, key=_net_key)
        after_lines = sorted(after, key=_net_key)
        result['diff'] = dict(
            before_header='router bgp %d (network statements)' % block.asn,
            after_header='router bgp %d (network statements)' % block.asn,
            before=''.join('network %s\n' % n for n in before_lines),
            after=''.join('network %s\n' % n for n in after_lines))
    if module.check_mode:
        module.exit_json(**result)

    fd, path = tempfile.mkstemp(prefix='vmnet-frr-network-', suffix='.conf', dir=module.tmpdir)
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(config)
        vtysh.apply_file(path, dry_run=True)
        vtysh.apply_file(path)
        vtysh.write_memory()
        block2 = _frr.default_bgp(vtysh.running_config())
    except _frr.FrrError as e:
        module.fail_json(msg=str(e), **result)
    finally:
        if os.path.exists(path):
            os.unlink(path)
    now = set(block2.networks) if block2 is not None else set()
    if now != after:
        module.fail_json(msg='verification failed: running config has %s, expected %s'
                             % (sorted(str(n) for n in now ^ after), 'the planned change'), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
