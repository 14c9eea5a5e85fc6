# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What verify.yml hands over: one command's result as a JSON document (a loop item with stdout/rc, a JSON
string, parsed data), a looped command task's results, and the result of vmnet.ipfabric.frr_bgp.

Pure functions; a command or module that failed, was skipped or printed no JSON comes back as an error text
the model turns into a ``gather_failed`` finding.
"""
from __future__ import annotations

import json

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.fabric_findings import FabricDataError


def json_of(value, what):
    """A command result (loop item dict with stdout/rc), a JSON string or already-parsed data."""
    if isinstance(value, (dict, list)) and not _is_cmd_result(value):
        return value, None
    if _is_cmd_result(value):
        if value.get("skipped"):
            return None, "skipped"
        if value.get("rc", 0) != 0 or value.get("failed") and not value.get("stdout"):
            err = (value.get("stderr") or value.get("msg") or value.get("stdout") or "").strip()
            return None, "%s failed (rc %s): %s" % (what, value.get("rc"), err[:300] or "no output")
        value = value.get("stdout", "")
    if value is None:
        return None, "%s: no data" % what
    if not isinstance(value, str):
        return None, "%s: unexpected %s" % (what, type(value).__name__)
    if not value.strip():
        return {}, None
    try:
        return json.loads(value), None
    except ValueError:
        return None, "%s: not JSON: %s" % (what, value.strip()[:200])


def _is_cmd_result(value):
    return isinstance(value, dict) and ("stdout" in value or "rc" in value or "skipped" in value) and (
        "item" in value or "cmd" in value or "rc" in value or "skipped" in value)


def command_outputs(raw):
    """{command: result} from a dict, or from the ``results`` of a looped command task (item = command
    string, or a dict with ``cmd``/``argv``)."""
    if raw is None:
        return {}
    if isinstance(raw, dict) and "results" in raw and isinstance(raw["results"], list):
        raw = raw["results"]
    if isinstance(raw, dict):
        return dict(raw)
    if not isinstance(raw, list):
        raise FabricDataError("command outputs must be a dict or a list of loop results")
    out = {}
    for res in raw:
        if not isinstance(res, dict):
            raise FabricDataError("command outputs: %r is not a loop result" % (res,))
        item = res.get("item")
        if isinstance(item, dict):
            item = item.get("cmd") or item.get("name") or " ".join(item.get("argv", []))
        if isinstance(item, list):
            item = " ".join(str(x) for x in item)
        if not isinstance(item, str):
            raise FabricDataError("command outputs: loop result without a command as item")
        out[item] = res
    return out


def frr_bgp_result(raw, host):
    """vmnet.ipfabric.frr_bgp's result for one host -> (result, error text). (None, None): not read here
    (the task was skipped, or there is none); (None, text): the module failed; a result that is not the
    module's is FabricDataError."""
    if raw is None or raw == {} or (isinstance(raw, dict) and raw.get("skipped")):
        return None, None
    if not isinstance(raw, dict):
        raise FabricDataError("gathered: host %s: bgp is not the result of vmnet.ipfabric.frr_bgp" % host)
    if raw.get("failed"):
        return None, "vmnet.ipfabric.frr_bgp failed: %s" % (str(raw.get("msg") or "").strip() or "no message")
    if not isinstance(raw.get("sessions"), list) or not all(isinstance(s, dict) and "peer" in s and "afi" in s
                                                            for s in raw["sessions"]):
        raise FabricDataError("gathered: host %s: bgp has no sessions list (not vmnet.ipfabric.frr_bgp's result)"
                              % host)
    for key in ("rib", "routes"):
        if raw.get(key) is not None and not isinstance(raw[key], dict):
            raise FabricDataError("gathered: host %s: bgp.%s is not a dict of address families" % (host, key))
    return raw, None
