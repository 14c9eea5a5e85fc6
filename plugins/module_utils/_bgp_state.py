# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""BGP state of FRR: what to ask vtysh, its JSON as plain dicts, and the conditions one can wait for
(stdlib only, Python 3.6+). The one reader of BGP state: vmnet.ipfabric.frr_bgp runs it on a host, and
fabric_check's model (plugin_utils/fabric_model.py) consumes what it returns.

FRR 8.4 JSON (recorded in tests/unit/plugins/module_utils/fixtures/frr84_bgp/):

* ``show bgp summary json``: ``{"ipv4Unicast": {"routerId", "as", "peers": {ADDR: {state, hostname,
  pfxRcd, pfxSnt, peerUptimeMsec, connectionsEstablished, connectionsDropped, ...}}}, "ipv6Unicast": {...}}``; a
  family without any neighbor has no block.
* ``show bgp ipvX unicast json``: ``{"routes": {PREFIX: [{valid, bestpath, peerId, locPrf, weight,
  nexthops: [{ip, ...}]}]}}``; a locally originated path has peerId ``(unspec)`` and weight 32768.
* ``show bgp ipvX unicast PREFIX json``: ``{"prefix", "paths": [{valid, bestpath: {overall}, locPrf,
  local, peer: {peerId, hostname}, nexthops: [...]}]}``, or ``{}`` when the prefix is not in the table.
