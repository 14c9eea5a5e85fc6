# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the node's links, addresses and routes with ``ip -json`` and run ``ip -batch``.

Stdlib only, Python 3.6+. Every command is an argv list run through AnsibleModule.run_command
(never a shell string); batch input goes through stdin.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

from ansible_collections.vmnet.ipfabric.plugins.module_utils._names import vm_from_alias
from ansible_collections.vmnet.ipfabric.plugins.module_utils._presence import VM_ROUTE_PROTOS

NO_JSON_MSG = ('iproute2 on this node does not produce JSON output (`ip -json` failed or printed no JSON); '
               'vmnet.ipfabric.vm_interface needs iproute2 >= 4.14 with JSON support '
               '(AlmaLinux 8, Ubuntu 20.04 and Debian 12 ship one)')


class IprouteError(Exception):
    pass


def host_prefix(dst, family):
    """``ip -json route`` prints host routes without their length; add it back."""
    if dst == 'default':
        return None
    if '/' in dst:
        return dst
    return dst + ('/32' if family == 4 else '/128')


def _load_json(text, what):
    text = (text or '').strip()
    if not text:
        # iproute2 prints nothing at all for an empty route table in some versions
        return []
    try:
        data = json.loads(text)
    except ValueError:
        raise IprouteError('%s: %s' % (NO_JSON_MSG, what))
    if not isinstance(data, list):
        raise IprouteError('%s: %s' % (NO_JSON_MSG, what))
    return data


class Link(object):
    __slots__ = ('name', 'index', 'kind', 'mac', 'alias', 'up', 'carrier', 'peer', 'addresses', 'routes')

    def __init__(self, name, index=None, kind=None, mac=None, alias=None, up=False, peer=None, carrier=False):
        self.name = name
        self.index = index
        self.kind = kind
        self.mac = mac
        self.alias = alias
        self.up = up
        self.carrier = carrier   # LOWER_UP: a tap held open by its qemu, a veth whose peer is up
        self.peer = peer
        self.addresses = set()   # 'ADDR/LEN' strings, both families
        self.routes = {}         # 'PREFIX/LEN' -> kernel protocol of the VM routes (/32, /128) via this link

    @property
    def vm(self):
        return vm_from_alias(self.alias)


def link_kind(entry):
    info = entry.get('linkinfo') or {}
    kind = info.get('info_kind')
    if kind == 'tun':
        data = info.get('info_data') or {}
        return 'tap' if data.get('type') == 'tap' else 'tun'
    return kind


def parse_state(link_json, addr_json, route4_json, route6_json):
    """Build {ifname: Link} from the four ``ip -json`` outputs (already decoded lists)."""
    links = {}
    for e in link_json:
        name = e.get('ifname')
        if not name:
            continue
        flags = e.get('flags') or []
        links[name] = Link(name, index=e.get('ifindex'), kind=link_kind(e),
                           mac=(e.get('address') or '').lower() or None,
                           alias=e.get('ifalias'), up='UP' in flags, peer=e.get('link'),
                           carrier='LOWER_UP' in flags)
    for e in addr_json:
        link = links.get(e.get('ifname'))
        if link is None:
            continue
        for a in e.get('addr_info') or []:
            if a.get('family') not in ('inet', 'inet6') or 'local' not in a:
                continue
            link.addresses.add('%s/%s' % (a['local'], a.get('prefixlen')))
    for family, data in ((4, route4_json), (6, route6_json)):
        for r in data:
            if str(r.get('protocol')) not in VM_ROUTE_PROTOS or r.get('type', 'unicast') != 'unicast':
                continue
            link = links.get(r.get('dev'))
            dst = host_prefix(r.get('dst', ''), family)
            if link is None or dst is None or r.get('gateway'):
                continue
            plen = int(dst.rsplit('/', 1)[1])
            if plen != (32 if family == 4 else 128):
                continue
            link.routes[dst] = str(r.get('protocol'))
    return links


