# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node's presence agent: keeps every VM's routes in step with the VM (stdlib only, Python 3.6+).

Installed by the node role as ``vmnet-ipfabric-presence.service``. It listens to the kernel's link
events (rtnetlink) and to libvirt's lifecycle events (``virsh event --loop``, when libvirt is
installed) and, on each, applies the rule of module_utils/_presence.py to the VMs concerned:
a VM's /32 and /128 exist in the kernel only while it is present, so FRR's import-check (or BIRD's
kernel protocol) announces and withdraws them by themselves. It changes routes only (main table and
the handover table), never links or addresses: those belong to vm_interface, whose lock it takes
so the two never interleave.

    python3 -m ansible_collections.vmnet.ipfabric.plugins.module_utils._presence_agent \\
        [--state-dir DIR] [--runtime-dir DIR] [--resync SECONDS] [--once]
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import select
import signal
import socket
import subprocess
import sys
import time

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _iproute
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _lock
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _presence
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _vm_plan

VM_INTERFACE_LOCK = 'vmnet-ipfabric-vm_interface.lock'   # the lock of plugins/modules/vm_interface.py
RTMGRP_LINK = 1
DEBOUNCE = 0.005            # seconds to gather a burst of events into one reconcile
VIRSH_RESTART = 2.0         # seconds between attempts to (re)subscribe to libvirt's events
PATHS = ('/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin')


def log(msg):
    sys.stdout.write('%s\n' % msg)
    sys.stdout.flush()


def which(name):
    for d in os.environ.get('PATH', '').split(os.pathsep) + list(PATHS):
        path = os.path.join(d, name)
        if d and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


class Runner(object):
    """The subset of AnsibleModule that module_utils/_iproute.py uses."""

    def get_bin_path(self, name, required=False, opt_dirs=None):
        path = which(name)
        if path is None and required:
            raise _iproute.IprouteError('%s not found' % name)
        return path

    def run_command(self, argv, data=None, binary_data=False):
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if data is not None else None,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        out, err = proc.communicate(data)
        return proc.returncode, out, err


