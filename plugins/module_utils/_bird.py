# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The BIRD 2 model of the lines the collection owns and of what BIRD reports (stdlib only, Python 3.6+).

Render (used by the node role's ``bird.conf.j2`` through the ``vmnet.ipfabric.ipfabric_bird_*`` filters):
the pool-membership functions, the BFD protocol, the BGP sessions to the route reflectors, quoted
strings. Parse: ``birdc show protocols all`` (the BGP sessions) and ``birdc show route ... all`` (BIRD's
table: what it learnt from the kernel, what it received, what it exports). Also: secret masking.

A BIRD node announces its VMs without any per-VM configuration: BIRD's kernel protocol learns the /32
and /128 routes that the presence agent installs on ``<vm>_net0`` while a VM is present, and the export
filter passes the host routes inside the pools on a VM interface. The kernel protocol number of such a
route says whether the VM is arriving with a migration (MIGRATING_PROTO: announced with the lower
local-preference, docs/migration.md) or settled (STATIC_PROTO).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import re

from ansible_collections.vmnet.ipfabric.plugins.module_utils._bgp_state import BgpReadError

# The kernel protocol numbers of the VM routes (module_utils/_presence.py installs them): ``static`` for
# a VM that lives here, 243 for a VM arriving with a migration until the switch. ``ip route replace``
# changes one into the other in place, so BIRD sees one route change its attributes: an implicit replace
# towards the route reflectors, never a withdraw.
STATIC_PROTO = 4
MIGRATING_PROTO = 243
BIRD_PROTO = 12                      # what BIRD's kernel protocol installs (RTPROT_BIRD)
MASK = '********'
SYMBOL_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
BFD_KEYS = ('detect_multiplier', 'receive_interval', 'transmit_interval')
BFD_DEFAULTS = {'detect_multiplier': 3, 'receive_interval': 200, 'transmit_interval': 200}
BFD_LIMITS = {'detect_multiplier': (2, 255), 'receive_interval': (10, 60000), 'transmit_interval': (10, 60000)}
GR_KEYS = ('enabled', 'restart_time', 'stalepath_time', 'preserve_fw_state')
GR_DEFAULTS = {'restart_time': 120}
AFIS = ('ipv4', 'ipv6')


class BirdError(Exception):
    pass


def mask(text):
    """Replace the passwords in BIRD config text (``password "..."``)."""
    if text is None:
        return text
    if isinstance(text, (list, tuple)):
        return [mask(t) for t in text]
    return re.sub(r'(\bpassword\s+)"(?:[^"\\]|\\.)*"', lambda m: m.group(1) + '"%s"' % MASK, text)


def quote(value, what='string', secret=False):
    """A BIRD string literal. BIRD's lexer takes no escapes: a double quote or a backslash, or a
    character outside printable ASCII, cannot be written, so they are refused (``what`` names the field;
    a ``secret`` is never shown)."""
    text = str(value)
    if '"' in text or '\\' in text or any(not (32 <= ord(c) < 127) for c in text):
        raise BirdError('%s: %s cannot be written as a BIRD string (no double quote, backslash or '
                        'non-printable character)' % (what, MASK if secret else repr(text)))
    return '"%s"' % text


def symbol(*parts):
    """A BIRD symbol made of ``parts`` (addresses and names): every other character becomes ``_``."""
    name = '_'.join(re.sub(r'[^A-Za-z0-9_]', '_', str(p)) for p in parts if str(p))
    if not SYMBOL_RE.match(name):
        name = 'p_' + name
    return name


def protocol_name(afi, peer):
    """The BGP protocol of the session to ``peer``: ``rr4_172_16_0_2``, ``rr6_fd0c_172_16__2``."""
    return symbol('rr%s' % afi[-1], ipaddress.ip_address(peer).compressed)


def _bounded_int(what, key, value, low, high):
    try:
        number = int(value)
        if isinstance(value, bool) or str(number) != str(value).strip():
            raise ValueError
    except (TypeError, ValueError):
        raise BirdError('%s %s: %r is not a whole number' % (what, key, value))
    if not low <= number <= high:
        raise BirdError('%s %s: %d is outside %d..%d' % (what, key, number, low, high))
    return number


# ---- rendering ------------------------------------------------------------------------------------

def pool_function_lines(name, family, permit, deny):
    """``function NAME()``: whether ``net`` is a host route inside the pools. ``permit`` and ``deny`` are
    the pools' policy (plugin_utils/pools.py ``policy``: the written entries and the exclusions inside
    them): a denied prefix first, then every host route of a permitted one. No pool of the family: false."""
    host = 32 if family == 'ipv4' else 128
    out = ['function %s()' % name, '{']
    if deny:
        out.append('  if net ~ [ %s ] then return false;' % ', '.join(
            str(n) if int(str(n).rsplit('/', 1)[1]) == host else '%s{%d,%d}' % (n, host, host) for n in deny))
    if permit:
        out.append('  return net ~ [ %s ];' % ', '.join(
            str(n) if int(str(n).rsplit('/', 1)[1]) == host else '%s{%d,%d}' % (n, host, host) for n in permit))
    else:
        out.append('  return false;')
    out.append('}')
    return out


def bfd_lines(profile, name='vmnet_bfd'):
    """The BFD protocol: the fabric's timers (3 x 200 ms) with the inventory's profile over them, on the
    interfaces of the BGP sessions (every session of a node is single-hop on the underlay)."""
    profile = profile or {}
    if not isinstance(profile, dict):
        raise BirdError('bfd profile: %r is not a mapping of %s' % (profile, ', '.join(BFD_KEYS)))
    unknown = sorted(set(profile) - set(BFD_KEYS))
    if unknown:
        raise BirdError('bfd profile: unknown setting(s) %s (known: %s)' % (', '.join(unknown), ', '.join(BFD_KEYS)))
    merged = dict(BFD_DEFAULTS, **profile)
    values = dict((k, _bounded_int('bfd profile', k, merged[k], *BFD_LIMITS[k])) for k in BFD_KEYS)
    return ['protocol bfd %s {' % name,
            '  interface "*" {',
            '    min rx interval %d ms;' % values['receive_interval'],
            '    min tx interval %d ms;' % values['transmit_interval'],
            '    multiplier %d;' % values['detect_multiplier'],
            '  };',
            '}']


def graceful_restart_lines(settings):
    """The graceful-restart lines of a BGP protocol (indented two spaces). ``settings`` as the FRR model
    takes them (enabled, restart_time, stalepath_time, preserve_fw_state); BIRD keeps the stale routes of
    a restarting peer until its End-of-RIB or the restart time, so stalepath_time has no BIRD line."""
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(GR_KEYS))
    if unknown:
        raise BirdError('graceful restart: unknown setting(s) %s' % ', '.join(unknown))
    if not settings.get('enabled', True):
        return ['  graceful restart off;']
    restart = _bounded_int('graceful restart', 'restart_time', settings.get('restart_time', GR_DEFAULTS['restart_time']),
                           1, 4095)
    if 'stalepath_time' in settings:
        _bounded_int('graceful restart', 'stalepath_time', settings['stalepath_time'], 1, 4095)
    return ['  graceful restart on;', '  graceful restart time %d;' % restart]


