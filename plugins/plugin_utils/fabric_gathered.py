# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What verify.yml hands over, as JSON documents: one command's result (a loop item with stdout/rc, a
JSON string, parsed data), a looped command task's results, one ``vtysh -c A -c B ...`` run split per command.

Pure functions; a command that failed, was skipped or printed no JSON comes back as an error text the
model turns into a ``gather_failed`` finding.
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
    if isinstance(raw, dict) and isinstance(raw.get("cmd"), list) and "-c" in raw["cmd"]:
        return split_vtysh(raw)
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


def split_vtysh(res):
    """One ``vtysh -c A -c B ...`` result (its argv in ``cmd``) -> {A: JSON text, B: ...}: vtysh prints
    one JSON document per command, one after the other."""
    argv = [str(x) for x in res["cmd"]]
    cmds = [argv[i + 1] for i, x in enumerate(argv[:-1]) if x == "-c"]
    if res.get("skipped"):
        return {c: {"skipped": True} for c in cmds}
    text = res.get("stdout") or ""
    if res.get("rc", 0) != 0:
        return {c: dict(res, stdout="") for c in cmds}
    docs, pos, dec = [], 0, json.JSONDecoder()
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            dummy, end = dec.raw_decode(text, pos)
        except ValueError:
            docs.append(text[pos:])
            break
        docs.append(text[pos:end])
        pos = end
    if len(docs) != len(cmds):
        err = "vtysh printed %d JSON documents for %d commands: %s" % (len(docs), len(cmds), text.strip()[:200])
        return {c: {"rc": 1, "stdout": "", "stderr": err} for c in cmds}
    return dict(zip(cmds, docs))
