# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dead-peer agent: a BGP peer whose BFD session timed out loses its stale routes at once.

Installed by the frr role as ``vmnet-ipfabric-dead-peer.service`` on every FRR host with BFD
(stdlib only, Python 3.6+). Why it exists (docs/architecture.md, "Failure detection and graceful
restart"): with graceful restart, a peer that closes its TCP session is taken for a restarting
control plane and its routes are kept (stale) for the restart time. That is right when bgpd
crashed or FRR restarts on a node whose kernel keeps forwarding, and wrong when the whole node is
gone: a killed node's kernel still closes its sockets, so the route reflector first sees "NSF peer
closed the session", then, 0.6 s later, the BFD session time out - and FRR 8.4 ignores a BFD down on
a session that is already down, so the dead node's routes stayed for the 120 s of its restart time.

The agent subscribes to bfdd's control socket and tells the two apart by BFD's own diagnostic:

- ``control detection time expired`` (1) or ``echo function failed`` (2): nothing answers on the
  peer's address any more, its data plane is gone. The agent drops the peer's stale routes:
  ``neighbor ADDR shutdown`` followed by ``no neighbor ADDR shutdown`` in one vtysh run (FRR ends the
  graceful-restart wait of a peer that is shut down; a session still Established, FRR resets on this
  BFD down by itself anyway), and the session comes back as soon as the peer answers again.
- ``neighbor signaled session down`` (3) or ``administratively down`` (7): the peer's bfdd said
  goodbye (FRR stopping or restarting there): a control-plane restart, the stale routes stay.

It holds the FRR lock of frr_config/frr_network while it toggles (at most LOCK_WAIT seconds), so a
``write memory`` never saves the transient ``shutdown``.

    python3 -m ansible_collections.vmnet.ipfabric.plugins.module_utils._dead_peer_agent \\
        [--socket /var/run/frr/bfdd.sock] [--vtysh /usr/bin/vtysh] [--once SECONDS]
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import signal
import socket
import struct
import subprocess
import sys
import time

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _lock

FRR_LOCK = 'vmnet-ipfabric-frr.lock'         # the lock of plugins/modules/frr_config.py and frr_network.py
LOCK_WAIT = 2.0
BFDD_SOCKET = '/var/run/frr/bfdd.sock'
VTYSH = '/usr/bin/vtysh'
RECONNECT_MIN, RECONNECT_MAX = 0.5, 5.0

# bfdd's control protocol (FRR bfdd/bfdctl.h): a header of length (of the payload), id, type and
# version, network byte order, then JSON - or, for a subscription, the 64-bit notification mask,
# which bfdd copies as it is (host byte order).
HEADER = struct.Struct('!IHBB')
BMT_VERSION = 1
BMT_RESPONSE = 1
BMT_NOTIFY = 4
BCM_NOTIFY_PEER_STATE = 1
BCM_NOTIFY_CONFIG = 2           # with it, bfdd first sends every session it has (and its state)

# BFD diagnostic codes (RFC 5880 section 4.1) that say the peer is unreachable, not restarting.
DIAG_DEAD = {1: 'control detection time expired', 2: 'echo function failed'}
DIAG_NAMES = {0: 'none', 1: 'control detection time expired', 2: 'echo function failed',
              3: 'neighbor signaled session down', 4: 'forwarding plane reset', 5: 'path down',
              6: 'concatenated path down', 7: 'administratively down', 8: 'reverse concatenated path down'}


def log(msg):
    sys.stdout.write('%s\n' % msg)
    sys.stdout.flush()


def subscription():
    """The message that subscribes to peer state changes (and the current state of every peer)."""
    payload = struct.pack('=Q', BCM_NOTIFY_PEER_STATE | BCM_NOTIFY_CONFIG)
    return HEADER.pack(len(payload), 1, BMT_NOTIFY, BMT_VERSION) + payload


def split_messages(buf):
    """(messages, rest): the complete (type, JSON or None) messages at the start of ``buf``."""
    out = []
    while len(buf) >= HEADER.size:
        length, _mid, mtype, _ver = HEADER.unpack(buf[:HEADER.size])
        if len(buf) < HEADER.size + length:
            break
        body = buf[HEADER.size:HEADER.size + length]
        buf = buf[HEADER.size + length:]
        try:
            out.append((mtype, json.loads(body.decode('utf-8'))))
        except ValueError:
            out.append((mtype, None))
    return out, buf


class PeerStates(object):
    """The last BFD state of every peer, and the rule: which status change means a dead peer."""

    def __init__(self):
        self.state = {}

    def update(self, msg):
        """Record a status message; return the peer address to flush, or None."""
        if not isinstance(msg, dict) or msg.get('op') != 'status' or not msg.get('peer-address'):
            return None
        if msg.get('vrf') not in (None, '', 'default'):
            return None
        key = (msg['peer-address'], bool(msg.get('multihop')), msg.get('local-address') or '')
        previous = self.state.get(key)
        now = msg.get('state')
        self.state[key] = now
        if now == 'down' and previous == 'up' and msg.get('diagnostics') in DIAG_DEAD:
            return msg['peer-address']
        return None


class Vtysh(object):
    def __init__(self, binary=VTYSH):
        self.binary = binary

    def run(self, *commands):
        argv = [self.binary]
        for c in commands:
            argv += ['-c', c]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = p.communicate()[0]
        return p.returncode, out.decode('utf-8', 'replace')

    def flush(self, address):
        return self.run('configure terminal', 'router bgp',
                        'neighbor %s shutdown' % address, 'no neighbor %s shutdown' % address)


class Agent(object):
    def __init__(self, socket_path=BFDD_SOCKET, vtysh=None, lock_name=FRR_LOCK):
        self.socket_path = socket_path
        self.vtysh = vtysh or Vtysh()
        self.lock_name = lock_name
        self.peers = PeerStates()
        self.flushed = []           # (address, seconds from the BFD message to the flush's end)

    def handle(self, msg, received):
        address = self.peers.update(msg)
        if not address:
            return
        diag = DIAG_NAMES.get(msg.get('diagnostics'), msg.get('diagnostics'))
        # No read of the BGP state first (one vtysh run less on the way to the flush): on a session that
        # is still Established FRR resets it on this BFD down anyway, so the shutdown costs nothing more.
        rc, out = self._flush(address)
        took = time.time() - received
        if rc == 0:
            self.flushed.append((address, took))
            log('BFD peer %s down (%s): its stale routes dropped in %.3f s' % (address, diag, took))
        elif 'Specify remote-as or peer-group' in out:
            log('BFD peer %s down (%s): not a BGP neighbor here, nothing to do' % (address, diag))
        else:
            log('BFD peer %s down (%s): dropping its stale routes failed (vtysh rc %d): %s'
                % (address, diag, rc, out.strip()))

    def _flush(self, address):
        try:
            with _lock.FileLock(_lock.lock_path(self.lock_name), timeout=LOCK_WAIT):
                return self.vtysh.flush(address)
        except _lock.LockTimeout:
            log('the FRR lock is held for more than %.0f s: dropping the stale routes of %s without it'
                % (LOCK_WAIT, address))
            return self.vtysh.flush(address)

    def session(self, deadline=None):
        """One connection to bfdd: subscribe, handle messages until it closes (or the deadline)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.socket_path)
            sock.sendall(subscription())
            sock.settimeout(1.0)
            buf = b''
            while deadline is None or time.time() < deadline:
                try:
                    data = sock.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    return
                received = time.time()
                messages, buf = split_messages(buf + data)
                for mtype, msg in messages:
                    if mtype == BMT_RESPONSE and isinstance(msg, dict) and msg.get('status') != 'ok':
                        raise OSError('bfdd refused the subscription: %s' % msg)
                    if mtype == BMT_NOTIFY:
                        self.handle(msg, received)
        finally:
            sock.close()

    def run(self, once=None):
        deadline = time.time() + once if once else None
        wait = RECONNECT_MIN
        while deadline is None or time.time() < deadline:
            try:
                self.session(deadline)
                log('bfdd closed its control socket (FRR restarting?): reconnecting')
                wait = RECONNECT_MIN
                self.peers = PeerStates()    # a new bfdd starts its sessions afresh
            except (OSError, socket.error) as e:
                log('cannot follow bfdd at %s: %s (again in %.1f s)' % (self.socket_path, e, wait))
                time.sleep(wait)
                wait = min(wait * 2, RECONNECT_MAX)


def _stop(*dummy):
    raise SystemExit(0)


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(prog='vmnet-ipfabric-dead-peer', description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('--socket', default=BFDD_SOCKET, help="bfdd's control socket")
    parser.add_argument('--vtysh', default=VTYSH)
    parser.add_argument('--once', type=float, default=None, metavar='SECONDS',
                        help='run for SECONDS, then exit (tests)')
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    log('following bfdd at %s' % args.socket)
    Agent(args.socket, Vtysh(args.vtysh)).run(args.once)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
