# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin vmnet.ipfabric.pool_address: allocate/release VM addresses on the controller."""
from __future__ import annotations

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.action_base import CheckedActionBase
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_config import resolve
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError, select_pool
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_config import open_store
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_requests import parse_requests

ARGUMENT_SPEC = {
    "pool": {"type": "str"},
    "owner": {"type": "str"},
    "uuid": {"type": "str"},
    "ipv4": {"type": "str"},
    "ipv6": {"type": "str"},
    "owners": {"type": "list", "elements": "raw"},
    "families": {"type": "list", "elements": "str", "choices": ["ipv4", "ipv6"]},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    "cooldown": {"type": "float"},
    "pools": {"type": "list", "elements": "dict"},
    "store": {"type": "dict"},
}


class ActionModule(CheckedActionBase):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    VALIDATION = {
        "mutually_exclusive": [["owner", "owners"], ["uuid", "owners"], ["ipv4", "owners"], ["ipv6", "owners"]],
        "required_one_of": [["owner", "owners"]],
    }
    ERRORS = (IpamError,)

    def run_checked(self, args, task_vars):
        return run_pool_address(args, task_vars, self._templar, check=bool(self._task.check_mode),
                                diff=bool(self._task.diff))


def run_pool_address(args: dict, task_vars: dict, templar=None, *, check: bool = False, diff: bool = False) -> dict:
    """The plugin without Ansible around it (also used by the tests)."""
    pools, cfg = resolve(args, task_vars, templar)
    pool = select_pool(pools, args.get("pool"))
    if args.get("owners") is not None:
        requests = parse_requests(args["owners"])
        single = False
    else:
        item = {"name": args.get("owner")}
        for key in ("uuid", "ipv4", "ipv6"):
            if args.get(key):
                item[key] = args[key]
        requests = parse_requests([item], where="owner")
        single = True
    cooldown = args.get("cooldown")
    if cooldown is None:
        cooldown = cfg["cooldown"]
    state = args.get("state") or "present"
    with open_store(cfg, check=check) as store:
        results = store.apply(pool, requests, state=state, families=args.get("families"), cooldown=cooldown,
                              check=check)
    out = {
        "changed": any(r.changed for r in results),
        "allocations": [r.as_dict() for r in results],
        "pool": pool.name,
        "backend": cfg["backend"],
    }
    if single:
        out["ipv4"] = results[0].after["ipv4"]
        out["ipv6"] = results[0].after["ipv6"]
        if state == "absent":
            out["released"] = {k: v for k, v in results[0].before.items() if v and not results[0].after[k]}
    if diff:
        changed = [r for r in results if r.changed]
        out["diff"] = {
            "before_header": f"pool {pool.name}",
            "after_header": f"pool {pool.name}",
            "before": {r.owner: r.before for r in changed},
            "after": {r.owner: r.after for r in changed},
        }
    return out
