# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The findings of the fabric check: their kinds and severities, how one is made, sorted and counted."""
from __future__ import annotations

SEVERITIES = ("error", "warning", "info")

# finding kinds, with the severity they have unless a check says otherwise
KINDS = {
    "host_unreachable": "error",          # nothing gathered from a host of the inventory
    "gather_failed": "error",             # one command failed on a host (e.g. bgpd not running)
    "session_down": "error",              # a BGP session of the fabric is not Established
    "session_missing": "error",           # a session of the design is configured on neither side
    "missing_kernel_route": "error",      # a VM address without its /32 or /128 route to <vm>_net0
    "missing_interface": "error",         # the node's desired state lists a VM that has no <vm>_net0
    "missing_announcement": "error",      # a VM prefix not announced / not on an RR / not on the core
    "stale_announcement": "error",        # a network statement or route for a prefix no VM has there
    "duplicate_announcement": "error",    # one prefix announced from two nodes
    "duplicate_vm": "error",              # one VM with an interface on two nodes
    "nexthop_mismatch": "error",          # the core routes a VM prefix to a node that does not host it
    "orphan_allocation": "error",         # an IPAM allocation whose VM exists on no node
    "vm_without_allocation": "error",     # a VM on a node without an IPAM allocation
    "allocation_mismatch": "error",       # a VM's addresses differ from its IPAM allocation
    "ipam_problem": "error",              # the IPAM store reports an inconsistency
    "core_not_checked": "info",           # a core gateway this playbook cannot read (Junos)
}


class FabricDataError(ValueError):
    """Input that is not what verify.yml gathers."""


def finding(kind, where, detail, prefix=None, vm=None, severity=None):
    if kind not in KINDS:
        raise FabricDataError("unknown finding kind %r" % kind)
    sev = severity or KINDS[kind]
    if sev not in SEVERITIES:
        raise FabricDataError("unknown severity %r" % sev)
    return {"severity": sev, "kind": kind, "where": where, "prefix": prefix, "vm": vm, "detail": detail}


def sort_findings(findings):
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (order[f["severity"]], f["kind"], f["where"], f["prefix"] or "",
                                           f["vm"] or "", f["detail"]))


def summary_counts(findings):
    counts = {s: 0 for s in SEVERITIES}
    for f in findings:
        counts[f["severity"]] += 1
    return counts
