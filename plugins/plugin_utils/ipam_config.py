# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IPAM's settings (pools and store, from the options or the inventory) and the store to open."""
from __future__ import annotations

import os

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError, parse_pools
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_postgresql import PostgreSQLStore
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_sqlite import SQLiteStore
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_store import DEFAULT_COOLDOWN, Store
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.pools import DEFAULT_GATEWAY_IPV4, DEFAULT_GATEWAY_IPV6

DEFAULT_SQLITE_PATH = ".ipam/ipam.sqlite"


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
    return pools, resolve_store(args, task_vars, templar)


def resolve_store(args: dict, task_vars: dict, templar=None) -> dict:
    """The store config alone (ipam_export, ipam_import: no pools needed): ``store``, else ``ipfabric_ipam``."""
    task_vars = task_vars or {}
    raw_store = args.get("store")
    if raw_store is None:
        raw_store = _var(task_vars, templar, "ipfabric_ipam", {})
    base_dir = task_vars.get("inventory_dir") or task_vars.get("playbook_dir")
    return store_config(raw_store, base_dir=base_dir)


def store_config(raw, *, base_dir: str | None = None) -> dict:
    """Normalize ``ipfabric_ipam`` / the ``store`` option."""
    if raw in (None, ""):
        raw = {}
    if not isinstance(raw, dict):
        raise IpamError(f"ipfabric_ipam: expected a dict with backend, path or dsn, cooldown; got {type(raw).__name__}")
    known = {"backend", "path", "dsn", "cooldown", "busy_timeout", "lock_timeout"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise IpamError(f"ipfabric_ipam: unknown key(s) {unknown}; allowed: {', '.join(sorted(known))}")
    backend = raw.get("backend") or "sqlite"
    cfg = {"backend": backend}
    cooldown = raw.get("cooldown", DEFAULT_COOLDOWN)
    try:
        cooldown = float(cooldown)
    except (TypeError, ValueError):
        raise IpamError(f"ipfabric_ipam field cooldown: {cooldown!r} is not a number of seconds") from None
    if cooldown < 0:
        raise IpamError(f"ipfabric_ipam field cooldown: {cooldown!r} must be >= 0")
    cfg["cooldown"] = cooldown
    if backend == "sqlite":
        path = raw.get("path") or DEFAULT_SQLITE_PATH
        if not isinstance(path, str):
            raise IpamError(f"ipfabric_ipam field path: {path!r} is not a file name")
        path = os.path.expanduser(path)
        if not os.path.isabs(path) and base_dir:
            path = os.path.join(base_dir, path)
        cfg["path"] = path
        cfg["busy_timeout"] = float(raw.get("busy_timeout", 60))
        if raw.get("dsn"):
            raise IpamError("ipfabric_ipam field dsn: only for backend=postgresql")
    elif backend == "postgresql":
        dsn = raw.get("dsn")
        if not isinstance(dsn, str) or not dsn:
            raise IpamError("ipfabric_ipam field dsn: backend=postgresql needs a dsn (postgresql://user@host/db)")
        cfg["dsn"] = dsn
        cfg["lock_timeout"] = float(raw.get("lock_timeout", 60))
    else:
        raise IpamError(f"ipfabric_ipam field backend: {backend!r} is not sqlite or postgresql")
    return cfg


def open_store(cfg: dict, *, check: bool = False) -> Store:
    if cfg["backend"] == "sqlite":
        return SQLiteStore(cfg["path"], busy_timeout=cfg.get("busy_timeout", 60), create=not check)
    return PostgreSQLStore(cfg["dsn"], lock_timeout=cfg.get("lock_timeout", 60))
