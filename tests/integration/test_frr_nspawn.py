# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""frr_network and frr_config against real FRR: two Debian 12 containers (systemd-nspawn, FRR 8.4),
``n1`` (a node) and ``rr`` (its iBGP peer), linked by a veth pair in namespaces this test creates.

Needs root, systemd-nspawn and a Debian 12 rootfs with frr and frr-pythontools: $VMNET_FRR_ROOTFS,
else the lab's image (``tests/lab/lab up`` builds it under /var/lib/vmnet-ipfabric-lab/images/), else
/var/lib/vmnet-lab-try/rootfs. Skipped with the reason when none is there. Each container runs on its
own overlay under a temporary directory in /var/tmp; everything is stopped, unmounted and deleted at
the end. The links use TEST-NET-1 (192.0.2.0/30) and fd00:192::/64 inside those namespaces only.
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from integration_lib import REPO_ROOT, sh

pytestmark = pytest.mark.frr

POOLS = ['198.51.100.0/24', '2001:db8:100::/64']
CAPS = 'CAP_NET_ADMIN,CAP_SYS_RESOURCE,CAP_IPC_LOCK,CAP_NET_RAW'


def find_rootfs():
    env = os.environ.get('VMNET_FRR_ROOTFS')
    if env:
        return env if os.path.isdir(env) else None
    lab = os.environ.get('VMNET_LAB_ROOT', '/var/lib/vmnet-ipfabric-lab')
    for d in sorted(glob.glob(os.path.join(lab, 'images', '*'))):
        if os.path.isfile(os.path.join(d, 'complete')) and os.path.isdir(os.path.join(d, 'rootfs')):
            return os.path.join(d, 'rootfs')
    if os.path.isdir('/var/lib/vmnet-lab-try/rootfs'):
        return '/var/lib/vmnet-lab-try/rootfs'
    return None


def frr_conf(hostname, me4, peer4, peer6):
    return """frr defaults traditional
hostname {h}
log syslog informational
ip forwarding
ipv6 forwarding
service integrated-vtysh-config
!
router bgp 65000
 bgp router-id {me4}
 no bgp default ipv4-unicast
 neighbor {peer4} remote-as 65000
 neighbor {peer4} password s3cretpw
 neighbor {peer4} timers connect 2
 neighbor {peer6} remote-as 65000
 neighbor {peer6} timers connect 2
 !
 address-family ipv4 unicast
  neighbor {peer4} activate
 exit-address-family
 !
 address-family ipv6 unicast
  neighbor {peer6} activate
 exit-address-family
exit
!
""".format(h=hostname, me4=me4, peer4=peer4, peer6=peer6)


