# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin vmnet.ipfabric.ipam_export: every row of an IPAM store into a JSON file on the controller."""
from __future__ import annotations

import os
import tempfile

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils import ipam_transfer
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.action_base import CheckedActionBase
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_config import open_store, resolve_store
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError

ARGUMENT_SPEC = {
    "dest": {"type": "path", "required": True},
    "retire": {"type": "bool", "default": False},
    "store": {"type": "dict"},
}


class ActionModule(CheckedActionBase):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (IpamError,)

    def run_checked(self, args, task_vars):
        return run_ipam_export(args, task_vars, self._templar, check=bool(self._task.check_mode),
                               diff=bool(self._task.diff))


def _counts(rows, pools):
    return {"held": sum(1 for r in rows if r["owner"] is not None),
            "cooling": sum(1 for r in rows if r["owner"] is None),
            "reserved": sum(1 for r in rows if r["reserved"]), "pools": len(pools)}


def _write(path, text):
    """Atomically: a temporary file next to ``path``, then a rename; mode 0600 (owner names, no secret)."""
    fd, tmp = tempfile.mkstemp(prefix=".ipam_export.", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run_ipam_export(args: dict, task_vars: dict, templar=None, *, check: bool = False, diff: bool = False) -> dict:
    """The plugin without Ansible around it (also used by the tests)."""
    cfg = resolve_store(args, task_vars, templar)
    dest = args.get("dest")
    if not isinstance(dest, str) or not dest.strip():
        raise IpamError("dest: the file to write is required")
    dest = os.path.abspath(os.path.expanduser(dest))
    if os.path.isdir(dest):
        raise IpamError(f"dest: {dest} is a directory; give the file name")
    if not os.path.isdir(os.path.dirname(dest)):
        raise IpamError(f"dest: the directory {os.path.dirname(dest)} does not exist")
    if cfg["backend"] == "sqlite" and not os.path.exists(cfg["path"]):
        raise IpamError(f"ipfabric_ipam field path: {cfg['path']} does not exist: there is no store to export")
    try:
        with open(dest, encoding="utf-8") as fh:
            old = fh.read()
    except FileNotFoundError:
        old = None
    except (OSError, UnicodeDecodeError) as exc:
        raise IpamError(f"dest: cannot read {dest}: {exc}") from None
    written = {}

    def deliver(rows, pools):
        text = ipam_transfer.render([ipam_transfer.public(r) for r in rows], pools)
        written["text"] = text
        if text != old and not check:
            try:
                _write(dest, text)
            except OSError as exc:
                raise IpamError(f"dest: cannot write {dest}: {exc}") from None

    retire = bool(args.get("retire"))
    with open_store(cfg, check=check or not retire) as store:
        rows, pools, retired_before = ipam_transfer.export_store(
            store, retire_note=f"exported to {dest}" if retire else None, check=check, deliver=deliver)
    text = written.get("text") or ipam_transfer.render([ipam_transfer.public(r) for r in rows], pools)
    out = {
        "changed": text != old or (retire and not retired_before),
        "dest": dest,
        "counts": _counts(rows, pools),
        "retired": bool(retired_before) or retire,
        "backend": cfg["backend"],
    }
    if diff:
        out["diff"] = {"before_header": dest, "after_header": dest, "before": old or "", "after": text}
    return out
