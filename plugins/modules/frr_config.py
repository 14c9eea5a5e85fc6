#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: frr_config
short_description: Apply a node's base FRR config safely, keeping VM announcements
version_added: 0.1.0
author:
  - vmnet.ipfabric developers (@vmnet)
description:
  - Applies an FRR config (O(content), or O(src), a file on the target) to the running FRR without a
    restart, and saves it. The node, route_reflector and core_gateway roles render their config and give
    it as O(content) with O(dest), the file that keeps it (C(base.conf)).
  - O(dest) is written only once FRR runs the config, so the file always matches what FRR accepted. A config
    that FRR rejects (syntax, or a line refused while applying) changes neither the running FRR (rolled back)
    nor O(dest); a re-run sees the rejected config as a change again.
  - Reads the running config with C(vtysh -c 'show running-config'), copies every C(network) statement that
    lies inside O(pools) (owned by M(vmnet.ipfabric.frr_network)) into a candidate, in the matching
    C(address-family) block of the C(router bgp) of O(src); so re-applying the base config never withdraws a
    VM announcement.
  - Checks the candidate with C(vtysh -C -f) (syntax only; on failure the module fails with FRR's message and
    nothing is changed), computes the delta with C(frr-reload.py --test) (no lines to delete or add means
    C(changed=false)), applies it with C(frr-reload.py --reload) and saves with C(vtysh -c 'write memory').
  - Before the reload the running config is saved to a file. C(frr-reload.py --reload) runs its C(no ...) lines
    before the new ones, and FRR 8 rejects some lines only when applying them (for example a prefix-list with
    an invalid C(ge)), while frr-reload.py still exits 0. So after the reload the module checks that
    C(frr-reload.py --test) finds no line of the candidate missing; if the reload failed or lines are missing it
    rolls back (C(frr-reload.py --reload) of the saved config, then C(write memory)) and fails with FRR's
    message, saying that it rolled back (or that the rollback failed).
  - Two kinds of frr-reload.py delta that no reload can settle are ignored so the module stays idempotent.
    C(ip forwarding)/C(ipv6 forwarding) (FRR hides them while forwarding is on) and C(hostname) (FRR shows the
    system hostname; a different one in O(src) gives a warning).
  - Neighbor passwords and other keys are masked in the diff, the returned lines and every message.
extends_documentation_fragment:
  - vmnet.ipfabric.attributes
