# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load: 5,000 VMs over three nodes of the lab (issue 7). Not part of `make test`.

    VMNET_LAB_INSTANCE=8 .venv/bin/python tests/benchmarks/load_5000.py [--vms 5000] [--write-docs]

1. A copy of the lab inventory whose pool is widened by 100.64.0.0/19 (the lab pool 198.51.100.0/24 holds
   only 253 addresses); site.yml applies the wider prefix-lists and max-prefix.
2. vm_create.yml with every VM in one run (node = index mod 3, no lab VM namespaces attached):
   wall time, peak RSS of the controller (ansible-playbook and its workers, summed, polled from /proc).
3. core1 must then hold every /32 and /128 with the hosting node as next hop (checked one by one),
   bounded wait; bgpd RSS on core1, rr1 and a node before and after; verify.yml if it exists.
4. vm_delete.yml of all of them, then site.yml with the lab's own inventory (pools as before).
Everything goes to the lab of VMNET_LAB_INSTANCE only. --write-docs replaces the section
"## Load: 5,000 VMs" of docs/benchmarks.md.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
import fabric  # noqa: E402

INSTANCE = os.environ.get("VMNET_LAB_INSTANCE", "0")
INVENTORY = os.path.join(REPO, "inventories", "lab" + ("" if INSTANCE in ("", "0") else INSTANCE))
EXTRA_V4 = "100.64.0.0/19"
NODES = ["node1", "node2", "node3"]
NH4 = {"node1": "172.16.0.11", "node2": "172.16.0.12", "node3": "172.16.0.13"}
NH6 = {"node1": "fd0c:172:16::11", "node2": "fd0c:172:16::12", "node3": "fd0c:172:16::13"}
SECTION = "## Load: 5,000 VMs"


