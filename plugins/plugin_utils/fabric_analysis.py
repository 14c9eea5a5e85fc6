# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fabric cross-check behind vmnet.ipfabric.fabric_check (controller side, no I/O).

Input: what playbooks/verify.yml gathered from every host (vmnet.ipfabric.frr_bgp's results, command
output or parsed JSON), the inventory's host lists and underlay addresses, the IPAM allocations and the pools. Output: a model of
the fabric (sessions, nodes with their VMs, RRs, cores) and a list of findings
``{severity, kind, where, prefix, vm, detail}``. Everything here is pure and unit tested with
synthetic data (tests/unit/plugins/action/test_fabric_check*.py).

The parts: fabric_gathered.py (command results to JSON documents, frr_bgp's result checked),
fabric_parsers.py (iproute2 JSON to plain dicts; FRR's JSON is module_utils/_bgp_state.py's), fabric_model.py (the model), fabric_checks.py (the checks),
fabric_findings.py (kinds, severities). This module is their entry point: analyse() and view().
"""
from __future__ import annotations

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.fabric_checks import check
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.fabric_findings import (
    SEVERITIES,
    FabricDataError,
    sort_findings,
    summary_counts,
)
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.fabric_model import build_model
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.fabric_parsers import AFIS

# what the action plugin and the report use
__all__ = ["FabricDataError", "SEVERITIES", "analyse", "summary_counts", "view"]


def analyse(gathered, nodes, route_reflectors, core_gateways, addresses, pools=None, allocations=None,
            ipam_problems=None):
    """Model and findings in one call (what the action plugin does)."""
    model, findings = build_model(gathered, nodes, route_reflectors, core_gateways, addresses, pools)
    findings = sort_findings(findings + check(model, allocations, ipam_problems))
    return model, findings


def view(model):
    """A JSON-able summary of the model for the report and the module's return value."""
    rank = {"core_gateway": 0, "route_reflector": 1, "node": 2}
    sess = sorted(model.get("sessions", []), key=lambda s: (
        rank.get(model["hosts"][s["a"]]["role"], 3), rank.get(model["hosts"][s["b"]]["role"], 3), s["a"], s["b"],
        s["afi"]))
    out = {"sessions": sess, "nodes": [], "route_reflectors": [], "core_gateways": []}
    for h in model["hosts"].values():
        base = {"name": h["name"], "addresses": h["addresses"], "reachable": h["reachable"],
                "flavour": h.get("flavour")}
        if h["role"] == "node":
            base["vms"] = [{"vm": v["vm"], "interface": v["interface"], "prefixes": v["prefixes"],
                            "present": v["present"]} for v in sorted((h.get("vms") or {}).values(),
                                                                     key=lambda v: v["vm"])]
            out["nodes"].append(base)
        elif h["role"] == "route_reflector":
            base["received"] = {afi: len(h["bgp"].get(afi) or {}) for afi in AFIS}
            out["route_reflectors"].append(base)
        else:
            base["installed"] = {afi: len(h["rib"].get(afi) or {}) for afi in AFIS}
            base["checked"] = h.get("checked", False)
            base["note"] = h.get("note")
            out["core_gateways"].append(base)
    for key in ("nodes", "route_reflectors", "core_gateways"):
        out[key].sort(key=lambda x: x["name"])
    return out