attributes:
  check_mode:
    support: full
    details:
      - The syntax check and C(frr-reload.py --test) run in check mode too; they only read.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  content:
    description:
      - The config to apply. Indent block contents the way C(show running-config) does and close C(router bgp)
        with C(exit). It may hold passwords; it is never printed (the diff and the returned lines mask them).
      - Exactly one of O(content) and O(src).
    type: str
  src:
    description:
      - Path on the target of a config file to apply instead of O(content).
    type: path
  dest:
    description:
      - With O(content), the file on the target that keeps the applied config (mode C(0640), owner C(root), group
        O(dest_group)). Written atomically, and only after FRR accepted the config; unchanged when it already
        holds O(content).
    type: path
  dest_group:
    description: Group of O(dest) (FRR's daemons read it; C(root) when the group does not exist).
    type: str
    default: frr
  pools:
    description:
      - The pools (CIDRs). Running C(network) statements inside them are kept.
    type: list
    elements: str
    default: []
  frr_reload:
    description:
      - Path of C(frr-reload.py). By default the first of C(/usr/lib/frr/frr-reload.py),
        C(/usr/libexec/frr/frr-reload.py), C(/usr/lib/frr/frr-reload), C(/usr/sbin/frr-reload.py),
        C(/usr/share/frr/frr-reload.py) that exists.
    type: path
requirements:
  - FRR 7.2 or later with vtysh and frr-reload.py (Debian/Ubuntu package C(frr-pythontools)), python3
seealso:
  - module: vmnet.ipfabric.frr_network
'''

EXAMPLES = r'''
- name: Apply the node's base BGP config, keeping VM announcements; base.conf is written once FRR runs it
  vmnet.ipfabric.frr_config:
    content: "{{ lookup('ansible.builtin.template', 'base.conf.j2') }}"
    dest: /etc/frr/vmnet-ipfabric/base.conf
    pools: [198.51.100.0/24, "2001:db8:100::/64"]
  no_log: true      # the config holds the BGP password

- name: Apply a config file that is already on the node
  vmnet.ipfabric.frr_config:
    src: /root/frr-candidate.conf
    pools: [198.51.100.0/24]
'''

RETURN = r'''
lines_to_delete:
  description: Lines frr-reload.py deletes (or would delete), with context lines; secrets masked.
  returned: always
  type: list
  elements: str
  sample: ["router bgp 65000", " no neighbor 172.16.0.9 remote-as 65000"]
lines_to_add:
  description: Lines frr-reload.py adds (or would add), with context lines; secrets masked.
  returned: always
  type: list
  elements: str
  sample: ["router bgp 65000", " neighbor 172.16.0.3 remote-as 65000"]
preserved_networks:
  description: Network statements copied from the running config into the candidate.
  returned: always
  type: list
  elements: str
  sample: [network 198.51.100.10/32]
frr_reload:
  description: The frr-reload.py used.
  returned: when found
  type: str
  sample: /usr/lib/frr/frr-reload.py
dest_changed:
  description: Whether O(dest) was (or, in check mode, would be) rewritten.
  returned: always
  type: bool
  sample: false
'''

import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _addresses
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _files
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _lock
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _frr

LOCK_NAME = 'vmnet-ipfabric-frr.lock'  # serializes runs on the node (see module_utils/_lock.py)


def _out(rc, out, err):
    return _frr.mask('\n'.join(t for t in ((out or '').strip(), (err or '').strip()) if t))


_FRR_ERROR_RE = re.compile(r'^(% .*|Error (type|description): .*|- .*|.*\b(ERROR|WARNING): .*)$')


def frr_errors(out, err):
    """FRR's own error lines in frr-reload.py output, each once, in order (secrets masked)."""
    seen = []
    for line in ('%s\n%s' % (out or '', err or '')).splitlines():
        s = line.strip()
        if _FRR_ERROR_RE.match(s) and s not in seen:
            seen.append(s)
    return _frr.mask('; '.join(seen)) if seen else _out(0, out, err)[-2000:]


def _write(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(text)


def _keep(module, p, text, result):
    try:
        _files.keep_file(p['dest'], text, p['dest_group'])
    except (IOError, OSError) as e:
        module.fail_json(msg='dest: FRR runs the config, but writing %s failed: %s' % (p['dest'], e), **result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            content=dict(type='str', no_log=True),
            src=dict(type='path'),
            dest=dict(type='path'),
            dest_group=dict(type='str', default='frr'),
            pools=dict(type='list', elements='str', default=[]),
            frr_reload=dict(type='path'),
        ),
        mutually_exclusive=[('content', 'src')],
        required_one_of=[('content', 'src')],
        required_by={'dest': 'content'},
        supports_check_mode=True,
    )
    _lock.run_exclusive(module, run, LOCK_NAME)


def run(module):
    p = module.params
    result = dict(changed=False, lines_to_delete=[], lines_to_add=[], preserved_networks=[])
    try:
        pools = _addresses.pools(p['pools'])
    except _addresses.AddressError as e:
        module.fail_json(msg=str(e), **result)
    if p['content'] is not None:
        src_text = p['content']
    else:
        try:
            with open(p['src']) as f:
                src_text = f.read()
        except (IOError, OSError) as e:
            module.fail_json(msg='src: cannot read %s: %s' % (p['src'], e), **result)
    dest_differs = p['dest'] is not None and _files.read_text(p['dest']) != src_text
    result['dest_changed'] = dest_differs

    reload_py = _frr.find_frr_reload(p['frr_reload'])
    if reload_py is None:
        module.fail_json(msg='frr_reload: %s not found (install frr-pythontools, or set frr_reload)'
                             % (p['frr_reload'] or 'frr-reload.py'), **result)
    result['frr_reload'] = reload_py
    # run it with an explicit interpreter: AlmaLinux 8 may have only /usr/libexec/platform-python
    python = module.get_bin_path('python3', opt_dirs=['/usr/bin'])
    if python is None and os.path.exists('/usr/libexec/platform-python'):
        python = '/usr/libexec/platform-python'
    reload_cmd = ([python, reload_py] if python else [reload_py])

    vtysh = _frr.Vtysh(module)
    try:
        running_text = vtysh.running_config()
        running = _frr.default_bgp(running_text)
        preserved = []
        if running is not None:
            for net in sorted(running.networks, key=lambda n: (n.version, n)):
                if _addresses.in_pools(net, pools):
                    info = running.networks[net]
                    preserved.append({'af': info['af'], 'line': info['line'], 'net': net})
        candidate, inserted = _frr.assemble_candidate(src_text, preserved)
    except _frr.FrrError as e:
        module.fail_json(msg=_frr.mask(str(e)), **result)
    result['preserved_networks'] = inserted

    fd, path = tempfile.mkstemp(prefix='vmnet-frr-candidate-', suffix='.conf', dir=module.tmpdir)
    saved = os.path.join(module.tmpdir, 'vmnet-frr-saved-running.conf')
    try:
        os.chmod(path, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(candidate)

        rc, out, err = module.run_command([vtysh.bin, '-C', '-f', path])
        if rc != 0:
            module.fail_json(msg='syntax check (vtysh -C -f) of the candidate failed, nothing changed: %s'
                                 % _out(rc, out, err), **result)

        rc, out, err = module.run_command(reload_cmd + ['--test', path])
        if rc != 0:
            module.fail_json(msg='frr-reload.py --test failed, nothing changed: %s' % _out(rc, out, err), **result)
        dels, adds = _frr.parse_reload_test(out)
        dels, adds, notes = _frr.drop_reload_noise(dels, adds, running_text)
        for note in notes:
            module.warn(note)
        result['lines_to_delete'] = _frr.mask(dels)
        result['lines_to_add'] = _frr.mask(adds)
        if not dels and not adds:
            if dest_differs and not module.check_mode:
                _keep(module, p, src_text, result)
            result['changed'] = dest_differs
            module.exit_json(**result)
        result['changed'] = True
        if module._diff:
            result['diff'] = dict(before_header='FRR running config (lines to delete)',
                                  after_header='FRR running config (lines to add)',
                                  before='\n'.join(result['lines_to_delete']) + ('\n' if dels else ''),
                                  after='\n'.join(result['lines_to_add']) + ('\n' if adds else ''))
        if module.check_mode:
            module.exit_json(**result)

        # frr-reload.py runs its 'no ...' lines first: keep the running config to roll back to
        try:
            _write(saved, vtysh.running_config())
        except (_frr.FrrError, IOError, OSError) as e:
            module.fail_json(msg='cannot save the running config before the reload, nothing changed: %s'
                                 % _frr.mask(str(e)), **result)
        problem = None
        rc, out, err = module.run_command(reload_cmd + ['--reload', '--stdout', path])
        if rc != 0:
            problem = 'frr-reload.py --reload failed (rc=%d): %s' % (rc, frr_errors(out, err))
        else:
            # frr-reload.py exits 0 when FRR rejects a line: check that the candidate is now running
            rc2, out2, err2 = module.run_command(reload_cmd + ['--test', path])
            if rc2 != 0:
                problem = 'frr-reload.py --test after the reload failed: %s; reload said: %s' % (
                    _out(rc2, out2, err2), frr_errors(out, err))
            else:
                d2, a2, _notes = _frr.drop_reload_noise(*(_frr.parse_reload_test(out2) + (vtysh.running_config(),)))
                if a2:
                    problem = ('FRR did not apply lines of the candidate: %s; FRR said: %s'
                               % ('; '.join(_frr.mask(a2)), frr_errors(out, err)))
                elif d2:
                    module.warn('after reload frr-reload.py --test still reports lines to delete: %s'
                                % (_frr.mask(d2),))
        if problem:
            rrc, rout, rerr = module.run_command(reload_cmd + ['--reload', '--stdout', saved])
            rtc, rtout, rterr = module.run_command(reload_cmd + ['--test', saved])
            back = False
            if rrc == 0 and rtc == 0:
                try:
                    rd, ra, _notes = _frr.drop_reload_noise(*(_frr.parse_reload_test(rtout) + (vtysh.running_config(),)))
                    back = not rd and not ra
                except _frr.FrrError:
                    pass
            try:
                vtysh.write_memory()
            except _frr.FrrError as e:
                problem += '; %s' % e
            if back:
                module.fail_json(msg='%s; rolled back to the previous running config' % problem, **result)
            keep = (p['dest'] or p['src']) + '.running-before-failed-reload'
            try:
                with open(saved) as f:
                    _write(keep, f.read())
            except (IOError, OSError):
                keep = '(could not be kept)'
            module.fail_json(msg='%s; ROLLBACK to the previous running config FAILED (that config is in %s): %s'
                                 % (problem, keep, frr_errors(rout, rerr) if rrc != 0 else _out(rtc, rtout, rterr)),
                             **result)
        try:
            vtysh.write_memory()
        except _frr.FrrError as e:
            module.fail_json(msg=str(e), **result)
        if dest_differs:
            _keep(module, p, src_text, result)
    finally:
        for p_ in (path, saved):
            if os.path.exists(p_):
                os.unlink(p_)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
