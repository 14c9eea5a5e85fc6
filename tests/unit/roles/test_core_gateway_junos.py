# -*- coding: utf-8 -*-
"""Golden test: the Junos set-commands of role core_gateway against the documents' example."""

from __future__ import annotations

import pytest

from . import _render as r

# The command lines of the admin guide (seeds 000/001), macros filled with the example values.
DOCUMENT_LINES = [
    "set policy-options policy-statement VM term isp-ipv4 from protocol bgp",
    "set policy-options policy-statement VM term isp-ipv4 from route-filter 198.51.100.0/24 orlonger",
    "set policy-options policy-statement VM term isp-ipv4 then accept",
    "set policy-options policy-statement VM then reject",
    "set policy-options policy-statement reject-all then reject",
    "set protocols bgp group VM import VM",
    "set protocols bgp group VM export reject-all",
    "set protocols bgp group VM peer-as 65000",
    "set protocols bgp group VM neighbor 172.16.0.2",
    "set protocols bgp group VM neighbor 172.16.0.3",
]


def _junos(host="core1", **extra):
    variables = r.role_defaults("core_gateway", extra, r.lab_vars(host))
    return r.render("core_gateway", "junos.set.j2", variables)


def test_golden_file():
    assert _junos() == r.golden("junos_vm_group.set")


def test_document_lines_in_order():
    lines = _junos().splitlines()
    positions = [lines.index(line) for line in DOCUMENT_LINES]
    assert positions == sorted(positions)


def test_ipv4_only_without_the_hardening_is_exactly_the_document():
    """BFD, graceful restart and the prefix limit off: the documents' group, line for line."""
    hardening_off = {"core_gateway_bfd": False, "core_gateway_graceful_restart": {"enabled": False},
                     "core_gateway_max_prefix_ipv4": 0}
    variables = r.role_defaults("core_gateway", hardening_off, r.lab_vars("core1", ipv6=False, pools=[
        {"name": "public", "ipv4": ["198.51.100.0/24"]}]))
    assert r.render("core_gateway", "junos.set.j2", variables).splitlines() == DOCUMENT_LINES


def test_hardening_statements():
    """By default: graceful restart, BFD with the FRR flavour's timers, a prefix limit per family that
    comes back by itself."""
    lines = _junos().splitlines()
    for line in ("set routing-options graceful-restart",
                 "set protocols bgp group VM graceful-restart restart-time 120",
                 "set protocols bgp group VM graceful-restart stale-routes-time 360",
                 "set protocols bgp group VM bfd-liveness-detection minimum-interval 200",
                 "set protocols bgp group VM bfd-liveness-detection multiplier 3",
                 "set protocols bgp group VM family inet unicast prefix-limit teardown idle-timeout 1",
                 "set protocols bgp group VM family inet6 unicast prefix-limit teardown idle-timeout 1"):
        assert line in lines
    assert any(line.startswith("set protocols bgp group VM family inet unicast prefix-limit maximum ") for line in lines)
    v4only = r.render("core_gateway", "junos.set.j2", r.role_defaults("core_gateway", {}, r.lab_vars(
        "core1", ipv6=False, pools=[{"name": "public", "ipv4": ["198.51.100.0/24"]}])))
    assert "family inet6" not in v4only


def test_every_pool_and_range_gets_a_route_filter():
    pools = [{"name": "a", "ipv4": ["198.51.100.0/25", "203.0.113.8-203.0.113.11"]},
             {"name": "b", "ipv4": ["192.0.2.0/24"], "ipv6": ["2001:db8:1::/64"]}]
    variables = r.role_defaults("core_gateway", {}, r.lab_vars("core1", pools=pools))
    text = r.render("core_gateway", "junos.set.j2", variables)
    for prefix in ("192.0.2.0/24", "198.51.100.0/25", "203.0.113.8/30"):
        assert "term isp-ipv4 from route-filter %s orlonger\n" % prefix in text
    assert "term isp-ipv6 from route-filter 2001:db8:1::/64 orlonger\n" in text


def test_exact_host_match():
    text = _junos(core_gateway_route_filter_match="exact-host")
    assert "from route-filter 198.51.100.0/24 prefix-length-range /32-/32\n" in text
    assert "from route-filter 2001:db8:100::/64 prefix-length-range /128-/128\n" in text


def test_password_and_bfd():
    text = _junos(core_gateway_bgp_password="s3cret", core_gateway_bfd=True)
    assert 'set protocols bgp group VM authentication-key "s3cret"\n' in text
    assert "set protocols bgp group VM bfd-liveness-detection minimum-interval 200\n" in text


@pytest.mark.parametrize("line", DOCUMENT_LINES)
def test_golden_holds_document_line(line):
    assert line in r.golden("junos_vm_group.set").splitlines()
