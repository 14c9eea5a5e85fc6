#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: vm_interface
short_description: Per-VM routed interfaces (<vm>_net0) on a hypervisor node
version_added: 0.1.0
author:
  - vmnet.ipfabric developers (@vmnet)
description:
  - Creates, updates and removes the host side of each VM's network link on a node of the routed IP fabric.
  - Each VM gets an interface C(<vm>_net0) (a tap for KVM, a veth pair for LXD) that carries the cluster
    gateway addresses (O(gateway_ipv4)/32 and O(gateway_ipv6)/128, the latter added with C(nodad)) and the
    same MAC O(gateway_mac) on every node, is up, and, while the VM is present, has a C(proto static) route
    to each of the VM's /32 and /128 addresses.
  - Routes follow the VM (docs/architecture.md, VM presence). A VM is present while its interface has carrier
    (a qemu holds the tap open, the container's veth peer is up) and its hypervisor has not suspended it; only
    then does it have its routes, so FRR's C(bgp network import-check) announces it only then. A new interface
    has no carrier, so it gets no route until its VM attaches; the node role's presence agent
    (C(vmnet-ipfabric-presence.service)) adds and removes the routes on every carrier and libvirt event. The
    module warns when that agent does not run.
  - Interface names follow docs/architecture.md. C(<vm>_net0) when it fits in 15 characters, else
    C(<first 3 chars>~<6 base32 chars of sha256(vm)>_net0). The veth peer is the same stem with C(_vm0).
    The full VM name is stored in the interface alias C(vmnet-ipfabric:<vm>) and returned.
  - The live state is read with one C(ip -json) call each for links, addresses, IPv4 and IPv6 routes (not one
    per VM); all changes are applied with a single C(ip -batch -) run, then the state is read again and
    verified. One call handles thousands of VMs.
  - Per-interface sysctls are written to C(/proc/sys/net/...) directly. IPv4 C(forwarding=1), C(rp_filter=1)
    (strict, so a VM can only send from addresses routed to its own interface), C(proxy_arp=0) (the VM's
    gateway is a local address of the interface, no proxying needed), C(send_redirects=0),
    C(accept_redirects=0). IPv6 C(disable_ipv6=0), C(forwarding=1), C(accept_ra=0) (never learn routes from a
    VM), C(autoconf=0), C(accept_redirects=0). The global C(net.ipv4.ip_forward) and
    C(net.ipv6.conf.all.forwarding) belong to the node role; the module warns when they are off.
  - The gateway O(gateway_ipv6) is put on every interface as a /128 with C(nodad) so it is usable at once,
    even before the VM starts. The kernel's own EUI-64 link-local address (fe80::/64) is left alone.
  - Only interfaces whose alias starts with C(vmnet-ipfabric:), or that the state file lists, are ever
    changed or removed. An interface of the same name that the module did not make is an error.
  - Anti-spoofing (O(anti_spoofing), on by default) - one nftables table C(inet vmnet_ipfabric) whose rules are the
    same for every VM and whose three sets name the VM interfaces and the (interface, address) pairs each VM may
    send from. A packet a VM sends into the node passes only from one of its own /32 and /128 (or an IPv6
    link-local source); router advertisements, redirects and DHCP/DHCPv6 server messages from a VM are dropped,
    and every drop is counted. The module adds and removes the set elements with its VMs, rebuilds the table in
    one nftables transaction when its rules are missing or not the current version, and verifies it afterwards.
    The rules live in module_utils/_nft.py; docs/architecture.md, "Anti-spoofing", says why they look as they do.
  - After a change the node's whole desired state is written atomically to
    O(state_dir)/vm_interfaces.json, O(state_dir)/restore.batch (an C(ip -force -batch) file that recreates
    every link, MAC, alias and address from scratch; the routes come with each VM) and
    O(state_dir)/restore.sysctl (a C(sysctl -p) file) and O(state_dir)/restore.nft (an C(nft -f) file with the
    whole anti-spoofing table). The node role's C(vmnet-ipfabric-restore.service) replays them at boot before
    FRR, libvirtd and LXD start; the presence agent loads restore.nft again if the table disappears (an
    C(nft flush ruleset) by another tool).
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
  vms:
    description:
      - The VMs to manage. Bad input (invalid or duplicate names, bad addresses, an address of the wrong
        family, two VMs claiming one address) fails before anything is changed.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - VM name, V(^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$).
        type: str
        required: true
      ipv4:
        description:
          - IPv4 addresses of the VM (V(198.51.100.10) or V(198.51.100.10/32)).
        type: list
        elements: str
        default: []
      ipv6:
        description:
          - IPv6 addresses of the VM (V(2001:db8:100::10) or V(2001:db8:100::10/128)).
        type: list
        elements: str
        default: []
      state:
        description:
          - State of this VM's interface; defaults to the top-level O(state).
        type: str
        choices: [present, absent]
      migrating:
        description:
          - The VM is arriving with a migration (set by playbooks/vm_migrate.yml on the target node of a BIRD node,
            cleared by its switch). While it is present, its routes carry the kernel protocol 243 instead of
            C(static); a BIRD node announces such a route with the lower local-preference (docs/migration.md).
            Changing it changes the routes in place (C(ip route replace)); nothing is withdrawn.
        type: bool
        default: false
      leaving_to:
        description:
          - The underlay addresses of the node this VM is migrating to (set by playbooks/vm_migrate.yml on the
            source). Once the VM is not present here any more, its addresses are routed via these in the handover
            table (4242, looked up before main by one C(ip rule) per family), so packets that still arrive are
            forwarded while the fabric converges; FRR reads only the main table, so the node withdraws at once.
            Omit it (or give V({})) to clear it.
        type: dict
        suboptions:
          ipv4:
            description: IPv4 underlay address of the target node.
            type: str
          ipv6:
            description: IPv6 underlay address of the target node.
            type: str
  kind:
    description:
      - V(tap) for KVM/QEMU (libvirt C(<interface type='ethernet'><target dev='<vm>_net0' managed='no'/>)),
        V(veth) for LXD and the lab (the peer C(<stem>_vm0) is handed to the container).
      - An existing interface of another kind is removed and created again.
    type: str
    choices: [tap, veth]
    default: tap
  gateway_ipv4:
    description: Gateway address on every interface (as a /32).
    type: str
    default: 10.0.0.1
  gateway_ipv6:
    description: IPv6 gateway address on every interface (as a /128, C(nodad)).
    type: str
    default: fe80::1
  gateway_mac:
    description: MAC address of every interface on every node (so a migrated VM keeps its ARP/ND entry).
    type: str
    default: 02:00:0a:00:00:01
  state:
    description:
      - V(present) and V(absent) are the default for items of O(vms) without their own C(state).
      - V(gathered) changes nothing and returns what the node has in RV(interfaces).
    type: str
    choices: [present, absent, gathered]
    default: present
  reconcile:
    description:
      - Remove the interfaces (and with them the routes) of every VM this module made that is not listed
        with state V(present). Interfaces the module did not make are never touched.
      - Requires O(state=present).
    type: bool
    default: false
  state_dir:
    description: Directory of the node-local desired state and restore files.
    type: path
    default: /var/lib/vmnet-ipfabric
  runtime_dir:
    description: The presence agent's runtime directory (which VMs libvirt suspended, its pid file).
    type: path
    default: /run/vmnet-ipfabric
  anti_spoofing:
    description:
      - Keep the nftables anti-spoofing table C(inet vmnet_ipfabric) in step with the node's VMs (see the
        description). V(false) removes the table.
      - Needs the C(nft) command (package nftables, installed by the node role); fails naming it otherwise.
    type: bool
    default: true
