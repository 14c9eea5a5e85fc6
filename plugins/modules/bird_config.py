#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: bird_config
short_description: Apply a BIRD 2 config safely (check, reconfigure, keep the running one on failure)
version_added: 0.3.0
author:
  - vmnet.ipfabric developers (@vmnet)
description:
  - Writes O(content) to O(dest), the config file BIRD runs, and makes the running BIRD use it with
    C(birdc configure), without a restart. The node role renders its BIRD config and gives it here.
  - The candidate is checked first with C(bird -p -c CANDIDATE) (BIRD's own parser, every filter and
    protocol option included). A config BIRD rejects fails the module with BIRD's message (file and line)
    and changes nothing, neither O(dest) nor the running BIRD.
  - When the candidate differs from O(dest), O(dest) is replaced (atomically) and C(birdc configure
    "DEST") run. BIRD applies a new config in place; a protocol whose options did not change keeps its
    session, one whose filters changed re-evaluates its routes without a session reset. If BIRD refuses
    the new config while reconfiguring, the previous file is put back (the running BIRD still runs the
    previous config) and the module fails with BIRD's message.
  - When BIRD does not run (a fresh install, the service stopped), only the check and the file are done;
    BIRD reads O(dest) when it starts.
  - Passwords are masked in the diff and in every message; the content is never logged.
extends_documentation_fragment:
  - vmnet.ipfabric.attributes
attributes:
  check_mode:
    support: full
    details:
      - The check with C(bird -p -c) runs in check mode too; it only reads.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  content:
    description:
      - The BIRD config to apply. It may hold passwords; it is never printed.
    type: str
    required: true
  dest:
    description:
      - The config file BIRD runs (C(/etc/bird/bird.conf) on Debian and Ubuntu, C(/etc/bird.conf) on EL).
    type: path
    required: true
  group:
    description:
      - The group of O(dest) (mode C(0640)), the group BIRD runs as, which must read it.
    type: str
    default: bird
  force:
    description:
      - Run C(birdc configure) even when O(dest) already holds O(content) (for a BIRD that runs another file).
    type: bool
    default: false
  bird:
    description: Path of the C(bird) binary (found on the PATH and in C(/usr/sbin) when omitted).
    type: path
  birdc:
    description: Path of the C(birdc) binary (found on the PATH and in C(/usr/sbin) when omitted).
    type: path
  socket:
    description: BIRD's control socket, when not the default of the distribution's build.
    type: path
