# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record what FRR 8.4 prints about BGP state, for the unit tests of module_utils/_bgp_state.py.

    sudo .venv/bin/python tests/tools/record_frr_bgp.py [OUTDIR]
    (default OUTDIR: tests/unit/plugins/module_utils/fixtures/frr84_bgp)

A small fabric of the lab's shape runs from the lab image (``tests/lab/lab image``; VMNET_LAB_ROOT says
where): core1, rr1, rr2, node1, node2, each a zebra and a bgpd (FRR's pathspace ``-N HOST``) in a chroot
on one overlay of the image, each in a network namespace of its own (``vmnet-rec-<random>-HOST``) on one
bridge, with the lab's underlay addresses (172.16.0.0/24, fd0c:172:16::/64) inside those namespaces
only. Their configs are the roles' templates rendered as in tests/unit/roles (node1, node2, rr1, core1
as the roles make them; rr2 like the original platform's route_reflector.sh: no IPv6 sessions). node3 is
in the inventory but not running: its sessions stay Active.

VM routes: web1 (198.51.100.10, 2001:db8:100::a) on node1, and on node2 with route-map VMNET_MIGRATING
as in the prepare phase of a migration; db1 (198.51.100.11, 2001:db8:100::b) on node2. Recorded: every
host's ``show bgp summary json``, ``show bgp ipv4|ipv6 unicast json``, per prefix ``show bgp ipvX unicast
PREFIX json`` (present and absent), the core's ``show ip|ipv6 route bgp json`` and ``show ip|ipv6 route
PREFIX json`` (and node1's, where the kernel route wins); one vtysh run with
several ``-c``; then node1 withdraws web1 (the switch) and rr1's view of it; then bgpd stopped on node2.
Each file is ``{"argv": [...], "rc": N, "stdout": "...", "stderr": "..."}``. Everything is stopped,
unmounted and deleted at the end.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
sys.path.insert(0, os.path.join(REPO, "tests", "unit"))

from roles import _render  # noqa: E402  (needs the collection importable: make collection)

HOSTS = {"core1": 1, "rr1": 2, "rr2": 3, "node1": 11, "node2": 12}
VMS = {"node1": [("web1", "198.51.100.10", "2001:db8:100::a", "")],
       "node2": [("web1", "198.51.100.10", "2001:db8:100::a", "VMNET_MIGRATING"),
                 ("db1", "198.51.100.11", "2001:db8:100::b", "")]}
TAG = "vmnet-rec-%s-" % uuid.uuid4().hex[:6]


def sh(*argv, check=True, **kw):
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError("%s: rc %d: %s" % (" ".join(argv), proc.returncode, proc.stderr.strip()))
    return proc


def config(host):
    base = _render.lab_vars(host, ipv6=host != "rr2")
    if host.startswith("node"):
        text = _render.render("node", "base.conf.j2", _render.role_defaults("node", {}, base))
    elif host.startswith("rr"):
        text = _render.render("route_reflector", "base.conf.j2", _render.role_defaults("route_reflector", {}, base))
    else:
        text = _render.render("core_gateway", "frr.conf.j2",
                              _render.role_defaults("core_gateway", {"core_gateway_flavour": "frr"}, base))
    if host.startswith("node"):
        # the network statements frr_network makes (timers: quicker connect retries than FRR's 120 s)
        lines = ["router bgp 65000", " neighbor RR timers connect 2", " neighbor RR6 timers connect 2"]
        for afi, idx in (("ipv4", 1), ("ipv6", 2)):
            lines.append(" address-family %s unicast" % afi)
            for vm in VMS[host]:
                lines.append("  network %s/%d%s" % (vm[idx], 32 if afi == "ipv4" else 128,
                                                    " route-map " + vm[3] if vm[3] else ""))
            lines.append(" exit-address-family")
        text += "\n".join(lines + ["exit", ""])
    return text


class Fabric:
    def __init__(self, rootfs):
        self.base = tempfile.mkdtemp(prefix="vmnet-rec-", dir="/var/tmp")
        self.merged = os.path.join(self.base, "merged")
        self.mounts = []
        self.netns = []
        for d in ("upper", "work", "merged"):
            os.makedirs(os.path.join(self.base, d))
        self._mount("-t", "overlay", "overlay", "-o", "lowerdir=%s,upperdir=%s,workdir=%s" % (
            rootfs, os.path.join(self.base, "upper"), os.path.join(self.base, "work")), self.merged)
        self._mount("-t", "proc", "proc", os.path.join(self.merged, "proc"))
        self._mount("--bind", "/dev", os.path.join(self.merged, "dev"))

    def _mount(self, *args):
        sh("mount", *args)
        self.mounts.append(args[-1])

    def ns(self, host):
        return TAG + host

    def wire(self):
        sw = self.ns("sw")
        sh("ip", "netns", "add", sw)
        self.netns.append(sw)
        sh("ip", "netns", "exec", sw, "ip", "link", "add", "br0", "type", "bridge")
        sh("ip", "netns", "exec", sw, "ip", "link", "set", "br0", "up")
        for host, num in HOSTS.items():
            ns = self.ns(host)
            sh("ip", "netns", "add", ns)
            self.netns.append(ns)
            sh("ip", "link", "add", "rec%d" % num, "netns", sw, "type", "veth", "peer", "name", "host0", "netns", ns)
            sh("ip", "netns", "exec", sw, "ip", "link", "set", "rec%d" % num, "master", "br0", "up")
            run = ["ip", "netns", "exec", ns]
            sh(*run, "ip", "link", "set", "lo", "up")
            sh(*run, "ip", "link", "set", "host0", "up")
            sh(*run, "ip", "addr", "add", "172.16.0.%d/24" % num, "dev", "host0")
            sh(*run, "ip", "addr", "add", "fd0c:172:16::%d/64" % num, "dev", "host0", "nodad")
            for vm in VMS.get(host, []):
                dev = vm[0] + "_net0"
                if sh(*run, "ip", "link", "show", dev, check=False).returncode != 0:
                    # a VM interface as on an LXD node: a veth pair, both ends up (carrier)
                    sh(*run, "ip", "link", "add", dev, "type", "veth", "peer", "name", vm[0] + "_vm0")
                    sh(*run, "ip", "link", "set", vm[0] + "_vm0", "up")
                    sh(*run, "ip", "link", "set", dev, "up")
                sh(*run, "ip", "route", "replace", vm[1] + "/32", "dev", dev)
                sh(*run, "ip", "-6", "route", "replace", vm[2] + "/128", "dev", dev)

    def start(self, host):
        # a UTS namespace of its own: bgpd sends the system's hostname in its hostname capability
        run = ["ip", "netns", "exec", self.ns(host), "unshare", "--uts", "chroot", self.merged, "/bin/sh", "-c",
               'hostname "$0" && exec "$@"', host]
        rundir = os.path.join(self.merged, "run/frr", host)  # /var/run is a link to /run: never follow it out of the chroot
        os.makedirs(rundir, exist_ok=True)
        os.makedirs(os.path.join(self.merged, "etc/frr", host), exist_ok=True)
        open(os.path.join(self.merged, "etc/frr", host, "vtysh.conf"), "w").close()
        sh("chroot", self.merged, "chown", "-R", "frr:frr", "/run/frr/" + host, "/etc/frr/" + host)
        for daemon in ("zebra", "bgpd"):
            sh(*run, "/usr/lib/frr/" + daemon, "-d", "-N", host, "-f", "/dev/null", "-A", "127.0.0.1")
        for dummy in range(50):
            if all(os.path.exists(os.path.join(rundir, d + ".vty")) for d in ("zebra", "bgpd")):
                break
            time.sleep(0.1)

    def vtysh(self, host, *cmds):
        argv = ["vtysh", "-N", host]
        for c in cmds:
            argv += ["-c", c]
        proc = sh("ip", "netns", "exec", self.ns(host), "chroot", self.merged, *argv, check=False)
        # the argv as a module sees it (no pathspace: one FRR per host)
        return {"argv": ["vtysh"] + argv[3:], "rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}

    def configure(self, host, text):
        path = "/etc/frr/%s/candidate.conf" % host
        with open(os.path.join(self.merged, path.lstrip("/")), "w") as f:
            f.write(text)
        proc = sh("ip", "netns", "exec", self.ns(host), "chroot", self.merged, "vtysh", "-N", host, "-f", path,
                  check=False)
        if proc.returncode != 0:
            raise RuntimeError("%s: vtysh -f: %s%s" % (host, proc.stdout, proc.stderr))

    def stop(self, host, daemon=None):
        for d in ([daemon] if daemon else ["bgpd", "zebra"]):
            pidfile = os.path.join(self.merged, "run/frr", host, d + ".pid")
            try:
                with open(pidfile) as f:
                    os.kill(int(f.read().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                continue
            for dummy in range(50):
                if not os.path.exists(pidfile):
                    break
                time.sleep(0.1)

    def close(self):
        for host in HOSTS:
            self.stop(host)
        for ns in reversed(self.netns):
            sh("ip", "netns", "pids", ns, check=False)
            for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            sh("ip", "netns", "del", ns, check=False)
        for m in reversed(self.mounts):
            sh("umount", m, check=False)
        shutil.rmtree(self.base, ignore_errors=True)


def wait_for(what, predicate, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(1)
    raise RuntimeError("timed out waiting for " + what)


def established(fab, host, want):
    out = fab.vtysh(host, "show bgp summary json")
    try:
        data = json.loads(out["stdout"])
    except ValueError:
        return False
    up = {(afi, p) for afi in ("ipv4Unicast", "ipv6Unicast")
          for p, v in (data.get(afi) or {}).get("peers", {}).items() if v.get("state") == "Established"}
    return want <= up


def main(argv):
    outdir = argv[1] if len(argv) > 1 else os.path.join(
        REPO, "tests", "unit", "plugins", "module_utils", "fixtures", "frr84_bgp")
    rootfs = _render.lab_rootfs()
    os.makedirs(outdir, exist_ok=True)
    fab = Fabric(rootfs)
    recorded = {}

    def record(name, host, *cmds):
        recorded[name] = fab.vtysh(host, *cmds)
        with open(os.path.join(outdir, name + ".json"), "w") as f:
            json.dump(recorded[name], f, indent=1, sort_keys=True)
            f.write("\n")

    try:
        fab.wire()
        for host in HOSTS:
            fab.start(host)
        for host in HOSTS:
            fab.configure(host, config(host))
        rr1_all = {("ipv4Unicast", "172.16.0.%d" % n) for n in (1, 11, 12)} | {
            ("ipv6Unicast", "fd0c:172:16::%d" % n) for n in (1, 11, 12)}
        wait_for("rr1's sessions", lambda: established(fab, "rr1", rr1_all))
        rr2_all = {("ipv4Unicast", "172.16.0.%d" % n) for n in (1, 11, 12)}
        wait_for("rr2's sessions", lambda: established(fab, "rr2", rr2_all))
        wait_for("core1's routes", lambda: "2001:db8:100::b/128" in fab.vtysh("core1", "show ipv6 route bgp json")[
            "stdout"] and "198.51.100.11/32" in fab.vtysh("core1", "show ip route bgp json")["stdout"])
        time.sleep(3)   # the last updates (both paths of web1 everywhere)
        for host in HOSTS:
            record("%s_summary" % host, host, "show bgp summary json")
            record("%s_ipv4_unicast" % host, host, "show bgp ipv4 unicast json")
            record("%s_ipv6_unicast" % host, host, "show bgp ipv6 unicast json")
        record("core1_ipv4_route_bgp", "core1", "show ip route bgp json")
        record("core1_ipv6_route_bgp", "core1", "show ipv6 route bgp json")
        for host in HOSTS:
            record("%s_prefix_web1_ipv4" % host, host, "show bgp ipv4 unicast 198.51.100.10/32 json")
            record("%s_prefix_web1_ipv6" % host, host, "show bgp ipv6 unicast 2001:db8:100::a/128 json")
        record("core1_route_web1_ipv4", "core1", "show ip route 198.51.100.10/32 json")
        record("core1_route_web1_ipv6", "core1", "show ipv6 route 2001:db8:100::a/128 json")
        record("core1_route_absent_ipv4", "core1", "show ip route 198.51.100.99/32 json")
        record("node1_route_web1_ipv4", "node1", "show ip route 198.51.100.10/32 json")
        record("rr1_prefix_absent_ipv4", "rr1", "show bgp ipv4 unicast 198.51.100.99/32 json")
        record("rr1_prefix_absent_ipv6", "rr1", "show bgp ipv6 unicast 2001:db8:100::99/128 json")
        record("rr1_multi", "rr1", "show bgp summary json", "show bgp ipv4 unicast 198.51.100.10/32 json",
               "show bgp ipv6 unicast 2001:db8:100::a/128 json", "show bgp ipv4 unicast 198.51.100.99/32 json")
        record("core1_multi_routes", "core1", "show bgp summary json", "show ip route bgp json",
               "show ipv6 route bgp json")
        # the switch: node1 withdraws web1; the RRs' best path is node2's (local-preference 50)
        fab.configure("node1", "router bgp 65000\n address-family ipv4 unicast\n  no network 198.51.100.10/32\n"
                               " exit-address-family\n address-family ipv6 unicast\n  no network 2001:db8:100::a/128\n"
                               " exit-address-family\nexit\n")
        wait_for("rr1's one path of web1", lambda: [p["peer"]["peerId"] for p in json.loads(fab.vtysh(
            "rr1", "show bgp ipv4 unicast 198.51.100.10/32 json")["stdout"]).get("paths", [])] == ["172.16.0.12"])
        time.sleep(2)
        record("rr1_switched_web1_ipv4", "rr1", "show bgp ipv4 unicast 198.51.100.10/32 json")
        record("rr1_switched_web1_ipv6", "rr1", "show bgp ipv6 unicast 2001:db8:100::a/128 json")
        # bgpd gone
        fab.stop("node2", "bgpd")
        record("node2_bgpd_down", "node2", "show bgp summary json")
        record("node2_bgpd_down_multi", "node2", "show bgp summary json", "show ip route bgp json")
    finally:
        fab.close()
    print("recorded %d outputs in %s" % (len(recorded), outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
