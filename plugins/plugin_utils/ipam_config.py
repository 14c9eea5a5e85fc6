# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the IPAM action plugins get pools and store settings: options first, then task vars."""
from __future__ import annotations

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import (
    DEFAULT_GATEWAY_IPV4,
    DEFAULT_GATEWAY_IPV6,
    parse_pools,
)
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_store import store_config


def _var(task_vars, templar, name, default=None):
    if name not in task_vars:
        return default
    value = task_vars[name]
    if templar is not None:
        value = templar.template(value)
    return value


def resolve(args: dict, task_vars: dict, templar=None):
    """Return (pools by name, store config) from the task options or the inventory variables.

    ``pools`` option, else ``ipfabric_pools``; ``store`` option, else ``ipfabric_ipam``; the gateways
    from ``ipfabric_gateway_ipv4`` (default 10.0.0.1) and ``ipfabric_gateway_ipv6`` (default fe80::1).
    A relative SQLite path is taken relative to the inventory directory (else the playbook directory).
    """
    task_vars = task_vars or {}
    raw_pools = args.get("pools")
    if raw_pools is None:
        raw_pools = _var(task_vars, templar, "ipfabric_pools")
    gw4 = _var(task_vars, templar, "ipfabric_gateway_ipv4", DEFAULT_GATEWAY_IPV4)
    gw6 = _var(task_vars, templar, "ipfabric_gateway_ipv6", DEFAULT_GATEWAY_IPV6)
    pools = parse_pools(raw_pools, gw4, gw6)
    raw_store = args.get("store")
    if raw_store is None:
        raw_store = _var(task_vars, templar, "ipfabric_ipam", {})
    base_dir = task_vars.get("inventory_dir") or task_vars.get("playbook_dir")
    cfg = store_config(raw_store, base_dir=base_dir)
    return pools, cfg
