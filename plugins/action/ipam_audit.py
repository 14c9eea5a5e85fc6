# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin vmnet.ipfabric.ipam_audit: list allocations, find orphans and VMs without an address."""
from __future__ import annotations

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _names
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.action_base import CheckedActionBase
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_config import resolve
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError, select_pool
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.pools import FAMILIES
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_config import open_store

ARGUMENT_SPEC = {
    "vms": {"type": "list", "elements": "raw"},
    "pool": {"type": "str"},
    "fail_on_findings": {"type": "bool", "default": False},
    "repair": {"type": "bool", "default": False},
    "pools": {"type": "list", "elements": "dict"},
    "store": {"type": "dict"},
}


class ActionModule(CheckedActionBase):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (IpamError,)

    def run_checked(self, args, task_vars):
        return run_ipam_audit(args, task_vars, self._templar, check=bool(self._task.check_mode))


def _vm_names(vms) -> list[str]:
    names = []
    for i, vm in enumerate(vms):
        name = vm.get("name") if isinstance(vm, dict) else vm
        reason = _names.validate_vm_name(name)  # the one VM-name authority
        if reason:
            raise IpamError(f"vms[{i}]: {vm!r} is not a VM name (or a dict with name): the name {reason}")
        names.append(name)
    return names


def run_ipam_audit(args: dict, task_vars: dict, templar=None, *, check: bool = False) -> dict:
    pools, cfg = resolve(args, task_vars, templar)
    scope = [select_pool(pools, args["pool"])] if args.get("pool") else list(pools.values())
    names = {p.name for p in scope}
    vms = _vm_names(args.get("vms") or []) if args.get("vms") is not None else None
    repair = bool(args.get("repair")) and not check
    with open_store(cfg, check=True) as store:
        rows = store.rows()
    with open_store(cfg, check=not repair) as store:
        problems = store.check_runs(repair=repair)

    by_owner: dict = {}
    cooling, outside = [], []
    for row in rows:
        if row["pool"] not in names:
            continue
        if row["owner"] is None:
            cooling.append({k: row[k] for k in ("pool", "address", "last_owner", "released_at")})
            continue
        entry = by_owner.setdefault(row["owner"], {"owner": row["owner"], "uuid": row["uuid"], "pool": row["pool"],
                                                   "ipv4": None, "ipv6": None})
        entry[row["family"]] = row["address"]
        if not pools[row["pool"]].contains(FAMILIES[row["family"]], row["value"]):
            outside.append({"owner": row["owner"], "pool": row["pool"], "address": row["address"],
                            "reason": pools[row["pool"]].why_not(FAMILIES[row["family"]], row["value"])})
    allocations = sorted(by_owner.values(), key=lambda e: (e["pool"], e["owner"]))
    out = {
        "changed": bool(problems) and repair,
        "allocations": allocations,
        "by_owner": {e["owner"]: {"pool": e["pool"], "uuid": e["uuid"], "ipv4": e["ipv4"], "ipv6": e["ipv6"]}
                     for e in allocations},
        "cooling": cooling,
        "outside": outside,
        "store_problems": problems,
        "backend": cfg["backend"],
    }
    if vms is not None:
        present = set(vms)
        out["orphans"] = [e for e in allocations if e["owner"] not in present]
        out["missing"] = [n for n in vms if n not in by_owner]
    findings = []
    if out.get("orphans"):
        findings.append(f"{len(out['orphans'])} allocation(s) without a VM: "
                        + ", ".join(e["owner"] for e in out["orphans"]))
    if out.get("missing"):
        findings.append(f"{len(out['missing'])} VM(s) without an allocation: " + ", ".join(out["missing"]))
    if outside:
        findings.append(f"{len(outside)} allocation(s) outside their pool's current definition")
    if problems and not repair:
        findings.append("store index inconsistent (run with repair=true): " + "; ".join(problems))
    out["findings"] = findings
    if findings and args.get("fail_on_findings"):
        out.update(failed=True, msg="IPAM audit: " + "; ".join(findings))
    return out