notes:
  - Needs iproute2 with JSON output (C(ip -json)); fails with a clear message otherwise.
  - Boot unit (owned by the node role) runs C(ip -force -batch /var/lib/vmnet-ipfabric/restore.batch) then
    C(sysctl -q -p /var/lib/vmnet-ipfabric/restore.sysctl).
requirements:
  - iproute2 with JSON support (4.14 or later)
  - nftables (C(nft), 0.9.3 or later) for O(anti_spoofing)
seealso:
  - module: vmnet.ipfabric.frr_network
'''

EXAMPLES = r'''
- name: Interfaces and routes for two KVM guests
  vmnet.ipfabric.vm_interface:
    vms:
      - name: vm1
        ipv4: [198.51.100.10]
        ipv6: ["2001:db8:100::10"]
      - name: a-very-long-vm-name.example
        ipv4: [198.51.100.11/32]

- name: LXD containers (veth pairs), drop every other VM this module made
  vmnet.ipfabric.vm_interface:
    kind: veth
    reconcile: true
    vms: "{{ node_vms }}"

- name: Remove a VM's interface
  vmnet.ipfabric.vm_interface:
    state: absent
    vms:
      - name: vm1

- name: What does the node have?
  vmnet.ipfabric.vm_interface:
    state: gathered
  register: node_interfaces