* ``show ip route bgp json``, ``show ip route PREFIX json``: ``{PREFIX: [{protocol, selected, installed,
  nexthops: [{ip, fib, ...}]}]}`` (``{}`` when absent; the second lists every protocol's entry).

Several commands go into one ``vtysh -c A -c B ...`` run, which prints one JSON document per command one
after the other; vtysh stops at the first command that fails (``bgpd is not running``: rc 1).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import json
import time

AFIS = ('ipv4', 'ipv6')
SUMMARY_KEYS = {'ipv4': 'ipv4Unicast', 'ipv6': 'ipv6Unicast'}
AFI_TEXT = {'ipv4': 'IPv4', 'ipv6': 'IPv6'}
CMD_SUMMARY = 'show bgp summary json'
WAIT_CONDITIONS = ('established', 'best_path', 'installed', 'absent')
# up to this many prefixes of one family are read one by one; more, the whole table once
PER_PREFIX_MAX = 64
LOCAL_PEERS = (None, '', '(unspec)', '0.0.0.0', '::')


class BgpInputError(ValueError):
    """Bad input; the message names the field."""


class BgpReadError(Exception):
    """vtysh failed or printed something that is not what was asked."""


# ---------------------------------------------------------------------------------------------------------
# addresses

def canonical_address(text):
    """'FD0C:172:16::0002' -> 'fd0c:172:16::2'; anything that is not an address is returned as it is."""
    try:
        return str(ipaddress.ip_address(str(text).strip()))
    except ValueError:
        return text


def host_prefix(value):
    """'198.51.100.1', '198.51.100.1/32' -> '198.51.100.1/32'; IPv6 compressed; None if not an address."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        net = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None
    return str(net)


def afi_of(prefix):
    return 'ipv6' if ':' in prefix else 'ipv4'


def _global_nexthops(nexthops):
    """The next-hop addresses of a path or route that are not link-local, unspecified or missing."""
    out = []
    for nh in nexthops or []:
        ip = nh.get('ip') if isinstance(nh, dict) else None
        if not ip or ip in ('0.0.0.0', '::') or ip.lower().startswith('fe80'):
            continue
        ip = canonical_address(ip)
        if ip not in out:
            out.append(ip)
    return out


# ---------------------------------------------------------------------------------------------------------
# the request: options checked before anything runs

class Request(object):
    """What to read and what to wait for, checked: addresses canonical, prefixes as CIDRs."""

    def __init__(self, afi=None, rib=False, routes=False, prefixes=None, peers=None, nexthops=None, wait=None,
                 timeout=60, interval=2):
        self.afi = list(afi if afi is not None else AFIS)
        self.prefixes = list(prefixes or [])
        self.peers = list(peers or [])
        self.nexthops = list(nexthops or [])
        self.wait = wait
        self.timeout = timeout
        self.interval = interval
        # what is read: sessions always; the RIB and the installed routes when asked or when the wait needs them
        self.rib = bool(rib) or wait in ('best_path', 'absent')
        self.routes = bool(routes) or wait == 'installed'

    def prefixes_of(self, afi):
        return [p for p in self.prefixes if afi_of(p) == afi]

    def per_prefix(self, afi):
        """Read this family's prefixes one by one (True: also when prefixes are given, none of this family,
        which reads nothing of it) or the whole table once (False)."""
        if not self.prefixes:
            return False
        return len(self.prefixes_of(afi)) <= PER_PREFIX_MAX


def _address(value, field):
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise BgpInputError('%s: %r is not an IP address' % (field, value))


def _prefix(value, field):
    if not isinstance(value, str):
        raise BgpInputError('%s: %r is not an address or prefix' % (field, value))
    try:
        return str(ipaddress.ip_network(value.strip(), strict=True))
    except ValueError as exc:
        raise BgpInputError('%s: %r is not an address or prefix (%s)' % (field, value, exc))


def _number(value, field, minimum, allow_equal):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BgpInputError('%s: %r is not a number of seconds' % (field, value))
    if value < minimum or (value == minimum and not allow_equal):
        raise BgpInputError('%s: %s must be %s %s seconds' % (field, value, '>=' if allow_equal else '>', minimum))
    return value


def _unique(values):
    out = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def check_request(afi=None, rib=False, routes=False, prefixes=None, peers=None, nexthops=None, wait=None,
                  timeout=60, interval=2):
    """A Request from the module's options, or BgpInputError naming the first bad field."""
    afi = list(AFIS) if afi is None else list(afi)
    if not afi:
        raise BgpInputError('afi: give at least one of %s' % ', '.join(AFIS))
    for i, a in enumerate(afi):
        if a not in AFIS:
            raise BgpInputError('afi[%d]: %r is not an address family (%s)' % (i, a, ', '.join(AFIS)))
    afi = _unique(afi)
    lists = {}
    for field, values, parse in (('prefixes', prefixes, _prefix), ('peers', peers, _address),
                                 ('nexthops', nexthops, _address)):
        out = []
        for i, v in enumerate(values or []):
            item = parse(v, '%s[%d]' % (field, i))
            fam = afi_of(item)
            if fam not in afi:
                raise BgpInputError('%s[%d]: %s is %s but afi is [%s]' % (field, i, item, AFI_TEXT[fam], ', '.join(afi)))
            out.append(item)
        lists[field] = _unique(out)
    if wait is not None and wait not in WAIT_CONDITIONS:
        raise BgpInputError('wait: %r is not one of %s' % (wait, ', '.join(WAIT_CONDITIONS)))
    timeout = _number(timeout, 'timeout', 0, True)
    interval = _number(interval, 'interval', 0, False)
    if wait == 'established' and not lists['peers']:
        raise BgpInputError('peers: wait=established needs the peers whose sessions must be Established')
    if wait in ('best_path', 'installed', 'absent') and not lists['prefixes']:
        raise BgpInputError('prefixes: wait=%s needs the prefixes to wait for' % wait)
    if wait == 'best_path' and not (lists['peers'] or lists['nexthops']):
        raise BgpInputError('peers: wait=best_path needs the peers (or nexthops) the best path must come from')
    if wait == 'installed' and lists['peers']:
        raise BgpInputError('peers: wait=installed looks at the installed routes, which have next hops only; '
                            'give nexthops instead')
    return Request(afi=afi, rib=rib, routes=routes, wait=wait, timeout=timeout, interval=interval, **lists)


# ---------------------------------------------------------------------------------------------------------
# commands and their output

def commands(req):
    """[(kind, afi, prefix, command)] for one read, in the order vtysh runs them."""
    out = [('summary', None, None, CMD_SUMMARY)]
    if req.rib:
        for afi in req.afi:
            if req.per_prefix(afi):
                out += [('rib_prefix', afi, p, 'show bgp %s unicast %s json' % (afi, p)) for p in req.prefixes_of(afi)]
            else:
                out.append(('rib', afi, None, 'show bgp %s unicast json' % afi))
    if req.routes:
        for afi in req.afi:
            ip = 'ip' if afi == 'ipv4' else 'ipv6'
            if req.per_prefix(afi):
                out += [('route_prefix', afi, p, 'show %s route %s json' % (ip, p)) for p in req.prefixes_of(afi)]
            else:
                out.append(('routes', afi, None, 'show %s route bgp json' % ip))
    return out


