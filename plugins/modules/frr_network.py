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
        module fails naming the prefix, before anything is changed. With O(state=present) only host prefixes
        (/32, /128) are accepted; O(state=absent) also removes a shorter one.
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
  route_map:
    description:
      - With O(state=present), the route-map every listed statement must carry
        (C(network P route-map NAME)); the empty string means none. A statement with another route-map is
        re-entered, which FRR applies in place (the prefix stays announced, with the new attributes).
      - Omitted, the route-map of existing statements is left as it is and new statements get none.
      - The VM migration uses V(VMNET_MIGRATING), defined by the node role's base config (lower
        local-preference), see C(docs/migration.md).
    type: str
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

- name: Announce a VM with a lower preference (the target node of a migration)
  vmnet.ipfabric.frr_network:
    pools: [198.51.100.0/24]
    prefixes: [198.51.100.10]
    route_map: VMNET_MIGRATING

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
updated:
  description: Prefixes whose statement was (or would be) re-entered to change its route-map.
  returned: always
  type: list
  elements: str
  sample: [198.51.100.10/32]
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
    route_map:
      description: The statement's route-map, or the empty string.
      type: str
      sample: ""
commands:
  description: The config lines given to vtysh (empty when nothing changes).
  returned: always
  type: list
  elements: str
  sample: ["router bgp 65000", " address-family ipv4 unicast", "  network 198.51.100.10/32", " exit-address-family", "exit"]
'''

import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _addresses
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _lock
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _frr

LOCK_NAME = 'vmnet-ipfabric-frr.lock'  # serializes runs on the node (see module_utils/_lock.py)
ROUTE_MAP_RE = re.compile(r'^[A-Za-z0-9_.-]{1,63}$')


def _net_key(n):
    return (n.version, n)


def networks_view(block, pools):
    if block is None:
        return []
    return [{'prefix': str(n), 'address_family': block.networks[n]['af'], 'in_pools': _addresses.in_pools(n, pools),
             'route_map': _frr.network_route_map(block.networks[n]['line'])}
            for n in sorted(block.networks, key=_net_key)]


def _line(n, rmap):
    return _frr.network_line(n, rmap) + '\n'


def main():
    module = AnsibleModule(
        argument_spec=dict(
            prefixes=dict(type='list', elements='str', default=[]),
            state=dict(type='str', choices=['present', 'absent', 'gathered'], default='present'),
            reconcile=dict(type='bool', default=False),
            pools=dict(type='list', elements='str', default=[]),
            asn=dict(type='int'),
            route_map=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    _lock.run_exclusive(module, run, LOCK_NAME)


def run(module):
    p = module.params
    result = dict(changed=False, added=[], removed=[], updated=[], networks=[], commands=[])

    # validate input before touching anything
    try:
        pools = _addresses.pools(p['pools'])
        wanted = []
        for i, v in enumerate(p['prefixes']):
            net = _addresses.prefix(v, 'prefixes[%d]' % i)
            if p['state'] != 'gathered' and not _addresses.in_pools(net, pools):
                raise _addresses.AddressError('prefixes[%d]: %s is outside the pools (%s)'
                                              % (i, net, ', '.join(str(x) for x in pools) or 'none given'))
            if p['state'] == 'present' and net.prefixlen != net.max_prefixlen:
                # VM routes are host routes; the node's route-map, the RRs and the core drop anything else
                raise _addresses.AddressError('prefixes[%d]: %s is not a host prefix (/%d); only VM addresses are '
                                              'announced' % (i, net, net.max_prefixlen))
            if net not in wanted:
                wanted.append(net)
    except _addresses.AddressError as e:
        module.fail_json(msg=str(e), **result)
    if p['state'] != 'gathered' and not pools:
        module.fail_json(msg='pools: required (the CIDRs VM prefixes come from) unless state=gathered', **result)
    if p['reconcile'] and p['state'] != 'present':
        module.fail_json(msg='reconcile: requires state=present (got state=%s)' % p['state'], **result)
    rmap = p['route_map']
    if rmap is not None and rmap != '' and not ROUTE_MAP_RE.match(rmap):
        module.fail_json(msg='route_map: %r is not a route-map name (1-63 characters of A-Z a-z 0-9 _ . -)' % rmap, **result)
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
    have_rmap = {n: _frr.network_route_map(block.networks[n]['line']) for n in current}
    update = []
    if p['state'] == 'present':
        add = [n for n in wanted if n not in current]
        if rmap is not None:
            update = sorted((n for n in wanted if n in current and have_rmap[n] != rmap), key=_net_key)
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
    result['updated'] = [str(n) for n in update]
    after = (current - set(remove)) | set(add)
    after_rmap = dict(have_rmap)
    for n in add + update:
        after_rmap[n] = rmap or ''
    result['networks'] = [{'prefix': str(n), 'address_family': 'ipv%d' % n.version, 'in_pools': _addresses.in_pools(n, pools),
                           'route_map': after_rmap[n]}
                          for n in sorted(after, key=_net_key)]
    if not add and not remove and not update:
        module.exit_json(**result)

    config = _frr.network_changes_config(block.asn, add + update, remove, rmap)
    result['commands'] = config.splitlines()
    result['changed'] = True
    if module._diff:
        before_lines = sorted(current, key=_net_key)
        after_lines = sorted(after, key=_net_key)
        result['diff'] = dict(
            before_header='router bgp %d (network statements)' % block.asn,
            after_header='router bgp %d (network statements)' % block.asn,
            before=''.join(_line(n, have_rmap[n]) for n in before_lines),
            after=''.join(_line(n, after_rmap[n]) for n in after_lines))
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
    wrong = [str(n) for n in add + update if n in now and _frr.network_route_map(block2.networks[n]['line']) != (rmap or '')]
    if wrong:
        module.fail_json(msg='verification failed: route-map of %s is not %r after the change' % (', '.join(wrong), rmap or ''), **result)
    if now != after:
        module.fail_json(msg='verification failed: running config has %s, expected %s'
                             % (sorted(str(n) for n in now ^ after), 'the planned change'), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
