#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file holds the documentation only; the code is the action plugin plugins/action/pool_address.py.

DOCUMENTATION = r"""
---
module: pool_address
short_description: Allocate and release VM addresses from an IP pool (IPAM)
version_added: 0.1.0
author:
  - vmnet.ipfabric developers (@vmnet)
description:
  - Gives each owner (a VM name, optionally with a UUID handle) one IPv4 and/or one IPv6 address from a pool
    defined in C(ipfabric_pools), and records it in a store (a SQLite file or a PostgreSQL database).
  - Runs on the controller (action plugin); no connection to the target is made.
  - Asking again for the same owner returns the same address with C(changed=false). O(state=absent) releases;
    a released address is not handed out again before O(cooldown) seconds have passed (the same owner asking
    again during the cooldown gets its address back).
  - The lowest free address is found by walking the occupied runs of the store, never by enumerating the pool,
    so a /64 or a /48 pool costs the same as a /24.
  - A list of owners (O(owners)) is handled in one transaction, all or nothing.
  - Any number of processes may allocate from the same store at once; the store serializes writers and its
    UNIQUE constraints make a duplicate address impossible. See docs/ipam.md.
options:
  pool:
    description: Name of the pool in O(pools). Default is the only pool; required when several are defined.
    type: str
  owner:
    description: The owner (VM name) of a single allocation. Mutually exclusive with O(owners).
    type: str
  uuid:
    description: Optional handle of the owner (for example the libvirt domain UUID), single form only.
      When given and the owner already holds an address under another UUID, the task fails.
    type: str
  ipv4:
    description: Reserve this IPv4 address for O(owner) instead of taking the lowest free one (single form only).
    type: str
  ipv6:
    description: Reserve this IPv6 address for O(owner) (single form only).
    type: str
  owners:
    description:
      - Several owners in one transaction. Each item is a VM name or a dict with C(name) and optional C(uuid),
        C(ipv4), C(ipv6) (addresses to reserve).
      - Results come back in RV(allocations) in the same order.
    type: list
    elements: raw
  families:
    description: Address families to allocate or release. Default is every family the pool has.
    type: list
    elements: str
    choices: [ipv4, ipv6]
  state:
    description: V(present) allocates (or returns the existing address), V(absent) releases.
    type: str
    choices: [present, absent]
    default: present
  cooldown:
    description:
      - Seconds a released address stays out of circulation. Default C(ipfabric_ipam.cooldown), else 600.
      - V(0) with O(state=absent) deletes the allocation at once.
    type: float
  pools:
    description: "The pool definitions. Default is the variable C(ipfabric_pools).
      Each pool is C({name, ipv4, ipv6, exclude, gateway}); see docs/ipam.md."
    type: list
    elements: dict
  store:
    description:
      - The store. Default is the variable C(ipfabric_ipam), else a SQLite file C(.ipam/ipam.sqlite) next to
        the inventory.
      - "C({backend: sqlite, path: FILE}) or C({backend: postgresql, dsn: postgresql://user@host/db}),
        plus C(cooldown) (seconds), C(busy_timeout) (SQLite) or C(lock_timeout) (PostgreSQL) in seconds."
      - A relative C(path) is relative to the inventory directory (else the playbook directory).
    type: dict
attributes:
  check_mode:
    support: full
    description: The allocation runs inside a transaction that is rolled back; the result shows the
      addresses that would be given. Nothing is written (a missing SQLite file is not created).
  diff_mode:
    support: full
    description: Before and after addresses per changed owner.
  platform:
    support: full
    platforms: controller
    description: Runs on the Ansible controller; the target is not contacted.
notes:
  - The gateways C(ipfabric_gateway_ipv4) (default 10.0.0.1) and C(ipfabric_gateway_ipv6) (default fe80::1) and
    a pool's C(gateway) are never allocated; a pool containing one is an error.
  - For a CIDR the network address (IPv4 and IPv6) and the broadcast address (IPv4) are not allocated; write
    an C(A-B) range to use every address.
  - Every error (bad pool, bad owner, exhausted pool, address held by another owner) fails the whole task
    and changes nothing.
seealso:
  - module: vmnet.ipfabric.ipam_audit
"""

EXAMPLES = r"""
- name: Allocate addresses for one VM
  vmnet.ipfabric.pool_address:
    owner: vm1
  register: addr
  run_once: true

- name: Use them
  ansible.builtin.debug:
    msg: "{{ addr.ipv4 }} {{ addr.ipv6 }}"

- name: Allocate for many VMs in one transaction, reserving one address
  vmnet.ipfabric.pool_address:
    pool: public
    owners:
      - web1
      - name: db1
        uuid: 8d5c0f5e-3c1e-4a7e-9f7e-2d0c1b7a6e11
        ipv4: 198.51.100.20
  register: addrs
  run_once: true

- name: Release a VM's addresses
  vmnet.ipfabric.pool_address:
    owner: vm1
    state: absent
  run_once: true

- name: Shared PostgreSQL store for several controllers
  vmnet.ipfabric.pool_address:
    owner: vm2
    families: [ipv4]
    store:
      backend: postgresql
      dsn: postgresql://ipam@db.example.com/ipam
      cooldown: 3600
"""

RETURN = r"""
allocations:
  description: One entry per owner, in the order of the input.
  returned: success
  type: list
  elements: dict
  contains:
    owner:
      description: The owner.
      type: str
    uuid:
      description: The owner's handle, if any.
      type: str
    pool:
      description: The pool name.
      type: str
    ipv4:
      description: The owner's IPv4 address after the task (null after a release or when not allocated).
      type: str
    ipv6:
      description: The owner's IPv6 address after the task.
      type: str
    changed:
      description: Whether this owner's allocation changed.
      type: bool
  sample:
    - {owner: vm1, uuid: null, pool: public, ipv4: 198.51.100.1, ipv6: "2001:db8:100::1", changed: true}
ipv4:
  description: Single form (O(owner)) only, the owner's IPv4 address.
  returned: when O(owner) is used
  type: str
  sample: 198.51.100.1
ipv6:
  description: Single form only, the owner's IPv6 address.
  returned: when O(owner) is used
  type: str
  sample: "2001:db8:100::1"
released:
  description: Single form with O(state=absent), the addresses that were released, by family.
  returned: when O(owner) and O(state=absent) are used
  type: dict
  sample: {ipv4: 198.51.100.1}
pool:
  description: The pool used.
  returned: success
  type: str
backend:
  description: The store backend, V(sqlite) or V(postgresql).
  returned: success
  type: str
"""