class Container(object):
    def __init__(self, base, rootfs, name):
        self.name = name
        self.netns = 'vmnet-t-%s-%s' % (name, uuid.uuid4().hex[:6])
        self.dir = os.path.join(base, name)
        self.root = os.path.join(self.dir, 'root')
        self.proc = None
        self.pid = None
        self.mounted = False
        for d in ('upper', 'work', 'root'):
            os.makedirs(os.path.join(self.dir, d))
        sh('mount', '-t', 'overlay', 'overlay', '-o', 'lowerdir=%s,upperdir=%s,workdir=%s'
           % (rootfs, os.path.join(self.dir, 'upper'), os.path.join(self.dir, 'work')), self.root)
        self.mounted = True
        sh('ip', 'netns', 'add', self.netns)

    def prepare(self, conf):
        daemons = os.path.join(self.root, 'etc/frr/daemons')
        with open(daemons) as f:
            text = f.read().replace('bgpd=no', 'bgpd=yes')
        with open(daemons, 'w') as f:
            f.write(text)
        with open(os.path.join(self.root, 'etc/frr/frr.conf'), 'w') as f:
            f.write(conf)
        # the module code: this interpreter's ansible package and the collection's plugins
        import ansible
        lib = os.path.join(self.root, 'opt/vmnet-test/lib')
        shutil.copytree(os.path.dirname(ansible.__file__), os.path.join(lib, 'ansible'),
                        ignore=shutil.ignore_patterns('__pycache__'))
        shutil.copytree(os.path.join(REPO_ROOT, 'plugins'), os.path.join(lib, 'ansible_collections/vmnet/ipfabric/plugins'),
                        ignore=shutil.ignore_patterns('__pycache__'))

    def boot(self):
        env = dict(os.environ, SYSTEMD_NSPAWN_API_VFS_WRITABLE='network')
        log = open(os.path.join(self.dir, 'nspawn.log'), 'w')
        self.proc = subprocess.Popen(
            ['systemd-nspawn', '--quiet', '-D', self.root, '--boot', '--network-namespace-path=/run/netns/' + self.netns,
             '--register=no', '--keep-unit', '--capability=' + CAPS, '--machine=' + self.name],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with open('/proc/%d/task/%d/children' % (self.proc.pid, self.proc.pid)) as f:
                    kids = f.read().split()
            except IOError:
                kids = []
            if kids:
                self.pid = int(kids[0])
                out = self.run('systemctl', 'is-active', 'frr', check=False).strip()
                if out == 'active' and self.run('vtysh', '-c', 'show bgp summary', check=False).strip():
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        raise AssertionError('container %s did not start FRR; see %s' % (self.name, os.path.join(self.dir, 'nspawn.log')))

    def run(self, *args, **kw):
        return sh('nsenter', '-t', str(self.pid), '-m', '-u', '-i', '-n', '-p', '--', *args, **kw)

    def vtysh(self, cmd):
        return self.run('vtysh', '-c', cmd)

    def running(self):
        return self.vtysh('show running-config')

    def module(self, name, args):
        path = '/opt/vmnet-test/lib/ansible_collections/vmnet/ipfabric/plugins/modules/%s.py' % name
        p = subprocess.run(['nsenter', '-t', str(self.pid), '-m', '-u', '-i', '-n', '-p', '--',
                            'env', 'PYTHONPATH=/opt/vmnet-test/lib', 'python3', path],
                           input=json.dumps({'ANSIBLE_MODULE_ARGS': args}), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, check=False)
        try:
            return json.loads(p.stdout)
        except ValueError:
            raise AssertionError('%s printed no JSON (rc=%d): %s %s' % (name, p.returncode, p.stdout, p.stderr))

    def write(self, path, text):
        with open(os.path.join(self.root, path.lstrip('/')), 'w') as f:
            f.write(text)

    def read(self, path):
        with open(os.path.join(self.root, path.lstrip('/'))) as f:
            return f.read()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.mounted:
            subprocess.run(['umount', self.root], check=False)
            self.mounted = False
        subprocess.run(['ip', 'netns', 'del', self.netns], stderr=subprocess.DEVNULL, check=False)


def neighbor(c, addr):
    return json.loads(c.vtysh('show bgp neighbors %s json' % addr))[addr]


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.5)
    raise AssertionError('timed out waiting for ' + what)


@pytest.fixture(scope='module')
def fabric():
    rootfs = find_rootfs()
    if os.geteuid() != 0 or shutil.which('systemd-nspawn') is None:
        pytest.skip('needs root and systemd-nspawn')
    if rootfs is None:
        pytest.skip('no Debian 12 rootfs with FRR: run `tests/lab/lab up` once (it builds the image) '
                    'or set VMNET_FRR_ROOTFS')
    base = tempfile.mkdtemp(prefix='vmnet-t-frr-', dir='/var/tmp')
    made = []
    veth = 'vt%s' % uuid.uuid4().hex[:6]
    try:
        n1 = Container(base, rootfs, 'n1')
        made.append(n1)
        rr = Container(base, rootfs, 'rr')
        made.append(rr)
        sh('ip', 'link', 'add', veth + 'a', 'netns', n1.netns, 'type', 'veth', 'peer', 'name', veth + 'b', 'netns', rr.netns)
        for c, dev, a4, a6 in ((n1, veth + 'a', '192.0.2.1/30', 'fd00:192::1/64'), (rr, veth + 'b', '192.0.2.2/30', 'fd00:192::2/64')):
            sh('ip', '-n', c.netns, 'addr', 'add', a4, 'dev', dev)
            sh('ip', '-n', c.netns, 'addr', 'add', a6, 'dev', dev, 'nodad')
            sh('ip', '-n', c.netns, 'link', 'set', dev, 'up')
            sh('ip', '-n', c.netns, 'link', 'set', 'lo', 'up')
        n1.prepare(frr_conf('n1', '192.0.2.1', '192.0.2.2', 'fd00:192::2'))
        rr.prepare(frr_conf('rr', '192.0.2.2', '192.0.2.1', 'fd00:192::1'))
        n1.boot()
        rr.boot()
        wait_for(lambda: neighbor(n1, '192.0.2.2')['bgpState'] == 'Established'
                 and neighbor(n1, 'fd00:192::2')['bgpState'] == 'Established', 90, 'BGP sessions n1-rr')
        yield n1, rr
    finally:
        for c in reversed(made):
            c.stop()
        if not any(c.mounted for c in made):
            shutil.rmtree(base, ignore_errors=True)


