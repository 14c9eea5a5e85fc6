# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The metrics agent: the fabric's state on this host as Prometheus metrics, for node_exporter's
textfile collector (stdlib only, Python 3.6+).

Installed by the frr role as ``vmnet-ipfabric-metrics.service`` with ``vmnet-ipfabric-metrics.timer``
on every FRR host (nodes, route reflectors, FRR core gateways); each run reads and writes once:

- BGP, with the collection's BGP readers: FRR's through ``_bgp_state`` (as ``vmnet.ipfabric.frr_bgp``
  does), BIRD's through ``_bird`` (as ``vmnet.ipfabric.bird_bgp`` does, on a node whose speaker is BIRD):
  every session's state, uptime, prefixes received and announced (FRR's ``pfxRcd`` and ``pfxSnt``, BIRD's
  channel counters imported and exported), drops (FRR only: BIRD does not count them);
- on a node, its VMs: those in the desired state of ``vm_interface`` (``vm_interfaces.json``, read by
  ``_vm_state``) and those routed right now (a /32 or /128 on their ``<vm>_net0``: present, see
  ``_presence``);
- the last verdict of ``playbooks/verify.yml``, which records it on every FRR host in ``verify.json``
  beside the desired state: when, whether it passed, and its findings by kind and severity, for the whole
  fabric and for this host.

The file ``vmnet_ipfabric.prom`` is replaced atomically (a temporary file in the same directory, whose
name node_exporter ignores, then a rename), so a scrape never sees half of it. A source that cannot be
read is reported as such (``vmnet_ipfabric_bgp_up 0``, ``vmnet_ipfabric_metrics_errors``) rather than
leaving stale values behind: every run writes the whole file.

    python3 -m ansible_collections.vmnet.ipfabric.plugins.module_utils._metrics_agent \\
        --host NAME [--vms] [--speaker frr|bird] [--textfile-dir /var/lib/prometheus/node-exporter]
        [--state-dir /var/lib/vmnet-ipfabric] [--vtysh /usr/bin/vtysh] [--birdc /usr/sbin/birdc]
        [--ip /sbin/ip] [--stdout]
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import json
import os
import subprocess
import sys
import time

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _bgp_state
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _bird
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _files
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _iproute
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _presence
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _vm_state

TEXTFILE_DIR = '/var/lib/prometheus/node-exporter'      # Debian's prometheus-node-exporter default
STATE_DIR = '/var/lib/vmnet-ipfabric'                    # vm_interface's desired state, verify.json
OUTPUT = 'vmnet_ipfabric.prom'
VERIFY_FILE = 'verify.json'
VERIFY_VERSION = 1
VTYSH = '/usr/bin/vtysh'
BIRDC = '/usr/sbin/birdc'
SPEAKERS = ('frr', 'bird')
COMMAND_TIMEOUT = 20

# name: (type, help); the order of the file
METRICS = (
    ('vmnet_ipfabric_bgp_up', 'gauge', 'the BGP speaker answered (FRR: vtysh, BIRD: birdc) (1) or not (0): without it no session metric is written'),
    ('vmnet_ipfabric_bgp_session_up', 'gauge', 'the BGP session with the peer is Established (1) or not (0)'),
    ('vmnet_ipfabric_bgp_session_uptime_seconds', 'gauge', 'seconds since the BGP session was established (0 while it is not)'),
    ('vmnet_ipfabric_bgp_session_prefixes_received', 'gauge', 'prefixes received from the peer (FRR pfxRcd, BIRD imported)'),
    ('vmnet_ipfabric_bgp_session_prefixes_announced', 'gauge', 'prefixes announced to the peer (FRR pfxSnt, BIRD exported)'),
    ('vmnet_ipfabric_bgp_session_drops_total', 'counter', 'times the BGP session went down since bgpd started (FRR only)'),
    ('vmnet_ipfabric_vms', 'gauge', 'VMs of this node: configured (vm_interface desired state) and routed (every address routed to it now)'),
    ('vmnet_ipfabric_verify_last_run_timestamp_seconds', 'gauge', 'when playbooks/verify.yml last ran (Unix time)'),
    ('vmnet_ipfabric_verify_ok', 'gauge', 'the last verify passed (1: no finding of its fail_on severity) or not (0)'),
    ('vmnet_ipfabric_verify_findings', 'gauge', 'findings of the last verify in the whole fabric, by kind and severity'),
    ('vmnet_ipfabric_verify_host_findings', 'gauge', 'findings of the last verify that name this host, by kind and severity'),
    ('vmnet_ipfabric_metrics_errors', 'gauge', 'sources this run could not read (1 each), with the reason'),
    ('vmnet_ipfabric_metrics_timestamp_seconds', 'gauge', 'when this file was written (Unix time)'),
)