def vtysh_argv(vtysh, cmds):
    argv = [vtysh]
    for c in cmds:
        argv += ['-c', c[3]]
    return argv


def split_documents(text, count):
    """The JSON documents vtysh printed one after the other (one per command), parsed; BgpReadError unless
    there are exactly ``count``."""
    docs, pos, dec = [], 0, json.JSONDecoder()
    text = text or ''
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            doc, pos = dec.raw_decode(text, pos)
        except ValueError:
            raise BgpReadError('vtysh printed something that is not JSON: %s' % text[pos:pos + 200].strip())
        docs.append(doc)
    if len(docs) != count:
        raise BgpReadError('vtysh printed %d JSON documents for %d commands: %s' % (len(docs), count,
                                                                                    text.strip()[:200]))
    return docs


def parse_summary(data, afis=AFIS):
    """``show bgp summary json`` -> (sessions, {afi: {routerId, as}}): one session per peer and family,
    sorted by family and address."""
    sessions, speakers = [], {}
    if not isinstance(data, dict):
        return sessions, speakers
    for afi in afis:
        block = data.get(SUMMARY_KEYS[afi])
        if not isinstance(block, dict):
            continue
        speakers[afi] = {'router_id': block.get('routerId'), 'asn': block.get('as')}
        for peer, info in (block.get('peers') or {}).items():
            info = info if isinstance(info, dict) else {}
            state = info.get('state') or 'Unknown'
            msec = info.get('peerUptimeMsec')
            sessions.append({
                'peer': canonical_address(peer), 'afi': afi, 'state': state, 'hostname': info.get('hostname'),
                'prefixes_received': info.get('pfxRcd', info.get('prefixReceivedCount')),
                'prefixes_sent': info.get('pfxSnt'),
                'uptime': int(msec) // 1000 if state == 'Established' and isinstance(msec, int) else None,
                'connections_established': info.get('connectionsEstablished'),
                'connections_dropped': info.get('connectionsDropped')})
    sessions.sort(key=lambda s: (AFIS.index(s['afi']),) + _address_key(s['peer']))
    return sessions, speakers