def bgp_lines(session):
    """One ``protocol bgp`` per route reflector and family.

    ``session``: afi (ipv4|ipv6), peer, source (this node's address), asn, password, bfd (bool),
    graceful_restart (dict), timers ({keepalive, holdtime} or {}), import_filter, export_filter.
    """
    afi = session['afi']
    if afi not in AFIS:
        raise BirdError('bgp session: afi %r is not ipv4 or ipv6' % (afi,))
    peer = ipaddress.ip_address(str(session['peer']))
    source = ipaddress.ip_address(str(session['source']))
    if peer.version != source.version or 'ipv%d' % peer.version != afi:
        raise BirdError('bgp session to %s: the source %s and the peer must both be %s' % (peer, source, afi))
    asn = _bounded_int('bgp session', 'asn', session['asn'], 1, 4294967295)
    out = ['protocol bgp %s {' % protocol_name(afi, str(peer)),
           '  description %s;' % quote('route reflector %s' % peer),
           '  local %s as %d;' % (source, asn),
           '  neighbor %s as %d;' % (peer, asn),
           # single-hop on the underlay, as the route reflectors' FRR sees a directly connected client
           # (its BFD session is single-hop too)
           '  direct;']
    timers = session.get('timers') or {}
    if timers.get('holdtime') is not None:
        out.append('  hold time %d;' % _bounded_int('bgp timers', 'holdtime', timers['holdtime'], 3, 65535))
    if timers.get('keepalive') is not None:
        out.append('  keepalive time %d;' % _bounded_int('bgp timers', 'keepalive', timers['keepalive'], 1, 65535))
    if session.get('password'):
        out.append('  password %s;' % quote(session['password'], 'node_bgp_password', secret=True))
    if session.get('bfd'):
        out.append('  bfd on;')
    out.extend(graceful_restart_lines(session.get('graceful_restart')))
    out += ['  %s {' % afi,
            '    gateway direct;',
            '    next hop self;',
            '    import filter %s;' % session['import_filter'],
            '    export filter %s;' % session['export_filter'],
            '  };',
            '}']
    return out


