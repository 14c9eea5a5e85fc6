# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The FRR model of the lines the collection owns (stdlib only, Python 3.6+): render and parse them in
one place.

Render (used by the role templates through the ``vmnet.ipfabric.ipfabric_frr_*`` filters and by the
node modules): ``network`` statements, prefix-list entries, peer groups with their neighbors and
session options, BFD profiles. Parse: ``show running-config`` (the default-VRF ``router bgp`` and its
``network`` statements), ``frr-reload.py --test`` output. Also: frr_config candidates, secret masking.

Config text is expected the way FRR prints it (``show running-config``): block contents indented,
``router bgp`` blocks closed by ``exit`` (FRR >= 8) or by a ``!`` in column 0 (FRR 7.x).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import os
import re

FRR_RELOAD_PATHS = (
    '/usr/lib/frr/frr-reload.py',       # Debian, Ubuntu
    '/usr/libexec/frr/frr-reload.py',   # RHEL, AlmaLinux
    '/usr/lib/frr/frr-reload',
    '/usr/sbin/frr-reload.py',
    '/usr/share/frr/frr-reload.py',
)

MASK = '********'
_SECRET_RES = (
    re.compile(r'(\bneighbor\s+\S+\s+password\s+)(\S+)'),
    re.compile(r'(\bpassword\s+)(\S+)'),
    re.compile(r'(\benable\s+password\s+)(\S+)'),
    re.compile(r'(\bauthentication-key\s+)(\S+)'),
    re.compile(r'(\bmessage-digest-key\s+\d+\s+md5\s+)(\S+)'),
    re.compile(r'(\bkey-string\s+)(\S+)'),
)

ROUTER_BGP_RE = re.compile(r'^router bgp (\d+)(?:\s+(vrf|view)\s+(\S+))?\s*$')
AF_RE = re.compile(r'^address-family\s+(\S+)(?:\s+(\S+))?')


class FrrError(Exception):
    pass


def mask(text):
    """Replace passwords and keys in FRR config text or command output."""
    if text is None:
        return text
    if isinstance(text, (list, tuple)):
        return [mask(t) for t in text]
    out = text
    for rx in _SECRET_RES:
        out = rx.sub(lambda m: m.group(1) + MASK, out)
    return out


def af_key(afi, safi):
    """'ipv4' / 'ipv6' for the unicast address families, 'other' for anything else."""
    if afi in ('ipv4', 'ipv6') and safi in (None, 'unicast'):
        return afi
    return 'other'


class BgpBlock(object):
    """One default-VRF ``router bgp`` block located in a config text."""

    def __init__(self, asn, start):
        self.asn = asn
        self.start = start          # index of the 'router bgp' line
        self.end = None             # index of the closing line ('exit' / '!'), or len(lines)
        self.af = {}                # 'ipv4'/'ipv6' -> (start index, exit-address-family index)
        self.networks = {}          # ip_network -> dict(af, line, index)


def _indent(line):
    return len(line) - len(line.lstrip(' \t'))


def parse(text):
    """Return (lines, [BgpBlock ...]) for the default-VRF router bgp blocks of ``text``."""
    lines = text.splitlines()
    blocks = []
    cur = None
    af = None
    af_start = None
    for i, raw in enumerate(lines):
        s = raw.strip()
        if cur is None:
            m = ROUTER_BGP_RE.match(s)
            if m and _indent(raw) == 0:
                if m.group(2):
                    # router bgp N vrf X: not ours; skip it as an opaque block
                    cur = BgpBlock(int(m.group(1)), i)
                    cur.vrf = m.group(3)
                else:
                    cur = BgpBlock(int(m.group(1)), i)
                    cur.vrf = None
                af = None
            continue
        # inside a router bgp block
        top_level = _indent(raw) == 0 and s and not s.startswith('address-family') and s != 'exit-address-family'
        if af is None and (s == 'exit' or top_level):
            cur.end = i
            if cur.vrf is None:
                blocks.append(cur)
            cur = None
            # a column-0 line that is itself a new 'router bgp' (no closing line before it)
            m = ROUTER_BGP_RE.match(s)
            if m and s != 'exit':
                cur = BgpBlock(int(m.group(1)), i)
                cur.vrf = m.group(3) if m.group(2) else None
            continue
        m = AF_RE.match(s)
        if m:
            af = af_key(m.group(1), m.group(2))
            af_start = i
            continue
        if s == 'exit-address-family' or (af is not None and s == 'exit'):
            if af in ('ipv4', 'ipv6') and af not in cur.af:
                cur.af[af] = (af_start, i)
            af = None
            continue
        if s.startswith('network '):
            parts = s.split()
            try:
                net = ipaddress.ip_network(parts[1], strict=False)
            except (ValueError, IndexError):
                continue
            where = af or 'ipv4'   # router-level 'network' lines are IPv4 unicast (old style)
            if where in ('ipv4', 'ipv6') and where == 'ipv%d' % net.version:
                cur.networks[net] = {'af': where, 'line': s, 'index': i}
    if cur is not None:
        cur.end = len(lines)
        if cur.vrf is None:
            blocks.append(cur)
    return lines, blocks


