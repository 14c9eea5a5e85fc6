# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the VM lifecycle playbooks use to check a request and split it per node."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

VM_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")  # \Z: "$" accepts a trailing newline


def vm_requests(vms, nodes, vm_name=None, node=None):
    """Normalise the playbook input to a list of ``{name, node}`` and check it.

    ``vms`` is a list of ``{name, node}`` (or None); ``vm_name``/``node`` is the single form.
    ``nodes`` is the list of hosts in the group ``ipfabric_nodes``. Every problem is an error
    naming the field, raised before anything is allocated or changed.
    """
    if vms in (None, "", []):
        if vm_name in (None, ""):
            raise AnsibleFilterError("vm_name: give vm_name and node, or vms (a list of {name, node})")
        vms = [{"name": vm_name, "node": node}]
    if not isinstance(vms, list):
        raise AnsibleFilterError("vms: must be a list of {name, node}, got %s" % type(vms).__name__)
    out, seen = [], set()
    for i, item in enumerate(vms):
        if not isinstance(item, dict):
            raise AnsibleFilterError("vms[%d]: must be a mapping with name and node" % i)
        name, where = item.get("name"), item.get("node")
        if not isinstance(name, str) or not VM_NAME_RE.match(name):
            raise AnsibleFilterError(
                "vms[%d].name: %r is not a valid VM name (1-63 characters of A-Z a-z 0-9 _ . -, "
                "starting with a letter or digit)" % (i, name))
        if name in seen:
            raise AnsibleFilterError("vms[%d].name: %r is listed twice" % (i, name))
        seen.add(name)
        if where is not None and where not in nodes:
            raise AnsibleFilterError(
                "vms[%d].node: %r is not a host of the group ipfabric_nodes (%s)"
                % (i, where, ", ".join(sorted(nodes)) or "the group is empty"))
        out.append({"name": name, "node": where})
    return out


def vm_node_plan(requests, allocations, host):
    """The VMs of ``requests`` placed on ``host``, each with its addresses from ``allocations``
    (the ``allocations`` list returned by vmnet.ipfabric.pool_address)."""
    by_owner = {a["owner"]: a for a in allocations or []}
    plan = []
    for req in requests:
        if req.get("node") != host:
            continue
        alloc = by_owner.get(req["name"])
        if alloc is None:
            raise AnsibleFilterError("vms: no address was allocated for %r" % req["name"])
        plan.append({
            "name": req["name"],
            "ipv4": [alloc["ipv4"]] if alloc.get("ipv4") else [],
            "ipv6": [alloc["ipv6"]] if alloc.get("ipv6") else [],
        })
    return plan


def vm_select(interfaces, names):
    """From the ``interfaces`` that vmnet.ipfabric.vm_interface gathered on a node, the VMs named in
    ``names``, as ``{name, ipv4, ipv6}`` items that vm_interface and frr_network take."""
    wanted = set(names or [])
    return [{"name": i["vm"], "ipv4": list(i.get("ipv4") or []), "ipv6": list(i.get("ipv6") or [])}
            for i in interfaces or [] if i.get("vm") in wanted]


class FilterModule:
    """VM lifecycle filters."""

    def filters(self):
        return {"vm_requests": vm_requests, "vm_node_plan": vm_node_plan, "vm_select": vm_select}