# ---- parsing what birdc prints --------------------------------------------------------------------

# birdc prints its own reply codes (-s, birdc -r ...): lines "0001 BIRD 2.0.12 ready." / "1002-..." are not
# what is parsed here; the parsers take birdc's human output, as `birdc show ...` prints it.
PROTO_HEAD_RE = re.compile(r'^(?P<name>\S+)\s+(?P<proto>\S+)\s+(?P<table>\S+)\s+(?P<state>up|down|start|stop|flush)'
                           r'\s+(?P<since>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?|\S+)\s*(?P<info>.*)$')
STATUS_TIME_RE = re.compile(r'^Current server time is (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)', re.M)
STATUS_ROUTER_ID_RE = re.compile(r'^Router ID is (\S+)', re.M)
ROUTE_HEAD_RE = re.compile(r'^(?P<net>\S+)?\s+(?P<type>unicast|unreachable|blackhole|prohibit)\s+\[(?P<proto>[^\s\]]+)'
                           r'(?: (?P<since>[^\]]*?))?(?: from (?P<from>\S+))?\]\s*(?P<primary>\*)?\s*\((?P<pref>[^)]*)\)'
                           r'(?:\s+\[(?P<extra>[^\]]*)\])?')


def _since_seconds(text):
    """'22:34:03.123' or '2026-12-01 22:34:03' (BIRD's 'since'): seconds of the day, or None."""
    m = re.search(r'(\d+):(\d+):(\d+)(?:\.\d+)?$', (text or '').strip())
    if not m:
        return None
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))


def parse_protocols(text):
    """``birdc show protocols all`` -> [protocol]: {name, proto, state, since, info, neighbor, local,
    bgp_state, channels: {afi: {state, imported, exported, preferred}}}. Only what the collection reads."""
    out = []
    cur = None
    channel = None
    for raw in (text or '').splitlines():
        line = raw.rstrip()
        if not line.strip() or line.startswith(('BIRD ', 'Name ')):
            continue
        if not line[0].isspace():
            m = PROTO_HEAD_RE.match(line)
            if not m:
                cur = None
                continue
            cur = {'name': m.group('name'), 'proto': m.group('proto'), 'state': m.group('state'),
                   'since': m.group('since'), 'info': m.group('info').strip(), 'neighbor': None, 'local': None,
                   'bgp_state': None, 'local_as': None, 'channels': {}}
            out.append(cur)
            channel = None
            continue
        if cur is None:
            continue
        s = line.strip()
        key, dummy, value = s.partition(':')
        value = value.strip()
        if s.startswith('Channel '):
            channel = {'state': None, 'imported': None, 'exported': None, 'preferred': None}
            cur['channels'][s.split()[1]] = channel
        elif key == 'BGP state':
            cur['bgp_state'] = value
        elif key == 'Neighbor address':
            cur['neighbor'] = value
        elif key == 'Source address':
            cur['local'] = value
        elif key == 'Local AS':
            cur['local_as'] = _int(value)
        elif key == 'State' and channel is not None:
            channel['state'] = value
        elif key == 'Routes' and channel is not None:
            # "3 imported, 0 filtered, 2 exported, 1 preferred"
            for number, word in re.findall(r'(\d+) (imported|filtered|exported|preferred)', value):
                channel[word] = int(number)
    return out


