#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: libvirt_domain
short_description: libvirt domains of an IP fabric KVM node - state, define and start, live migration
version_added: 0.2.0
author:
  - vmnet.ipfabric developers (@vmnet)
description:
  - Reads and changes the libvirt domains of a KVM node through C(virsh) (argv lists, never a shell).
  - V(running) defines a domain from O(domains[].xml) when libvirt does not know it, starts it when it is
    shut off, resumes it when it is paused and sets its autostart flag. V(absent) stops (C(virsh destroy))
    and undefines it. V(migrated) moves running domains to O(target_uri) with C(virsh migrate --live
    --persistent --undefinesource), sets autostart there when it was set here and returns the migration's
    statistics (total time, downtime) as the target reports them. V(gathered) changes nothing.
  - The domain's NIC is the pre-made tap C(<vm>_net0) of M(vmnet.ipfabric.vm_interface) (C(type='ethernet'),
    C(managed='no'); the node role's C(libvirt-interface.xml.j2)); libvirt only opens it. Routing follows
    the VM by itself (the node's presence agent). The target announces once its incoming qemu holds its
    tap, the source withdraws the moment libvirt suspends the domain for the last copy.
  - A live migration that fails or times out (C(virsh) is interrupted after O(timeout) seconds, which
    aborts the migration job) leaves the domain running on this node; the module fails with libvirt's
    message.
extends_documentation_fragment:
  - vmnet.ipfabric.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  domains:
    description:
      - The domains to handle. Bad input (invalid or duplicate names, V(running) without O(domains[].xml)
        for a domain libvirt does not know) fails before anything changes.
      - With O(state=gathered), the domains to report; empty reports every domain.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Domain name (the VM name, V(^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$)).
        type: str
        required: true
      xml:
        description: The domain XML, used only to define a domain that libvirt does not know.
        type: str
      autostart:
        description: With V(running), the domain's autostart flag; omitted leaves it as it is.
        type: bool
      state:
        description: This domain's state; defaults to O(state).
        type: str
        choices: [running, absent, migrated]
  state:
    description: The default for items of O(domains) without their own state, or V(gathered).
    type: str
    choices: [running, absent, migrated, gathered]
    default: running
  uri:
    description: The local libvirt connection.
    type: str
    default: qemu:///system
  target_uri:
    description:
      - With V(migrated), the target node's libvirt, for example V(qemu+ssh://root@172.16.0.12/system)
        (qemu+ssh or qemu+tls in production; the source node's root must be able to reach it).
    type: str
  migrate_uri:
    description:
      - With V(migrated), where the migration data goes, for example V(tcp://172.16.0.12) (the target's
        underlay address). Omitted, libvirt uses the target's host name.
    type: str
  timeout:
    description: With V(migrated), seconds after which a migration still running is aborted.
    type: int
    default: 300
  bandwidth:
    description: With V(migrated), the most the migration may use, in MiB/s (C(virsh migrate --bandwidth)).
    type: int
notes:
  - Needs C(virsh) (libvirt-clients) on the node.
  - On real hardware the domain type is V(kvm); the lab runs qemu's TCG (domain type V(qemu)) because
    nested KVM does not work on its machines. Nothing here depends on the type.
seealso:
  - module: vmnet.ipfabric.vm_interface
'''

EXAMPLES = r'''
- name: Define and start a guest whose NIC is the pre-made tap web1_net0
  vmnet.ipfabric.libvirt_domain:
    domains:
      - name: web1
        xml: "{{ lookup('ansible.builtin.template', 'web1.xml.j2') }}"
        autostart: true

- name: Live-migrate two guests to node2 over the underlay
  vmnet.ipfabric.libvirt_domain:
    state: migrated
    domains: [{name: web1}, {name: db1}]
    target_uri: qemu+ssh://root@172.16.0.12/system
    migrate_uri: tcp://172.16.0.12
  register: moved

- name: Which domains run here?
  vmnet.ipfabric.libvirt_domain:
    state: gathered
  register: here

- name: Stop and undefine a guest
  vmnet.ipfabric.libvirt_domain:
    state: absent
    domains: [{name: web1}]
'''

RETURN = r'''
domains:
  description: One entry per domain handled (with O(state=gathered), per domain reported).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Domain name.
      type: str
      sample: web1
    before:
      description: Its state before (V(undefined) when libvirt did not know it).
      type: str
      sample: running
    state:
      description: Its state after (or, in check mode, the state it would have); V(migrated) once it left.
      type: str
      sample: running
    reason:
      description: With O(state=gathered) and named domains, libvirt's reason for the state.
      type: str
      sample: booted
    persistent:
      description: Whether libvirt keeps its definition.
      type: bool
      sample: true
    autostart:
      description: Its autostart flag.
      type: bool
      sample: true
    changed:
      description: Whether it was (or would be) changed.
      type: bool
      sample: false
    seconds:
      description: With V(migrated), how long C(virsh migrate) took.
      type: float
      sample: 0.81
    job:
      description:
        - With V(migrated), the migration as the target reports it (C(virsh domjobinfo --completed)), with
          C(time_ms), C(downtime_ms), C(setup_ms), C(data_total) (bytes) and C(iterations).
      type: dict
      sample: {time_ms: 792, downtime_ms: 129, setup_ms: 0, data_total: 101318656, iterations: 3}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _libvirt
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _names


def validate(items, default_state):
    out, seen = [], {}
    for i, item in enumerate(items):
        field = 'domains[%d]' % i
        reason = _names.validate_vm_name(item.get('name'))
        if reason:
            raise ValueError('%s.name: %r %s' % (field, item.get('name'), reason))
        if item['name'] in seen:
            raise ValueError('%s.name: duplicate domain %r (also domains[%d])' % (field, item['name'], seen[item['name']]))
        seen[item['name']] = i
        state = item.get('state') or default_state
        if default_state == 'gathered' and item.get('state'):
            raise ValueError('%s.state: with state=gathered the domains are only read; drop their state' % field)
        out.append(dict(item, state=state, field=field))
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            domains=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                xml=dict(type='str'),
                autostart=dict(type='bool'),
                state=dict(type='str', choices=['running', 'absent', 'migrated']),
            )),
            state=dict(type='str', choices=['running', 'absent', 'migrated', 'gathered'], default='running'),
            uri=dict(type='str', default='qemu:///system'),
            target_uri=dict(type='str'),
            migrate_uri=dict(type='str'),
            timeout=dict(type='int', default=300),
            bandwidth=dict(type='int'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    result = dict(changed=False, domains=[])
    try:
        items = validate(p['domains'], p['state'])
    except ValueError as e:
        module.fail_json(msg=str(e), **result)
    if any(i['state'] == 'migrated' for i in items) and not p['target_uri']:
        module.fail_json(msg='target_uri: required to migrate (for example qemu+ssh://root@NODE/system)', **result)
    if p['timeout'] < 1:
        module.fail_json(msg='timeout: %d is not a number of seconds >= 1' % p['timeout'], **result)
    if p['bandwidth'] is not None and p['bandwidth'] < 1:
        module.fail_json(msg='bandwidth: %d is not a rate in MiB/s >= 1' % p['bandwidth'], **result)

    virsh = _libvirt.Virsh(module, p['uri'])
    try:
        have = virsh.domains()
    except _libvirt.LibvirtError as e:
        module.fail_json(msg='%s: libvirt does not answer: %s' % (p['uri'], e), **result)

    if p['state'] == 'gathered':
        names = [i['name'] for i in items] or sorted(have)
        for name in names:
            d = have.get(name)
            entry = {'name': name, 'before': d['state'] if d else 'undefined', 'state': d['state'] if d else 'undefined',
                     'persistent': bool(d and d['persistent']), 'autostart': bool(d and d['autostart']),
                     'changed': False}
            if items and d:
                entry['reason'] = virsh.reason(name)
            result['domains'].append(entry)
        module.exit_json(**result)

    # plan every domain before changing any
    plan = []
    for item in items:
        d = have.get(item['name'])
        before = d['state'] if d else 'undefined'
        steps = []
        if item['state'] == 'running':
            if d is None:
                if not item.get('xml'):
                    module.fail_json(msg='%s.xml: libvirt does not know %r; its XML is needed to define it'
                                         % (item['field'], item['name']), **result)
                steps += ['define', 'start']
            elif before == 'paused':
                steps.append('resume')
            elif before != 'running':
                steps.append('start')
            if item.get('autostart') is not None and (d is None or d['autostart'] != item['autostart']):
                steps.append('autostart')
            after = 'running'
        elif item['state'] == 'absent':
            if d is not None and before not in ('shut off', 'crashed'):
                steps.append('destroy')
            if d is not None and d['persistent']:
                steps.append('undefine')
            after = 'undefined'
        else:
            if d is None:
                # already gone from here: done if it runs on the target
                rc, out, dummy = virsh.run('domstate', item['name'], uri=p['target_uri'], check=False)
                if rc == 0 and out.strip() == 'running':
                    after = 'migrated'
                else:
                    module.fail_json(msg='%s.name: %r is not on this node and does not run on %s'
                                         % (item['field'], item['name'], p['target_uri']), **result)
            elif before != 'running':
                module.fail_json(msg='%s.name: %r is %s on this node; only a running domain can be live-migrated'
                                     % (item['field'], item['name'], before), **result)
            else:
                steps.append('migrate')
                after = 'migrated'
        plan.append((item, d, before, after, steps))

    for item, d, before, after, steps in plan:
        entry = {'name': item['name'], 'before': before, 'state': after if steps else before,
                 'persistent': bool(d and d['persistent']) or 'define' in steps,
                 'autostart': item.get('autostart') if 'autostart' in steps else bool(d and d['autostart']),
                 'changed': bool(steps)}
        if steps and item['state'] == 'migrated':
            entry['state'] = 'migrated'
        result['domains'].append(entry)
    result['changed'] = any(e['changed'] for e in result['domains'])
    if module._diff:
        result['diff'] = [dict(before_header=e['name'], after_header=e['name'], before='state: %s\n' % e['before'],
                               after='state: %s\n' % e['state']) for e in result['domains'] if e['changed']]
    if module.check_mode or not result['changed']:
        module.exit_json(**result)

    for (item, d, before, after, steps), entry in zip(plan, result['domains']):
        name = item['name']
        try:
            for step in steps:
                if step == 'define':
                    virsh.define(item['xml'])
                elif step == 'start':
                    virsh.start(name)
                elif step == 'resume':
                    virsh.run('resume', name)
                elif step == 'autostart':
                    virsh.autostart(name, item['autostart'])
                elif step == 'destroy':
                    virsh.destroy(name)
                elif step == 'undefine':
                    virsh.undefine(name)
                elif step == 'migrate':
                    entry['seconds'] = round(virsh.migrate(name, p['target_uri'], p['migrate_uri'], p['timeout'],
                                                           bandwidth=p['bandwidth']), 3)
                    if d['autostart']:
                        virsh.run('autostart', name, uri=p['target_uri'])
                    entry['job'] = virsh.completed_job(name, uri=p['target_uri'])
        except _libvirt.LibvirtError as e:
            module.fail_json(msg='%s: %s: %s' % (item['field'], name, e), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
