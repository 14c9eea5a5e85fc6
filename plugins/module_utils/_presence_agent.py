# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node's presence agent: keeps every VM's routes in step with the VM (stdlib only, Python 3.6+).

Installed by the node role as ``vmnet-ipfabric-presence.service``. It listens to the kernel's link
events (rtnetlink) and to the hypervisor's lifecycle events (libvirt: ``virsh event --loop``; LXD:
``lxc monitor --type=lifecycle``) and, on each, applies the rule of module_utils/_presence.py to the
VMs concerned:
a VM's /32 and /128 exist in the kernel only while it is present, so FRR's import-check (or BIRD's
kernel protocol) announces and withdraws them by themselves. It changes routes only (main table and
the handover table), never links or addresses: those belong to vm_interface, whose lock it takes
so the two never interleave.

    python3 -m ansible_collections.vmnet.ipfabric.plugins.module_utils._presence_agent \\
        [--state-dir DIR] [--runtime-dir DIR] [--resync SECONDS] [--hypervisor auto|kvm|lxd|none] [--once]
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
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _nft
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _presence
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _vm_state

VM_INTERFACE_LOCK = 'vmnet-ipfabric-vm_interface.lock'   # the lock of plugins/modules/vm_interface.py
RTMGRP_LINK = 1
DEBOUNCE = 0.005            # seconds to gather a burst of events into one reconcile
RESTART_MIN, RESTART_MAX = 2.0, 60.0    # back-off between attempts to (re)subscribe to hypervisor events
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


