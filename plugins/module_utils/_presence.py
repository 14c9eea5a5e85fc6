# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""VM presence: the one rule that decides which routes a VM has on a node (stdlib only, Python 3.6+).

A node routes (and therefore announces: FRR's ``bgp network import-check``, BIRD's kernel protocol)
a VM's /32 and /128 only while the VM is *present* on it:

* its NIC is attached: ``<vm>_net0`` has carrier (``LOWER_UP``). A tap has carrier while a qemu
  holds it open, a veth while its peer is up inside the container; a VM that stops, crashes or
  leaves with a live migration drops it;
* and its hypervisor has not suspended it (libvirt's "Suspended" lifecycle events, LXD's
  "instance-paused", kept by the presence agent in the runtime file below). The source of a live migration is suspended for the
  final copy, so the source withdraws the moment the downtime starts, while the target (whose
  incoming qemu holds its tap from the start of the migration) already announces.

A VM that is not present but is leaving for another node (``leaving_to``, set by the prepare phase
of vm_migrate.yml) gets a *handover* route instead: its addresses via the target's underlay address
in a routing table of their own (HANDOVER_TABLE, looked up before main by one ``ip rule``), so
packets that still reach the source while the fabric converges are forwarded to the target instead
of being dropped; FRR and BIRD only read the main table, so the source still withdraws at once.

Both vm_interface (when it plans) and the presence agent (on every link or libvirt event) call
``wanted_routes``; nothing else decides whether a VM route exists.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import struct
import tempfile

RUNTIME_DIR = '/run/vmnet-ipfabric'
SUSPENDED_FILE = 'suspended.json'
AGENT_PID_FILE = 'presence-agent.pid'
HANDOVER_TABLE = 4242
HANDOVER_RULE_PRIORITY = 1000
ROUTE_PROTO = 'static'
# The kernel protocol of the routes of a VM that is arriving with a migration (spec 'migrating', set on the
# target by vm_migrate.yml's prepare phase, cleared by its switch): a BIRD node announces such a route with
# the lower local-preference (module_utils/_bird.py, roles/node/templates/bird.conf.j2); FRR ignores it (its
# network statement carries route-map VMNET_MIGRATING instead). `ip route replace` turns one into the
# other in place: BIRD sees the route change, the route reflectors an implicit replace, nobody a withdraw.
MIGRATING_PROTO = '243'
VM_ROUTE_PROTOS = (ROUTE_PROTO, MIGRATING_PROTO)


def route_proto(spec):
    """The kernel protocol of the main-table routes of the VM of ``spec``."""
    return MIGRATING_PROTO if spec.get('migrating') else ROUTE_PROTO


def is_present(link, vm, suspended):
    """VM ``vm``, whose interface is ``link`` (None: no interface), is present on this node."""
    return link is not None and bool(link.carrier) and vm not in suspended


def wanted_routes(spec, present):
    """(main-table routes, handover routes) the VM of ``spec`` should have now.

    main: the VM's prefixes on its interface (present only). handover: {prefix: next hop} towards
    the node it is leaving for (not present, and spec['leaving_to'] set).
    """
    prefixes = list(spec.get('ipv4') or []) + list(spec.get('ipv6') or [])
    if present:
        return prefixes, {}
    target = spec.get('leaving_to') or {}
    handover = {}
    for p in prefixes:
        via = target.get('ipv6' if ':' in p else 'ipv4')
        if via:
            handover[p] = via
    return [], handover


def main_route_lines(spec, have, present):
    """``ip -batch`` lines that bring the main-table routes of one VM interface to the rule."""
    ifname = spec['interface']
    want, dummy = wanted_routes(spec, present)
    proto = route_proto(spec)
    # have: {prefix: kernel protocol} (a plain set of prefixes: every one with ROUTE_PROTO)
    have = have if isinstance(have, dict) else dict((r, ROUTE_PROTO) for r in have)
    lines = ['route del %s dev %s proto %s' % (r, ifname, have[r]) for r in sorted(set(have) - set(want))]
    lines += ['route replace %s dev %s proto %s' % (r, ifname, proto) for r in want if have.get(r) != proto]
    return lines


def handover_lines(want, have):
    """Lines for the handover table: ``want`` and ``have`` map prefix -> next hop."""
    lines = []
    for p in sorted(have):
        if want.get(p) != have[p]:
            lines.append('route del %s table %d' % (p, HANDOVER_TABLE))
    for p in sorted(want):
        if have.get(p) != want[p]:
            lines.append('route replace %s via %s table %d proto %s' % (p, want[p], HANDOVER_TABLE, ROUTE_PROTO))
    return lines


def handover_rule_commands(want_any, rules):
    """``ip`` argv tails for the one rule per family that sends lookups through the handover table
    first (``ip -batch`` takes no family option, so they run on their own).

    ``rules`` is the set of families (4, 6) that have it now. It is added when a handover route is
    wanted and left in place afterwards (an empty table costs one failed lookup per packet).
    """
    out = []
    if want_any:
        for fam in (4, 6):
            if fam not in rules:
                out.append(['-%d' % fam, 'rule', 'add', 'priority', str(HANDOVER_RULE_PRIORITY),
                            'lookup', str(HANDOVER_TABLE)])
    return out


