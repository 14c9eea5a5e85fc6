# -*- coding: utf-8 -*-
"""Render a role's template the way ``ansible.builtin.template`` does in a play, without running the role.

The variables come from Ansible itself: an inventory (groups, host and group variables), the host's facts,
a play that lists the role (so its ``defaults/main.yml`` and ``vars/main.yml`` are loaded by Ansible's role
loader) and the per-distribution vars file that the role's ``include_vars`` task would load; Ansible's
VariableManager merges them by its precedence rules and Ansible's Templar renders the template with the
template action's settings (``trim_blocks``, no ``lstrip_blocks``, ``\\n``). Nothing is guessed: a default
such as ``node_asn: "{{ ipfabric_asn }}"`` is templated lazily by Ansible, with Ansible's types. That part
runs in a worker process of its own (``_ansible_render.py``).

``vtysh_check`` runs ``vtysh -C -f`` (FRR 8.4) inside the lab image that ``tests/lab/lab image`` builds,
read-only, with systemd-nspawn.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import ansible_collections.vmnet.ipfabric as _collection

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
GOLDEN_DIR = os.path.join(os.path.dirname(__file__), "golden")
LAB_SCRIPT = os.path.join(REPO_ROOT, "tests", "lab", "lab")
# the collections path that holds this checkout as ansible_collections/vmnet/ipfabric (tests/unit/conftest.py)
_COLLECTIONS_PATH = os.path.dirname(os.path.dirname(os.path.dirname(list(_collection.__path__)[0])))

# ---------------------------------------------------------------------------------------------------------
# The lab / documents' example: AS 65000, pool 198.51.100.0/24 (+ 2001:db8:100::/64), underlay
# 172.16.0.0/24 with core1 .1, rr1 .2, rr2 .3, node1..3 .11-.13 (and fd0c:172:16::/64 alike).
LAB_HOSTS = {"core1": 1, "rr1": 2, "rr2": 3, "node1": 11, "node2": 12, "node3": 13}
LAB_GROUPS = {
    "core_gateways": ["core1"],
    "route_reflectors": ["rr1", "rr2"],
    "ipfabric_nodes": ["node1", "node2", "node3"],
}


def lab_vars(host, ipv6=True, pools=None, **extra):
    """The lab inventory as seen from ``host``: every host's underlay addresses, the groups, the cluster's
    variables in group ``all``, the facts of ``host`` (Debian 12) and ``extra`` as host variables of ``host``."""
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
        "distribution": "Debian",
        "distribution_major_version": "12",
        "distribution_version": "12.12",
        "interfaces": ["lo", "host0"],
        "host0": {"ipv4": {"address": "172.16.0.%d" % num, "netmask": "255.255.255.0"},
                  "ipv6": [{"address": "fd0c:172:16::%d" % num, "prefix": "64", "scope": "global"}]
                  if ipv6 else []},
    }
    group_all = {
        "ipfabric_asn": 65000,
        "ipfabric_community": "65000:100",
        "ipfabric_pools": pools if pools is not None else [
            {"name": "public", "ipv4": ["198.51.100.0/24"], "ipv6": ["2001:db8:100::/64"], "exclude": []},
        ],
    }
    hostvars[host] = dict(hostvars[host], **extra)
    return {"host": host, "groups": LAB_GROUPS, "hostvars": hostvars, "all": group_all, "facts": facts}


def role_defaults(role, overrides, base):
    """What ``role`` is rendered with on ``base['host']`` (lab_vars): role defaults < group all < host
    variables (``overrides`` are host variables of that host, as a user sets them) < role vars < the role's
    per-distribution vars file (its include_vars task). Ansible resolves them when render() runs."""
    return {"role": role, "inventory": base, "overrides": dict(overrides)}


def render(role, template, variables):
    """``templates/<template>`` of ``role`` rendered like ``ansible.builtin.template`` does it in a play."""
    if variables.get("role") != role:
        raise ValueError("variables are role_defaults(%r, ...), not of role %r" % (variables.get("role"), role))
    return _worker().render(dict(variables, template=template))


class RenderError(Exception):
    """Ansible could not render the template; the message is Ansible's."""


class _Worker:
    """tests/unit/roles/_ansible_render.py in a Python of its own: Ansible's collection loader must own the
    ``ansible_collections`` package from the start (as in ansible-playbook), which pytest's import of the
    collection by path (tests/unit/conftest.py) does not allow in this process. One worker serves every
    render of the session, one JSON line per request and per answer."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "_ansible_render.py"),
                                      _COLLECTIONS_PATH], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=REPO_ROOT)
        atexit.register(self.close)

    def render(self, request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RenderError("the render worker died (rc %s)" % self.proc.poll())
        answer = json.loads(line)
        if not answer["ok"]:
            raise RenderError(answer["error"])
        return answer["text"]

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_WORKERS = []


def _worker():
    if not _WORKERS or _WORKERS[0].proc.poll() is not None:
        _WORKERS[:] = [_Worker()]
    return _WORKERS[0]


def golden(name):
    with open(os.path.join(GOLDEN_DIR, name), encoding="utf-8") as handle:
        return handle.read()


# ---------------------------------------------------------------------------------------------------------
# vtysh -C -f in the lab image

class NoLabImage(Exception):
    """The lab image (or what running vtysh in it needs) is not there; the message says what is missing."""


def lab_rootfs():
    """The rootfs of the lab image of this checkout (``tests/lab/lab image --check``), or NoLabImage."""
    env = dict(os.environ)
    proc = subprocess.run([LAB_SCRIPT, "image", "--check"], capture_output=True, text=True, timeout=60,
                          check=False, env=env)
    if proc.returncode != 0:
        raise NoLabImage((proc.stderr or proc.stdout).strip() or "tests/lab/lab image --check failed")
    return proc.stdout.strip().splitlines()[-1]


def vtysh_check(text):
    """(rc, output) of ``vtysh -C -f`` on ``text`` in the lab image (read-only, no network, a throw-away
    machine name). Raises NoLabImage when the image, root or systemd-nspawn is missing."""
    rootfs = lab_rootfs()
    nspawn = shutil.which("systemd-nspawn")
    if nspawn is None:
        raise NoLabImage("systemd-nspawn is missing (apt-get install systemd-container)")
    if os.geteuid() != 0:
        raise NoLabImage("systemd-nspawn needs root")
    with tempfile.TemporaryDirectory(prefix="vmnet-vtysh-") as tmp:
        path = os.path.join(tmp, "candidate.conf")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        proc = subprocess.run([nspawn, "--quiet", "--read-only", "--register=no", "--keep-unit", "--private-network",
                               "--machine=vmnet-vtysh-%s" % uuid.uuid4().hex[:12], "--directory=" + rootfs,
                               "--bind-ro=%s:/tmp/candidate.conf" % path, "/usr/bin/vtysh", "-C", "-f",
                               "/tmp/candidate.conf"], capture_output=True, text=True, timeout=120, check=False)
    # nspawn's own note when it cleans up a read-only directory's propagation dir is not vtysh's output
    output = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                       if not line.startswith("Attempted to remove disk file system"))
    return proc.returncode, output


__all__ = ["render", "golden", "role_defaults", "lab_vars", "vtysh_check", "lab_rootfs", "NoLabImage"]
