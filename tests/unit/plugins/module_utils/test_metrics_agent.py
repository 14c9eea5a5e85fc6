# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_metrics_agent.py on recorded FRR 8.4 output: the values it exports, the file node_exporter
reads (parsed by the Prometheus client library's own parser), and what it says when a source fails."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import stat

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _metrics_agent as ma

from bgp_fixtures import FakeVtysh, doc  # noqa: E402  (this directory is on sys.path: no __init__.py)
from test_bird import FakeBirdc  # noqa: E402


def ip_answers(links=(), routes4=(), routes6=()):
    """``ip -json ...`` of a node: its links and its main table."""
    def answer(argv):
        if argv[1:] == ['-json', 'link', 'show']:
            return json.dumps(list(links))
        if argv[1:] == ['-json', '-4', 'route', 'show', 'table', 'main']:
            return json.dumps(list(routes4))
        if argv[1:] == ['-json', '-6', 'route', 'show', 'table', 'main']:
            return json.dumps(list(routes6))
        raise AssertionError(argv)
    return answer


class Host(object):
    """vtysh answered from a recorded host, ip from ip_answers."""

    def __init__(self, name, ip=None, vtysh_down=False):
        self.vtysh = FakeVtysh(name, down=vtysh_down)
        self.ip = ip or ip_answers()
        self.calls = []

    def run(self, argv):
        self.calls.append(list(argv))
        if argv[0].endswith('vtysh'):
            return self.vtysh(argv)
        return 0, self.ip(argv), ''


def families(text):
    """{name: [(labels, value)]} as Prometheus parses the file."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def value(fams, name, **labels):
    hits = [v for lab, v in fams.get(name, []) if all(lab.get(k) == w for k, w in labels.items())]
    assert len(hits) == 1, (name, labels, fams.get(name))
    return hits[0]


def test_route_reflector_sessions_as_recorded(tmp_path):
    host = Host('rr1')
    samples, errors = ma.collect('rr1', state_dir=str(tmp_path), run=host.run, now=1796160961)
    assert errors == []
    fams = families(ma.render(samples))
    summary = doc('rr1_summary')['ipv4Unicast']['peers']
    assert value(fams, 'vmnet_ipfabric_bgp_up') == 1
    for peer, info in summary.items():
        up = info['state'] == 'Established'
        assert value(fams, 'vmnet_ipfabric_bgp_session_up', afi='ipv4', peer=peer) == (1 if up else 0)
        assert value(fams, 'vmnet_ipfabric_bgp_session_prefixes_received', afi='ipv4', peer=peer) == info['pfxRcd']
        assert value(fams, 'vmnet_ipfabric_bgp_session_prefixes_announced', afi='ipv4', peer=peer) == info['pfxSnt']
        assert value(fams, 'vmnet_ipfabric_bgp_session_uptime_seconds', afi='ipv4', peer=peer) == \
            (info['peerUptimeMsec'] // 1000 if up else 0)
        # a counter: the parser names its sample ..._total
        assert value(fams, 'vmnet_ipfabric_bgp_session_drops_total', afi='ipv4', peer=peer) == \
            info['connectionsDropped']
    assert value(fams, 'vmnet_ipfabric_bgp_session_up', afi='ipv4', peer='172.16.0.12')
    assert value(fams, 'vmnet_ipfabric_bgp_session_up', afi='ipv4', peer='172.16.0.12', peer_host='node2')
    assert value(fams, 'vmnet_ipfabric_bgp_session_up', afi='ipv4', peer='172.16.0.13', peer_host='') == 0
    assert value(fams, 'vmnet_ipfabric_metrics_timestamp_seconds') == 1796160961
    # not a node: no VM metric; no verify record yet: no verify metric
    assert 'vmnet_ipfabric_vms' not in fams and 'vmnet_ipfabric_verify_ok' not in fams
    # one vtysh run, the summary only (no RIB read every 15 s)
    assert host.calls == [['/usr/bin/vtysh', '-c', 'show bgp summary json']]


def test_bgpd_down_is_reported_not_left_stale(tmp_path):
    host = Host('node2', vtysh_down=True)
    samples, errors = ma.collect('node2', state_dir=str(tmp_path), run=host.run, now=1)
    fams = families(ma.render(samples))
    assert value(fams, 'vmnet_ipfabric_bgp_up') == 0
    assert 'vmnet_ipfabric_bgp_session_up' not in fams
    assert [e[0] for e in errors] == ['bgp']
    assert 'bgpd is not running' in errors[0][1]
    assert value(fams, 'vmnet_ipfabric_metrics_errors', source='bgp') == 1
    assert 'bgpd is not running' in [lab for lab, dummy in fams['vmnet_ipfabric_metrics_errors']][0]['reason']


def bird_node(fail=None, exported=None):
    """run() of a BIRD node (node3 recorded with BIRD 2.0.12); ``exported``: {protocol: n} rewritten into
    its channel's counters; ``fail``: the birdc command that cannot reach BIRD."""
    fake = FakeBirdc(fail=fail)
    calls = []

    def run(argv):
        calls.append(list(argv))
        rc, out, err = fake(argv)
        if exported and argv[1:] == ['show', 'protocols', 'all']:
            blocks = out.split('\n\n')
            for i, block in enumerate(blocks):
                name = block.split(None, 1)[0] if block.strip() else ''
                if name in exported:
                    blocks[i] = block.replace('0 imported, 0 exported', '1 imported, %d exported' % exported[name])
            out = '\n\n'.join(blocks)
        return rc, out, err
    return run, calls


def test_bird_node_sessions_from_birdc(tmp_path):
    run, calls = bird_node(exported={'rr4_172_16_0_2': 3, 'rr6_fd0c_172_16__3': 2})
    samples, errors = ma.collect('node3', state_dir=str(tmp_path), run=run, now=5, speaker='bird')
    assert errors == []
    fams = families(ma.render(samples))
    assert value(fams, 'vmnet_ipfabric_bgp_up') == 1
    for afi, peer in (('ipv4', '172.16.0.2'), ('ipv4', '172.16.0.3'), ('ipv6', 'fd0c:172:16::2'), ('ipv6', 'fd0c:172:16::3')):
        assert value(fams, 'vmnet_ipfabric_bgp_session_up', afi=afi, peer=peer) == 1
        # up since 23:06:36, the server's time 23:10:23 (show status)
        assert value(fams, 'vmnet_ipfabric_bgp_session_uptime_seconds', afi=afi, peer=peer) == 227
    assert value(fams, 'vmnet_ipfabric_bgp_session_prefixes_announced', afi='ipv4', peer='172.16.0.2') == 3
    assert value(fams, 'vmnet_ipfabric_bgp_session_prefixes_received', afi='ipv4', peer='172.16.0.2') == 1
    assert value(fams, 'vmnet_ipfabric_bgp_session_prefixes_announced', afi='ipv4', peer='172.16.0.3') == 0
    assert value(fams, 'vmnet_ipfabric_bgp_session_prefixes_announced', afi='ipv6', peer='fd0c:172:16::3') == 2
    # BIRD counts no session drops: none is exported rather than a made-up 0
    assert 'vmnet_ipfabric_bgp_session_drops_total' not in fams
    assert [c[1:] for c in calls] == [['show', 'status'], ['show', 'protocols', 'all']]


def test_bird_down_is_reported(tmp_path):
    run, dummy = bird_node(fail='show status')
    samples, errors = ma.collect('node3', state_dir=str(tmp_path), run=run, now=5, speaker='bird')
    fams = families(ma.render(samples))
    assert value(fams, 'vmnet_ipfabric_bgp_up') == 0 and 'vmnet_ipfabric_bgp_session_up' not in fams
    assert [e[0] for e in errors] == ['bgp'] and 'Unable to connect' in errors[0][1]


def _state(tmp_path, vms):
    with open(os.path.join(str(tmp_path), 'vm_interfaces.json'), 'w') as f:
        json.dump({'version': 1, 'vms': vms}, f)


def test_node_vms_configured_and_routed(tmp_path):
    _state(tmp_path, {
        'web1': {'interface': 'web1_net0', 'ipv4': ['198.51.100.10/32'], 'ipv6': ['2001:db8:100::a/128']},
        'db1': {'interface': 'db1_net0', 'ipv4': [], 'ipv6': ['2001:db8:100::b/128']},
        'half1': {'interface': 'half1_net0', 'ipv4': ['198.51.100.12/32'], 'ipv6': ['2001:db8:100::c/128']},
        'idle1': {'interface': 'idle1_net0', 'ipv4': ['198.51.100.13/32'], 'ipv6': []}})
    links = [{'ifname': n, 'ifindex': i, 'flags': ['UP', 'LOWER_UP']} for i, n in
             enumerate(['lo', 'eth0', 'web1_net0', 'db1_net0', 'half1_net0', 'idle1_net0'])]
    routes4 = [{'dst': '198.51.100.10', 'dev': 'web1_net0', 'protocol': 'static', 'scope': 'link'},
               {'dst': '198.51.100.12', 'dev': 'half1_net0', 'protocol': 'static', 'scope': 'link'},
               {'dst': '172.16.0.0/24', 'dev': 'eth0', 'protocol': 'kernel', 'scope': 'link'}]
    routes6 = [{'dst': '2001:db8:100::a', 'dev': 'web1_net0', 'protocol': 'static'},
               {'dst': '2001:db8:100::b', 'dev': 'db1_net0', 'protocol': 'static'}]
    host = Host('node1', ip=ip_answers(links, routes4, routes6))
    samples, errors = ma.collect('node1', state_dir=str(tmp_path), ip='/sbin/ip', run=host.run, now=1, vms=True)
    assert errors == []
    fams = families(ma.render(samples))
    assert value(fams, 'vmnet_ipfabric_vms', state='configured') == 4
    # web1 and db1 have every route; half1 lacks its /128, idle1 has none (not present)
    assert value(fams, 'vmnet_ipfabric_vms', state='routed') == 2
    assert ['/sbin/ip', '-json', 'link', 'show'] in host.calls


def test_a_node_without_a_vm_yet_has_zero_vms(tmp_path):
    host = Host('node1', ip=ip_answers([{'ifname': 'lo', 'ifindex': 1, 'flags': ['UP']}]))
    fams = families(ma.render(ma.collect('node1', state_dir=str(tmp_path), run=host.run, now=1, vms=True)[0]))
    assert value(fams, 'vmnet_ipfabric_vms', state='configured') == 0
    assert value(fams, 'vmnet_ipfabric_vms', state='routed') == 0


def test_a_broken_state_file_is_an_error_not_a_zero(tmp_path):
    with open(os.path.join(str(tmp_path), 'vm_interfaces.json'), 'w') as f:
        f.write('{"something": "else"}')
    samples, errors = ma.collect('node1', state_dir=str(tmp_path), run=Host('node1').run, now=1, vms=True)
    fams = families(ma.render(samples))
    assert 'vmnet_ipfabric_vms' not in fams
    assert [e[0] for e in errors] == ['vms'] and 'not a vmnet.ipfabric state file' in errors[0][1]


def _verify(tmp_path, ok, findings, when=1796160000):
    with open(os.path.join(str(tmp_path), 'verify.json'), 'w') as f:
        json.dump({'version': 1, 'time': when, 'ok': ok, 'findings': findings}, f)


def test_verify_verdict_by_kind_for_the_fabric_and_this_host(tmp_path):
    _verify(tmp_path, False, [
        ['session_down', 'error', 'rr1 - node3 (ipv4)'],
        ['session_down', 'error', 'rr2 - node3 (ipv6)'],
        ['missing_announcement', 'error', 'node1'],
        ['missing_kernel_route', 'error', 'node1: web1_net0'],
        ['core_not_checked', 'info', 'core2'],
    ])
    fams = families(ma.render(ma.collect('rr1', state_dir=str(tmp_path), run=Host('rr1').run, now=1)[0]))
    assert value(fams, 'vmnet_ipfabric_verify_ok') == 0
    assert value(fams, 'vmnet_ipfabric_verify_last_run_timestamp_seconds') == 1796160000
    assert value(fams, 'vmnet_ipfabric_verify_findings', kind='session_down', severity='error') == 2
    assert value(fams, 'vmnet_ipfabric_verify_findings', kind='core_not_checked', severity='info') == 1
    assert fams['vmnet_ipfabric_verify_host_findings'] == [({'kind': 'session_down', 'severity': 'error'}, 1)]
    node1 = families(ma.render(ma.collect('node1', state_dir=str(tmp_path), run=Host('node1').run, now=1)[0]))
    assert sorted(lab['kind'] for lab, dummy in node1['vmnet_ipfabric_verify_host_findings']) == [
        'missing_announcement', 'missing_kernel_route']
    # 'node1' is not 'node11'
    assert not ma.names_host('node11', 'node1') and not ma.names_host('rr1 - node11 (ipv4)', 'node1')


def test_verify_passed(tmp_path):
    _verify(tmp_path, True, [])
    fams = families(ma.render(ma.collect('node2', state_dir=str(tmp_path), run=Host('node2').run, now=1)[0]))
    assert value(fams, 'vmnet_ipfabric_verify_ok') == 1
    assert 'vmnet_ipfabric_verify_findings' not in fams


@pytest.mark.parametrize('text', ['not json', '{"version": 2, "time": 1, "ok": true}', '{"version": 1}'])
def test_a_bad_verify_record_is_an_error(tmp_path, text):
    with open(os.path.join(str(tmp_path), 'verify.json'), 'w') as f:
        f.write(text)
    samples, errors = ma.collect('rr1', state_dir=str(tmp_path), run=Host('rr1').run, now=1)
    assert [e[0] for e in errors] == ['verify']
    assert 'vmnet_ipfabric_verify_ok' not in families(ma.render(samples))


def test_label_values_are_escaped():
    text = ma.render([('vmnet_ipfabric_metrics_errors', {'source': 'x', 'reason': 'a "b"\\c\nd'}, 1)])
    fams = families(text)
    assert fams['vmnet_ipfabric_metrics_errors'][0][0]['reason'] == 'a "b"\\c\nd'
    with pytest.raises(ValueError):
        ma.render([('vmnet_ipfabric_unknown', {}, 1)])


def test_main_writes_the_file_atomically(tmp_path):
    textdir = tmp_path / 'textfile'
    textdir.mkdir()
    assert ma.main(['--host', 'rr2', '--textfile-dir', str(textdir), '--state-dir', str(tmp_path)],
                   run=Host('rr2').run) == 0
    assert sorted(os.listdir(str(textdir))) == ['vmnet_ipfabric.prom']    # no temporary file left behind
    path = textdir / 'vmnet_ipfabric.prom'
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o644
    assert value(families(path.read_text()), 'vmnet_ipfabric_bgp_up') == 1
    # a textfile directory that does not exist: an error that says so, no file anywhere
    assert ma.main(['--host', 'rr2', '--textfile-dir', str(tmp_path / 'missing')], run=Host('rr2').run) == 2
    assert not (tmp_path / 'missing').exists()
