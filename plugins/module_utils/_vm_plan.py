# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan of vm_interface: the live interfaces against the desired state, as the ``ip -batch`` lines that
bring one to the other (stdlib only, Python 3.6+). Pure, so it is unit-tested from recorded
``ip -json`` output: the spec comes from _vm_spec.py, routes follow the VM's presence (_presence.py).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _names
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _presence
from ansible_collections.vmnet.ipfabric.plugins.module_utils._vm_spec import PlanError, make_spec


def owner(link, known_ifaces):
    """The VM a live link belongs to, or None when this module did not make it."""
    if link.vm:
        return link.vm
    if not link.alias and link.name in known_ifaces:
        return known_ifaces[link.name]
    return None


def live_view(link):
    """Before-state of one interface, for diff output."""
    if link is None:
        return None
    v4 = sorted(r for r in link.routes if ':' not in r)
    v6 = sorted(r for r in link.routes if ':' in r)
    return {
        'interface': link.name, 'kind': link.kind, 'mac': link.mac, 'alias': link.alias,
        'up': link.up, 'addresses': sorted(link.addresses), 'ipv4': v4, 'ipv6': v6,
    }


def spec_view(spec, present=False):
    """After-state of one interface: its routes are the VM's addresses only while it is present."""
    if spec is None:
        return None
    routes, dummy = _presence.wanted_routes(spec, present)
    return {
        'interface': spec['interface'], 'kind': spec['kind'], 'mac': spec['gateway_mac'],
        'alias': _names.alias_for(spec['vm']), 'up': True,
        'addresses': sorted(['%s/32' % spec['gateway_ipv4'], '%s/128' % spec['gateway_ipv6']]),
        'ipv4': [r for r in routes if ':' not in r], 'ipv6': [r for r in routes if ':' in r],
    }


def create_lines(spec):
    """A new interface: link, MAC, alias, gateway addresses. No routes: a new interface has no
    carrier, so its VM is not present yet (the presence agent routes it when the VM attaches)."""
    i = spec['interface']
    if spec['kind'] == 'tap':
        lines = ['tuntap add dev %s mode tap' % i]
    else:
        lines = ['link add %s type veth peer name %s' % (i, spec['peer'])]
    lines.append('link set dev %s address %s alias %s up' % (i, spec['gateway_mac'], _names.alias_for(spec['vm'])))
    lines.append('addr replace %s/32 dev %s' % (spec['gateway_ipv4'], i))
    lines.append('addr replace %s/128 dev %s nodad' % (spec['gateway_ipv6'], i))
    return lines


def _is_kernel_ll(addr):
    a, plen = addr.rsplit('/', 1)
    return ':' in a and plen == '64' and ipaddress.ip_address(a).is_link_local


def update_lines(spec, link, present):
    """Lines that bring an existing interface of this VM to ``spec`` (empty when in sync); its routes
    follow the VM's presence (module_utils/_presence.py)."""
    i = spec['interface']
    lines = []
    sets = []
    if (link.mac or '') != spec['gateway_mac']:
        sets.append('address %s' % spec['gateway_mac'])
    alias = _names.alias_for(spec['vm'])
    if link.alias != alias:
        sets.append('alias %s' % alias)
    if not link.up:
        sets.append('up')
    if sets:
        lines.append('link set dev %s %s' % (i, ' '.join(sets)))
    want4 = '%s/32' % spec['gateway_ipv4']
    want6 = '%s/128' % spec['gateway_ipv6']
    for a in sorted(link.addresses):
        if a in (want4, want6) or _is_kernel_ll(a):
            continue
        lines.append('addr del %s dev %s' % (a, i))
    if want4 not in link.addresses:
        lines.append('addr replace %s dev %s' % (want4, i))
    if want6 not in link.addresses:
        lines.append('addr replace %s dev %s nodad' % (want6, i))
    lines.extend(_presence.main_route_lines(spec, link.routes, present))
    return lines


class Plan(object):
    def __init__(self):
        self.delete_lines = []     # run first
        self.lines = []            # then creations/updates
        self.items = []            # per VM: dict(vm, interface, peer, kind, ipv4, ipv6, state, changed, before, after)
        self.desired = {}          # vm -> spec: the node's full desired state after this run
        self.presence = {}         # vm -> present (as read before planning; the verification uses it too)
        self.rules = []            # ip argv tails run before the batch (the handover lookup rule)
        self.recreated = set()     # interfaces deleted and made again (another kind): they start afresh

    @property
    def batch(self):
        return self.delete_lines + self.lines