class Libvirt(object):
    """``virsh event --loop --event lifecycle`` as a line source, restarted when it ends."""

    def __init__(self, virsh, uri='qemu:///system'):
        self.virsh = virsh
        self.uri = uri
        self.proc = None
        self.buf = b''
        self.next_start = 0.0
        self.domain_vm = {}     # libvirt domain name -> VM name (when they differ: from domiflist)

    def fileno(self):
        return self.proc.stdout.fileno() if self.proc is not None else None

    def ensure(self):
        """Start the event subscription when it is not running; True when it was (re)started."""
        if self.proc is not None and self.proc.poll() is None:
            return False
        if self.proc is not None:
            self.proc = None
        if time.time() < self.next_start:
            return False
        self.next_start = time.time() + VIRSH_RESTART
        self.proc = subprocess.Popen([self.virsh, '-q', '-c', self.uri, 'event', '--loop', '--event', 'lifecycle'],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.buf = b''
        return True

    def read_lines(self):
        try:
            data = os.read(self.proc.stdout.fileno(), 65536)
        except OSError:
            data = b''
        if not data:
            self.proc.stdout.close()
            self.proc.wait()
            self.proc = None
            return []
        self.buf += data
        lines = self.buf.split(b'\n')
        self.buf = lines.pop()
        return [l.decode('utf-8', 'replace') for l in lines]

    def paused(self):
        """Names of the domains libvirt reports paused now, or None when libvirt does not answer."""
        try:
            out = subprocess.check_output([self.virsh, '-q', '-c', self.uri, 'list', '--state-paused', '--name'],
                                          stderr=subprocess.DEVNULL, universal_newlines=True, timeout=20)
        except (subprocess.SubprocessError, OSError):
            return None
        return set(l.strip() for l in out.splitlines() if l.strip())

    def interfaces(self, domain):
        """Target device names of a domain's interfaces (for domains not named like their VM)."""
        try:
            out = subprocess.check_output([self.virsh, '-q', '-c', self.uri, 'domiflist', domain],
                                          stderr=subprocess.DEVNULL, universal_newlines=True, timeout=20)
        except (subprocess.SubprocessError, OSError):
            return []
        return [l.split()[0] for l in out.splitlines() if l.split()]

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()


class Agent(object):
    def __init__(self, state_dir, runtime_dir, resync):
        self.state_dir = state_dir
        self.runtime_dir = runtime_dir
        self.resync = resync
        self.ip = _iproute.Iproute(Runner())
        self.suspended = _presence.read_suspended(runtime_dir)
        virsh = which('virsh')
        self.libvirt = Libvirt(virsh) if virsh else None
        self._known = (None, {})

    # -- desired state (vm_interface's state file, re-read when it changes) ---------------------------
    def known(self):
        path = os.path.join(self.state_dir, _vm_plan.STATE_FILE)
        try:
            st = os.stat(path)
            key = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            return {}
        if self._known[0] != key:
            try:
                self._known = (key, _vm_plan.load_state(path))
            except ValueError as e:
                log('presence: %s' % e)
                self._known = (key, {})
        return self._known[1]

    def vm_of_interface(self, ifname):
        for vm, spec in self.known().items():
            if spec.get('interface') == ifname:
                return vm
        return None

    def vm_of_domain(self, domain):
        known = self.known()
        if domain in known:
            return domain
        if domain not in self.libvirt.domain_vm:
            ifaces = set(self.libvirt.interfaces(domain))
            self.libvirt.domain_vm[domain] = next((vm for vm, s in known.items() if s.get('interface') in ifaces), None)
        return self.libvirt.domain_vm[domain]

    # -- applying the rule ----------------------------------------------------------------------------
    def reconcile(self, vms=None, why=''):
        """Bring the routes of ``vms`` (None: every VM of the state file) to the presence rule."""
        with _lock.FileLock(_lock.lock_path(VM_INTERFACE_LOCK)):
            known = self.known()
            names = sorted(known) if vms is None else sorted(v for v in vms if v in known)
            if not names and vms is not None:
                return
            live = self.ip.read()
            handover, rules = self.ip.read_handover(_presence.HANDOVER_TABLE, _presence.HANDOVER_RULE_PRIORITY)
            lines, want_h, have_h, notes = [], {}, {}, []
            for vm in names:
                spec = known[vm]
                link = live.get(spec['interface'])
                present = _presence.is_present(link, vm, self.suspended)
                if link is not None:
                    before = len(lines)
                    lines.extend(_presence.main_route_lines(spec, link.routes, present))
                    if len(lines) != before:
                        notes.append('%s %s' % (vm, 'present' if present else 'absent'))
                dummy, want = _presence.wanted_routes(spec, present)
                want_h.update(want)
                for p in list(spec.get('ipv4') or []) + list(spec.get('ipv6') or []):
                    if p in handover:
                        have_h[p] = handover[p]
            if vms is None:
                have_h = handover       # a full pass also drops handover routes of VMs that are gone
            hlines = _presence.handover_lines(want_h, have_h)
            if hlines:
                notes.append('handover %s' % ', '.join(sorted(set(want_h) | set(have_h))))
            lines += hlines
            rules = _presence.handover_rule_commands(bool(want_h), rules)
            if lines or rules:
                try:
                    for args in rules:
                        self.ip.run(args)
                    self.ip.batch(lines)
                except _iproute.IprouteError as e:
                    log('presence: %s' % e)
                    return
                log('presence: %s%s: %s' % (why, ' (%s)' % '; '.join(notes) if notes else '',
                                            ' | '.join([' '.join(a) for a in rules] + lines)))

    def set_suspended(self, vms):
        if vms != self.suspended:
            self.suspended = set(vms)
            _presence.write_suspended(self.suspended, self.runtime_dir)

    def resync_libvirt(self):
        if self.libvirt is None:
            return
        paused = self.libvirt.paused()
        if paused is not None:
            self.set_suspended(set(v for v in (self.vm_of_domain(d) for d in paused) if v))

    # -- event sources --------------------------------------------------------------------------------
    def link_events(self, sock):
        vms = set()
        while True:
            try:
                data = sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except (IOError, OSError) as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    return vms
                if e.errno == errno.ENOBUFS:       # events were lost: look at everything
                    return None
                raise
            for ifname, dummy, dummy in _presence.parse_link_messages(data):
                vm = self.vm_of_interface(ifname)
                if vm is not None:
                    vms.add(vm)

    def libvirt_events(self):
        vms = set()
        for line in self.libvirt.read_lines():
            ev = _presence.parse_lifecycle(line)
            if ev is None:
                continue
            domain, event, detail = ev
            vm = self.vm_of_domain(domain)
            after = _presence.suspended_after(event)
            log('presence: libvirt %s %s %s%s' % (domain, event, detail, '' if vm else ' (no VM of this node)'))
            if vm is None or after is None:
                continue
            now = set(self.suspended)
            (now.add if after else now.discard)(vm)
            self.set_suspended(now)
            vms.add(vm)
        return vms

    def run(self, once=False):
        if not os.path.isdir(self.runtime_dir):
            os.makedirs(self.runtime_dir, 0o755)
        with open(os.path.join(self.runtime_dir, _presence.AGENT_PID_FILE), 'w') as f:
            f.write('%d\n' % os.getpid())
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind((0, RTMGRP_LINK))
        self.resync_libvirt()
        try:
            self.reconcile(why='start')
        except (_iproute.IprouteError, _lock.LockTimeout) as e:
            log('presence: %s' % e)
            if once:
                return 1
        if once:
            return 0
        log('presence: running (state %s, libvirt %s)' % (self.state_dir, 'yes' if self.libvirt else 'not installed'))
        next_resync = time.time() + self.resync
        resync_soon = None
        while True:
            if self.libvirt is not None and self.libvirt.ensure():
                resync_soon = time.time() + 2.0     # a new subscription may have missed events: look again
            fds = [sock] + ([self.libvirt.proc.stdout] if self.libvirt is not None and self.libvirt.proc else [])
            deadline = min(t for t in (next_resync, resync_soon) if t is not None)
            timeout = max(0.0, min(deadline - time.time(), VIRSH_RESTART))
            ready, dummy, dummy = select.select(fds, [], [], timeout)
            if ready:
                time.sleep(DEBOUNCE)
            vms = set()
            full = False
            for r in ready:
                if r is sock:
                    got = self.link_events(sock)
                    if got is None:
                        full = True
                    else:
                        vms |= got
                elif self.libvirt is not None and self.libvirt.proc is not None and r is self.libvirt.proc.stdout:
                    vms |= self.libvirt_events()
            now = time.time()
            if resync_soon is not None and now >= resync_soon or now >= next_resync:
                resync_soon = None
                next_resync = now + self.resync
                self.resync_libvirt()
                full = True
            try:
                if full:
                    self.reconcile(why='resync')
                elif vms:
                    self.reconcile(vms, why='event')
            except (_iproute.IprouteError, _lock.LockTimeout) as e:
                log('presence: %s' % e)


def _stop(*dummy):
    raise SystemExit(0)


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(prog='vmnet-ipfabric-presence', description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('--state-dir', default='/var/lib/vmnet-ipfabric')
    parser.add_argument('--runtime-dir', default=_presence.RUNTIME_DIR)
    parser.add_argument('--resync', type=float, default=30.0, help='seconds between full passes (default 30)')
    parser.add_argument('--once', action='store_true', help='one full pass, then exit')
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    agent = Agent(args.state_dir, args.runtime_dir, args.resync)
    try:
        return agent.run(once=args.once)
    finally:
        if agent.libvirt is not None:
            agent.libvirt.stop()


if __name__ == '__main__':
    raise SystemExit(main())