def sessions(c):
    return dict((a, (neighbor(c, a)['bgpState'], neighbor(c, a).get('connectionsEstablished'),
                     neighbor(c, a).get('connectionsDropped'))) for a in ('192.0.2.2', 'fd00:192::2'))


def received(rr, prefix):
    afi = 'ipv6' if ':' in prefix else 'ipv4'
    data = json.loads(rr.vtysh('show bgp %s unicast %s json' % (afi, prefix)))
    return bool(data.get('paths'))


def networks_in(text):
    return sorted(l.strip() for l in text.splitlines() if l.strip().startswith('network '))


def test_frr_network(fabric):
    n1, rr = fabric
    before = sessions(n1)
    assert before['192.0.2.2'][0] == 'Established'
    # the VM routes the network statements need (bgp network import-check)
    vms = [{'name': 'vm1', 'ipv4': ['198.51.100.10'], 'ipv6': ['2001:db8:100::10']},
           {'name': 'vm2', 'ipv4': ['198.51.100.11']}]
    res = n1.module('vm_interface', dict(vms=vms, kind='veth'))
    assert res['changed'] and not res.get('failed'), res.get('msg')
    # the VMs attach (the veth peers up: carrier, as a started LXD container does) and one pass of the
    # node's presence agent gives them their routes (docs/architecture.md, "VM presence")
    for itf in res['interfaces']:
        n1.run('ip', 'link', 'set', itf['peer'], 'up')
    n1.run('env', 'PYTHONPATH=/opt/vmnet-test/lib', 'python3', '-m',
           'ansible_collections.vmnet.ipfabric.plugins.module_utils._presence_agent', '--once', '--hypervisor', 'none')

    args = dict(pools=POOLS, prefixes=['198.51.100.10', '2001:db8:100::10', '198.51.100.11/32'])
    running0 = n1.running()
    check = n1.module('frr_network', dict(args, _ansible_check_mode=True, _ansible_diff=True))
    assert check['changed'] is True and check['added'] == ['198.51.100.10/32', '198.51.100.11/32', '2001:db8:100::10/128']
    assert networks_in(n1.running()) == networks_in(running0) == []

    res = n1.module('frr_network', args)
    assert res['changed'] is True and not res.get('failed'), res.get('msg')
    assert networks_in(n1.running()) == ['network 198.51.100.10/32', 'network 198.51.100.11/32',
                                         'network 2001:db8:100::10/128']
    assert networks_in(n1.read('/etc/frr/frr.conf')) == networks_in(n1.running())     # write memory
    wait_for(lambda: received(rr, '198.51.100.10/32') and received(rr, '2001:db8:100::10/128'), 30,
             'rr to receive the VM prefixes')

    again = n1.module('frr_network', args)
    assert again['changed'] is False and again['commands'] == []

    # outside the pools: error naming it, nothing changed
    bad = n1.module('frr_network', dict(pools=POOLS, prefixes=['198.51.100.12', '203.0.113.7']))
    assert bad['failed'] and '203.0.113.7/32' in bad['msg']
    assert 'network 198.51.100.12/32' not in n1.running()

    # reconcile withdraws only in-pool prefixes
    n1.run('vtysh', '-c', 'configure terminal', '-c', 'router bgp 65000', '-c', 'address-family ipv4 unicast',
           '-c', 'network 192.0.2.0/30')
    res = n1.module('frr_network', dict(pools=POOLS, prefixes=['198.51.100.10'], reconcile=True))
    assert res['removed'] == ['198.51.100.11/32', '2001:db8:100::10/128']
    assert networks_in(n1.running()) == ['network 192.0.2.0/30', 'network 198.51.100.10/32']
    wait_for(lambda: not received(rr, '198.51.100.11/32'), 30, 'rr to lose 198.51.100.11/32')
    assert received(rr, '198.51.100.10/32')

    absent = n1.module('frr_network', dict(pools=POOLS, prefixes=['198.51.100.10'], state='absent'))
    assert absent['removed'] == ['198.51.100.10/32']
    assert n1.module('frr_network', dict(pools=POOLS, prefixes=['198.51.100.10', '2001:db8:100::10']))['changed']

    assert sessions(n1) == before, 'a BGP session was reset'


