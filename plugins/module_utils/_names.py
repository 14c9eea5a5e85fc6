# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""VM names and the Linux interface names derived from them (stdlib only, Python 3.6+).

Contract (docs/architecture.md, "Interface names"):

* VM names match ``^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$``.
* ``<vm>_net0`` when it fits in 15 characters (IFNAMSIZ - 1).
* otherwise ``<first 3 chars>~<6 base32 chars of sha256(name)>_net0`` (15 characters);
  the base32 alphabet is RFC 4648, lower-cased.  ``~`` is not allowed in VM names, so a
  short name never equals a real VM's interface name.
* the veth peer (LXD, lab) has the same stem with ``_vm0``.
* the full VM name is kept in the interface alias ``vmnet-ipfabric:<vm>``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import hashlib
import re

VM_NAME_RE = re.compile(r'\A[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z')  # \Z: '$' would accept a trailing newline
IFNAME_MAX = 15
IF_SUFFIX = '_net0'
PEER_SUFFIX = '_vm0'
ALIAS_PREFIX = 'vmnet-ipfabric:'
HASH_CHARS = 6
KEEP_CHARS = 3


class NameError_(ValueError):
    """A VM name that cannot be used (the message says why)."""


def validate_vm_name(name):
    """Return None when ``name`` is a valid VM name, else a reason (string)."""
    if not isinstance(name, str) or not name:
        return 'must be a non-empty string'
    if not VM_NAME_RE.match(name):
        return ('must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$ (letters, digits, "_", ".", "-"; '
                'starting with a letter or digit; at most 63 characters)')
    return None


def name_hash(name):
    digest = hashlib.sha256(name.encode('utf-8')).digest()
    return base64.b32encode(digest).decode('ascii').lower()[:HASH_CHARS]


def stem(name):
    """The interface stem of a VM: the name itself when ``<name>_net0`` fits, else the short form."""
    reason = validate_vm_name(name)
    if reason:
        raise NameError_('VM name %r %s' % (name, reason))
    if len(name) + len(IF_SUFFIX) <= IFNAME_MAX:
        return name
    return '%s~%s' % (name[:KEEP_CHARS], name_hash(name))


def interface_name(name):
    return stem(name) + IF_SUFFIX


def peer_name(name):
    return stem(name) + PEER_SUFFIX


def is_shortened(name):
    return stem(name) != name


def alias_for(name):
    return ALIAS_PREFIX + name


def vm_from_alias(alias):
    """The VM name stored in an interface alias, or None when the alias is not ours."""
    if not alias or not alias.startswith(ALIAS_PREFIX):
        return None
    vm = alias[len(ALIAS_PREFIX):]
    return vm or None


def find_collisions(names):
    """Map interface name -> sorted list of VM names for every interface name claimed twice."""
    seen = {}
    for n in names:
        seen.setdefault(interface_name(n), set()).add(n)
    return dict((k, sorted(v)) for k, v in seen.items() if len(v) > 1)
