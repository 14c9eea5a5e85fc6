# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""FRR 8.4 output recorded by tests/tools/record_frr_bgp.py, and a vtysh that answers from it.

The fabric: core1 .1, rr1 .2, rr2 .3 (no IPv6 sessions, like route_reflector.sh), node1 .11, node2 .12
(node3 .13 configured, not running) on 172.16.0.0/24 and fd0c:172:16::/64. web1 (198.51.100.10,
2001:db8:100::a) is announced by node1 and by node2 with local-preference 50 (a migration's prepare
phase); db1 (198.51.100.11, 2001:db8:100::b) by node2. ``rr1_switched_*``: after node1 withdrew web1.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os

DIR = os.path.join(os.path.dirname(__file__), 'fixtures', 'frr84_bgp')


def recorded(name):
    """{argv, rc, stdout, stderr} of one recorded vtysh run."""
    with open(os.path.join(DIR, name + '.json')) as f:
        return json.load(f)


def doc(name):
    """The one JSON document a single-command recording printed."""
    return json.loads(recorded(name)['stdout'])


def _index():
    """{host: {command: stdout}} of every single-command recording (the snapshot before the switch)."""
    out = {}
    for f in sorted(os.listdir(DIR)):
        rec = recorded(f[:-5])
        if len(rec['argv']) != 3 or rec['rc'] != 0 or 'switched' in f:
            continue
        out.setdefault(f.split('_')[0], {})[rec['argv'][2]] = rec['stdout']
    return out


INDEX = _index()


class FakeVtysh(object):
    """vtysh of one recorded host: ``vtysh -c A -c B ...`` prints the recorded documents one after the
    other, as vtysh does. ``override``: {command: stdout} (e.g. a later snapshot); ``down``: bgpd is not
    running (rc 1, as recorded); ``script``: a list of overrides, one per call (the last one repeats)."""

    def __init__(self, host, override=None, down=False, script=None):
        self.host = host
        self.override = dict(override or {})
        self.down = down
        self.script = list(script or [])
        self.calls = []

    def __call__(self, argv, kwargs=None):
        self.calls.append(list(argv))
        assert argv[0].endswith('vtysh') and len(argv) % 2 == 1, argv
        assert all(argv[i] == '-c' for i in range(1, len(argv), 2)), argv
        if self.down:
            rec = recorded('node2_bgpd_down')
            return rec['rc'], rec['stdout'], rec['stderr']
        override = dict(self.override)
        if self.script:
            override.update(self.script.pop(0) if len(self.script) > 1 else self.script[0])
        texts = []
        for cmd in argv[2::2]:
            if cmd in override:
                texts.append(override[cmd])
            elif cmd in INDEX[self.host]:
                texts.append(INDEX[self.host][cmd])
            elif self._not_in_table(cmd):
                texts.append('{\n}\n')          # FRR 8.4 for a prefix it does not have (rr1_prefix_absent_*)
            else:
                raise AssertionError('nothing recorded for %s: %s' % (self.host, cmd))
        return 0, ''.join(texts), ''

    def _not_in_table(self, cmd):
        """``show bgp ipvX unicast P json`` / ``show ip(v6) route P json`` for a P that the host's recorded
        table does not have (a P that it has must have been recorded itself)."""
        words = cmd.split()
        if len(words) != 6 or words[-1] != 'json' or '/' not in words[4]:
            return False
        table = ('show bgp %s unicast json' % words[2]) if words[1] == 'bgp' else ('show %s route bgp json' % words[1])
        if table not in INDEX[self.host]:
            return True
        return words[4] not in json.loads(INDEX[self.host][table]).get('routes', json.loads(INDEX[self.host][table]))

    def run(self, argv):
        return self(argv)