def parse_handover(route4_json, route6_json):
    """{prefix: next hop} of the routes in the handover table (see _presence)."""
    out = {}
    for family, data in ((4, route4_json), (6, route6_json)):
        for r in data:
            dst = host_prefix(r.get('dst', ''), family)
            if dst and r.get('gateway'):
                out[dst] = r['gateway']
    return out


def parse_rules(rule4_json, rule6_json, table, priority):
    """The families (4, 6) that have the rule ``priority PRIORITY lookup TABLE``."""
    fams = set()
    for family, data in ((4, rule4_json), (6, rule6_json)):
        for r in data:
            if str(r.get('table')) == str(table) and r.get('priority') == priority:
                fams.add(family)
    return fams


class Iproute(object):
    """Thin wrapper around the ``ip`` binary of the node."""

    def __init__(self, module, ip_bin=None):
        self.module = module
        self.ip = ip_bin or module.get_bin_path('ip', required=True, opt_dirs=['/sbin', '/usr/sbin'])

    def _json(self, args, what):
        rc, out, err = self.module.run_command([self.ip, '-json'] + args)
        if rc != 0:
            if 'json' in (err or '').lower() or 'unknown' in (err or '').lower():
                raise IprouteError('%s: `ip -json %s`: %s' % (NO_JSON_MSG, ' '.join(args), err.strip()))
            raise IprouteError('`ip -json %s` failed (rc=%d): %s' % (' '.join(args), rc, (err or out).strip()))
        return _load_json(out, '`ip -json %s`' % ' '.join(args))

    def read(self):
        """One call each for links, addresses, IPv4 routes and IPv6 routes (never one per VM)."""
        links = self._json(['-details', 'link', 'show'], 'link')
        addrs = self._json(['addr', 'show'], 'addr')
        r4 = self._json(['-4', 'route', 'show', 'table', 'main'], 'route')
        r6 = self._json(['-6', 'route', 'show', 'table', 'main'], 'route')
        return parse_state(links, addrs, r4, r6)

    def _table(self, family, table):
        """The routes of ``table``; a table that was never used does not exist, which means empty."""
        rc, out, err = self.module.run_command([self.ip, '-json', '-%d' % family, 'route', 'show', 'table', str(table)])
        if rc != 0 and 'table does not exist' in (err or ''):
            return []
        if rc != 0:
            raise IprouteError('`ip -json -%d route show table %s` failed (rc=%d): %s' % (family, table, rc, (err or out).strip()))
        return _load_json(out, '`ip -json route show table %s`' % table)

    def read_handover(self, table, priority):
        """(handover routes {prefix: via}, families that have the lookup rule)."""
        r4 = self._table(4, table)
        r6 = self._table(6, table)
        rules4 = self._json(['-4', 'rule', 'show'], 'rule')
        rules6 = self._json(['-6', 'rule', 'show'], 'rule')
        return parse_handover(r4, r6), parse_rules(rules4, rules6, table, priority)

    def run(self, args):
        """One ``ip`` command (argv tail), for what ``ip -batch`` cannot take (a family option)."""
        rc, out, err = self.module.run_command([self.ip] + list(args))
        if rc != 0:
            raise IprouteError('`ip %s` failed (rc=%d): %s' % (' '.join(args), rc, (err or out).strip()))

    def batch(self, lines):
        """Run all lines in one ``ip -batch -`` process (stdin). Stops at the first error."""
        if not lines:
            return
        data = '\n'.join(lines) + '\n'
        rc, out, err = self.module.run_command([self.ip, '-batch', '-'], data=data, binary_data=False)
        if rc != 0:
            raise IprouteError('`ip -batch -` failed (rc=%d): %s' % (rc, (err or out).strip()))


SYSCTL_ROOT = '/proc/sys/net'


def sysctl_path(family, ifname, key, root=SYSCTL_ROOT):
    return os.path.join(root, 'ipv4' if family == 4 else 'ipv6', 'conf', ifname, key)


def read_sysctl(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (IOError, OSError):
        return None


def write_sysctl(path, value):
    with open(path, 'w') as f:
        f.write('%s\n' % value)