notes:
  - BIRD 2.0 (Debian 12 ships 2.0.12, the version the collection's lab runs).
requirements:
  - BIRD 2 with birdc
seealso:
  - module: vmnet.ipfabric.bird_bgp
'''

EXAMPLES = r'''
- name: Apply the node's BIRD config
  vmnet.ipfabric.bird_config:
    content: "{{ lookup('ansible.builtin.template', 'bird.conf.j2') }}"
    dest: /etc/bird/bird.conf
  no_log: true
'''

RETURN = r'''
dest_changed:
  description: Whether O(dest) differed from O(content).
  returned: always
  type: bool
configured:
  description: Whether C(birdc configure) ran and BIRD accepted the config.
  returned: always
  type: bool
running:
  description: Whether BIRD was running (its control socket answered).
  returned: always
  type: bool
check:
  description: What C(bird -p -c) said of the candidate (empty when it accepted it silently).
  returned: always
  type: str
reconfigure:
  description: What C(birdc configure) said (C(Reconfigured), C(Reconfiguration in progress), ...).
  returned: when BIRD was reconfigured
  type: str
  sample: Reconfigured
'''

import difflib
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _bird
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _files

OK_RE = re.compile(r'^(Reconfigured|Reconfiguration in progress|Reconfiguration already in progress, queueing new config'
                   r'|Reconfiguration confirmed)\b', re.M)


def _text(rc, out, err):
    text = '\n'.join(t.strip() for t in (out or '', err or '') if t and t.strip())
    return _bird.mask(text) or 'rc=%d, no output' % rc


class Birdc(object):
    def __init__(self, module, birdc, socket):
        self.module = module
        self.argv = [birdc] + (['-s', socket] if socket else [])

    def run(self, *words):
        rc, out, err = self.module.run_command(self.argv + list(words))
        return rc, out or '', err or ''

    def running(self):
        rc, out, err = self.run('show', 'status')
        return rc == 0 and 'Unable to connect' not in out + err and 'BIRD' in out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            content=dict(type='str', required=True, no_log=True),
            dest=dict(type='path', required=True),
            group=dict(type='str', default='bird'),
            force=dict(type='bool', default=False),
            bird=dict(type='path'),
            birdc=dict(type='path'),
            socket=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    result = dict(changed=False, dest_changed=False, configured=False, running=False, check='')
    bird = p['bird'] or module.get_bin_path('bird', required=True, opt_dirs=['/usr/sbin', '/sbin'])
    birdc = Birdc(module, p['birdc'] or module.get_bin_path('birdc', required=True, opt_dirs=['/usr/sbin', '/sbin']),
                  p['socket'])
    content = p['content'] if p['content'].endswith('\n') else p['content'] + '\n'
    before = _files.read_text(p['dest'])
    result['dest_changed'] = before != content

    # 1. BIRD's own parser on the candidate (in the directory of dest: relative includes resolve the same)
    d = os.path.dirname(p['dest']) or '.'
    tmpdir = d if os.path.isdir(d) and os.access(d, os.W_OK) else module.tmpdir
    fd, candidate = tempfile.mkstemp(prefix='.vmnet-bird-candidate.', suffix='.conf', dir=tmpdir)
    try:
        os.chmod(candidate, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(content)
        rc, out, err = module.run_command([bird, '-p', '-c', candidate])
        result['check'] = _bird.mask('\n'.join(t.strip() for t in (out, err) if t and t.strip())).replace(
            candidate, p['dest'] + ' (candidate)')
        if rc != 0:
            module.fail_json(msg='content: BIRD rejects the config (bird -p -c), nothing changed: %s'
                                 % _text(rc, out, err).replace(candidate, p['dest'] + ' (candidate)'), **result)
    finally:
        if os.path.exists(candidate):
            os.unlink(candidate)

    result['running'] = birdc.running()
    if not result['dest_changed'] and not p['force']:
        module.exit_json(**result)
    result['changed'] = True
    if module._diff:
        # prepared: the content is a no_log value, which Ansible would blank out of a before/after diff
        result['diff'] = dict(prepared=''.join(difflib.unified_diff(
            _bird.mask(before or '').splitlines(True), _bird.mask(content).splitlines(True),
            p['dest'], p['dest'] + ' (new)')))
    if module.check_mode:
        module.exit_json(**result)

    # 2. the file, then the running BIRD; a refusal puts the previous file back
    try:
        _files.keep_file(p['dest'], content, p['group'])
    except (IOError, OSError) as e:
        module.fail_json(msg='dest: cannot write %s: %s; nothing changed' % (p['dest'], e), **result)
    if not result['running']:
        module.exit_json(**result)
    rc, out, err = birdc.run('configure', '"%s"' % p['dest'])
    said = _text(rc, out, err)
    if rc == 0 and OK_RE.search(out):
        result['configured'] = True
        result['reconfigure'] = OK_RE.search(out).group(1)
        module.exit_json(**result)
    problem = 'BIRD refused the config while reconfiguring (birdc configure): %s' % said
    if before is None:
        os.unlink(p['dest'])
        module.fail_json(msg='%s; %s removed, BIRD runs its previous config' % (problem, p['dest']), **result)
    try:
        _files.keep_file(p['dest'], before, p['group'])
    except (IOError, OSError) as e:
        module.fail_json(msg='%s; putting the previous %s back FAILED: %s' % (problem, p['dest'], e), **result)
    module.fail_json(msg='%s; the previous %s is back and BIRD still runs it' % (problem, p['dest']), **result)


if __name__ == '__main__':
    main()