def default_bgp(text):
    """The default-VRF router bgp block of ``text`` or None. Raises FrrError if there are several."""
    lines, blocks = parse(text)
    if len(blocks) > 1:
        raise FrrError('more than one default-VRF "router bgp" block (%s)' % ', '.join(str(b.asn) for b in blocks))
    return blocks[0] if blocks else None


def network_route_map(line):
    """The route-map name of a ``network P route-map NAME`` line, or '' when it has none."""
    parts = (line or '').split()
    for i, word in enumerate(parts[:-1]):
        if word == 'route-map':
            return parts[i + 1]
    return ''


# ---- rendering ------------------------------------------------------------------------------------

BFD_PROFILE_KEYS = ('detect_multiplier', 'receive_interval', 'transmit_interval')
# The fabric's BFD timers unless the inventory says otherwise: a dead peer is noticed after 3 x 200 ms
# = 0.6 s, so its routes are gone from the core within a second (docs/architecture.md, "Failure
# detection and graceful restart", gives the reasoning for a 2-core lab and for production).
BFD_PROFILE_DEFAULTS = {'detect_multiplier': 3, 'receive_interval': 200, 'transmit_interval': 200}
BFD_LIMITS = {'detect_multiplier': (2, 255), 'receive_interval': (10, 60000), 'transmit_interval': (10, 60000)}
# Graceful restart: FRR's restart time (what a restarting speaker asks its peers to wait) and
# stale-path time (how long stale routes may stay once it is back, until its End-of-RIB).
GRACEFUL_RESTART_DEFAULTS = {'restart_time': 120, 'stalepath_time': 360}
# FRR's own defaults, which `show running-config` leaves out: a rendered line equal to one of them
# is left out too, or frr_config would find it missing from the running config FRR applied.
FRR_DEFAULTS = {('bfd', 'detect_multiplier'): 3, ('bfd', 'receive_interval'): 300, ('bfd', 'transmit_interval'): 300,
                ('gr', 'restart_time'): 120, ('gr', 'stalepath_time'): 360}


def network_line(prefix, route_map=None):
    """``network P`` (with ``route-map NAME``): a VM announcement under its address family."""
    return 'network %s%s' % (prefix, ' route-map %s' % route_map if route_map else '')


def prefix_list_lines(name, entries, seq_start=5, seq_step=5):
    """``ip prefix-list``/``ipv6 prefix-list`` lines. ``entries``: [(action, prefix, host_length)];
    host_length None gives an exact match, else ``ge N le N`` (every host route inside)."""
    out = []
    for i, (action, prefix, host_len) in enumerate(entries):
        kw = 'ipv6 prefix-list' if ':' in str(prefix) else 'ip prefix-list'
        plen = int(str(prefix).rsplit('/', 1)[1]) if '/' in str(prefix) else None
        tail = ' ge %d le %d' % (host_len, host_len) if host_len and plen != host_len else ''
        out.append('%s %s seq %d %s %s%s' % (kw, name, seq_start + i * seq_step, action, prefix, tail))
    return out


def _bounded_int(what, key, value, low, high):
    try:
        number = int(value)
        if isinstance(value, bool) or str(number) != str(value).strip():
            raise ValueError
    except (TypeError, ValueError):
        raise FrrError('%s %s: %r is not a whole number' % (what, key, value))
    if not low <= number <= high:
        raise FrrError('%s %s: %d is outside %d..%d' % (what, key, number, low, high))
    return number


def bfd_profile_lines(name, profile):
    """The ``bfd`` block with one ``profile``: the fabric's timers (BFD_PROFILE_DEFAULTS) with the
    inventory's ``profile`` settings over them, in a fixed order."""
    profile = profile or {}
    if not isinstance(profile, dict):
        raise FrrError('bfd profile %s: %r is not a mapping of %s' % (name, profile, ', '.join(BFD_PROFILE_KEYS)))
    unknown = sorted(set(profile) - set(BFD_PROFILE_KEYS))
    if unknown:
        raise FrrError('bfd profile %s: unknown setting(s) %s (known: %s)' % (name, ', '.join(unknown), ', '.join(BFD_PROFILE_KEYS)))
    merged = dict(BFD_PROFILE_DEFAULTS, **profile)
    out = ['bfd', ' profile %s' % name]
    for key in BFD_PROFILE_KEYS:
        low, high = BFD_LIMITS[key]
        value = _bounded_int('bfd profile ' + name, key, merged[key], low, high)
        if value != FRR_DEFAULTS[('bfd', key)]:
            out.append('  %s %d' % (key.replace('_', '-'), value))
    return out + [' exit', ' !', 'exit']


