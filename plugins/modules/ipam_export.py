#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file holds the documentation only; the code is the action plugin plugins/action/ipam_export.py.

DOCUMENTATION = r"""
---
module: ipam_export
short_description: Write every row of an IPAM store to a JSON file (to move the store)
version_added: 0.1.0
author:
  - vmnet.ipfabric developers (@vmnet)
description:
  - Reads every row of the IPAM store used by M(vmnet.ipfabric.pool_address) (a SQLite file or a PostgreSQL
    database) and writes it to O(dest) as JSON on the controller, for M(vmnet.ipfabric.ipam_import).
  - Every allocation is kept as it is, with its owner, UUID handle, reservation flag and times; addresses
    cooling down after a release keep their C(released_at) and C(last_owner), so the cooldown goes on in the
    new store. The pool records go along. The change log stays with the old store.
  - One row per line, sorted by family and address, no time of export in the file, so exporting an unchanged
    store leaves the file as it is (V(changed=false)).
  - With O(retire=true) the rows are read under the store's write lock, the file is written, and the store is
    marked retired in the same transaction; from then on every writer of that store (pool_address, the
    audit's repair, an import) fails, naming where the rows went, so no controller still pointed at the
    old store can hand out an address the new store also hands out. See docs/ipam.md, Moving the store.
  - Runs on the controller (action plugin); no connection to the target is made.
options:
  dest:
    description:
      - The file to write (its directory must exist). Written atomically (a temporary file, then a rename),
        mode C(0600).
    type: path
    required: true
  retire:
    description: Mark the store retired after the export, in the same transaction (see the description).
    type: bool
    default: false
  store:
    description:
      - The store. Default is the variable C(ipfabric_ipam); see M(vmnet.ipfabric.pool_address).
      - A SQLite file that does not exist is an error (there is nothing to export).
    type: dict
attributes:
  check_mode:
    support: full
    description: Reads the store and says whether the file would change (and whether the store would be
      retired); writes no file and marks nothing.
  diff_mode:
    support: full
    description: The file's text before and after.
  platform:
    support: full
    platforms: controller
    description: Runs on the Ansible controller; the target is not contacted.
seealso:
  - module: vmnet.ipfabric.ipam_import
  - module: vmnet.ipfabric.pool_address
"""

EXAMPLES = r"""
- name: Export the SQLite store and retire it (nothing is handed out from it afterwards)
  vmnet.ipfabric.ipam_export:
    dest: /var/backups/ipam-move.json
    retire: true
    store:
      backend: sqlite
      path: "{{ inventory_dir }}/.ipam/ipam.sqlite"
  run_once: true

- name: A daily copy of the PostgreSQL store (the store stays in use)
  vmnet.ipfabric.ipam_export:
    dest: /var/backups/ipam.json
  run_once: true
"""

RETURN = r"""
dest:
  description: The file written (absolute path).
  returned: success
  type: str
  sample: /var/backups/ipam-move.json
counts:
  description: What the file holds.
  returned: success
  type: dict
  contains:
    held:
      description: Addresses held by an owner.
      type: int
    cooling:
      description: Addresses released and cooling down.
      type: int
    reserved:
      description: Rows from a reservation (held or cooling).
      type: int
    pools:
      description: Pool records.
      type: int
  sample: {held: 4981, cooling: 12, reserved: 3, pools: 1}
retired:
  description: Whether the store is retired after the task (it was already, or O(retire=true)).
  returned: success
  type: bool
backend:
  description: The store backend, V(sqlite) or V(postgresql).
  returned: success
  type: str
"""
