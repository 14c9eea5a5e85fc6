# -*- coding: utf-8 -*-
"""Render-and-compare tests of the FRR templates of roles node, route_reflector and core_gateway.

Rendered with Ansible's own templating and variable precedence (``_render.py``). Each rendering is
compared with a golden file and checked with ``vtysh -C -f`` (syntax only) of FRR 8.4 inside the lab image
that ``tests/lab/lab image`` builds (``make unit`` builds it first; ``VMNET_LAB_ROOT`` says where). Without
the image (or without root) the vtysh checks are skipped, saying why; with ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os

import pytest

from . import _render as r


def node(host="node1", ipv6=True, pools=None, **extra):
    base = r.lab_vars(host, ipv6=ipv6, pools=pools)
    return r.render("node", "base.conf.j2", r.role_defaults("node", extra, base))


def rr(host="rr1", ipv6=True, pools=None, **extra):
    base = r.lab_vars(host, ipv6=ipv6, pools=pools)
    return r.render("route_reflector", "base.conf.j2", r.role_defaults("route_reflector", extra, base))


def core(host="core1", ipv6=True, pools=None, **extra):
    extra.setdefault("core_gateway_flavour", "frr")
    base = r.lab_vars(host, ipv6=ipv6, pools=pools)
    return r.render("core_gateway", "frr.conf.j2", r.role_defaults("core_gateway", extra, base))


def assert_vtysh_ok(text):
    try:
        rc, output = r.vtysh_check(text)
    except r.NoLabImage as exc:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and FRR's vtysh -C cannot run: %s" % exc)
        pytest.skip("vtysh -C needs the lab image: %s" % exc)
    assert rc == 0, output


def test_vtysh_check_rejects_a_bad_line():
    """The check can fail: FRR's vtysh -C rejects a line it does not know."""
    try:
        rc, output = r.vtysh_check(node() + "router bgp 65000\n bgp no-such-command\nexit\n")
    except r.NoLabImage as exc:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and FRR's vtysh -C cannot run: %s" % exc)
        pytest.skip("vtysh -C needs the lab image: %s" % exc)
    assert rc != 0 and "no-such-command" in output, output


GOLDEN = [
    ("node1_base.conf", node),
    ("rr1_base.conf", rr),
    ("rr1_listen_range.conf", lambda: rr(route_reflector_clients="listen_range")),
    ("core_gateway_frr.conf", core),
]


@pytest.mark.parametrize("name,make", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(name, make):
    assert make() == r.golden(name)


VARIANTS = [
    ("node-golden", node),
    ("node-ipv4-only", lambda: node(ipv6=False)),
    ("node-bfd-md5-timers", lambda: node(node_bfd=True, node_bgp_password="s3cret",
                                         node_bfd_profile={"receive_interval": 300, "transmit_interval": 300,
                                                           "detect_multiplier": 3},
                                         node_bgp_timers={"keepalive": 10, "holdtime": 30})),
    ("node-no-ipv6-pool", lambda: node(pools=[{"name": "p", "ipv4": ["198.51.100.0/24", "192.0.2.7"]}])),
    ("rr-golden", rr),
    ("rr-listen-evpn-bfd-md5", lambda: rr(route_reflector_clients="listen_range", route_reflector_evpn=True,
                                          route_reflector_bfd=True, route_reflector_bgp_password="s3cret")),
    ("rr-ipv4-only", lambda: rr(ipv6=False)),
    ("rr-bfd-profile", lambda: rr(route_reflector_bfd=True,
                                  route_reflector_bfd_profile={"detect_multiplier": 5, "receive_interval": 100})),
    ("core-golden", core),
    ("core-bfd-md5", lambda: core(core_gateway_bfd=True, core_gateway_bgp_password="s3cret")),
]


@pytest.mark.parametrize("make", [v[1] for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_vtysh_accepts(make):
    assert_vtysh_ok(make())


def test_node_policy_lines():
    text = node()
    assert "ip prefix-list IPV4_PLIST seq 5 permit 198.51.100.0/24 ge 32 le 32\n" in text
    assert "ipv6 prefix-list IPV6_PLIST seq 5 permit 2001:db8:100::/64 ge 128 le 128\n" in text
    assert "route-map IPV4_EXPORT permit 10\n match ip address prefix-list IPV4_PLIST\n set community 65000:100\n" in text
    assert "route-map IPV4_EXPORT deny 100\n" in text
    assert " network " not in text
    assert "bgp network import-check" not in text  # stays at FRR's default (on)
    assert " address-family ipv4 unicast\n" in text and " address-family ipv6 unicast\n" in text


def test_node_ipv4_only_keeps_ipv6_af_home():
    text = node(ipv6=False)
    assert " address-family ipv6 unicast\n exit-address-family\n" in text
    assert "RR6" not in text


def test_node_password_and_bfd():
    text = node(node_bfd=True, node_bgp_password="s3cret")
    assert " neighbor RR password s3cret\n" in text
    assert " neighbor RR bfd\n" in text


def test_rr_cluster_id_shared():
    assert " bgp cluster-id 172.16.0.2\n" in rr("rr1")
    assert " bgp cluster-id 172.16.0.2\n" in rr("rr2")
    assert " bgp router-id 172.16.0.3\n" in rr("rr2")


def test_rr_pair_alike():
    """Both RRs render the same configuration but for their own name and addresses."""
    one = rr("rr1").replace("rr1", "RR").replace(" 172.16.0.2\n", " SELF\n").replace("fd0c:172:16::2\n", "SELF\n")
    two = rr("rr2").replace("rr2", "RR").replace(" 172.16.0.3\n", " SELF\n").replace("fd0c:172:16::3\n", "SELF\n")
    assert one.replace("cluster-id SELF", "cluster-id 172.16.0.2") == two


def test_rr_listen_range_needs_no_node_list():
    text = rr(route_reflector_clients="listen_range")
    assert " bgp listen range 172.16.0.0/24 peer-group fabric\n" in text
    assert " bgp listen range fd0c:172:16::/64 peer-group fabric6\n" in text
    assert "172.16.0.11" not in text


def test_rr_max_prefix_from_pool_size():
    text = rr(pools=[{"name": "p", "ipv4": ["198.51.100.0/26", "203.0.113.0/28"]}])
    assert "  neighbor fabric maximum-prefix 80 restart 1\n" in text


def test_rr_evpn():
    text = rr(route_reflector_evpn=True)
    assert " address-family l2vpn evpn\n  neighbor fabric activate\n  neighbor fabric route-reflector-client\n" in text
    assert "  advertise-all-vni\n" in text


def test_core_policy():
    text = core()
    assert " neighbor VM route-map VM in\n" in text
    assert " neighbor VM route-map reject-all out\n" in text
    assert "route-map reject-all deny 10\n" in text


def test_inventory_values_as_ansible_resolves_them():
    """A host variable beats group all and the role defaults, and the defaults template it lazily with
    Ansible's types: ipfabric_asn as a string, ipfabric_bfd as 'yes' (the role's `| bool`)."""
    text = node(ipfabric_asn="65001", ipfabric_bfd="yes")
    assert "router bgp 65001\n" in text
    assert " neighbor RR bfd\n" in text and " neighbor RR6 bfd\n" in text
    assert " neighbor RR bfd\n" not in node(ipfabric_bfd="no")