def _address_key(text):
    """Sort key: IPv4 before IPv6, numerically; anything else (an interface name) after them."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return (9, 0, text)
    return (addr.version, int(addr), '')


def _path(peer, nexthops, best, locprf, local):
    glob = _global_nexthops(nexthops)
    local = bool(local) or peer in LOCAL_PEERS
    return {'peer': None if local else canonical_address(peer), 'nexthop': glob[0] if glob else None,
            'best': bool(best), 'local_preference': locprf if isinstance(locprf, int) else None, 'local': local}


def parse_rib(data, only=None):
    """``show bgp ipvX unicast json`` -> {prefix: [path]} of the valid paths, path = {peer, nexthop, best,
    local_preference, local}. ``only``: keep these prefixes."""
    out = {}
    if not isinstance(data, dict):
        return out
    for prefix, paths in (data.get('routes') or {}).items():
        p = host_prefix(prefix)
        if p is None or (only is not None and p not in only):
            continue
        for path in paths if isinstance(paths, list) else [paths]:
            if not isinstance(path, dict) or not path.get('valid'):
                continue
            peer = path.get('peerId')
            local = peer in LOCAL_PEERS or (path.get('weight') == 32768 and not _global_nexthops(path.get('nexthops')))
            out.setdefault(p, []).append(_path(peer, path.get('nexthops'), path.get('bestpath'), path.get('locPrf'),
                                               local))
    return out


def parse_rib_prefix(data):
    """``show bgp ipvX unicast PREFIX json`` -> [path] of the valid paths ([] when not in the table)."""
    out = []
    if not isinstance(data, dict):
        return out
    for path in data.get('paths') or []:
        if not isinstance(path, dict) or not path.get('valid'):
            continue
        peer = (path.get('peer') or {}).get('peerId')
        best = path.get('bestpath')
        best = best.get('overall') if isinstance(best, dict) else best
        out.append(_path(peer, path.get('nexthops'), best, path.get('locPrf'), path.get('local') or path.get('sourced')))
    return out


def parse_routes(data, only=None):
    """``show ip(v6) route bgp json`` or ``show ip(v6) route PREFIX json`` -> {prefix: {nexthops, installed}}
    of the BGP routes zebra selected: what the host forwards with. ``only``: keep these prefixes."""
    out = {}
    if not isinstance(data, dict):
        return out
    for prefix, entries in data.items():
        p = host_prefix(prefix)
        if p is None or not isinstance(entries, list) or (only is not None and p not in only):
            continue
        for entry in entries:
            if not isinstance(entry, dict) or entry.get('protocol', 'bgp') != 'bgp' or not entry.get('selected'):
                continue
            route = out.setdefault(p, {'nexthops': [], 'installed': False})
            route['nexthops'] = sorted(set(route['nexthops']) | set(_global_nexthops(entry.get('nexthops'))))
            route['installed'] = route['installed'] or bool(entry.get('installed'))
    return out


def state_of(req, cmds, docs):
    """The normalized state of one read: {sessions, speakers, rib, routes} (rib/routes None when not read)."""
    state = {'sessions': [], 'speakers': {}, 'rib': None, 'routes': None}
    if req.rib:
        state['rib'] = dict((afi, {}) for afi in req.afi)
    if req.routes:
        state['routes'] = dict((afi, {}) for afi in req.afi)
    for (kind, afi, prefix, dummy), doc in zip(cmds, docs):
        if kind == 'summary':
            state['sessions'], state['speakers'] = parse_summary(doc, req.afi)
        elif kind == 'rib':
            state['rib'][afi] = parse_rib(doc, set(req.prefixes_of(afi)) if req.prefixes else None)
        elif kind == 'rib_prefix':
            paths = parse_rib_prefix(doc)
            if paths:
                state['rib'][afi][prefix] = paths
        elif kind == 'routes':
            state['routes'][afi] = parse_routes(doc, set(req.prefixes_of(afi)) if req.prefixes else None)
        elif kind == 'route_prefix':
            state['routes'][afi].update(parse_routes(doc, {prefix}))
    return state


def read(req, run, vtysh='vtysh'):
    """One read: every command in one vtysh run. ``run(argv)`` -> (rc, stdout, stderr). Returns
    (commands, state); BgpReadError when vtysh fails."""
    cmds = commands(req)
    rc, out, err = run(vtysh_argv(vtysh, cmds))
    if rc != 0:
        what = (err or '').strip() or (out or '').strip() or 'no output'
        raise BgpReadError('vtysh failed (rc %s): %s' % (rc, what[:300]))
    return cmds, state_of(req, cmds, split_documents(out, len(cmds)))


# ---------------------------------------------------------------------------------------------------------
# waiting

def sessions_by_key(state):
    return dict(((s['afi'], s['peer']), s) for s in state['sessions'])


def _name(state, address):
    """'172.16.0.12 (node2)' when a session tells the peer's hostname."""
    for s in state['sessions']:
        if s['peer'] == address and s.get('hostname'):
            return '%s (%s)' % (address, s['hostname'])
    return address


def _session_problem(state, afi, peer, me):
    """Why there is no Established session to ``peer`` in ``afi``: one sentence, or None when it is up."""
    fam = AFI_TEXT[afi]
    if afi not in state['speakers']:
        return ('no session to %s in %s: %s has no %s unicast session with any peer (no neighbor activated in '
                'address-family %s unicast; a route reflector configured without %s sessions, e.g. by the '
                'original platform\'s route_reflector.sh, looks like this)' % (peer, afi, me, fam, afi, fam))
    s = sessions_by_key(state).get((afi, peer))
    if s is None:
        return ('no session to %s in %s: %s has no neighbor %s in address-family %s unicast (it is not '
                'configured or not activated there)' % (peer, afi, me, peer, afi))
    st = s['state']
    if st == 'Established':
        return None
    if st.startswith('Idle (Admin)'):
        return 'the session to %s in %s is shut down on %s (neighbor %s shutdown)' % (peer, afi, me, peer)
    if st.startswith('Idle (PfxCt)'):
        return ('the session to %s in %s is down: %s sent more prefixes than its maximum-prefix limit allows '
                '(raise the limit, then clear bgp %s)' % (peer, afi, peer, peer))
    if st in ('OpenSent', 'OpenConfirm'):
        return ('the session to %s in %s is %s: TCP is up but the BGP OPEN is not agreed (remote-as on both '
                'ends, the peer\'s neighbor address must be the update-source of %s)' % (peer, afi, st, me))
    ever = s.get('connections_established')
    history = 'never established' if not ever else 'established %s time(s) before, dropped %s time(s)' % (
        ever, s.get('connections_dropped'))
    return ('no session to %s in %s (%s, %s): the peer does not accept it: it has no %s neighbor for %s '
            '(e.g. a route reflector without %s sessions with this host), or its bgpd is down, the address is '
            'unreachable or TCP port 179 is filtered, or the MD5 passwords differ' % (
                peer, afi, st, history, fam, me, fam))