def tree_rss_kb(sid):
    """Summed VmRSS of every process of session ``sid``."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getsid(int(pid)) != sid:
                continue
            with open("/proc/%s/status" % pid) as f:
                m = re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M)
            total += int(m.group(1)) if m else 0
        except (OSError, ProcessLookupError):
            pass
    return total


def playbook(inventory, name, *extra, timeout=7200):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    argv = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", inventory,
            os.path.join(REPO, "playbooks", name)] + list(extra)
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, start_new_session=True)
    peak = [0]
    done = threading.Event()

    def poll():
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss_kb(proc.pid))
            done.wait(0.5)
    t = threading.Thread(target=poll, daemon=True)
    t.start()
    out, dummy = proc.communicate(timeout=timeout)
    done.set()
    t.join()
    wall = time.monotonic() - t0
    recap = re.findall(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out, re.M)
    print("  %s: rc=%d, %.0f s, controller peak RSS %.0f MiB" % (name, proc.returncode, wall, peak[0] / 1024.0),
          flush=True)
    return {"rc": proc.returncode, "wall": wall, "peak_mib": peak[0] / 1024.0, "output": out, "recap": recap}


def bgpd_rss_mib(host):
    out = fabric.lab_exec(host, "sh", "-c", "grep VmRSS /proc/$(pidof bgpd)/status").stdout
    return int(out.split()[1]) / 1024.0


def core_tables():
    return fabric.core_routes("ipv4"), fabric.core_routes("ipv6")


def wrong_routes(vms, alloc):
    r4, r6 = core_tables()
    bad = []
    for name, node in vms:
        a = alloc[name]
        if NH4[node] not in r4.get(a["ipv4"] + "/32", []):
            bad.append((name, a["ipv4"], r4.get(a["ipv4"] + "/32")))
        if not set(r6.get(a["ipv6"] + "/128", [])) & {NH6[node], NH4[node]}:
            bad.append((name, a["ipv6"], r6.get(a["ipv6"] + "/128")))
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vms", type=int, default=5000)
    ap.add_argument("--write-docs", action="store_true")
    ap.add_argument("--keep", action="store_true", help="leave the VMs and the wide pool in place")
    args = ap.parse_args()
    n = args.vms
    work = tempfile.mkdtemp(prefix="vmnet-load-")
    inv = os.path.join(work, "inventory")
    shutil.copytree(INVENTORY, inv)
    gv = os.path.join(inv, "group_vars", "all.yml")
    with open(gv) as f:
        data = yaml.safe_load(f)
    for pool in data["ipfabric_pools"]:
        if pool["name"] == "public":
            pool["ipv4"] = list(pool["ipv4"]) + [EXTRA_V4]
    with open(gv, "w") as f:
        yaml.safe_dump(data, f)
    vms = [("load%04d" % i, NODES[i % 3]) for i in range(n)]
    with open(os.path.join(work, "vms.json"), "w") as f:
        json.dump({"vms": [{"name": a, "node": b} for a, b in vms], "lab_vms": "nic"}, f)
    res = {"vms": n, "load_avg_before": os.getloadavg()[0], "cpus": os.cpu_count()}
    print("load test: %d VMs over %s (lab instance %s, %s)" % (n, ", ".join(NODES), INSTANCE, work), flush=True)
    try:
        site = playbook(inv, "site.yml")
        assert site["rc"] == 0, site["output"][-4000:]
        res["site_wide"] = site["wall"]
        res["bgpd_before"] = {h: bgpd_rss_mib(h) for h in ("core1", "rr1", "node1")}
        create = playbook(inv, "vm_create.yml", "-e", "@" + os.path.join(work, "vms.json"))
        assert create["rc"] == 0, create["output"][-4000:]
        res["create"] = create
        t0 = time.monotonic()
        sys.path.insert(0, os.path.join(REPO, "tests", "lab_tests"))
        import sqlite3
        con = sqlite3.connect(data["ipfabric_ipam"]["path"])
        alloc = {}
        for owner, fam, addr in con.execute("SELECT owner, family, address FROM ipam_allocation WHERE owner LIKE 'load%'"):
            alloc.setdefault(owner, {})["ipv4" if fam == 4 else "ipv6"] = addr
        con.close()
        assert len(alloc) == n and all(len(v) == 2 for v in alloc.values()), len(alloc)
        addrs = [a for v in alloc.values() for a in v.values()]
        assert len(addrs) == len(set(addrs)), "duplicate address"
        bad = None
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            bad = wrong_routes(vms, alloc)
            if not bad:
                break
            time.sleep(5)
        res["converged_after_create"] = time.monotonic() - t0
        res["wrong_routes"] = len(bad)
        print("  core1: %d of %d VM routes wrong or missing after %.0f s"
              % (len(bad), 2 * n, res["converged_after_create"]), flush=True)
        assert not bad, bad[:10]
        r4, r6 = core_tables()
        res["core_routes"] = (len(r4), len(r6))
        res["bgpd_after"] = {h: bgpd_rss_mib(h) for h in ("core1", "rr1", "node1")}
        again = playbook(inv, "vm_create.yml", "-e", "@" + os.path.join(work, "vms.json"))
        res["rerun"] = again
        res["rerun_changed"] = sum(int(c) for dummy1, dummy2, c, dummy3, dummy4 in again["recap"])
        if os.path.exists(os.path.join(REPO, "playbooks", "verify.yml")):
            ver = playbook(inv, "verify.yml", "-e", "verify_report_dir=" + os.path.join(work, "report"))
            res["verify"] = ver
    finally:
        if not args.keep:
            with open(os.path.join(work, "del.json"), "w") as f:
                json.dump({"vms": [{"name": a} for a, dummy in vms]}, f)
            delete = playbook(inv, "vm_delete.yml", "-e", "@" + os.path.join(work, "del.json"))
            res["delete"] = delete
            restore = playbook(INVENTORY, "site.yml")
            res["restored"] = restore["rc"] == 0
        shutil.rmtree(work, ignore_errors=True)
    res["load_avg_after"] = os.getloadavg()[0]
    text = report(res)
    print(text)
    if args.write_docs:
        write_docs(text)
    return 0


def report(r):
    c, a = r["create"], r["rerun"]
    lines = [SECTION, "",
             "Produced by `VMNET_LAB_INSTANCE=N .venv/bin/python tests/benchmarks/load_5000.py --write-docs` "
             "(`make bench-load`): %d VMs over node1..3 of the lab in one `vm_create.yml` run (the VMs' NICs "
             "present without guests: `lab_vms=nic`), pool widened by %s for the run." % (r["vms"], EXTRA_V4),
             "",
             "| step | wall time | controller peak RSS (ansible-playbook + workers) |",
             "| --- | ---: | ---: |",
             "| site.yml with the wider pool | %.0f s | |" % r["site_wide"],
             "| vm_create.yml, %d VMs (allocate, interfaces, network statements) | %.0f s | %.0f MiB |"
             % (r["vms"], c["wall"], c["peak_mib"]),
             "| core1 holds every /32 and /128 via the right node (after the play) | %.0f s | |"
             % r["converged_after_create"],
             "| vm_create.yml again, nothing to do (changed=%d) | %.0f s | %.0f MiB |" % (r["rerun_changed"], a["wall"],
                                                                                          a["peak_mib"])]
    if "verify" in r:
        v = r["verify"]
        lines.append("| verify.yml (rc=%d) | %.0f s | %.0f MiB |" % (v["rc"], v["wall"], v["peak_mib"]))
    if "delete" in r:
        d = r["delete"]
        lines.append("| vm_delete.yml, %d VMs | %.0f s | %.0f MiB |" % (r["vms"], d["wall"], d["peak_mib"]))
    lines += ["",
              "Routes on core1 after the run: %d IPv4, %d IPv6 BGP routes installed; %d of %d VM routes wrong or "
              "missing (each checked: prefix present, next hop = the hosting node's underlay address)."
              % (r["core_routes"][0], r["core_routes"][1], r["wrong_routes"], 2 * r["vms"]),
              "",
              "| bgpd RSS | before | with %d VMs |" % r["vms"],
              "| --- | ---: | ---: |"]
    for h in ("core1", "rr1", "node1"):
        lines.append("| %s | %.1f MiB | %.1f MiB |" % (h, r["bgpd_before"][h], r["bgpd_after"][h]))
    lines += ["",
              "Machine: %d CPUs, load average %.1f before and %.1f after the run (other labs were running on "
              "the same machine: the wall times are upper bounds)." % (r["cpus"], r["load_avg_before"],
                                                                       r["load_avg_after"]), ""]
    return "\n".join(lines)


def write_docs(text):
    path = os.path.join(REPO, "docs", "benchmarks.md")
    with open(path) as f:
        doc = f.read()
    if SECTION in doc:
        start = doc.index(SECTION)
        nxt = doc.find("\n## ", start + len(SECTION))
        doc = doc[:start] + text + (doc[nxt + 1:] if nxt >= 0 else "")
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    with open(path, "w") as f:
        f.write(doc)


if __name__ == "__main__":
    sys.exit(main())
