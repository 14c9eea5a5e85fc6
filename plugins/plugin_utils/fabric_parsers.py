# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""iproute2 JSON (``ip -json route``) to the plain dicts the fabric model is built from, and the address
helpers the model and the checks share with the BGP reader.

FRR's JSON is not parsed here: vmnet.ipfabric.frr_bgp reads it on each host (module_utils/_bgp_state.py)
and verify.yml hands its normalized result over.
"""
from __future__ import annotations

from ansible_collections.vmnet.ipfabric.plugins.module_utils._bgp_state import (
    AFIS,
    afi_of,
    canonical_address,
    host_prefix,
)

# the address helpers are the BGP reader's own, re-exported for the model and the checks
__all__ = ["AFIS", "afi_of", "canonical_address", "host_prefix", "parse_kernel_routes"]


def parse_kernel_routes(data):
    """`ip -json route` -> {prefix: set(devices)}."""
    out = {}
    if not isinstance(data, list):
        return out
    for r in data:
        if not isinstance(r, dict) or r.get("type", "unicast") != "unicast":
            continue
        p = host_prefix(r.get("dst", ""))
        if p is None:
            continue
        devs = out.setdefault(p, set())
        if r.get("dev"):
            devs.add(r["dev"])
        for nh in r.get("nexthops", []) or []:
            if isinstance(nh, dict) and nh.get("dev"):
                devs.add(nh["dev"])
    return out