def _matches(path, req):
    return (not req.peers or path['peer'] in req.peers) and (not req.nexthops or path['nexthop'] in req.nexthops)


def _describe_path(state, path):
    if path['local']:
        text = 'originated here'
    else:
        text = 'from %s' % _name(state, path['peer'])
        if path['nexthop'] and path['nexthop'] != path['peer']:
            text += ' via %s' % _name(state, path['nexthop'])
    if path['local_preference'] is not None:
        text += ' (local-preference %s)' % path['local_preference']
    return text


def _wanted_text(req):
    parts = []
    if req.peers:
        parts.append('from %s' % ', '.join(req.peers))
    if req.nexthops:
        parts.append('via %s' % ', '.join(req.nexthops))
    return ' '.join(parts)


def _no_path_cause(req, state, afi, me):
    """Why no path from the wanted peers reached this host in ``afi`` (None: only next hops were given, no
    session in particular to look at)."""
    if not req.peers:
        return None
    peers = [p for p in req.peers if afi_of(p) == afi]
    if not peers:
        return ('none of the peers %s is an %s address: on this fabric %s prefixes come over %s sessions' % (
            ', '.join(req.peers), AFI_TEXT[afi], AFI_TEXT[afi], AFI_TEXT[afi]))
    problems = [_session_problem(state, afi, p, me) for p in peers]
    if all(problems):
        return '; '.join(problems)
    return ('the session to %s is Established but the prefix is not received from it: it does not announce it '
            '(on a node: is the VM present, its interface with carrier and its route in the kernel, and a '
            'network statement for it?) or this host\'s import policy drops it' % ', '.join(
                _name(state, p) for p, prob in zip(peers, problems) if not prob))


def evaluate(req, state, me):
    """Whether ``req.wait`` holds in ``state``: (met, seen, causes); seen is one line per peer or prefix,
    causes the likely reasons for what is not met (never empty when not met)."""
    seen, causes = [], []
    met = True
    if req.wait == 'established':
        keyed = sessions_by_key(state)
        for peer in req.peers:
            afi = afi_of(peer)
            s = keyed.get((afi, peer))
            seen.append('%s (%s): %s' % (_name(state, peer), afi, s['state'] if s else 'no such session'))
            problem = _session_problem(state, afi, peer, me)
            if problem:
                met = False
                causes.append(problem)
    elif req.wait in ('best_path', 'absent'):
        for prefix in req.prefixes:
            afi = afi_of(prefix)
            paths = (state['rib'] or {}).get(afi, {}).get(prefix, [])
            best = [p for p in paths if p['best']]
            if req.wait == 'best_path':
                ok = bool(best) and _matches(best[0], req)
                if not paths:
                    seen.append('%s: not in the BGP table' % prefix)
                else:
                    seen.append('%s: best path %s%s' % (prefix, _describe_path(state, best[0]) if best else 'none',
                                                        ''.join('; other path %s' % _describe_path(state, p)
                                                                for p in paths if not p['best'])))
                if ok:
                    continue
                met = False
                wanted = [p for p in paths if _matches(p, req)]
                if wanted:
                    causes.append('%s: the path %s is there but not best (%s is preferred): the other '
                                  'announcement is still there with a better preference' % (
                                      prefix, _describe_path(state, wanted[0]),
                                      _describe_path(state, best[0]) if best else 'no path'))
                else:
                    cause = _no_path_cause(req, state, afi, me)
                    causes.append('%s: no path %s%s' % (prefix, _wanted_text(req), ': ' + cause if cause else ''))
            else:
                left = [p for p in paths if (not (req.peers or req.nexthops)) or _matches(p, req)]
                seen.append('%s: %s' % (prefix, 'absent' if not left else 'still there, ' + ', '.join(
                    'path %s' % _describe_path(state, p) for p in left)))
                if left:
                    met = False
                    causes.append('%s is still announced: %s' % (prefix, ', '.join(
                        'withdraw it on %s (its network statement, or the route that import-check follows)'
                        % ('this host' if p['local'] else _name(state, p['nexthop'] or p['peer'])) for p in left)))
    elif req.wait == 'installed':
        for prefix in req.prefixes:
            afi = afi_of(prefix)
            route = (state['routes'] or {}).get(afi, {}).get(prefix)
            if route is None:
                seen.append('%s: no BGP route installed' % prefix)
            else:
                via = ', '.join(_name(state, n) for n in route['nexthops']) or 'no next hop'
                seen.append('%s: BGP route via %s%s' % (prefix, via, '' if route['installed']
                                                        else ' (selected, not in the kernel)'))
            if route and route['installed'] and (not req.nexthops or set(route['nexthops']) & set(req.nexthops)):
                continue
            met = False
            if route is None:
                causes.append('%s: no BGP route: nothing for it is received (check this host\'s sessions), or '
                              'zebra prefers a route of another protocol for it' % prefix)
            elif not route['installed']:
                causes.append('%s: the BGP route is selected but not in the kernel (zebra could not install '
                              'it: the next hop is unreachable?)' % prefix)
            else:
                causes.append('%s: installed via %s, not via %s: the best path still comes from elsewhere' % (
                    prefix, ', '.join(route['nexthops']) or 'no next hop', ', '.join(req.nexthops)))
    return met, seen, _unique(causes)


