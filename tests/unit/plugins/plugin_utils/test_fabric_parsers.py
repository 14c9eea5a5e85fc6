# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The adapters and parsers under the fabric check: vtysh output split per command, FRR's BGP RIB JSON."""
from __future__ import annotations

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils import fabric_gathered as gathered
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils import fabric_parsers as parsers


def test_vtysh_output_count_mismatch_is_a_gather_failure():
    docs = {"cmd": ["vtysh", "-c", "show bgp summary json", "-c", "show bgp ipv4 unicast json"], "rc": 0,
            "stdout": "{}"}
    out = gathered.split_vtysh(docs)
    assert all(v["rc"] == 1 and "1 JSON documents for 2 commands" in v["stderr"] for v in out.values())


def test_parse_bgp_rib_local_and_link_local():
    rib = parsers.parse_bgp_rib({"routes": {"2001:db8:100::1/128": [
        {"valid": True, "peerId": "(unspec)", "weight": 32768, "nexthops": [{"ip": "::"}]},
        {"valid": True, "peerId": "fd0c:172:16::2", "nexthops": [{"ip": "fd0c:172:16::11", "scope": "global"},
                                                                 {"ip": "fe80::1", "scope": "link-local"}]},
        {"peerId": "fd0c:172:16::3", "nexthops": [{"ip": "fd0c:172:16::11"}]}]}})
    assert rib == {"2001:db8:100::1/128": [{"local": True, "peer": None, "nexthop": None, "best": False},
                                           {"local": False, "peer": "fd0c:172:16::2",
                                            "nexthop": "fd0c:172:16::11", "best": False}]}