def sessions_of(protocols):
    """The BGP sessions in the normalized shape of vmnet.ipfabric.frr_bgp (module_utils/_bgp_state.py):
    one per BGP protocol and channel, {peer, afi, state, hostname, prefixes_received, uptime, protocol}."""
    out = []
    for p in protocols:
        if p['proto'] != 'BGP' or not p.get('neighbor'):
            continue
        try:
            peer = str(ipaddress.ip_address(p['neighbor'].split('%')[0]))
        except ValueError:
            continue
        afis = [a for a in p['channels'] if a in AFIS] or ['ipv%d' % ipaddress.ip_address(peer).version]
        state = p.get('bgp_state') or ('Established' if p['info'] == 'Established' else (p['info'] or p['state']))
        for afi in afis:
            ch = p['channels'].get(afi) or {}
            out.append({'peer': peer, 'afi': afi, 'state': state, 'hostname': None,
                        'prefixes_received': ch.get('imported'), 'prefixes_exported': ch.get('exported'),
                        'uptime': None, 'since': p['since'] if state == 'Established' else None,
                        'protocol': p['name'], 'connections_established': None, 'connections_dropped': None})
    out.sort(key=lambda s: (AFIS.index(s['afi']), ipaddress.ip_address(s['peer']).version,
                            int(ipaddress.ip_address(s['peer']))))
    return out


def parse_routes(text):
    """``birdc show route [table T] [export P] all`` -> {prefix: [route]}: route = {protocol, primary, from,
    nexthop, interface, preference, local_preference, communities, krt_source, type}."""
    out = {}
    cur_net = None
    cur = None
    for raw in (text or '').splitlines():
        line = raw.rstrip()
        if not line.strip() or line.startswith(('BIRD ', 'Table ')) or line.strip().startswith('Access restricted'):
            continue
        m = ROUTE_HEAD_RE.match(line)
        if m and (m.group('net') or cur_net):
            if m.group('net'):
                try:
                    cur_net = str(ipaddress.ip_network(m.group('net'), strict=False))
                except ValueError:
                    cur_net, cur = None, None
                    continue
            cur = {'protocol': m.group('proto'), 'primary': bool(m.group('primary')), 'from': m.group('from'),
                   'nexthop': None, 'interface': None, 'preference': _int(m.group('pref').split('/')[0]),
                   'local_preference': None, 'communities': [], 'krt_source': None, 'type': m.group('type')}
            out.setdefault(cur_net, []).append(cur)
            continue
        if cur is None:
            continue
        s = line.strip()
        if s.startswith('via '):
            parts = s.split()
            cur['nexthop'] = parts[1]
            if 'on' in parts:
                cur['interface'] = parts[parts.index('on') + 1]
        elif s.startswith('dev '):
            cur['interface'] = s.split()[1]
        elif s.startswith('BGP.local_pref:'):
            cur['local_preference'] = _int(s.split(':', 1)[1])
        elif s.startswith('BGP.community:'):
            cur['communities'] = re.findall(r'\((\d+),\s*(\d+)\)', s)
            cur['communities'] = ['%s:%s' % c for c in cur['communities']]
        elif s.startswith('Kernel.source:'):
            cur['krt_source'] = _int(s.split(':', 1)[1])
        elif s.startswith('BGP.next_hop:') and cur['nexthop'] is None:
            cur['nexthop'] = s.split(':', 1)[1].split()[0]
    return out


def _int(text):
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def rib_of(table, exported, bgp_protocols):
    """The BGP table in frr_bgp's normalized shape {prefix: [path]}, path = {peer, nexthop, best,
    local_preference, local}: what this node exports to the route reflectors (``exported``: {prefix:
    [route]} of ``show route export``, its local paths) and what it received from them (the routes of the
    BGP protocols in ``table``). ``bgp_protocols``: {protocol name: peer address}."""
    out = {}
    for prefix, routes in exported.items():
        r = routes[0]
        out.setdefault(prefix, []).append({'peer': None, 'nexthop': None, 'best': True, 'local': True,
                                           'local_preference': r.get('local_preference') or 100})
    for prefix, routes in table.items():
        for r in routes:
            peer = bgp_protocols.get(r['protocol'])
            if peer is None:
                continue
            nh = r['nexthop']
            try:
                nh = str(ipaddress.ip_address(nh)) if nh else None
            except ValueError:
                nh = None
            out.setdefault(prefix, []).append({'peer': peer, 'nexthop': nh, 'best': r['primary'] and prefix not in exported,
                                               'local': False, 'local_preference': r.get('local_preference')})
    return out


WELL_KNOWN_COMMUNITIES = {'no-export': (65535, 65281), 'no-advertise': (65535, 65282), 'local-AS': (65535, 65283),
                          'no-peer': (65535, 65284), 'blackhole': (65535, 666), 'graceful-shutdown': (65535, 0)}