BASE = """frr defaults traditional
hostname n1
log syslog informational
ip forwarding
ipv6 forwarding
service integrated-vtysh-config
!
router bgp 65000
 bgp router-id 192.0.2.1
 no bgp default ipv4-unicast
 neighbor 192.0.2.2 remote-as 65000
 neighbor 192.0.2.2 password s3cretpw
 neighbor 192.0.2.2 timers connect 2
 neighbor fd00:192::2 remote-as 65000
 neighbor fd00:192::2 timers connect 2
 neighbor 192.0.2.3 remote-as 65000
 neighbor 192.0.2.3 password 0th3rpw
 !
 address-family ipv4 unicast
  neighbor 192.0.2.2 activate
  neighbor 192.0.2.3 activate
 exit-address-family
 !
 address-family ipv6 unicast
  neighbor fd00:192::2 activate
 exit-address-family
exit
!
"""


def test_frr_config(fabric):
    n1, rr = fabric
    before = sessions(n1)
    nets = networks_in(n1.running())
    assert 'network 198.51.100.10/32' in nets
    n1.run('mkdir', '-p', '/etc/frr/vmnet-ipfabric')
    n1.write('/etc/frr/vmnet-ipfabric/base.conf', BASE)
    args = dict(src='/etc/frr/vmnet-ipfabric/base.conf', pools=POOLS)

    check = n1.module('frr_config', dict(args, _ansible_check_mode=True, _ansible_diff=True))
    assert check['changed'] is True and not check.get('failed'), check.get('msg')
    assert 'neighbor 192.0.2.3' not in n1.running()
    dump = json.dumps(check)
    assert '0th3rpw' not in dump and 's3cretpw' not in dump
    assert ' neighbor 192.0.2.3 password ********' in check['lines_to_add']
    assert 'network 198.51.100.10/32' in check['preserved_networks']
    # the VM announcements are never in the lines to delete
    assert not any('network 198.51.100' in l or 'network 2001:db8:100' in l for l in check['lines_to_delete'])

    res = n1.module('frr_config', args)
    assert res['changed'] is True and not res.get('failed'), res.get('msg')
    running = n1.running()
    assert 'neighbor 192.0.2.3 remote-as 65000' in running
    assert networks_in(running) == [n for n in nets if n != 'network 192.0.2.0/30']   # outside pools: base owns it
    assert 'neighbor 192.0.2.3 remote-as 65000' in n1.read('/etc/frr/frr.conf')
    assert sessions(n1) == before, 'a BGP session was reset'
    assert received(rr, '198.51.100.10/32')

    again = n1.module('frr_config', args)
    assert again['changed'] is False, (again['lines_to_delete'], again['lines_to_add'])

    n1.write('/etc/frr/vmnet-ipfabric/bad.conf', BASE.replace('remote-as 65000\n neighbor 192.0.2.3 password',
                                                              'remote-az 65000\n neighbor 192.0.2.3 password'))
    running = n1.running()
    bad = n1.module('frr_config', dict(args, src='/etc/frr/vmnet-ipfabric/bad.conf'))
    assert bad['failed'] and 'remote-az' in bad['msg'] and '0th3rpw' not in bad['msg']
    assert n1.running() == running


