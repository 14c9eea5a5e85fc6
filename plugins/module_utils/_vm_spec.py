# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The desired state of one VM's interface (its spec) from the module's input, and the interface's
sysctls (stdlib only, Python 3.6+). Pure: nothing here reads or changes the node."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _addresses
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _names

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


def make_spec(vm, kind, gw4, gw6, mac, ipv4=(), ipv6=(), leaving_to=None, migrating=False):
    spec = {
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
    if migrating:
        # arriving with a migration: its routes carry the kernel protocol MIGRATING_PROTO (module_utils/_presence.py);
        # kept only when set, so the state files of nodes without a migration stay as they were
        spec['migrating'] = True
    return spec


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
        migrating = item.get('migrating')
        if migrating is not None and not isinstance(migrating, bool):
            raise PlanError('%s.migrating: %r must be true or false' % (field, migrating))
        if state == 'present':
            present.append(make_spec(name, kind, gw4, gw6, mac, v4, v6,
                                     _leaving_to(item.get('leaving_to'), field + '.leaving_to'), migrating))
        else:
            absent.append(name)
    collisions = _names.find_collisions([s['vm'] for s in present] + absent)
    for ifname, names in sorted(collisions.items()):
        raise PlanError('vms: VM names %s map to the same interface name %s (hash collision); rename one'
                        % (', '.join(repr(n) for n in names), ifname))
    return present, absent


def sysctl_targets(spec):
    return [(fam, spec['interface'], key, value) for fam, key, value in SYSCTLS]
