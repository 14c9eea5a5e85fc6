# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin vmnet.ipfabric.fabric_check: cross-check what verify.yml gathered, write the report."""
from __future__ import annotations

import datetime
import json
import os
import tempfile

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils import fabric_analysis, fabric_report, pools
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.action_base import CheckedActionBase

ARGUMENT_SPEC = {
    "gathered": {"type": "list", "elements": "dict", "required": True},
    "nodes": {"type": "list", "elements": "str"},
    "route_reflectors": {"type": "list", "elements": "str"},
    "core_gateways": {"type": "list", "elements": "str"},
    "addresses": {"type": "dict"},
    "pools": {"type": "list", "elements": "str"},
    "allocations": {"type": "raw"},
    "ipam_problems": {"type": "list", "elements": "str", "default": []},
    "report_dir": {"type": "path"},
    "title": {"type": "str", "default": "vmnet.ipfabric fabric"},
    "fail_on": {"type": "str", "default": "error", "choices": ["error", "warning", "never"]},
}
GROUPS = {"nodes": "ipfabric_nodes", "route_reflectors": "route_reflectors", "core_gateways": "core_gateways"}
FILES = {"markdown": "report.md", "html": "report.html", "svg": "fabric.svg", "json": "findings.json"}


class ActionModule(CheckedActionBase):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (fabric_analysis.FabricDataError, OSError)
    ERROR_PREFIX = "fabric_check: "

    def run_checked(self, args, task_vars):
        args = fill_defaults(args, task_vars, self._templar)
        return run_fabric_check(args, check=bool(self._task.check_mode))


def _template(templar, value):
    return templar.template(value) if templar is not None else value


def fill_defaults(args, task_vars, templar=None):
    """Host lists from the inventory groups, addresses from each host's ipfabric_underlay_ipv4/ipv6,
    pools from ipfabric_pools."""
    args = dict(args)
    groups = task_vars.get("groups") or {}
    for key, group in GROUPS.items():
        if args.get(key) is None:
            args[key] = list(groups.get(group, []))
    if args.get("addresses") is None:
        hostvars = task_vars.get("hostvars") or {}
        addresses = {}
        for h in args["nodes"] + args["route_reflectors"] + args["core_gateways"]:
            try:
                hv = hostvars[h]
            except KeyError:
                continue
            addresses[h] = [a for a in (_template(templar, hv.get(k)) for k in
                                        ("ipfabric_underlay_ipv4", "ipfabric_underlay_ipv6")) if a]
        args["addresses"] = addresses
    if args.get("pools") is None and task_vars.get("ipfabric_pools") is not None:
        args["pools"] = pool_cidrs(_template(templar, task_vars["ipfabric_pools"]))
    return args


def pool_cidrs(raw_pools):
    """The pools' cover (every address of their entries less exclude) as CIDRs of both families, read by
    the model the IPAM and the routing filters use: what the route reflectors and the core accept."""
    try:
        parsed = pools.parse_pools(raw_pools, allow_empty=True)
    except pools.PoolError as exc:
        raise fabric_analysis.FabricDataError("ipfabric_pools: %s" % exc) from None
    return [str(c) for fam in (4, 6) for c in pools.cover_cidrs(parsed.values(), fam)]


def _allocations(raw):
    """ipam_audit's by_owner dict, its allocations list, or its whole result."""
    if raw is None:
        return None
    if isinstance(raw, dict) and "by_owner" in raw:
        raw = raw["by_owner"]
    if isinstance(raw, dict):
        return {str(k): dict(v or {}) for k, v in raw.items()}
    if isinstance(raw, list):
        out = {}
        for e in raw:
            if not isinstance(e, dict) or not e.get("owner"):
                raise fabric_analysis.FabricDataError("allocations: %r has no owner" % (e,))
            out[e["owner"]] = dict(e)
        return out
    raise fabric_analysis.FabricDataError("allocations must be ipam_audit's by_owner dict or allocations list")


def run_fabric_check(args, *, check=False, now=None):
    """The plugin without Ansible around it (also used by the tests)."""
    allocations = _allocations(args.get("allocations"))
    model, findings = fabric_analysis.analyse(
        args["gathered"], args.get("nodes") or [], args.get("route_reflectors") or [],
        args.get("core_gateways") or [], args.get("addresses") or {}, args.get("pools"),
        allocations, args.get("ipam_problems"))
    view = fabric_analysis.view(model)
    counts = fabric_analysis.summary_counts(findings)
    generated = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%d %H:%M:%S UTC")
    title = args.get("title") or "vmnet.ipfabric fabric"
    out = {"changed": False, "findings": findings, "counts": counts, "fabric": view,
           "verdict": fabric_report.verdict(findings), "report": {}}
    if args.get("report_dir"):
        svg = fabric_report.render_svg(view, findings, title=title, generated=generated)
        contents = {
            "svg": svg,
            "markdown": fabric_report.render_markdown(view, findings, allocations, title=title, generated=generated,
                                                      svg_name=FILES["svg"]),
            "html": fabric_report.render_html(view, findings, svg, allocations, title=title, generated=generated),
            "json": json.dumps({"generated": generated, "verdict": out["verdict"], "counts": counts,
                                "findings": findings, "fabric": view}, indent=1, sort_keys=True) + "\n",
        }
        paths = {k: os.path.join(args["report_dir"], v) for k, v in FILES.items()}
        out["report"] = paths
        if not check:
            os.makedirs(args["report_dir"], exist_ok=True)
            for key, text in contents.items():
                _write(paths[key], text)
        out["changed"] = True
    fail_on = args.get("fail_on") or "error"
    levels = {"error": ("error",), "warning": ("error", "warning"), "never": ()}[fail_on]
    bad = [f for f in findings if f["severity"] in levels]
    if bad:
        lines = ["%s %s at %s%s: %s" % (f["severity"], f["kind"], f["where"],
                                        " [%s]" % " ".join(x for x in (f.get("vm"), f.get("prefix")) if x)
                                        if f.get("vm") or f.get("prefix") else "", f["detail"]) for f in bad]
        out.update(failed=True, msg="fabric verification failed (%s)%s:\n%s" % (
            fabric_report.counts_text(findings),
            "; report in " + args["report_dir"] if args.get("report_dir") else "", "\n".join(lines)))
    return out


def _write(path, text):
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".fabric_check.", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
