# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Desired state of the per-VM interfaces, the plan against the live state, and the files that
restore everything at boot (stdlib only, Python 3.6+).

Everything here is pure (no I/O) except the small file helpers at the end, so the plan can be
unit-tested from recorded ``ip -json`` output.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import json
import os
import tempfile

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _names
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _addresses
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _presence

STATE_FILE = 'vm_interfaces.json'
RESTORE_BATCH = 'restore.batch'
RESTORE_SYSCTL = 'restore.sysctl'
STATE_VERSION = 1

# Per-interface sysctls of every <vm>_net0 (order matters: disable_ipv6 first).
#  ipv4 forwarding=1      packets from the VM are routed (IPv4 checks the ingress interface's flag)
#  ipv4 rp_filter=1       strict reverse-path check: the VM may only send from addresses routed
#                         to its own interface (anti-spoofing; the /32 route is the only route back)
#  ipv4 proxy_arp=0       not needed: the VM's gateway 10.0.0.1 is a local address of the interface
#  ipv4 send_redirects=0  all VMs share the gateway; never tell a VM to use another next hop
#  ipv4 accept_redirects=0
#  ipv6 disable_ipv6=0    fe80::1 and the /128 routes need IPv6 on the interface
#  ipv6 forwarding=1      router behaviour on the link (IsRouter in NA); global forwarding stays on
#  ipv6 accept_ra=0       never learn routes or addresses from a VM's router advertisement
#  ipv6 autoconf=0        no SLAAC addresses on the host side
#  ipv6 accept_redirects=0
SYSCTLS = (
    (4, 'forwarding', '1'),
    (4, 'rp_filter', '1'),
    (4, 'proxy_arp', '0'),
    (4, 'send_redirects', '0'),
    (4, 'accept_redirects', '0'),
    (6, 'disable_ipv6', '0'),
    (6, 'forwarding', '1'),
    (6, 'accept_ra', '0'),
    (6, 'autoconf', '0'),
    (6, 'accept_redirects', '0'),
)


class PlanError(ValueError):
    """Input or live state that forbids any change; the message names the field and the reason."""


def _sorted_addrs(addrs):
    return sorted(set(addrs), key=lambda a: (ipaddress.ip_network(a).version, ipaddress.ip_network(a)))


def make_spec(vm, kind, gw4, gw6, mac, ipv4=(), ipv6=(), leaving_to=None):
    return {
        'vm': vm,
        'interface': _names.interface_name(vm),
        'peer': _names.peer_name(vm) if kind == 'veth' else None,
        'kind': kind,
        'ipv4': _sorted_addrs(ipv4),
        'ipv6': _sorted_addrs(ipv6),
        'gateway_ipv4': gw4,
        'gateway_ipv6': gw6,
        'gateway_mac': mac,
        'leaving_to': leaving_to or None,
    }


def _leaving_to(value, field):
    """Validate a ``leaving_to`` item: the underlay addresses of the node a VM migrates to."""
    if value is None or value == {}:
        return None
    if not isinstance(value, dict) or set(value) - set(('ipv4', 'ipv6')):
        raise PlanError('%s: must be a dict with ipv4 and/or ipv6 (the target node\'s underlay addresses)' % field)
    out = {}
    for key, version in (('ipv4', 4), ('ipv6', 6)):
        if value.get(key) in (None, ''):
            continue
        try:
            addr = ipaddress.ip_address(str(value[key]).strip())
        except ValueError as e:
            raise PlanError('%s.%s: %r is not an IP address (%s)' % (field, key, value[key], e))
        if addr.version != version or addr.is_multicast or addr.is_unspecified or addr.is_loopback:
            raise PlanError('%s.%s: %r is not a unicast IPv%d address' % (field, key, value[key], version))
        out[key] = str(addr)
    return out or None


