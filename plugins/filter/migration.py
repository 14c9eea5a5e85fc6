# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter of playbooks/vm_migrate.yml: where a VM is, where it goes, what is left to do."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.vmnet.ipfabric.plugins.module_utils._names import validate_vm_name

PHASES = ("all", "prepare", "switch")
LIVE = "kvm"   # the hypervisor whose VMs vm_migrate.yml moves itself (virsh migrate --live)


def vm_migration_plan(found, vm_name, node, nodes, phase="all", hypervisors=None):
    """Plan the migration of ``vm_name`` to ``node`` (docs: vm_migration_plan.yml next to this file)."""
    reason = validate_vm_name(vm_name)
    if reason:
        raise AnsibleFilterError("vm_name: %r is not a valid VM name (%s)" % (vm_name, reason))
    nodes = list(nodes or [])
    if not isinstance(node, str) or node not in nodes:
        raise AnsibleFilterError("node: %r is not a host of the group ipfabric_nodes (%s)"
                                 % (node, ", ".join(sorted(nodes)) or "the group is empty"))
    if phase not in PHASES:
        raise AnsibleFilterError("vm_migrate_phase: %r is not one of %s" % (phase, ", ".join(PHASES)))
    hypervisors = hypervisors or {}
    found = found or {}
    where = {}
    for host in nodes:
        for iface in found.get(host) or []:
            if iface.get("vm") == vm_name:
                where[host] = iface
    if not where:
        raise AnsibleFilterError("vm_name: %r has no interface on any node of ipfabric_nodes (%s); "
                                 "create it with vm_create.yml" % (vm_name, ", ".join(sorted(nodes))))
    sources = sorted(h for h in where if h != node)
    if len(sources) > 1:
        raise AnsibleFilterError("vm_name: %r is on several nodes (%s); delete the stale copies first"
                                 % (vm_name, ", ".join(sorted(where))))
    source = sources[0] if sources else None
    addrs = where[source] if source else where[node]
    ipv4, ipv6 = list(addrs.get("ipv4") or []), list(addrs.get("ipv6") or [])
    if source and node in where and (sorted(where[node].get("ipv4") or []) != sorted(ipv4)
                                     or sorted(where[node].get("ipv6") or []) != sorted(ipv6)):
        raise AnsibleFilterError("node: %r has an interface of %r with other addresses (%s) than %s (%s)"
                                 % (node, vm_name, ", ".join(where[node].get("ipv4", []) + where[node].get("ipv6", [])),
                                    source, ", ".join(ipv4 + ipv6)))
    live = False
    if source:
        kind_from, kind_to = hypervisors.get(source, LIVE), hypervisors.get(node, LIVE)
        if kind_from != kind_to:
            raise AnsibleFilterError("node: %r is a %s node and %r runs on %s, a %s node; a VM moves only between "
                                     "nodes of the same kind" % (node, kind_to, vm_name, source, kind_from))
        live = kind_from == LIVE
        if phase == "all" and not live:
            raise AnsibleFilterError("vm_migrate_phase: all moves KVM guests only; %r is on %s, a %s node: run "
                                     "vm_migrate_phase=prepare, move the VM, then vm_migrate_phase=switch"
                                     % (vm_name, source, kind_from))
    if phase == "switch" and source and node not in where:
        raise AnsibleFilterError("vm_migrate_phase: switch needs the prepared target; %r has no interface on %r "
                                 "(run vm_migrate_phase=prepare first)" % (vm_name, node))
    return {"vm": vm_name, "source": source, "target": node, "ipv4": ipv4, "ipv6": ipv6,
            "phase": phase, "done": source is None, "live": live}


class FilterModule:
    """VM migration filters."""

    def filters(self):
        return {"vm_migration_plan": vm_migration_plan}