'''

RETURN = r'''
interfaces:
  description: One entry per VM handled (or, with O(state=gathered), per managed interface on the node).
  returned: always
  type: list
  elements: dict
  contains:
    vm:
      description: Full VM name.
      type: str
      sample: a-very-long-vm-name.example
    interface:
      description: Interface name (also in check mode).
      type: str
      sample: a-v~k3j5qa_net0
    peer:
      description: veth peer name, null for taps.
      type: str
      sample: a-v~k3j5qa_vm0
    kind:
      description: V(tap) or V(veth).
      type: str
      sample: tap
    ipv4:
      description:
        - The VM's IPv4 addresses (/32). With O(state=gathered), from the state file (or, for an interface it does
          not list, from the routes the kernel has).
      type: list
      elements: str
      sample: [198.51.100.10/32]
    ipv6:
      description: The VM's IPv6 addresses (/128), like RV(interfaces[].ipv4).
      type: list
      elements: str
      sample: ["2001:db8:100::10/128"]
    present:
      description: Whether the VM is present on the node (carrier, not suspended), so that it is routed.
      type: bool
      sample: true
    routes:
      description: With O(state=gathered), the /32 and /128 the kernel routes to the interface now.
      type: list
      elements: str
      returned: with O(state=gathered)
      sample: [198.51.100.10/32]
    carrier:
      description: With O(state=gathered), whether the interface has carrier.
      type: bool
      returned: with O(state=gathered)
      sample: true
    suspended:
      description: With O(state=gathered), whether the presence agent saw libvirt suspend the VM.
      type: bool
      returned: with O(state=gathered)
      sample: false
    migrating:
      description: With O(state=gathered), whether the VM is recorded as arriving with a migration (see O(vms[].migrating)).
      type: bool
      returned: with O(state=gathered)
      sample: false
    leaving_to:
      description: With O(state=gathered), the migration target recorded for the VM (see O(vms[].leaving_to)).
      type: dict
      returned: with O(state=gathered)
      sample: {ipv4: 172.16.0.12, ipv6: "fd0c:172:16::12"}
    state:
      description: V(present) or V(absent).
      type: str
      sample: present
    changed:
      description: Whether this VM's interface was (or in check mode would be) changed.
      type: bool
      sample: true
commands:
  description: The C(ip -batch) lines run (or, in check mode, that would run), after any C(ip rule) command.
  returned: always
  type: list
  elements: str
  sample: ["tuntap add dev vm1_net0 mode tap", "route replace 198.51.100.10/32 dev vm1_net0 proto static"]
sysctls:
  description: Sysctl files written (or that would be written), as C(path=value).
  returned: always
  type: list
  elements: str
  sample: ["/proc/sys/net/ipv6/conf/vm1_net0/accept_ra=0"]
state_files:
  description: The files holding the node's desired state and the restore data.
  returned: always
  type: dict
  contains:
    state:
      description: JSON desired state.
      type: str
      sample: /var/lib/vmnet-ipfabric/vm_interfaces.json
    batch:
      description: C(ip -force -batch) restore file.
      type: str
      sample: /var/lib/vmnet-ipfabric/restore.batch
    sysctl:
      description: C(sysctl -p) restore file.
      type: str
      sample: /var/lib/vmnet-ipfabric/restore.sysctl
    nft:
      description: C(nft -f) restore file of the anti-spoofing table.
      type: str
      sample: /var/lib/vmnet-ipfabric/restore.nft
    changed:
      description: Whether they were (or would be) rewritten.
      type: bool
      sample: true
nft:
  description: The C(nft -f) lines run (or, in check mode, that would run) for the anti-spoofing table.
  returned: always
  type: list
  elements: str
  sample: ['add element inet vmnet_ipfabric vm_ipv4 { "vm1_net0" . 198.51.100.10 }']
anti_spoofing:
  description:
    - With O(state=gathered), the anti-spoofing table as the node has it - whether it is there, whether its rules
      are the current ones, and the packets and bytes dropped per reason since it was made.
  returned: with O(state=gathered)
  type: dict
  sample: {present: true, current: true, counters: {"any other source address": {packets: 3, bytes: 252}}}
