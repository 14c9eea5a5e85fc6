#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file holds the documentation only; the code is the action plugin plugins/action/ipam_import.py.

DOCUMENTATION = r"""
---
module: ipam_import
short_description: Load the rows of an ipam_export file into an IPAM store
version_added: 0.1.0
author:
  - vmnet.ipfabric developers (@vmnet)
description:
  - Writes the rows of a file made by M(vmnet.ipfabric.ipam_export) into the store (SQLite or PostgreSQL),
    in one transaction under the store's write lock, with their owners, UUID handles, reservation flags and
    times; cooling rows keep their C(released_at), so their cooldown goes on. Pool records the store has
    none of are added. Each row written gets an C(import) line in the store's change log.
  - A row the store already holds exactly as in the file is left alone, so importing the same file again
    changes nothing (V(changed=false)).
  - Refused, with nothing written, when the store holds a different row at one of the file's addresses, or
    an owner of the file holds another address in the same pool and family there; the message names every
    conflict. So an address can never be handed out twice.
  - Bad input (a file that is not JSON, not from ipam_export, a row with a bad address or name, an address
    twice) is refused naming the row and the field, before the store is opened.
  - Runs on the controller (action plugin). See docs/ipam.md, Moving the store.
options:
  src:
    description: The file written by M(vmnet.ipfabric.ipam_export).
    type: path
    required: true
  store:
    description: The store to write. Default is the variable C(ipfabric_ipam); see M(vmnet.ipfabric.pool_address).
    type: dict
attributes:
  check_mode:
    support: full
    description: The same transaction, rolled back; the result (counts, conflicts) is what a real run would do.
  diff_mode:
    support: full
    description: One line per row that is (or would be) written.
  platform:
    support: full
    platforms: controller
    description: Runs on the Ansible controller; the target is not contacted.
seealso:
  - module: vmnet.ipfabric.ipam_export
  - module: vmnet.ipfabric.ipam_audit
"""

EXAMPLES = r"""
- name: Load the exported SQLite store into PostgreSQL
  vmnet.ipfabric.ipam_import:
    src: /var/backups/ipam-move.json
    store:
      backend: postgresql
      dsn: postgresql://ipam@db.example.com/ipam
  run_once: true
"""

RETURN = r"""
imported:
  description: Rows written (or that would be, in check mode).
  returned: success
  type: dict
  contains:
    held:
      description: Held addresses.
      type: int
    cooling:
      description: Addresses cooling down.
      type: int
    reserved:
      description: Rows from a reservation.
      type: int
  sample: {held: 4981, cooling: 12, reserved: 3}
unchanged:
  description: Rows of the file the store already held exactly so.
  returned: success
  type: int
pools_added:
  description: Pool records added (the store had none of that name).
  returned: success
  type: list
  elements: str
backend:
  description: The store backend, V(sqlite) or V(postgresql).
  returned: success
  type: str
"""
