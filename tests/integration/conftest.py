# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the node-module integration tests.

They run the real module files (``plugins/modules/*.py``) as a separate process, the way a debugger
does: module arguments as JSON on stdin, ``PYTHONPATH`` pointing at a temporary
``ansible_collections/vmnet/ipfabric`` symlink to this checkout. Everything happens inside network
namespaces the tests create (``vmnet-t-<random>``) and delete again, always.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest

from integration_lib import REPO_ROOT, sh  # noqa: F401  (re-exported to the tests)
_COLL_PARENT = None


def pytest_configure(config):
    config.addinivalue_line('markers', 'netns: needs root and iproute2; creates and deletes its own network namespaces')
    config.addinivalue_line('markers', 'frr: needs a Debian 12 rootfs with FRR (boots it with systemd-nspawn)')


def collection_parent():
    global _COLL_PARENT
    if _COLL_PARENT is None:
        base = tempfile.mkdtemp(prefix='vmnet-ipfabric-it-')
        os.makedirs(os.path.join(base, 'ansible_collections', 'vmnet'))
        os.symlink(REPO_ROOT, os.path.join(base, 'ansible_collections', 'vmnet', 'ipfabric'))
        _COLL_PARENT = base
    return _COLL_PARENT


def pytest_unconfigure(config):
    if _COLL_PARENT:
        shutil.rmtree(_COLL_PARENT, ignore_errors=True)


def have_netns():
    return os.geteuid() == 0 and shutil.which('ip') is not None


# Holds taps open the way qemu does (TUNSETIFF on /dev/net/tun): they get carrier, until stdin closes.
TAP_HOLDER = r"""
import fcntl, os, struct, sys
fds = []
for name in sys.argv[1:]:
    fd = os.open('/dev/net/tun', os.O_RDWR)
    fcntl.ioctl(fd, 0x400454CA, struct.pack('16sH', name.encode(), 0x0002 | 0x1000))   # TUNSETIFF, IFF_TAP|IFF_NO_PI
    fds.append(fd)
sys.stdout.write('held\n')
sys.stdout.flush()
sys.stdin.read()
"""


class Netns(object):
    def __init__(self):
        self.name = 'vmnet-t-%s' % uuid.uuid4().hex[:8]
        self.holders = []
        sh('ip', 'netns', 'add', self.name)

    def run(self, *args, **kw):
        return sh('ip', 'netns', 'exec', self.name, *args, **kw)

    def ip_json(self, *args):
        out = self.run('ip', '-json', *args)
        return json.loads(out) if out.strip() else []

    def links(self):
        return dict((l['ifname'], l) for l in self.ip_json('-details', 'link', 'show'))

    def sysctl(self, family, ifname, key):
        return self.run('cat', '/proc/sys/net/ipv%d/conf/%s/%s' % (family, ifname, key)).strip()

    def module(self, name, args):
        """Run plugins/modules/<name>.py inside the namespace; return its JSON result."""
        env = dict(os.environ, PYTHONPATH=collection_parent(), PYTHONDONTWRITEBYTECODE='1')
        path = os.path.join(REPO_ROOT, 'plugins', 'modules', name + '.py')
        p = subprocess.run(['ip', 'netns', 'exec', self.name, sys.executable, path],
                           input=json.dumps({'ANSIBLE_MODULE_ARGS': args}), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, env=env, check=False)
        try:
            return json.loads(p.stdout)
        except ValueError:
            raise AssertionError('module %s printed no JSON (rc=%d): %s %s' % (name, p.returncode, p.stdout, p.stderr))

    def hold_taps(self, names):
        """Open the taps ``names`` as a VM's qemu would (carrier up) until the namespace is deleted."""
        p = subprocess.Popen(['ip', 'netns', 'exec', self.name, sys.executable, '-c', TAP_HOLDER] + list(names),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, universal_newlines=True)
        assert p.stdout.readline().strip() == 'held', 'the tap holder did not attach to %s' % (names,)
        self.holders.append(p)

    def presence_pass(self, state_dir):
        """One pass of the node's presence agent in the namespace: routes for the VMs that are present."""
        env = dict(os.environ, PYTHONPATH=collection_parent(), PYTHONDONTWRITEBYTECODE='1')
        runtime = os.path.join(str(state_dir), 'run')
        subprocess.run(['ip', 'netns', 'exec', self.name, sys.executable, '-m',
                        'ansible_collections.vmnet.ipfabric.plugins.module_utils._presence_agent', '--once',
                        '--hypervisor', 'none', '--state-dir', str(state_dir), '--runtime-dir', runtime],
                       env=env, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)

    def delete(self):
        for p in self.holders:
            p.stdin.close()
            p.wait(timeout=30)
        subprocess.run(['ip', 'netns', 'del', self.name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


@pytest.fixture
def make_netns():
    if not have_netns():
        pytest.skip('needs root and iproute2 (ip netns)')
    made = []

    def factory():
        ns = Netns()
        made.append(ns)
        return ns
    yield factory
    for ns in made:
        ns.delete()


@pytest.fixture
def netns(make_netns):
    return make_netns()