def community_pairs(communities):
    """``['65000:100', 'no-export']`` (already validated ASN:VALUE texts or well-known names) ->
    [(65000, 100), (65535, 65281)], what ``bgp_community.add((A, B))`` takes."""
    out = []
    for text in communities:
        text = str(text).strip()
        if text in WELL_KNOWN_COMMUNITIES:
            pair = WELL_KNOWN_COMMUNITIES[text]
        else:
            parts = text.split(':')
            if len(parts) != 2 or not all(p.isdigit() and 0 <= int(p) <= 65535 for p in parts):
                raise BirdError('BGP community %r is not ASN:VALUE with both parts 0..65535' % (text,))
            pair = (int(parts[0]), int(parts[1]))
        if pair not in out:
            out.append(pair)
    return out


# ---- reading BIRD's state (vmnet.ipfabric.bird_bgp) -----------------------------------------------

class BirdReadError(BgpReadError):
    """birdc failed or printed something that is not what was asked; ``commands``: those run so far."""

    def __init__(self, message, commands=None):
        BgpReadError.__init__(self, message)
        self.commands = list(commands or [])


def uptime_of(since, now):
    """Seconds between BIRD's 'since' and 'Current server time' (both ISO, ``timeformat protocol iso
    long``), or None when either has no date."""
    import datetime
    fmt = '%Y-%m-%d %H:%M:%S'
    try:
        a = datetime.datetime.strptime(since.split('.')[0], fmt)
        b = datetime.datetime.strptime(now.split('.')[0], fmt)
    except (AttributeError, ValueError):
        return None
    return max(0, int((b - a).total_seconds()))


def read(req, run, birdc):
    """One read of BIRD's BGP state in frr_bgp's normalized shape: (commands, state). ``req`` is a
    _bgp_state.Request; ``run(argv)`` -> (rc, out, err); ``birdc`` the argv that starts birdc. Reads
    ``show status`` and ``show protocols all``; with ``req.rib`` BIRD's tables (``show route all``) and what
    it exports to each route reflector (``show route export PROTOCOL all``)."""
    cmds = []

    def birdc_cmd(text):
        cmds.append(text)
        rc, out, err = run(list(birdc) + text.split())
        out = out or ''
        if rc != 0 or 'Unable to connect' in out or not out.startswith('BIRD '):
            what = ((err or '').strip() or out.strip() or 'no output')[:300]
            raise BirdReadError('birdc %s failed (rc %s): %s' % (text, rc, what), cmds)
        return out

    status = birdc_cmd('show status')
    now = STATUS_TIME_RE.search(status)
    router_id = STATUS_ROUTER_ID_RE.search(status)
    protocols = parse_protocols(birdc_cmd('show protocols all'))
    sessions = sessions_of(protocols)
    for s in sessions:
        s['uptime'] = uptime_of(s.pop('since'), now.group(1) if now else None) if s['state'] == 'Established' else None
        s.pop('since', None)
    state = {'sessions': [s for s in sessions if s['afi'] in req.afi], 'speakers': {}, 'rib': None, 'routes': None}
    by_proto = {}
    for p in protocols:
        if p['proto'] == 'BGP' and p.get('neighbor'):
            afis = [a for a in p['channels'] if a in AFIS]
            for afi in afis:
                if afi in req.afi:
                    state['speakers'][afi] = {'router_id': router_id.group(1) if router_id else None,
                                              'asn': _local_as(p)}
                    by_proto[p['name']] = (afi, str(ipaddress.ip_address(p['neighbor'].split('%')[0])))
    if req.rib:
        table = parse_routes(birdc_cmd('show route all'))
        exported = {}
        for name, (afi, dummy) in sorted(by_proto.items()):
            for prefix, routes in parse_routes(birdc_cmd('show route export %s all' % name)).items():
                exported.setdefault(prefix, routes)
        only = set(req.prefixes) if req.prefixes else None
        rib = rib_of(table, exported, dict((n, peer) for n, (a, peer) in by_proto.items()))
        state['rib'] = dict((afi, {}) for afi in req.afi)
        for prefix, paths in rib.items():
            afi = 'ipv6' if ':' in prefix else 'ipv4'
            if afi in state['rib'] and (only is None or prefix in only):
                state['rib'][afi][prefix] = paths
    return cmds, state


def _local_as(protocol):
    return protocol.get('local_as')
