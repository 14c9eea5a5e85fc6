# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin vmnet.ipfabric.ipam_import: the rows of an ipam_export file into an IPAM store."""
from __future__ import annotations

import os

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils import ipam_transfer
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.action_base import CheckedActionBase
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_config import open_store, resolve_store
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError

ARGUMENT_SPEC = {
    "src": {"type": "path", "required": True},
    "store": {"type": "dict"},
}


class ActionModule(CheckedActionBase):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (IpamError,)

    def run_checked(self, args, task_vars):
        return run_ipam_import(args, task_vars, self._templar, check=bool(self._task.check_mode),
                               diff=bool(self._task.diff))


def run_ipam_import(args: dict, task_vars: dict, templar=None, *, check: bool = False, diff: bool = False) -> dict:
    """The plugin without Ansible around it (also used by the tests)."""
    cfg = resolve_store(args, task_vars, templar)
    src = args.get("src")
    if not isinstance(src, str) or not src.strip():
        raise IpamError("src: the file written by vmnet.ipfabric.ipam_export is required")
    src = os.path.abspath(os.path.expanduser(src))
    try:
        with open(src, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise IpamError(f"src: cannot read {src}: {exc}") from None
    rows, pools = ipam_transfer.parse(text, where=f"src {src}")
    with open_store(cfg, check=check) as store:
        done = ipam_transfer.import_rows(store, rows, pools, cooldown=cfg["cooldown"], check=check)
    imported = done["imported"]
    out = {
        "changed": bool(imported or done["pools_added"]),
        "imported": {"held": sum(1 for r in imported if r["owner"] is not None),
                     "cooling": sum(1 for r in imported if r["owner"] is None),
                     "reserved": sum(1 for r in imported if r["reserved"])},
        "unchanged": len(done["unchanged"]),
        "pools_added": done["pools_added"],
        "backend": cfg["backend"],
    }
    if diff:
        out["diff"] = {"before_header": f"{cfg['backend']} store", "after_header": f"{cfg['backend']} store",
                       "before": "", "after": "".join(ipam_transfer.row_text(r) + "\n" for r in imported)
                       + "".join(f"pool record {name}\n" for name in done["pools_added"])}
    return out