def validate_vms(vms, default_state, kind, gw4, gw6, mac):
    """Validate the ``vms`` option. Returns (present_specs, absent_names). Raises PlanError.

    Nothing on the node is read or changed here.
    """
    present, absent, seen = [], [], {}
    claims = {}
    for i, item in enumerate(vms or []):
        field = 'vms[%d]' % i
        if not isinstance(item, dict):
            raise PlanError('%s: must be a dict with name, ipv4, ipv6, state' % field)
        name = item.get('name')
        reason = _names.validate_vm_name(name)
        if reason:
            raise PlanError('%s.name: %r %s' % (field, name, reason))
        if name in seen:
            raise PlanError('%s.name: duplicate VM name %r (also vms[%d])' % (field, name, seen[name]))
        seen[name] = i
        state = item.get('state') or default_state
        if state not in ('present', 'absent'):
            raise PlanError('%s.state: %r must be present or absent' % (field, state))
        v4, v6 = [], []
        for fam, key, out in ((4, 'ipv4', v4), (6, 'ipv6', v6)):
            values = item.get(key) or []
            if isinstance(values, str):
                values = [values]
            for j, a in enumerate(values):
                f = '%s.%s[%d]' % (field, key, j)
                try:
                    norm = _addresses.host_address(a, fam, f)
                except _addresses.AddressError as e:
                    raise PlanError(str(e))
                if state == 'present':
                    if norm in claims and claims[norm][0] != name:
                        raise PlanError('%s: address %s is claimed by two VMs: %r (%s) and %r'
                                        % (f, norm, claims[norm][0], claims[norm][1], name))
                    claims[norm] = (name, f)
                out.append(norm)
        if state == 'present':
            present.append(make_spec(name, kind, gw4, gw6, mac, v4, v6,
                                     _leaving_to(item.get('leaving_to'), field + '.leaving_to')))
        else:
            absent.append(name)
    collisions = _names.find_collisions([s['vm'] for s in present] + absent)
    for ifname, names in sorted(collisions.items()):
        raise PlanError('vms: VM names %s map to the same interface name %s (hash collision); rename one'
                        % (', '.join(repr(n) for n in names), ifname))
    return present, absent


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


def sysctl_targets(spec):
    return [(fam, spec['interface'], key, value) for fam, key, value in SYSCTLS]


# ---- persistence -------------------------------------------------------------------------------

def render_state(desired):
    data = {'version': STATE_VERSION, 'vms': dict((vm, desired[vm]) for vm in sorted(desired))}
    return json.dumps(data, indent=1, sort_keys=True) + '\n'


def render_restore_batch(desired):
    out = ['# Generated by vmnet.ipfabric.vm_interface; do not edit.',
           '# Replayed at boot by vmnet-ipfabric-restore.service: ip -force -batch <this file>']
    for vm in sorted(desired):
        out.append('# vm %s' % vm)
        out.extend(create_lines(desired[vm]))
    return '\n'.join(out) + '\n'


def render_restore_sysctl(desired):
    """sysctl(8) -p file; keys use '/' separators so dots in interface names stay literal."""
    out = ['# Generated by vmnet.ipfabric.vm_interface; do not edit.',
           '# Applied at boot after restore.batch: sysctl -q -p <this file>']
    for vm in sorted(desired):
        for fam, ifname, key, value in sysctl_targets(desired[vm]):
            out.append('net/%s/conf/%s/%s = %s' % ('ipv4' if fam == 4 else 'ipv6', ifname, key, value))
    return '\n'.join(out) + '\n'


def load_state(path):
    """Read the state file: {vm: spec}. A missing file is an empty state."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (IOError, OSError):
        return {}
    vms = data.get('vms') if isinstance(data, dict) else None
    if not isinstance(vms, dict):
        raise ValueError('%s: not a vmnet.ipfabric state file' % path)
    return vms


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except (IOError, OSError):
        return None


def write_atomic(path, text, mode=0o644):
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=d)
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