def graceful_restart_lines(settings):
    """The graceful-restart lines of a ``router bgp`` block (indented one space).

    ``settings``: enabled (bool, default true), restart_time, stalepath_time (seconds; defaults in
    GRACEFUL_RESTART_DEFAULTS) and preserve_fw_state (bool, default true: forwarding survives a
    restart of FRR here - a node's VM routes are kernel routes, zebra keeps its routes with -r, a
    route reflector is not in the forwarding path - so the peers keep the routes while it restarts;
    without it they drop them as soon as the restarted speaker opens its session).
    """
    settings = dict(settings or {})
    unknown = sorted(set(settings) - {'enabled', 'restart_time', 'stalepath_time', 'preserve_fw_state'})
    if unknown:
        raise FrrError('graceful restart: unknown setting(s) %s' % ', '.join(unknown))
    if not settings.get('enabled', True):
        return []
    merged = dict(GRACEFUL_RESTART_DEFAULTS, **dict((k, v) for k, v in settings.items() if k in GRACEFUL_RESTART_DEFAULTS))
    out = [' bgp graceful-restart']
    for key, keyword in (('restart_time', 'restart-time'), ('stalepath_time', 'stalepath-time')):
        value = _bounded_int('graceful restart', key, merged[key], 1, 4095)
        if value != FRR_DEFAULTS[('gr', key)]:
            out.append(' bgp graceful-restart %s %d' % (keyword, value))
    if settings.get('preserve_fw_state', True):
        out.append(' bgp graceful-restart preserve-fw-state')
    return out


def peer_group_lines(group):
    """The ``neighbor`` lines (inside ``router bgp``) of one peer group and its members.

    ``group``: name, asn, source (update-source), peers (addresses) or listen_range (``bgp listen
    range``), password, bfd (bool), bfd_profile (name or ''), extended_nexthop (bool).
    """
    name = group['name']
    out = [' neighbor %s peer-group' % name,
           ' neighbor %s remote-as %s' % (name, group['asn'])]
    if group.get('source'):
        out.append(' neighbor %s update-source %s' % (name, group['source']))
    if group.get('extended_nexthop'):
        out.append(' neighbor %s capability extended-nexthop' % name)
    if group.get('password'):
        out.append(' neighbor %s password %s' % (name, group['password']))
    if group.get('bfd'):
        out.append(' neighbor %s bfd' % name)
        if group.get('bfd_profile'):
            out.append(' neighbor %s bfd profile %s' % (name, group['bfd_profile']))
    if group.get('listen_range'):
        out.append(' bgp listen range %s peer-group %s' % (group['listen_range'], name))
    else:
        out.extend(' neighbor %s peer-group %s' % (peer, name) for peer in group.get('peers') or [])
    return out


def network_changes_config(asn, add, remove, route_map=None):
    """Config text for ``vtysh -f``: add/remove ``network`` statements under router bgp ASN.

    ``add`` and ``remove`` are iterables of ip_network; ``route_map`` (a name) is appended to every
    added statement (re-entering ``network P`` with or without a route-map changes it in place). No
    'configure terminal' (vtysh -f starts in config mode and rejects it), no 'write memory'.
    """
    out = ['router bgp %d' % asn]
    for version in (4, 6):
        adds = sorted(n for n in add if n.version == version)
        dels = sorted(n for n in remove if n.version == version)
        if not adds and not dels:
            continue
        out.append(' address-family ipv%d unicast' % version)
        for n in dels:
            out.append('  no network %s' % n)
        for n in adds:
            out.append('  ' + network_line(n, route_map))
        out.append(' exit-address-family')
    out.append('exit')
    return '\n'.join(out) + '\n'


