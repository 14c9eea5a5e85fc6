# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node modules' options that come from the inventory, derived once, on the controller.

vm_interface, frr_network and frr_config run on the nodes and take plain values (gateway addresses,
the pools as CIDRs). Playbooks and roles used to pass them with copied expressions; instead, the
action plugin of each module (plugins/action/<module>.py) fills in every option the task leaves out
from the cluster's inventory variables, with the same rules everywhere:

* vm_interface ``gateway_ipv4``, ``gateway_ipv6``, ``gateway_mac``: ``ipfabric_gateway_ipv4``,
  ``ipfabric_gateway_ipv6``, ``ipfabric_gateway_mac``;
* vm_interface ``kind``: ``tap`` on ``ipfabric_node_hypervisor: kvm`` (the default), ``veth`` on ``lxd``;
* vm_interface ``anti_spoofing``: ``ipfabric_anti_spoofing`` (the module's default: true);
* frr_network ``pools``, frr_config ``pools``: ``ipfabric_pools`` through the one pool model
  (plugins/plugin_utils/pools.py), the CIDRs of their cover, both families.

An option given in the task always wins. Without the inventory variable the module's own default
applies (documented with each option).
"""
from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils import pools as pool_model

GATEWAYS = {"gateway_ipv4": "ipfabric_gateway_ipv4", "gateway_ipv6": "ipfabric_gateway_ipv6",
            "gateway_mac": "ipfabric_gateway_mac"}
KINDS = {"kvm": "tap", "lxd": "veth"}


def _var(task_vars, templar, name):
    if name not in task_vars:
        return None
    value = task_vars[name]
    return templar.template(value) if templar is not None else value


def pool_cidrs(raw_pools) -> list[str]:
    """The CIDRs (IPv4 then IPv6) the target modules take for ``ipfabric_pools``."""
    try:
        parsed = pool_model.parse_pools(raw_pools or [], allow_empty=True)
    except pool_model.PoolError as exc:
        raise AnsibleActionFail("ipfabric_pools: %s" % exc) from None
    return [str(net) for family in (4, 6) for net in pool_model.cover_cidrs(parsed.values(), family)]


def inventory_defaults(module: str, args: dict, task_vars: dict, templar=None) -> dict:
    """``args`` with the options ``module`` takes from the inventory filled in where the task left them out."""
    out = dict(args)
    if module == "vm_interface":
        for option, var in GATEWAYS.items():
            if out.get(option) is None:
                value = _var(task_vars, templar, var)
                if value not in (None, ""):
                    out[option] = value
        if out.get("kind") is None:
            hypervisor = _var(task_vars, templar, "ipfabric_node_hypervisor") or "kvm"
            if hypervisor not in KINDS:
                raise AnsibleActionFail("ipfabric_node_hypervisor: %r is not one of %s" % (hypervisor, ", ".join(KINDS)))
            out["kind"] = KINDS[hypervisor]
        if out.get("anti_spoofing") is None:
            value = _var(task_vars, templar, "ipfabric_anti_spoofing")
            if value not in (None, ""):
                out["anti_spoofing"] = value
    elif module in ("frr_network", "frr_config"):
        if not out.get("pools"):
            raw = _var(task_vars, templar, "ipfabric_pools")
            if raw:
                out["pools"] = pool_cidrs(raw)
    return out


class NodeModuleAction(ActionBase):
    """Run the module of the same name on the node, with its inventory defaults filled in."""

    MODULE = ""

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        # a delegated task is about the host it is delegated to: that host's inventory decides
        host_vars = task_vars
        delegated = getattr(self._task, "delegate_to", None)
        if delegated:
            host_vars = dict(task_vars, **(task_vars.get("ansible_delegated_vars", {}).get(delegated) or {}))
        try:
            args = inventory_defaults(self.MODULE, self._task.args, host_vars, self._templar)
        except AnsibleActionFail as exc:
            return dict(result, failed=True, changed=False, msg=str(exc))
        result.update(self._execute_module(module_name="vmnet.ipfabric." + self.MODULE, module_args=args,
                                           task_vars=task_vars))
        return result
