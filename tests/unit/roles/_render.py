# -*- coding: utf-8 -*-
"""Render a role template with Jinja2 and the collection's filters (no Ansible run needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Mapping

import jinja2
import yaml

from ansible.plugins.filter import core as ansible_core_filters
from ansible.plugins.filter import mathstuff as ansible_math_filters
from ansible_collections.vmnet.ipfabric.plugins.filter import ipfabric as ipfabric_filters

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
GOLDEN_DIR = os.path.join(os.path.dirname(__file__), "golden")
FRR_ROOTFS = os.environ.get("VMNET_FRR_ROOTFS", "/var/lib/vmnet-lab-try/rootfs")


def _bool(value):
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "on", "1", "true", "y", "t")
    return bool(value)


def environment():
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.join(REPO_ROOT, "roles")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
    )
    for module in (ansible_core_filters, ansible_math_filters):
        for name, func in module.FilterModule().filters().items():
            if name in ("default", "d", "mandatory", "undef"):
                continue  # keep Jinja's own: Ansible's versions need Ansible's templar
            env.filters[name] = func
            env.filters["ansible.builtin." + name] = func
    env.filters["bool"] = _bool
    for name, func in ipfabric_filters.FilterModule().filters().items():
        env.filters["vmnet.ipfabric." + name] = func
    return env


def role_defaults(role, overrides, base):
    """Resolve a role's defaults/main.yml and vars/main.yml (string values rendered recursively)."""
    env = environment()
    raw = {}
    for sub in ("defaults", "vars"):
        path = os.path.join(REPO_ROOT, "roles", role, sub, "main.yml")
        with open(path, encoding="utf-8") as handle:
            raw.update(yaml.safe_load(handle) or {})
    raw.update(base)
    raw.update(overrides)
    resolved = {}

    def resolve(key, stack=()):
        if key in resolved:
            return resolved[key]
        value = raw[key]
        if isinstance(value, str) and "{{" in value:
            ctx = _LazyContext(raw, resolve, stack + (key,))
            tmpl = env.from_string(value)
            value = "".join(tmpl.root_render_func(tmpl.new_context(ctx, shared=True)))
            try:
                value = yaml.safe_load(value) if value.strip()[:1] in ("[", "{") else value
            except yaml.YAMLError:
                pass
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            if isinstance(value, str) and value.strip() in ("True", "False"):
                value = value.strip() == "True"
        resolved[key] = value
        return value

    return {key: resolve(key) for key in raw}


class _LazyContext(Mapping):
    """Variables resolved on first use, like Ansible's lazy templating of defaults."""

    def __init__(self, raw, resolve, stack):
        self._raw = raw
        self._resolve = resolve
        self._stack = stack

    def __getitem__(self, key):
        if key in self._stack:
            raise RuntimeError("recursive variable %s (%s)" % (key, " -> ".join(self._stack)))
        if key in self._raw:
            return self._resolve(key, self._stack)
        raise KeyError(key)

    def __iter__(self):
        return iter(self._raw)

    def __len__(self):
        return len(self._raw)


def render(role, template, variables):
    env = environment()
    return env.get_template(role + "/templates/" + template).render(**variables)


def golden(name):
    with open(os.path.join(GOLDEN_DIR, name), encoding="utf-8") as handle:
        return handle.read()


def vtysh_check(text):
    """Return (rc, output) of ``vtysh -C -f`` in the lab's FRR rootfs, or None when unavailable."""
    vtysh = os.path.join(FRR_ROOTFS, "usr", "bin", "vtysh")
    chroot = shutil.which("chroot")
    if not (os.path.exists(vtysh) and chroot and os.geteuid() == 0):
        return None
    tmpdir = os.path.join(FRR_ROOTFS, "tmp")
    name = "vmnet-ipfabric-test-%s.conf" % uuid.uuid4().hex
    path = os.path.join(tmpdir, name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    try:
        proc = subprocess.run([chroot, FRR_ROOTFS, "/usr/bin/vtysh", "-C", "-f", "/tmp/" + name],
                              capture_output=True, text=True, timeout=60, check=False)
    finally:
        os.unlink(path)
    return proc.returncode, proc.stdout + proc.stderr


__all__ = ["render", "golden", "role_defaults", "vtysh_check", "tempfile"]


# The lab / documents' example: AS 65000, pool 198.51.100.0/24 (+ 2001:db8:100::/64), underlay
# 172.16.0.0/24 with core1 .1, rr1 .2, rr2 .3, node1..3 .11-.13 (and fd0c:172:16::/64 alike).
LAB_HOSTS = {"core1": 1, "rr1": 2, "rr2": 3, "node1": 11, "node2": 12, "node3": 13}
LAB_GROUPS = {
    "core_gateways": ["core1"],
    "route_reflectors": ["rr1", "rr2"],
    "ipfabric_nodes": ["node1", "node2", "node3"],
}


def lab_vars(host, ipv6=True, pools=None, **extra):
    """Inventory variables of one lab host, as Ansible would see them (hostvars, groups, facts)."""
    hostvars = {}
    for name, num in LAB_HOSTS.items():
        hv = {"ipfabric_underlay_ipv4": "172.16.0.%d" % num}
        if ipv6:
            hv["ipfabric_underlay_ipv6"] = "fd0c:172:16::%d" % num
        hostvars[name] = hv
    num = LAB_HOSTS[host]
    facts = {
        "hostname": host,
        "os_family": "Debian",
        "interfaces": ["lo", "host0"],
        "host0": {"ipv4": {"address": "172.16.0.%d" % num, "netmask": "255.255.255.0"},
                  "ipv6": [{"address": "fd0c:172:16::%d" % num, "prefix": "64", "scope": "global"}]
                  if ipv6 else []},
    }
    variables = {
        "ipfabric_asn": 65000,
        "ipfabric_community": "65000:100",
        "ipfabric_pools": pools if pools is not None else [
            {"name": "public", "ipv4": ["198.51.100.0/24"], "ipv6": ["2001:db8:100::/64"], "exclude": []},
        ],
        "groups": LAB_GROUPS,
        "hostvars": hostvars,
        "inventory_hostname": host,
        "inventory_hostname_short": host,
        "ansible_facts": facts,
        "playbook_dir": "/nonexistent/playbooks",
    }
    variables.update(hostvars[host])
    variables.update(extra)
    return variables
