#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file holds the documentation only; the code is the action plugin plugins/action/ipam_audit.py.

DOCUMENTATION = r"""
---
module: ipam_audit
short_description: List IPAM allocations and find leaked addresses and VMs without an address
version_added: 0.1.0
author:
  - vmnet.ipfabric developers (@vmnet)
description:
  - Reads the IPAM store used by M(vmnet.ipfabric.pool_address) and returns every allocation (owner to
    addresses), the addresses cooling down after a release, and allocations that fall outside their pool's
    current definition.
  - Given the names of the VMs that exist (O(vms)), also returns RV(orphans) (allocations whose VM no longer
    exists, that is leaked addresses) and RV(missing) (VMs without an allocation).
  - Checks the store's run index against the allocations; O(repair=true) rebuilds it.
  - Read-only unless O(repair=true). Runs on the controller.
options:
  vms:
    description: Names of the VMs that exist (strings, or dicts with C(name)). Without it, no orphans/missing.
    type: list
    elements: raw
  pool:
    description: Limit the audit to this pool. Default is every pool in O(pools).
    type: str
  fail_on_findings:
    description: Fail when there are orphans, missing VMs, allocations outside their pool or an inconsistent index.
    type: bool
    default: false
  repair:
    description: Rebuild the store's run index from the allocations when it is inconsistent.
    type: bool
    default: false
  pools:
    description: The pool definitions. Default is the variable C(ipfabric_pools).
    type: list
    elements: dict
  store:
    description: The store. Default is the variable C(ipfabric_ipam); see M(vmnet.ipfabric.pool_address).
    type: dict
attributes:
  check_mode:
    support: full
    description: The audit only reads; O(repair) does nothing in check mode.
  diff_mode:
    support: full
    description: Nothing to show; the audit returns no diff.
  platform:
    support: full
    platforms: controller
    description: Runs on the Ansible controller; the target is not contacted.
seealso:
  - module: vmnet.ipfabric.pool_address
"""

EXAMPLES = r"""
- name: Audit the IPAM against the VMs that exist
  vmnet.ipfabric.ipam_audit:
    vms: "{{ existing_vm_names }}"
    fail_on_findings: true
  register: audit
  run_once: true

- name: Owner to address map for the verify playbook
  ansible.builtin.debug:
    msg: "{{ audit.by_owner['vm1'].ipv4 }}"
"""

RETURN = r"""
allocations:
  description: Every held allocation in scope, one entry per owner, sorted by pool and owner.
  returned: success
  type: list
  elements: dict
  sample:
    - {owner: vm1, uuid: null, pool: public, ipv4: 198.51.100.1, ipv6: "2001:db8:100::1"}
by_owner:
  description: The same, as a dict owner -> {pool, uuid, ipv4, ipv6}.
  returned: success
  type: dict
orphans:
  description: Allocations whose owner is not in O(vms) (leaked addresses).
  returned: when O(vms) is given
  type: list
  elements: dict
missing:
  description: Names in O(vms) that hold no allocation.
  returned: when O(vms) is given
  type: list
  elements: str
cooling:
  description: Released addresses still in their cooldown, with C(pool), C(address), C(last_owner), C(released_at) (epoch).
  returned: success
  type: list
  elements: dict
outside:
  description: Allocations outside their pool's current definition (the pool shrank, or an exclusion was added).
  returned: success
  type: list
  elements: dict
store_problems:
  description: Inconsistencies between the run index and the allocations (empty when healthy).
  returned: success
  type: list
  elements: str
findings:
  description: Human-readable summary of orphans, missing, outside and store problems.
  returned: success
  type: list
  elements: str
backend:
  description: The store backend.
  returned: success
  type: str
"""