# ---- the runtime file of suspended VMs (written by the agent, read by vm_interface) ----------------

def read_suspended(runtime_dir=RUNTIME_DIR):
    try:
        with open(os.path.join(runtime_dir, SUSPENDED_FILE)) as f:
            data = json.load(f)
    except (IOError, OSError, ValueError):
        return set()
    vms = data.get('vms') if isinstance(data, dict) else None
    return set(v for v in vms or [] if isinstance(v, str))


def write_suspended(vms, runtime_dir=RUNTIME_DIR):
    if not os.path.isdir(runtime_dir):
        os.makedirs(runtime_dir, 0o755)
    fd, tmp = tempfile.mkstemp(prefix='.suspended.', dir=runtime_dir)
    with os.fdopen(fd, 'w') as f:
        json.dump({'vms': sorted(vms)}, f)
    os.rename(tmp, os.path.join(runtime_dir, SUSPENDED_FILE))


def agent_running(runtime_dir=RUNTIME_DIR):
    """The presence agent's pid file names a live process."""
    try:
        with open(os.path.join(runtime_dir, AGENT_PID_FILE)) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
    except (IOError, OSError, ValueError):
        return False
    return True


# ---- libvirt lifecycle events, as `virsh event --loop --event lifecycle` prints them -------------

EVENT_RE = re.compile(r"^event 'lifecycle' for domain '(?P<domain>[^']+)': (?P<event>\S+)(?: (?P<detail>.*))?$")
# event -> whether the domain is suspended afterwards (None: the event says nothing about it)
SUSPENDED_AFTER = {
    'Suspended': True, 'PMSuspended': True,
    'Resumed': False, 'Started': False, 'Stopped': False, 'Crashed': False, 'Undefined': False, 'Shutdown': None,
    'Defined': None,
}


def parse_lifecycle(line):
    """(domain, event, detail) of one virsh event line, or None for anything else."""
    m = EVENT_RE.match((line or '').strip())
    if not m:
        return None
    return m.group('domain'), m.group('event'), (m.group('detail') or '').strip()


def suspended_after(event):
    return SUSPENDED_AFTER.get(event)


# ---- LXD lifecycle events, as `lxc monitor --type=lifecycle --format=json` prints them (one per line) -----

# action -> whether the instance is suspended (frozen) afterwards; other actions say nothing about it
LXD_SUSPENDED_AFTER = {
    'instance-paused': True,
    'instance-resumed': False, 'instance-started': False, 'instance-stopped': False, 'instance-shutdown': False,
    'instance-restarted': False, 'instance-deleted': False,
}


def parse_lxd_lifecycle(line):
    """(instance, action) of one LXD lifecycle event line, or None for anything else."""
    line = (line or '').strip()
    if not line.startswith('{'):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get('type') != 'lifecycle':
        return None
    meta = event.get('metadata') or {}
    source = meta.get('source') or ''
    if not source.startswith('/1.0/instances/') or not meta.get('action'):
        return None
    return source[len('/1.0/instances/'):].split('?')[0], meta['action']


def lxd_suspended_after(action):
    return LXD_SUSPENDED_AFTER.get(action)


# ---- rtnetlink link messages (RTM_NEWLINK / RTM_DELLINK) --------------------------------------------

RTM_NEWLINK, RTM_DELLINK = 16, 17
NLMSG_HDR = struct.Struct('=IHHII')       # len, type, flags, seq, pid
IFINFOMSG = struct.Struct('=BxHiII')      # family, type, index, flags, change
RTATTR = struct.Struct('=HH')             # len, type
IFLA_IFNAME = 3
IFF_LOWER_UP = 0x10000


def parse_link_messages(data):
    """[(ifname, carrier, deleted)] of the link messages in one netlink datagram."""
    out = []
    off = 0
    while off + NLMSG_HDR.size <= len(data):
        length, mtype, dummy, dummy, dummy = NLMSG_HDR.unpack_from(data, off)
        if length < NLMSG_HDR.size or off + length > len(data):
            break
        if mtype in (RTM_NEWLINK, RTM_DELLINK) and length >= NLMSG_HDR.size + IFINFOMSG.size:
            dummy, dummy, dummy, flags, dummy = IFINFOMSG.unpack_from(data, off + NLMSG_HDR.size)
            name = None
            a = off + NLMSG_HDR.size + IFINFOMSG.size
            end = off + length
            while a + RTATTR.size <= end:
                alen, atype = RTATTR.unpack_from(data, a)
                if alen < RTATTR.size:
                    break
                if atype == IFLA_IFNAME:
                    name = data[a + RTATTR.size:a + alen].split(b'\0', 1)[0].decode('utf-8', 'replace')
                a += (alen + 3) & ~3
            if name:
                out.append((name, bool(flags & IFF_LOWER_UP), mtype == RTM_DELLINK))
        off += (length + 3) & ~3
    return out