def compute(present, absent, live, known, reconcile, kind, gw4, gw6, mac, suspended=frozenset(), handover=None,
            handover_rules=(4, 6), presence=None):
    """Plan the batch for ``present`` specs and ``absent`` names against ``live`` ({ifname: Link}).

    ``known`` is the state file's {vm: spec}. ``suspended`` names the VMs the hypervisor suspended,
    ``handover`` is the live handover table {prefix: via} and ``handover_rules`` the families whose
    lookup rule exists (module_utils/_presence.py); ``presence``
    ({vm: bool}) overrides what the links say (the verification after apply plans with the presence
    seen before it, so a VM that attaches meanwhile is left to the presence agent). Raises PlanError
    (naming the field) before anything changes when the live state forbids the change (foreign
    interface, name collision, an address still routed to another VM).
    """
    plan = Plan()
    handover = dict(handover or {})
    known_ifaces = dict((s['interface'], vm) for vm, s in known.items())
    managed = {}   # vm -> Link
    for link in live.values():
        vm = owner(link, known_ifaces)
        if vm is not None:
            managed[vm] = link
    present_names = set(s['vm'] for s in present)
    remove = set(absent)
    if reconcile:
        remove |= (set(managed) | set(known)) - present_names

    # The node's desired state: the state file, plus managed interfaces it does not list (adopted so
    # they are restored at boot), updated by this call.
    desired = dict(known)
    for vm, link in managed.items():
        if vm not in desired:
            v4 = sorted(r for r in link.routes if ':' not in r)
            v6 = sorted(r for r in link.routes if ':' in r)
            try:
                desired[vm] = make_spec(vm, link.kind if link.kind in ('tap', 'veth') else kind, gw4, gw6, mac, v4, v6)
            except _names.NameError_:
                continue
    for vm in remove:
        desired.pop(vm, None)

    # address claims against VMs that stay on the node
    claims = {}
    for vm, s in desired.items():
        if vm in present_names:
            continue
        for a in s['ipv4'] + s['ipv6']:
            claims[a] = vm
    for vm, link in managed.items():
        if vm in present_names or vm in remove:
            continue
        for a in link.routes:
            claims[a] = vm
    for idx, spec in enumerate(present):
        for a in spec['ipv4'] + spec['ipv6']:
            if a in claims:
                raise PlanError('vms: address %s of VM %r is still routed to VM %r on this node '
                                '(remove it from %r first, or list it with state=absent)'
                                % (a, spec['vm'], claims[a], claims[a]))

    # foreign interfaces and alias collisions
    for spec in present:
        link = live.get(spec['interface'])
        if link is not None:
            who = owner(link, known_ifaces)
            if who is None:
                raise PlanError('vms: interface %s of VM %r already exists and was not made by '
                                'vmnet.ipfabric (alias %r); refusing to touch it'
                                % (spec['interface'], spec['vm'], link.alias))
            if who != spec['vm'] and who not in remove:
                raise PlanError('vms: interface name %s of VM %r is already used by VM %r '
                                '(short-name hash collision); rename one of them'
                                % (spec['interface'], spec['vm'], who))
        if spec['peer'] and spec['peer'] in live and (link is None or live[spec['peer']].peer != spec['interface']):
            raise PlanError('vms: veth peer name %s of VM %r is already used by another interface'
                            % (spec['peer'], spec['vm']))

    handover_want, handover_have = {}, {}
    for vm in sorted(remove):
        link = managed.get(vm)
        spec = known.get(vm)
        for p in ((spec or {}).get('ipv4') or []) + ((spec or {}).get('ipv6') or []):
            if p in handover:
                handover_have[p] = handover[p]
        item = {'vm': vm, 'interface': link.name if link else (spec or {}).get('interface') or _names.interface_name(vm),
                'peer': (spec or {}).get('peer'), 'kind': link.kind if link else (spec or {}).get('kind'),
                'ipv4': [], 'ipv6': [], 'state': 'absent', 'changed': False,
                'before': live_view(link), 'after': None}
        if link is not None:
            plan.delete_lines.append('link del dev %s' % link.name)
            item['changed'] = True
        plan.items.append(item)

    for spec in present:
        link = live.get(spec['interface'])
        if link is not None and link.kind != spec['kind']:
            plan.delete_lines.append('link del dev %s' % link.name)
            plan.recreated.add(link.name)
            link = None
        if presence is not None:
            vm_present = link is not None and presence.get(spec['vm'], False)
        else:
            vm_present = _presence.is_present(link, spec['vm'], suspended)
        lines = create_lines(spec) if link is None else update_lines(spec, link, vm_present)
        plan.presence[spec['vm']] = vm_present
        dummy, want = _presence.wanted_routes(spec, vm_present)
        handover_want.update(want)
        for p in spec['ipv4'] + spec['ipv6']:
            if p in handover:
                handover_have[p] = handover[p]
        plan.lines.extend(lines)
        desired[spec['vm']] = spec
        item = {'vm': spec['vm'], 'interface': spec['interface'], 'peer': spec['peer'], 'kind': spec['kind'],
                'ipv4': list(spec['ipv4']), 'ipv6': list(spec['ipv6']), 'state': 'present',
                'present': vm_present, 'changed': bool(lines), 'before': live_view(live.get(spec['interface'])),
                'after': spec_view(spec, vm_present)}
        plan.items.append(item)
    plan.rules = _presence.handover_rule_commands(bool(handover_want), set(handover_rules))
    plan.lines.extend(_presence.handover_lines(handover_want, handover_have))
    # VMs named absent that this module never made: nothing to do, but report them
    listed = set(i['vm'] for i in plan.items)
    for vm in absent:
        if vm not in listed:
            plan.items.append({'vm': vm, 'interface': _names.interface_name(vm), 'peer': None, 'kind': None,
                               'ipv4': [], 'ipv6': [], 'state': 'absent', 'changed': False,
                               'before': None, 'after': None})
    plan.desired = desired
    return plan