'''

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _addresses
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _lock
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _iproute
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _names
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _nft
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _presence
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _vm_plan
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _vm_spec
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _files
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _vm_state

LOCK_NAME = 'vmnet-ipfabric-vm_interface.lock'  # serializes runs on the node (see module_utils/_lock.py)


def _public(item):
    out = dict((k, item[k]) for k in ('vm', 'interface', 'peer', 'kind', 'ipv4', 'ipv6', 'state', 'changed'))
    out['present'] = item.get('present', False)
    return out


def _diff_text(view):
    if view is None:
        return '(absent)\n'
    return json.dumps(view, indent=2, sort_keys=True) + '\n'


class Nft(object):
    """The node's nft, run with argv lists and scripts on stdin (never a shell)."""

    def __init__(self, module):
        self.module = module
        self.binary = module.get_bin_path('nft')

    def require(self):
        if not self.binary:
            raise _nft.NftError('anti_spoofing: the nft command is not installed on this node (package nftables; '
                                'the node role installs it) - or set anti_spoofing: false')

    def read(self):
        self.require()
        rc, out, err = self.module.run_command([self.binary, '-j', 'list', 'table', _nft.FAMILY, _nft.TABLE])
        if rc != 0:
            if _nft.no_table(rc, err):
                return _nft.Live()
            raise _nft.NftError('nft -j list table %s %s failed (rc %d): %s' % (_nft.FAMILY, _nft.TABLE, rc, err.strip()))
        return _nft.parse(out)

    def apply(self, script):
        self.require()
        rc, dummy, err = self.module.run_command([self.binary, '-f', '-'], data=script, binary_data=True)
        if rc != 0:
            raise _nft.NftError('nft -f - failed (rc %d): %s' % (rc, err.strip()))


def nft_plan(live, desired, enabled):
    """The nft script that brings the table to ``desired`` ('' when it is right)."""
    if not enabled:
        return _nft.remove_script() if live.present else ''
    want = _nft.elements(desired)
    if not live.present or not live.current:
        return _nft.table_script(want)
    return _nft.changes_script(live.elems, want)


def gathered(live, known, suspended):
    """Every managed interface. ipv4/ipv6 are the VM's addresses (the state file's; the live routes of
    an interface the state file does not list), routes what the kernel routes to it now."""
    known_ifaces = dict((s['interface'], vm) for vm, s in known.items())
    out = []
    for name in sorted(live):
        link = live[name]
        vm = _vm_plan.owner(link, known_ifaces)
        if vm is None:
            continue
        view = _vm_plan.live_view(link)
        spec = known.get(vm) or {}
        out.append({'vm': vm, 'interface': name, 'peer': link.peer if link.kind == 'veth' else None,
                    'kind': link.kind, 'ipv4': list(spec.get('ipv4') or view['ipv4']),
                    'ipv6': list(spec.get('ipv6') or view['ipv6']), 'routes': view['ipv4'] + view['ipv6'],
                    'state': 'present', 'changed': False, 'mac': link.mac, 'up': link.up, 'carrier': link.carrier,
                    'present': _presence.is_present(link, vm, suspended), 'suspended': vm in suspended,
                    'leaving_to': spec.get('leaving_to'), 'migrating': bool(spec.get('migrating')),
                    'addresses': view['addresses'],
                    'in_state_file': vm in known})
    return out


def sysctl_changes(specs, existing):
    """[(interface, path, value)] of the sysctls to write; an interface not in ``existing`` (new, or
    made again) starts with the namespace's defaults (conf/default/KEY)."""
    changes = []
    for spec in specs:
        for fam, ifname, key, value in _vm_spec.sysctl_targets(spec):
            path = _iproute.sysctl_path(fam, ifname, key)
            current = _iproute.read_sysctl(path if ifname in existing else _iproute.sysctl_path(fam, 'default', key))
            if current != value:
                changes.append((ifname, path, value))
    return changes


def global_forwarding_warnings(module):
    for path, what in (('/proc/sys/net/ipv4/ip_forward', 'net.ipv4.ip_forward'),
                       ('/proc/sys/net/ipv6/conf/all/forwarding', 'net.ipv6.conf.all.forwarding')):
        if _iproute.read_sysctl(path) == '0':
            module.warn('%s is 0 on this node: VM traffic is not routed (the node role sets it)' % what)


def agent_warning(module, runtime_dir):
    if not _presence.agent_running(runtime_dir):
        module.warn('the presence agent (vmnet-ipfabric-presence.service, role vmnet.ipfabric.node) is not running '
                    'on this node: VM routes, and with them the announcements, follow a VM only while it runs')


def main():
    module = AnsibleModule(
        argument_spec=dict(
            vms=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                ipv4=dict(type='list', elements='str', default=[]),
                ipv6=dict(type='list', elements='str', default=[]),
                state=dict(type='str', choices=['present', 'absent']),
                leaving_to=dict(type='dict', options=dict(ipv4=dict(type='str'), ipv6=dict(type='str'))),
                migrating=dict(type='bool', default=False),
            )),
            kind=dict(type='str', choices=['tap', 'veth'], default='tap'),
            gateway_ipv4=dict(type='str', default='10.0.0.1'),
            gateway_ipv6=dict(type='str', default='fe80::1'),
            gateway_mac=dict(type='str', default='02:00:0a:00:00:01'),
            state=dict(type='str', choices=['present', 'absent', 'gathered'], default='present'),
            reconcile=dict(type='bool', default=False),
            state_dir=dict(type='path', default='/var/lib/vmnet-ipfabric'),
            runtime_dir=dict(type='path', default=_presence.RUNTIME_DIR),
            anti_spoofing=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    _lock.run_exclusive(module, run, LOCK_NAME)


def run(module):
    p = module.params
    state_dir = p['state_dir']
    files = {
        'state': os.path.join(state_dir, _vm_state.STATE_FILE),
        'batch': os.path.join(state_dir, _vm_state.RESTORE_BATCH),
        'sysctl': os.path.join(state_dir, _vm_state.RESTORE_SYSCTL),
        'nft': os.path.join(state_dir, _vm_state.RESTORE_NFT),
        'changed': False,
    }
    result = dict(changed=False, interfaces=[], commands=[], sysctls=[], nft=[], state_files=files)

    # 1. validate everything before reading or touching the node
    try:
        gw4 = _addresses.gateway_ipv4(p['gateway_ipv4'])
        gw6 = _addresses.gateway_ipv6(p['gateway_ipv6'])
        mac = _addresses.mac_address(p['gateway_mac'])
        if p['state'] == 'gathered':
            present, absent = [], []
        else:
            present, absent = _vm_spec.validate_vms(p['vms'], p['state'], p['kind'], gw4, gw6, mac)
    except (_addresses.AddressError, _vm_spec.PlanError, _names.NameError_) as e:
        module.fail_json(msg=str(e), **result)
    if p['reconcile'] and p['state'] != 'present':
        module.fail_json(msg='reconcile: requires state=present (got state=%s)' % p['state'], **result)

    try:
        known = _vm_state.load_state(files['state'])
    except ValueError as e:
        module.fail_json(msg='state_dir: %s' % e, **result)

    ip = _iproute.Iproute(module)
    nft = Nft(module)
    suspended = _presence.read_suspended(p['runtime_dir'])
    try:
        live = ip.read()
        if p['state'] == 'gathered':
            result['interfaces'] = gathered(live, known, suspended)
            if nft.binary:
                table = nft.read()
                result['anti_spoofing'] = dict(present=table.present, current=table.current, counters=table.counters)
                in_set = set(e[0] for e in table.elems['vm_ifaces'])
                for item in result['interfaces']:
                    item['anti_spoofing'] = item['interface'] in in_set
            module.exit_json(**result)
        handover, rules = ip.read_handover(_presence.HANDOVER_TABLE, _presence.HANDOVER_RULE_PRIORITY)
        nft_live = nft.read() if p['anti_spoofing'] or nft.binary else _nft.Live()
    except (_iproute.IprouteError, _nft.NftError) as e:
        module.fail_json(msg=str(e), **result)

    # 2. plan
    try:
        plan = _vm_plan.compute(present, absent, live, known, p['reconcile'], p['kind'], gw4, gw6, mac,
                                suspended=suspended, handover=handover, handover_rules=rules)
    except _vm_spec.PlanError as e:
        module.fail_json(msg=str(e), **result)

    batch = plan.batch
    after_names = set(live) | set(s['interface'] for s in present)
    predicted_sysctls = sysctl_changes(present, set(live) - plan.recreated)
    nft_script = nft_plan(nft_live, plan.desired, p['anti_spoofing'])
    texts = {
        'state': _vm_state.render_state(plan.desired),
        'batch': _vm_state.render_restore_batch(plan.desired),
        'sysctl': _vm_state.render_restore_sysctl(plan.desired),
        'nft': _nft.table_script(_nft.elements(plan.desired)) if p['anti_spoofing'] else _nft.remove_script(),
    }
    files_changed = any(_files.read_text(files[k]) != texts[k] for k in texts)
    files['changed'] = files_changed

    sysctl_ifaces = set(ifname for ifname, dummy, dummy in predicted_sysctls)
    for item in plan.items:
        if item['state'] == 'present' and item['interface'] in sysctl_ifaces:
            item['changed'] = True

    result['commands'] = ['ip ' + ' '.join(args) for args in plan.rules] + batch
    result['sysctls'] = ['%s=%s' % (path, value) for dummy, path, value in predicted_sysctls]
    result['nft'] = [line for line in nft_script.splitlines() if line and not line.startswith('#')]
    result['interfaces'] = [_public(i) for i in plan.items]
    result['changed'] = bool(plan.rules or batch or predicted_sysctls or files_changed or nft_script)
    if module._diff:
        result['diff'] = [dict(before_header=i['vm'], after_header=i['vm'],
                               before=_diff_text(i['before']), after=_diff_text(i['after']))
                          for i in plan.items if i['changed']]
        if nft_script and (not nft_live.present or not nft_live.current or not p['anti_spoofing']):
            result['diff'].append(dict(before_header='nftables table %s %s' % (_nft.FAMILY, _nft.TABLE),
                                       after_header='nftables table %s %s' % (_nft.FAMILY, _nft.TABLE),
                                       before='(%s)\n' % ('current' if nft_live.current else
                                                          'not current' if nft_live.present else 'absent'),
                                       after=texts['nft'] if p['anti_spoofing'] else '(absent)\n'))

    if module.check_mode or not result['changed']:
        if present:
            global_forwarding_warnings(module)
            agent_warning(module, p['runtime_dir'])
        module.exit_json(**result)

    # 3. apply: the anti-spoofing elements (so a new interface is guarded before its VM can send), one
    # ip -batch, then sysctls, then re-read and verify
    try:
        if nft_script:
            nft.apply(nft_script)
        for args in plan.rules:
            ip.run(args)
        ip.batch(batch)
    except (_iproute.IprouteError, _nft.NftError) as e:
        module.fail_json(msg='%s (the node may be partly changed; the state files were not updated)' % e, **result)
    applied = []
    try:
        for dummy, path, value in sysctl_changes(present, after_names):
            _iproute.write_sysctl(path, value)
            applied.append('%s=%s' % (path, value))
    except (IOError, OSError) as e:
        module.fail_json(msg='writing sysctl failed: %s' % e, **result)
    result['sysctls'] = applied

    try:
        live2 = ip.read()
        handover2, rules2 = ip.read_handover(_presence.HANDOVER_TABLE, _presence.HANDOVER_RULE_PRIORITY)
        check = _vm_plan.compute(present, absent, live2, plan.desired, p['reconcile'], p['kind'], gw4, gw6, mac,
                                 handover=handover2, handover_rules=rules2, presence=plan.presence)
    except (_iproute.IprouteError, _vm_spec.PlanError) as e:
        module.fail_json(msg='verification after apply failed: %s' % e, **result)
    if check.batch:
        module.fail_json(msg='verification after apply failed: still to do: %s' % '; '.join(check.batch[:20]), **result)
    if nft_script:
        try:
            still = nft_plan(nft.read(), plan.desired, p['anti_spoofing'])
        except _nft.NftError as e:
            module.fail_json(msg='verification after apply failed: %s' % e, **result)
        if still:
            module.fail_json(msg='verification after apply failed: the anti-spoofing table still needs: %s'
                             % '; '.join(still.splitlines()[:10]), **result)

    # 4. persist the node's desired state
    if files_changed:
        try:
            if not os.path.isdir(state_dir):
                os.makedirs(state_dir, 0o755)
            # restore files first, the state file last: it is the record of what was done
            _files.write_atomic(files['batch'], texts['batch'])
            _files.write_atomic(files['sysctl'], texts['sysctl'])
            _files.write_atomic(files['nft'], texts['nft'])
            _files.write_atomic(files['state'], texts['state'], 0o644)
        except (IOError, OSError) as e:
            module.fail_json(msg='writing the state files in %s failed: %s' % (state_dir, e), **result)

    global_forwarding_warnings(module)
    agent_warning(module, p['runtime_dir'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