def condition_text(req):
    """What a wait waits for, as a phrase."""
    if req.wait == 'established':
        return 'the sessions to %s to be Established' % ', '.join(req.peers)
    if req.wait == 'best_path':
        return 'the best path of %s to come %s' % (', '.join(req.prefixes), _wanted_text(req))
    if req.wait == 'installed':
        via = ' via ' + ', '.join(req.nexthops) if req.nexthops else ''
        return 'BGP routes for %s to be installed%s' % (', '.join(req.prefixes), via)
    which = ' (paths %s)' % _wanted_text(req) if req.peers or req.nexthops else ''
    return '%s to be absent from the BGP table%s' % (', '.join(req.prefixes), which)


class WaitTimeout(Exception):
    """The condition did not hold in time. ``message`` says what was waited for, what was seen last and the
    likely cause; ``result`` carries the last state."""

    def __init__(self, message, result):
        Exception.__init__(self, message)
        self.message = message
        self.result = result


def gather(req, run, vtysh='vtysh', me='this host', clock=None, sleep=None, reader=None, unreadable=None):
    """Read once, or with ``req.wait`` read every ``req.interval`` s until the condition holds. Returns the
    result dict (sessions, speakers, rib, routes, commands, and wait: {condition, met, seconds, reads, seen}).
    Raises BgpReadError (a read failed, no wait) or WaitTimeout (gave up). ``clock`` and ``sleep`` default
    to time.monotonic and time.sleep. ``reader(req, run)`` -> (command texts, state) reads another speaker
    (module_utils/_bird.py for BIRD), ``unreadable`` is then its cause text for a read that failed (with %s)."""
    if reader is None:
        def reader(req_, run_):
            cmds_, state_ = read(req_, run_, vtysh)
            return [c[3] for c in cmds_], state_
    unreadable = unreadable or 'FRR could not be read: %s (is FRR running, with bgpd, on this host?)'
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    start = clock()
    reads = 0
    last_error = None
    while True:
        reads += 1
        try:
            cmds, state = reader(req, run)
            last_error = None
        except BgpReadError as exc:
            if req.wait is None:
                raise
            cmds, state, last_error = getattr(exc, 'commands', None) or [c[3] for c in commands(req)], None, str(exc)
        result = {'commands': list(cmds)}
        if state is not None:
            result.update(state)
        if req.wait is None:
            return result
        if state is not None:
            met, seen, causes = evaluate(req, state, me)
        else:
            met, seen, causes = False, ['the read failed: %s' % last_error], [unreadable % last_error]
        elapsed = clock() - start
        result['wait'] = {'condition': req.wait, 'met': met, 'seconds': round(elapsed, 1), 'reads': reads,
                          'seen': seen}
        if met:
            return result
        if elapsed + req.interval > req.timeout:
            raise WaitTimeout('gave up after %s s (%d read%s) waiting for %s. Last seen: %s. Likely cause: %s.' % (
                _seconds(elapsed), reads, '' if reads == 1 else 's', condition_text(req), '; '.join(seen),
                '; '.join(causes)), result)
        sleep(req.interval)


def _seconds(value):
    return ('%.1f' % value).rstrip('0').rstrip('.')