def escape(value):
    """A label value as the text exposition format wants it."""
    return str(value).replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')


def number(value):
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, float):
        return repr(value)
    return str(int(value))


def render(samples):
    """samples: [(name, {label: value}, value)] -> the text of a .prom file, metrics in METRICS order."""
    by_name = {}
    for name, labels, value in samples:
        by_name.setdefault(name, []).append((labels, value))
    out = []
    for name, kind, text in METRICS:
        if name not in by_name:
            continue
        out.append('# HELP %s %s' % (name, text))
        out.append('# TYPE %s %s' % (name, kind))
        for labels, value in by_name.pop(name):
            if labels:
                out.append('%s{%s} %s' % (name, ','.join('%s="%s"' % (k, escape(labels[k])) for k in sorted(labels)),
                                          number(value)))
            else:
                out.append('%s %s' % (name, number(value)))
    if by_name:
        raise ValueError('metrics without a definition: %s' % ', '.join(sorted(by_name)))
    return '\n'.join(out) + '\n'


def bgp_samples(state):
    """Samples of one ``_bgp_state.read`` or ``_bird.read`` result (sessions only); BIRD counts no drops."""
    out = [('vmnet_ipfabric_bgp_up', {}, 1)]
    for s in state['sessions']:
        labels = {'afi': s['afi'], 'peer': s['peer'], 'peer_host': s.get('hostname') or ''}
        up = s['state'] == 'Established'
        out.append(('vmnet_ipfabric_bgp_session_up', labels, up))
        out.append(('vmnet_ipfabric_bgp_session_uptime_seconds', labels, (s.get('uptime') or 0) if up else 0))
        out.append(('vmnet_ipfabric_bgp_session_prefixes_received', labels, s.get('prefixes_received') or 0))
        announced = s.get('prefixes_sent') if s.get('prefixes_sent') is not None else s.get('prefixes_exported')
        out.append(('vmnet_ipfabric_bgp_session_prefixes_announced', labels, announced or 0))
        if s.get('connections_dropped') is not None or 'prefixes_exported' not in s:
            out.append(('vmnet_ipfabric_bgp_session_drops_total', labels, s.get('connections_dropped') or 0))
    return out


def vm_samples(desired, links):
    """desired: {vm: spec} of vm_interfaces.json; links: {ifname: Link} of ``_iproute.parse_state``. A VM is
    routed when every address it has is routed to its interface, as the presence rule routes a present VM
    (``_presence.wanted_routes``); one route missing is a VM not (fully) reachable."""
    routed = 0
    for spec in desired.values():
        if not isinstance(spec, dict):
            continue
        link = links.get(spec.get('interface'))
        wanted = set(_bgp_state.host_prefix(p) for p in _presence.wanted_routes(spec, True)[0])
        have = set(_bgp_state.host_prefix(p) for p in (link.routes if link is not None else ()))
        if wanted and wanted <= have:
            routed += 1
    return [('vmnet_ipfabric_vms', {'state': 'configured'}, len(desired)),
            ('vmnet_ipfabric_vms', {'state': 'routed'}, routed)]


def names_host(where, host):
    """Whether a finding's ``where`` names ``host``: the host itself (``node1``), a session one of whose ends
    it is (``rr1 - node1 (ipv4)``), or the host with a detail (``node1: ...``)."""
    where = str(where or '')
    if where.endswith(')') and ' (' in where:
        where = where.rsplit(' (', 1)[0]
    parts = [p.split(':', 1)[0].strip() for p in where.split(' - ')]
    return host in parts


def verify_samples(record, host):
    """Samples of verify.json: {version, time, ok, findings: [[kind, severity, where], ...]}."""
    if not isinstance(record, dict) or record.get('version') != VERIFY_VERSION:
        raise ValueError('not a verify record of version %d' % VERIFY_VERSION)
    out = [('vmnet_ipfabric_verify_last_run_timestamp_seconds', {}, int(record['time'])),
           ('vmnet_ipfabric_verify_ok', {}, bool(record['ok']))]
    fabric, mine = {}, {}
    for item in record.get('findings') or []:
        kind, severity, where = item
        fabric[(kind, severity)] = fabric.get((kind, severity), 0) + 1
        if names_host(where, host):
            mine[(kind, severity)] = mine.get((kind, severity), 0) + 1
    for key in sorted(fabric):
        out.append(('vmnet_ipfabric_verify_findings', {'kind': key[0], 'severity': key[1]}, fabric[key]))
    for key in sorted(mine):
        out.append(('vmnet_ipfabric_verify_host_findings', {'kind': key[0], 'severity': key[1]}, mine[key]))
    return out