def test_frr_restart_keeps_networks(fabric):
    n1, rr = fabric
    nets = networks_in(n1.running())
    assert nets
    n1.run('systemctl', 'restart', 'frr')
    wait_for(lambda: networks_in(n1.running()) == nets, 60, 'FRR to come back with its network statements')


def test_frr_bgp(fabric):
    """vmnet.ipfabric.frr_bgp on real FRR 8.4: waits that hold, and one that gives up saying why."""
    n1, rr = fabric
    up = n1.module('frr_bgp', dict(wait='established', peers=['192.0.2.2', 'fd00:192::2'], timeout=90))
    assert up['wait']['met'] and not up.get('failed') and up['changed'] is False, up.get('msg')
    assert up['commands'] == ['show bgp summary json']
    # n1 announces two prefixes of its own (routes to lo for import-check, as the presence agent would make
    # them to a VM's interface): rr's best path for them is n1's
    for prefix in ('198.51.100.20/32', '2001:db8:100::20/128'):
        n1.run('ip', 'route', 'replace', prefix, 'dev', 'lo')
    res = n1.module('frr_network', dict(pools=POOLS, prefixes=['198.51.100.20', '2001:db8:100::20']))
    if res.get('failed'):
        pytest.fail(str(res.get('msg')), pytrace=False)
    best = rr.module('frr_bgp', dict(wait='best_path', prefixes=['198.51.100.20', '2001:db8:100::20'],
                                     peers=['192.0.2.1', 'fd00:192::1'], timeout=60, interval=1))
    assert best['wait']['met'], best.get('msg')
    assert [p['peer'] for p in best['rib']['ipv4']['198.51.100.20/32'] if p['best']] == ['192.0.2.1']
    assert best['rib']['ipv6']['2001:db8:100::20/128'][0]['nexthop'] == 'fd00:192::1'
    mine = n1.module('frr_bgp', dict(rib=True, prefixes=['198.51.100.20']))
    assert mine['rib']['ipv4']['198.51.100.20/32'] == [
        {'peer': None, 'nexthop': None, 'best': True, 'local_preference': None, 'local': True}]
    gone = rr.module('frr_bgp', dict(wait='absent', prefixes=['198.51.100.99'], timeout=5, _ansible_check_mode=True))
    assert gone['wait']['met'] and gone['wait']['seen'] == ['198.51.100.99/32: absent']
    # 192.0.2.3 is configured on n1 (as test_frr_config leaves it) and never answers; 192.0.2.9 is not configured
    n1.run('vtysh', '-c', 'configure terminal', '-c', 'router bgp 65000', '-c', 'neighbor 192.0.2.3 remote-as 65000',
           '-c', 'address-family ipv4 unicast', '-c', 'neighbor 192.0.2.3 activate')
    stuck = n1.module('frr_bgp', dict(wait='established', peers=['192.0.2.3', '192.0.2.9'], timeout=3, interval=1))
    assert stuck['failed'] and stuck['changed'] is False
    assert re.match(r'gave up after [0-9.]+ s \(\d+ reads\) waiting for the sessions to 192\.0\.2\.3, 192\.0\.2\.9 '
                    r'to be Established\. Last seen: ', stuck['msg']), stuck['msg']
    assert 'no session to 192.0.2.3 in ipv4 (Active, never established)' in stuck['msg'] or \
        'no session to 192.0.2.3 in ipv4 (Connect, never established)' in stuck['msg'], stuck['msg']
    assert 'has no neighbor 192.0.2.9 in address-family ipv4 unicast' in stuck['msg'], stuck['msg']
    bad = n1.module('frr_bgp', dict(wait='established', peers=['rr']))
    assert bad['failed'] and bad['msg'] == "peers[0]: 'rr' is not an IP address"