def assemble_candidate(src_text, preserved):
    """Insert ``preserved`` network lines into the default router bgp block of ``src_text``.

    ``preserved`` is a list of dict(af='ipv4'|'ipv6', line='network P ...', net=ip_network).
    Lines already present (same prefix) in src are not duplicated. Returns (text, inserted lines).
    Raises FrrError when there is something to preserve but src has no router bgp.
    """
    lines, blocks = parse(src_text)
    if len(blocks) > 1:
        raise FrrError('src: more than one default-VRF "router bgp" block')
    todo = [p for p in preserved if not blocks or p['net'] not in blocks[0].networks]
    if not todo:
        return src_text if src_text.endswith('\n') else src_text + '\n', []
    if not blocks:
        raise FrrError('src has no "router bgp" block; applying it would withdraw %d VM announcement(s) '
                       '(for example %s)' % (len(todo), todo[0]['line']))
    b = blocks[0]
    inserts = {}   # index before which to insert -> list of lines
    for afname in ('ipv4', 'ipv6'):
        mine = [p for p in todo if p['af'] == afname]
        if not mine:
            continue
        mine.sort(key=lambda p: p['net'])
        if afname in b.af:
            at = b.af[afname][1]   # before exit-address-family
            inserts.setdefault(at, []).extend('  ' + p['line'] for p in mine)
        else:
            block = [' address-family %s unicast' % afname] + ['  ' + p['line'] for p in mine] + [' exit-address-family']
            inserts.setdefault(b.end, []).extend(block)
    out = []
    for i in range(len(lines) + 1):
        if i in inserts:
            out.extend(inserts[i])
        if i < len(lines):
            out.append(lines[i])
    return '\n'.join(out) + '\n', [p['line'] for p in todo]


def parse_reload_test(output):
    """Parse ``frr-reload.py --test`` stdout into (lines_to_delete, lines_to_add).

    Each is the list of printed lines (context lines like 'router bgp N' included, blank lines
    dropped). A section with no leaf line is empty.
    """
    section = None
    result = {'del': [], 'add': []}
    for raw in (output or '').splitlines():
        s = raw.strip()
        if s == 'Lines To Delete':
            section = 'del'
            continue
        if s == 'Lines To Add':
            section = 'add'
            continue
        if section is None or not s or set(s) == set('='):
            continue
        result[section].append(raw.rstrip())
    return result['del'], result['add']


def find_frr_reload(explicit=None, exists=os.path.exists):
    if explicit:
        return explicit if exists(explicit) else None
    for p in FRR_RELOAD_PATHS:
        if exists(p):
            return p
    return None


def strip_vtysh_noise(text):
    """Drop the 'Building configuration...' / 'Current configuration:' header of show running-config."""
    out = []
    for line in (text or '').splitlines():
        if line.startswith('Building configuration') or line.startswith('Current configuration'):
            continue
        out.append(line)
    return '\n'.join(out) + '\n'


class Vtysh(object):
    def __init__(self, module, vtysh_bin=None):
        self.module = module
        self.bin = vtysh_bin or module.get_bin_path('vtysh', required=True, opt_dirs=['/usr/bin', '/usr/sbin'])

    def running_config(self):
        rc, out, err = self.module.run_command([self.bin, '-c', 'show running-config'])
        if rc != 0:
            raise FrrError('vtysh -c "show running-config" failed (rc=%d): %s' % (rc, mask((err or out).strip())))
        return strip_vtysh_noise(out)

    def apply_file(self, path, dry_run=False):
        args = [self.bin] + (['-C'] if dry_run else []) + ['-f', path]
        rc, out, err = self.module.run_command(args)
        text = '\n'.join(t for t in (out.strip(), err.strip()) if t)
        if rc != 0 or re.search(r'^line \d+: ', text, re.M) or '% Unknown command' in text:
            raise FrrError('vtysh %s-f failed (rc=%d): %s' % ('-C ' if dry_run else '', rc, mask(text)))
        return text

    def write_memory(self):
        rc, out, err = self.module.run_command([self.bin, '-c', 'write memory'])
        if rc != 0:
            raise FrrError('vtysh -c "write memory" failed (rc=%d): %s' % (rc, mask((err or out).strip())))


def _top_level(text):
    return set(l.strip() for l in (text or '').splitlines() if l and not l[0].isspace())


def drop_reload_noise(dels, adds, running_text):
    """Remove frr-reload.py deltas that a reload cannot settle, so the module stays idempotent.

    * ``ip forwarding`` / ``ipv6 forwarding``: FRR omits them from ``show running-config`` when
      forwarding is on (the default), so frr-reload.py always wants to add them. Dropped from the
      lines to add unless the running config says ``no ip forwarding`` / ``no ipv6 forwarding``.
    * ``hostname``: FRR's running config shows the system hostname; a different ``hostname`` in the
      candidate never sticks. Dropped, with a note.

    Only standalone top-level lines are removed. Returns (dels, adds, notes).
    """
    running_top = _top_level(running_text)
    notes = []

    def keep_add(line):
        s = line.strip()
        if line != s:
            return True
        if s in ('ip forwarding', 'ipv6 forwarding'):
            return ('no ' + s) in running_top
        if s.startswith('hostname '):
            notes.append('src sets "%s" but FRR shows the system hostname; set the node\'s hostname instead' % s)
            return False
        return True

    def keep_del(line):
        return not (line == line.strip() and line.startswith('no hostname '))

    return [l for l in dels if keep_del(l)], [l for l in adds if keep_add(l)], notes