def run_command(argv):
    """(rc, stdout, stderr) of argv, never through a shell, bounded in time."""
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    except OSError as exc:
        return 127, '', str(exc)
    try:
        out, err = proc.communicate(timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return 124, '', '%s did not answer within %d s' % (argv[0], COMMAND_TIMEOUT)
    return proc.returncode, out, err


def _ip_json(run, ip, args):
    rc, out, err = run([ip, '-json'] + args)
    if rc != 0:
        raise _iproute.IprouteError('`ip -json %s` failed (rc=%d): %s' % (' '.join(args), rc, (err or out).strip()))
    return json.loads(out or '[]')


def collect(host, state_dir=STATE_DIR, vtysh=VTYSH, ip='ip', run=run_command, now=None, vms=False,
            speaker='frr', birdc=BIRDC):
    """Every sample of one run; a source that fails gives a vmnet_ipfabric_metrics_errors sample instead.
    ``vms``: this host is a node (its VMs are counted; no desired state yet is no VM); ``speaker``: its BGP
    speaker, FRR (read with ``vtysh``) or BIRD (read with ``birdc``)."""
    samples, errors = [], []
    try:
        if speaker == 'bird':
            dummy, state = _bird.read(_bgp_state.Request(), run, [birdc])
        else:
            dummy, state = _bgp_state.read(_bgp_state.Request(), run, vtysh=vtysh)
        samples += bgp_samples(state)
    except _bgp_state.BgpReadError as exc:
        samples.append(('vmnet_ipfabric_bgp_up', {}, 0))
        errors.append(('bgp', str(exc)))

    state_file = os.path.join(state_dir, _vm_state.STATE_FILE)
    if vms:
        try:
            desired = _vm_state.load_state(state_file)
            links = _iproute.parse_state(_ip_json(run, ip, ['link', 'show']), [],
                                         _ip_json(run, ip, ['-4', 'route', 'show', 'table', 'main']),
                                         _ip_json(run, ip, ['-6', 'route', 'show', 'table', 'main']))
            samples += vm_samples(desired, links)
        except (ValueError, _iproute.IprouteError) as exc:
            errors.append(('vms', str(exc)))

    verify_file = os.path.join(state_dir, VERIFY_FILE)
    if os.path.exists(verify_file):
        try:
            with open(verify_file) as f:
                samples += verify_samples(json.load(f), host)
        except (IOError, OSError, ValueError, KeyError, TypeError) as exc:
            errors.append(('verify', '%s: %s' % (verify_file, exc)))

    for source, reason in errors:
        samples.append(('vmnet_ipfabric_metrics_errors', {'source': source, 'reason': reason[:200]}, 1))
    samples.append(('vmnet_ipfabric_metrics_timestamp_seconds', {}, int(now if now is not None else time.time())))
    return samples, errors


def main(argv=None, run=run_command):
    parser = argparse.ArgumentParser(prog='vmnet-ipfabric-metrics', description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('--host', required=True, help='this host as the inventory names it (verify findings)')
    parser.add_argument('--vms', action='store_true', help='a node: count its VMs')
    parser.add_argument('--textfile-dir', default=TEXTFILE_DIR)
    parser.add_argument('--state-dir', default=STATE_DIR)
    parser.add_argument('--speaker', choices=SPEAKERS, default='frr', help="this host's BGP speaker")
    parser.add_argument('--vtysh', default=VTYSH)
    parser.add_argument('--birdc', default=BIRDC)
    parser.add_argument('--ip', default='ip')
    parser.add_argument('--stdout', action='store_true', help='print the metrics instead of writing the file')
    args = parser.parse_args(argv)
    samples, errors = collect(args.host, state_dir=args.state_dir, vtysh=args.vtysh, ip=args.ip, run=run,
                              vms=args.vms, speaker=args.speaker, birdc=args.birdc)
    text = render(samples)
    if args.stdout:
        sys.stdout.write(text)
    else:
        if not os.path.isdir(args.textfile_dir):
            sys.stderr.write('vmnet-ipfabric-metrics: %s does not exist (is node_exporter installed?)\n' % args.textfile_dir)
            return 2
        _files.write_atomic(os.path.join(args.textfile_dir, OUTPUT), text, 0o644)
    for source, reason in errors:
        sys.stderr.write('vmnet-ipfabric-metrics: %s: %s\n' % (source, reason))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