class Hypervisor(object):
    """One hypervisor's lifecycle events as a line stream (a subprocess, restarted with a growing
    back-off when it ends) and its list of paused instances. Subclasses give the commands."""

    name = ''

    def __init__(self, binary):
        self.bin = binary
        self.proc = None
        self.buf = b''
        self.next_start = 0.0
        self.backoff = RESTART_MIN
        self.instance_vm = {}   # instance name -> VM name, for instances not named like their VM

    def event_argv(self):
        raise NotImplementedError

    def parse(self, line):
        """(instance, suspended afterwards or None, text for the log) of an event line, or None."""
        raise NotImplementedError

    def paused(self):
        """Instances the hypervisor reports paused now, or None when it does not answer."""
        raise NotImplementedError

    def interfaces(self, instance):
        """Host-side interface names of an instance's NICs (for instances not named like their VM)."""
        return []

    def ensure(self):
        """Start the event subscription when it is not running; True when it was (re)started."""
        if self.proc is not None and self.proc.poll() is None:
            return False
        if self.proc is not None:
            self.proc = None
        if time.time() < self.next_start:
            return False
        self.next_start = time.time() + self.backoff
        self.backoff = min(self.backoff * 2, RESTART_MAX)
        self.proc = subprocess.Popen(self.event_argv(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
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
        self.backoff = RESTART_MIN       # it answered: a later failure starts the back-off afresh
        self.buf += data
        lines = self.buf.split(b'\n')
        self.buf = lines.pop()
        return [l.decode('utf-8', 'replace') for l in lines]

    def _output(self, argv):
        try:
            return subprocess.check_output(argv, stderr=subprocess.DEVNULL, universal_newlines=True, timeout=20)
        except (subprocess.SubprocessError, OSError):
            return None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()


class Libvirt(Hypervisor):
    """``virsh event --loop --event lifecycle`` (KVM nodes)."""

    name = 'libvirt'

    def __init__(self, binary, uri='qemu:///system'):
        super(Libvirt, self).__init__(binary)
        self.uri = uri

    def event_argv(self):
        return [self.bin, '-q', '-c', self.uri, 'event', '--loop', '--event', 'lifecycle']

    def parse(self, line):
        ev = _presence.parse_lifecycle(line)
        if ev is None:
            return None
        domain, event, detail = ev
        return domain, _presence.suspended_after(event), '%s %s' % (event, detail)

    def paused(self):
        out = self._output([self.bin, '-q', '-c', self.uri, 'list', '--state-paused', '--name'])
        return None if out is None else set(l.strip() for l in out.splitlines() if l.strip())

    def interfaces(self, instance):
        out = self._output([self.bin, '-q', '-c', self.uri, 'domiflist', instance]) or ''
        return [l.split()[0] for l in out.splitlines() if l.split()]


class Lxd(Hypervisor):
    """``lxc monitor --type=lifecycle --format=json`` (LXD nodes)."""

    name = 'lxd'

    def event_argv(self):
        return [self.bin, 'monitor', '--type=lifecycle', '--format=json']

    def parse(self, line):
        ev = _presence.parse_lxd_lifecycle(line)
        if ev is None:
            return None
        instance, action = ev
        return instance, _presence.lxd_suspended_after(action), action

    def paused(self):
        out = self._output([self.bin, 'list', '--format', 'csv', '-c', 'ns'])
        if out is None:
            return None
        return set(l.split(',')[0] for l in out.splitlines() if l.endswith(',FROZEN'))


class Agent(object):
    def __init__(self, state_dir, runtime_dir, resync, hypervisor='auto'):
        self.state_dir = state_dir
        self.runtime_dir = runtime_dir
        self.resync = resync
        self.ip = _iproute.Iproute(Runner())
        self.suspended = _presence.read_suspended(runtime_dir)
        self.hypervisor = None
        for kind, cls, binary in (('kvm', Libvirt, 'virsh'), ('lxd', Lxd, 'lxc')):
            path = which(binary)
            if path and hypervisor in (kind, 'auto'):
                self.hypervisor = cls(path)
                break
        self._known = (None, {})

    # -- desired state (vm_interface's state file, re-read when it changes) ---------------------------
    def known(self):
        path = os.path.join(self.state_dir, _vm_state.STATE_FILE)
        try:
            st = os.stat(path)
            key = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            return {}
        if self._known[0] != key:
            try:
                self._known = (key, _vm_state.load_state(path))
            except ValueError as e:
                log('presence: %s' % e)
                self._known = (key, {})
        return self._known[1]

    def vm_of_interface(self, ifname):
        for vm, spec in self.known().items():
            if spec.get('interface') == ifname:
                return vm
        return None

    def vm_of_instance(self, instance):
        """The VM of a libvirt domain or LXD instance: the one of the same name, else the one whose
        interface the instance uses."""
        known = self.known()
        if instance in known:
            return instance
        cache = self.hypervisor.instance_vm
        if instance not in cache:
            ifaces = set(self.hypervisor.interfaces(instance))
            cache[instance] = next((vm for vm, s in known.items() if s.get('interface') in ifaces), None)
        return cache[instance]

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

    def guard_table(self):
        """Load vm_interface's restore.nft again when the anti-spoofing table is gone (another tool ran
        `nft flush ruleset`, nftables.service restarted): the VMs are never left unguarded for longer
        than a resync."""
        path = os.path.join(self.state_dir, _vm_state.RESTORE_NFT)
        nft = which('nft')
        if not nft or not os.path.isfile(path):
            return
        rc, dummy, err = Runner().run_command([nft, 'list', 'table', _nft.FAMILY, _nft.TABLE])
        if not _nft.no_table(rc, err):
            return
        with _lock.FileLock(_lock.lock_path(VM_INTERFACE_LOCK)):
            rc, dummy, err = Runner().run_command([nft, '-f', path])
        log('presence: the anti-spoofing table %s %s was gone: %s' % (
            _nft.FAMILY, _nft.TABLE, 'loaded %s again' % path if rc == 0 else 'loading %s failed: %s' % (path, err.strip())))

    def set_suspended(self, vms):
        if vms != self.suspended:
            self.suspended = set(vms)
            _presence.write_suspended(self.suspended, self.runtime_dir)

    def resync_hypervisor(self):
        if self.hypervisor is None:
            return
        paused = self.hypervisor.paused()
        if paused is not None:
            self.set_suspended(set(v for v in (self.vm_of_instance(d) for d in paused) if v))

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

    def hypervisor_events(self):
        vms = set()
        for line in self.hypervisor.read_lines():
            ev = self.hypervisor.parse(line)
            if ev is None:
                continue
            instance, after, text = ev
            vm = self.vm_of_instance(instance)
            log('presence: %s %s %s%s' % (self.hypervisor.name, instance, text, '' if vm else ' (no VM of this node)'))
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
        self.resync_hypervisor()
        try:
            self.guard_table()
            self.reconcile(why='start')
        except (_iproute.IprouteError, _lock.LockTimeout) as e:
            log('presence: %s' % e)
            if once:
                return 1
        if once:
            return 0
        log('presence: running (state %s, hypervisor events: %s)'
            % (self.state_dir, self.hypervisor.name if self.hypervisor else 'none'))
        hv = self.hypervisor
        next_resync = time.time() + self.resync
        resync_soon = None
        while True:
            if hv is not None and hv.ensure():
                resync_soon = time.time() + 2.0     # a new subscription may have missed events: look again
            fds = [sock] + ([hv.proc.stdout] if hv is not None and hv.proc else [])
            deadline = min(t for t in (next_resync, resync_soon) if t is not None)
            timeout = max(0.0, min(deadline - time.time(), RESTART_MIN))
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
                elif hv is not None and hv.proc is not None and r is hv.proc.stdout:
                    vms |= self.hypervisor_events()
            now = time.time()
            if resync_soon is not None and now >= resync_soon or now >= next_resync:
                resync_soon = None
                next_resync = now + self.resync
                self.resync_hypervisor()
                full = True
            try:
                if full:
                    self.guard_table()
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
    parser.add_argument('--hypervisor', choices=['auto', 'kvm', 'lxd', 'none'], default='auto',
                        help='whose lifecycle events to follow (auto: libvirt if virsh is installed, else LXD)')
    parser.add_argument('--once', action='store_true', help='one full pass, then exit')
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    agent = Agent(args.state_dir, args.runtime_dir, args.resync, args.hypervisor)
    try:
        return agent.run(once=args.once)
    finally:
        if agent.hypervisor is not None:
            agent.hypervisor.stop()


if __name__ == '__main__':
    raise SystemExit(main())
