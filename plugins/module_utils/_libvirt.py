# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt through ``virsh`` (stdlib only, Python 3.6+): domain states, define/start/stop, live
migration and its job statistics. Every command is an argv list; nothing goes through a shell.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
import time

# `virsh domjobinfo --completed` keys -> result keys (values in ms or bytes)
JOB_KEYS = (
    ('Time elapsed', 'time_ms'),
    ('Total downtime', 'downtime_ms'),
    ('Setup time', 'setup_ms'),
    ('Data total', 'data_total'),
    ('Iteration', 'iterations'),
)
NUMBER_RE = re.compile(r'^\s*([0-9.]+)\s*(\S+)?')
UNITS = {'B': 1, 'KiB': 1024, 'MiB': 1024 ** 2, 'GiB': 1024 ** 3, 'ms': 1, 'pages/s': 1}


class LibvirtError(Exception):
    pass


def parse_list(text):
    """``virsh -q list --all`` -> {name: state} ('running', 'paused', 'shut off', ...)."""
    out = {}
    for line in (text or '').splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3:
            out[parts[1]] = parts[2].strip()
    return out


def parse_names(text):
    return set(l.strip() for l in (text or '').splitlines() if l.strip())


def parse_domstate(text):
    """``virsh domstate --reason`` -> (state, reason): 'running (booted)' -> ('running', 'booted')."""
    text = (text or '').strip()
    m = re.match(r'^(.*?)\s*\((.*)\)$', text)
    if m:
        return m.group(1), m.group(2)
    return text, ''


def parse_jobinfo(text):
    """``virsh domjobinfo --completed`` -> {time_ms, downtime_ms, setup_ms, data_total, iterations, operation}."""
    out = {}
    fields = {}
    for line in (text or '').splitlines():
        if ':' in line:
            key, value = line.split(':', 1)
            fields[key.strip()] = value.strip()
    for key, name in JOB_KEYS:
        if key in fields:
            m = NUMBER_RE.match(fields[key])
            if m:
                number = float(m.group(1)) * UNITS.get(m.group(2) or 'B', 1)
                out[name] = int(round(number))
    if 'Operation' in fields:
        out['operation'] = fields['Operation']
    if 'Job type' in fields:
        out['job'] = fields['Job type']
    return out


class Virsh(object):
    def __init__(self, module, uri):
        self.module = module
        self.uri = uri
        self.bin = module.get_bin_path('virsh', required=True)

    def run(self, *args, **kw):
        check = kw.pop('check', True)
        uri = kw.pop('uri', self.uri)
        data = kw.pop('data', None)
        argv = [self.bin, '-q', '-c', uri] + list(args)
        rc, out, err = self.module.run_command(argv, data=data)
        if check and rc != 0:
            raise LibvirtError('virsh %s failed (rc=%d): %s' % (' '.join(args[:1]), rc, (err or out).strip()))
        return rc, out, err

    def domains(self):
        """{name: {state, persistent, autostart}} of every domain libvirt knows."""
        dummy, out, dummy = self.run('list', '--all')
        states = parse_list(out)
        dummy, pers, dummy = self.run('list', '--all', '--persistent', '--name')
        dummy, auto, dummy = self.run('list', '--all', '--autostart', '--name')
        pers, auto = parse_names(pers), parse_names(auto)
        return dict((n, {'state': s, 'persistent': n in pers, 'autostart': n in auto}) for n, s in states.items())

    def reason(self, name):
        dummy, out, dummy = self.run('domstate', '--reason', name)
        return parse_domstate(out)[1]

    def define(self, xml):
        self.run('define', '/dev/stdin', data=xml)

    def start(self, name):
        self.run('start', name)

    def destroy(self, name):
        self.run('destroy', name)

    def undefine(self, name):
        self.run('undefine', name)

    def autostart(self, name, enable):
        self.run('autostart', name, *([] if enable else ['--disable']))

    def completed_job(self, name, uri=None):
        rc, out, dummy = self.run('domjobinfo', name, '--completed', check=False, uri=uri or self.uri)
        return parse_jobinfo(out) if rc == 0 else {}

    def migrate(self, name, target_uri, migrate_uri=None, timeout=300, persistent=True, undefine_source=True,
                bandwidth=None):
        """Live-migrate ``name``; returns the seconds it took. After ``timeout`` s virsh gets SIGINT, which
        makes it abort the migration job (the domain goes on running here)."""
        args = ['migrate', '--live']
        if persistent:
            args.append('--persistent')
        if undefine_source:
            args.append('--undefinesource')
        if bandwidth:
            args += ['--bandwidth', str(int(bandwidth))]
        args += [name, target_uri]
        if migrate_uri:
            args.append(migrate_uri)
        argv = [self.bin, '-q', '-c', self.uri] + args
        timeout_bin = self.module.get_bin_path('timeout')
        if timeout_bin:
            argv = [timeout_bin, '-s', 'INT', '-k', '30', str(int(timeout))] + argv
        started = time.time()
        rc, out, err = self.module.run_command(argv, environ_update={'LC_ALL': 'C'})
        seconds = time.time() - started
        if rc != 0:
            message = (err or out).strip().replace('\n', ' ')
            if rc == 124:
                message = 'no result after %d s, the migration job was aborted (%s)' % (timeout, message or 'timeout')
            raise LibvirtError(message or 'virsh migrate failed (rc=%d)' % rc)
        return seconds
