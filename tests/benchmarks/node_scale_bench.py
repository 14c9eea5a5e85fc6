#!/usr/bin/env python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Node scale benchmark: wall time from ansible-playbook start until N VM routes are on core1.

    .venv/bin/python tests/benchmarks/node_scale_bench.py [--quick] [--no-write]
        [--sizes 10,100,1000] [--naive-max 100] [--node node1] [--repeat 1]
        [--bird-node node3] [--rounds 3] [--compare-n 1000] [--compare-only]

Two paths, side by side in one run, for each N:

* batched: tests/benchmarks/node_scale_batched.yml, one vmnet.ipfabric.vm_interface task and one
  vmnet.ipfabric.frr_network task for all N VMs (what playbooks/vm_create.yml does on a node);
* naive: tests/benchmarks/node_scale_naive.yml, one ansible.builtin.command per VM and step (ip via
  argv), one lineinfile per VM into frr.conf, then one FRR reload (frr-reload.py).

The clock starts when ansible-playbook is started and stops when core1 (polled with
`vtysh -c 'show ipv6 route bgp json'` every 0.25 s, from a thread that runs alongside the playbook)
has all N routes with the node as next hop. Each VM gets one IPv6 /128 from the lab's pool (the
lab's IPv4 pool is a /24: 1000 /32s do not fit). Between runs everything is removed again
(node_scale_cleanup.yml) and the benchmark waits until core1 has none of the routes left.

FRR node and BIRD node (issue 14): the batched path at N = --compare-n (1000) on the FRR node (--node)
and on a node whose BGP speaker is BIRD (--bird-node, ipfabric_bgp_daemon: bird), alternating which goes
first over --rounds rounds, medians reported with /proc/loadavg at every run. On the BIRD node the
playbook has no frr_network task (BIRD learns the VM routes from the kernel, as in vm_create.yml); the
clock and what core1 must hold are the same. --compare-only runs this part alone and rewrites only its
subsection (``### FRR node and BIRD node``) of the Node scale section.

The naive path runs only up to --naive-max VMs (default 10: it needs six Ansible loop items and a
lineinfile per VM, about 15 s per VM on the shared 2-core machine, so N = 100 would take about 25
minutes); larger N are extrapolated linearly from its measured cost and marked as such. When fewer
than two sizes are measured, the naive path also runs at N = 1 for the slope.

Uses the lab instance of $VMNET_LAB_INSTANCE (default 0). If that lab is not up, the benchmark
brings it up (VMNET_LAB_BIRD=--bird-node), configures it with playbooks/site.yml and takes it down again
at the end; if it is up without BIRD on --bird-node, it switches that node to BIRD (the lab's inventory and
site.yml --limit, as tests/lab_tests/test_bird_node.py does) and back at the end.
Writes the ``## Node scale`` section of docs/benchmarks.md (other sections are kept).
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
import fabric  # noqa: E402  pylint: disable=wrong-import-position

DOC = os.path.join(REPO, "docs", "benchmarks.md")
INSTANCE = os.environ.get("VMNET_LAB_INSTANCE", "0")
INVENTORY = os.path.join(REPO, "inventories", "lab" + ("" if INSTANCE in ("", "0") else INSTANCE))
PLAYBOOK = os.path.join(REPO, ".venv", "bin", "ansible-playbook")
PREFIX6 = "2001:db8:100::1:{:x}"   # far above what the IPAM hands out in the lab (::1, ::2, ...)
ROUTE_TIMEOUT = 300                # after the playbook has finished
PLAYBOOK_TIMEOUT = 1800


def log(msg):
    print("node-scale: " + msg, flush=True)


def bench_vms(n):
    return [{"name": "bn{:04d}".format(i), "ipv6": [PREFIX6.format(i)]} for i in range(n)]


UNDERLAY = {"node1": ("fd0c:172:16::11", "172.16.0.11"), "node2": ("fd0c:172:16::12", "172.16.0.12"),
            "node3": ("fd0c:172:16::13", "172.16.0.13")}
SESSION_TIMEOUT = 180


def core_count(prefixes, next_hops):
    """How many of prefixes core1 has installed via the node (one of next_hops: its underlay addresses)."""
    routes = fabric.core_routes("ipv6")
    return sum(1 for p in prefixes if routes.get(p) in [[h] for h in next_hops])


def run_playbook(name, extra_file):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    argv = [PLAYBOOK, "-i", INVENTORY, os.path.join(HERE, name), "-e", "@" + extra_file]
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)


def write_vars(path, node, vms):
    with open(path, "w") as f:
        json.dump({"bench_node": node, "bench_vms": vms,
                   "bench_vm_names": [{"name": v["name"]} for v in vms]}, f)


def measure(path_name, node, next_hops, vms, tmpdir):
    """Seconds from playbook start until core1 has every route; also the playbook's own time."""
    extra = os.path.join(tmpdir, "vars.json")
    write_vars(extra, node, vms)
    prefixes = [v["ipv6"][0] + "/128" for v in vms]
    seen = {}
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            try:
                if core_count(prefixes, next_hops) == len(prefixes):
                    seen["t"] = time.monotonic()
                    return
            except (RuntimeError, ValueError, subprocess.TimeoutExpired):
                pass
            stop.wait(0.25)

    playbook = "node_scale_batched.yml" if path_name == "batched" else "node_scale_naive.yml"
    t0 = time.monotonic()
    proc = run_playbook(playbook, extra)
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        out, dummy = proc.communicate(timeout=PLAYBOOK_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        stop.set()
        raise RuntimeError("{} N={}: playbook did not finish in {} s".format(path_name, len(vms), PLAYBOOK_TIMEOUT))
    t_play = time.monotonic() - t0
    if proc.returncode != 0:
        stop.set()
        raise RuntimeError("{} N={}: playbook failed:\n{}".format(path_name, len(vms), out[-4000:]))
    poller.join(ROUTE_TIMEOUT)
    stop.set()
    if "t" not in seen:
        raise RuntimeError("{} N={}: core1 has {} of {} routes {} s after the playbook".format(
            path_name, len(vms), core_count(prefixes, next_hops), len(vms), ROUTE_TIMEOUT))
    return seen["t"] - t0, t_play


def cleanup(node, vms, tmpdir):
    extra = os.path.join(tmpdir, "vars.json")
    write_vars(extra, node, vms)
    proc = run_playbook("node_scale_cleanup.yml", extra)
    out, dummy = proc.communicate(timeout=PLAYBOOK_TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError("cleanup failed:\n" + out[-4000:])
    prefixes = set(v["ipv6"][0] + "/128" for v in vms)
    deadline = time.monotonic() + ROUTE_TIMEOUT
    while any(p in prefixes for p in fabric.core_routes("ipv6")):
        if time.monotonic() > deadline:
            raise RuntimeError("cleanup: core1 still has benchmark routes after {} s".format(ROUTE_TIMEOUT))
        time.sleep(0.5)
    links = json.loads(fabric.lab_exec(node, "ip", "-j", "link", "show").stdout or "[]")
    left = [l["ifname"] for l in links if re.match(r"^bn\d{4}_(net|vm)0$", l["ifname"])]
    if left:
        raise RuntimeError("cleanup: links left on {}: {}".format(node, left[:10]))


def lab_is_up():
    res = subprocess.run([fabric.LAB, "status"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, check=False)
    return res.returncode == 0


def site(*limit):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    argv = [PLAYBOOK, "-i", INVENTORY, os.path.join(REPO, "playbooks", "site.yml")]
    subprocess.run(argv + (["--limit", ",".join(limit)] if limit else []), cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def bring_up_lab(bird):
    log("lab instance {} is not up: bringing it up (BIRD on {}) and running site.yml".format(
        INSTANCE, ", ".join(bird) or "no node"))
    subprocess.run([fabric.LAB, "up"], env=dict(os.environ, VMNET_LAB_BIRD=",".join(bird)), check=True)
    site()


def switch_bird(names, node):
    """Make ``names`` the lab's BIRD nodes (its inventory) and apply that to ``node`` with site.yml."""
    log("BIRD nodes of the lab: {} (site.yml --limit {})".format(", ".join(sorted(names)) or "none", node))
    subprocess.run([fabric.LAB, "up"], env=dict(os.environ, VMNET_LAB_BIRD=",".join(sorted(names))), check=True,
                   stdout=subprocess.DEVNULL)
    site(node)


def wait_sessions(node):
    """Wait (bounded) until the node's BGP sessions with rr1 and rr2 (IPv4 and IPv6) are Established."""
    deadline = time.monotonic() + SESSION_TIMEOUT
    while True:
        if node in fabric.bird_nodes(INVENTORY):
            states = [state for state, dummy in fabric.bird_sessions(node).values()]
        else:
            summary = fabric.vtysh_json(node, "show bgp summary json")
            states = [p.get("state") for fam in ("ipv4Unicast", "ipv6Unicast")
                      for p in summary.get(fam, {}).get("peers", {}).values()]
        if len(states) >= 4 and all(s == "Established" for s in states):
            return
        if time.monotonic() > deadline:
            raise RuntimeError("{}: BGP sessions not Established after {} s: {}".format(node, SESSION_TIMEOUT, states))
        time.sleep(1)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine_notes(node, bird_node=None):
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(re.search(r"^MemTotal:\s*(\d+)", f.read(), re.M).group(1))
            mem = ", {:.0f} GiB RAM".format(kb / 1048576.0)
    except (OSError, AttributeError):
        pass
    frr = fabric.lab_exec(node, "vtysh", "-c", "show version", check=False).stdout
    m = re.search(r"FRRouting (\S+)", frr)
    bird = ""
    if bird_node:
        out = fabric.lab_exec(bird_node, "birdc", "show", "status", check=False).stdout
        b = re.search(r"BIRD (\d\S*)", out)
        bird = ", BIRD {}".format(b.group(1) if b else "?")
    return "{} CPUs ({}){}, Linux {}, FRR {}{} in systemd-nspawn containers (tests/lab/lab)".format(
        os.cpu_count(), cpu, mem, platform.release(), m.group(1) if m else "?", bird)


def fmt(x):
    return "{:.1f}".format(x) if x is not None else "-"


def compare(frr_node, bird_node, n, rounds, tmpdir):
    """The batched path at N = n on the FRR node and on the BIRD node, alternating which goes first."""
    vms = bench_vms(n)
    runs = {frr_node: [], bird_node: []}
    for r in range(rounds):
        order = (frr_node, bird_node) if r % 2 == 0 else (bird_node, frr_node)
        for node in order:
            before = loadavg()
            t_routes, t_play = measure("batched", node, UNDERLAY[node], vms, tmpdir)
            after = loadavg()
            daemon = "BIRD" if node == bird_node else "FRR"
            log("round {} {:4s} {} N={}: routes on core1 after {:6.1f} s (playbook {:6.1f} s), loadavg {} -> {}".format(
                r + 1, daemon, node, n, t_routes, t_play, before, after))
            runs[node].append({"round": r + 1, "routes": t_routes, "play": t_play, "load_before": before,
                               "load_after": after})
            cleanup(node, vms, tmpdir)
    return runs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--quick", action="store_true", help="N = 10 and 100 only, naive up to 10 (a smoke run)")
    ap.add_argument("--no-write", action="store_true", help="print only, do not touch docs/benchmarks.md")
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--naive-max", type=int, default=10, help="largest N the naive baseline runs for")
    ap.add_argument("--node", default="node1", choices=sorted(fabric.NODES), help="the FRR node")
    ap.add_argument("--repeat", type=int, default=1, help="runs per path and N (the median is reported)")
    ap.add_argument("--bird-node", default="node3", help="the BIRD node of the comparison ('none': no comparison)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the FRR / BIRD comparison (medians)")
    ap.add_argument("--compare-n", type=int, default=1000, help="VMs per run in the FRR / BIRD comparison")
    ap.add_argument("--compare-only", action="store_true", help="only the FRR / BIRD comparison (its subsection)")
    opts = ap.parse_args()
    sizes = [int(s) for s in opts.sizes.split(",")]
    naive_max = opts.naive_max
    if opts.quick:
        sizes, naive_max = [s for s in sizes if s <= 100], min(naive_max, 10)
    node = opts.node
    bird_node = None if opts.bird_node == "none" else opts.bird_node
    if bird_node is not None and (bird_node not in fabric.NODES or bird_node == node):
        ap.error("--bird-node: one of {} other than --node {}, or none".format(", ".join(sorted(fabric.NODES)), node))
    if opts.compare_only and bird_node is None:
        ap.error("--compare-only needs a --bird-node")
    compare_n = min(opts.compare_n, 100) if opts.quick else opts.compare_n

    started_lab = False
    switched = None
    if not lab_is_up():
        bring_up_lab([bird_node] if bird_node else [])
        started_lab = True
    before_bird = fabric.bird_nodes(INVENTORY)
    if node in before_bird:
        raise SystemExit("node-scale: {} runs BIRD in this lab; pick an FRR node with --node".format(node))
    tmpdir = tempfile.mkdtemp(prefix="vmnet-node-scale-")
    rows = []
    runs = None
    load = [os.getloadavg()[0]]
    try:
        if bird_node and bird_node not in before_bird:
            switch_bird(set(before_bird) | {bird_node}, bird_node)
            switched = before_bird
        for host in [node] + ([bird_node] if bird_node else []):
            wait_sessions(host)
        notes = machine_notes(node, bird_node)
        cleanup(node, bench_vms(max(sizes + [compare_n])), tmpdir)     # leftovers of an interrupted run
        if bird_node:
            cleanup(bird_node, bench_vms(max(sizes + [compare_n])), tmpdir)
        for n in ([] if opts.compare_only else sizes):
            vms = bench_vms(n)
            row = {"n": n, "batched": [], "batched_play": [], "naive": [], "naive_play": []}
            for dummy in range(opts.repeat):
                for path_name in ("batched", "naive"):
                    if path_name == "naive" and n > naive_max:
                        continue
                    t_routes, t_play = measure(path_name, node, UNDERLAY[node], vms, tmpdir)
                    load.append(os.getloadavg()[0])
                    log("{:7s} N={:5d}: routes on core1 after {:6.1f} s (playbook {:6.1f} s)".format(
                        path_name, n, t_routes, t_play))
                    row[path_name].append(t_routes)
                    row[path_name + "_play"].append(t_play)
                    cleanup(node, vms, tmpdir)
            rows.append(row)
        measured_naive = [r for r in rows if r["naive"]]
        if len(measured_naive) == 1 and measured_naive[0]["n"] > 1:
            vms = bench_vms(1)       # a second point for the extrapolation only
            t_routes, t_play = measure("naive", node, UNDERLAY[node], vms, tmpdir)
            log("naive   N=    1: routes on core1 after {:6.1f} s (playbook {:6.1f} s)".format(t_routes, t_play))
            cleanup(node, vms, tmpdir)
            rows.insert(0, {"n": 1, "batched": [], "batched_play": [], "naive": [t_routes], "naive_play": [t_play],
                            "extra": True})
        if bird_node:
            runs = compare(node, bird_node, compare_n, opts.rounds, tmpdir)
    finally:
        if switched is not None and not started_lab:
            switch_bird(switched, bird_node)
        if started_lab:
            subprocess.run([fabric.LAB, "down"], check=False)
        for name in os.listdir(tmpdir):
            os.unlink(os.path.join(tmpdir, name))
        os.rmdir(tmpdir)

    text = "" if opts.compare_only else report(rows, naive_max, notes, load, opts)
    sub = compare_report(runs, node, bird_node, compare_n, notes) if runs else ""
    print()
    print(text + ("\n" if text and sub else "") + sub)
    if not opts.no_write:
        if opts.compare_only:
            write_subsection(sub)
        else:
            write_section(text + ("\n" + sub if sub else ""))
    batched_1000 = [r for r in rows if r["n"] == 1000 and r["batched"]]
    if batched_1000 and median(batched_1000[0]["batched"]) >= 20:
        log("target missed: 1000 VMs took {:.1f} s (target < 20 s)".format(median(batched_1000[0]["batched"])))
        return 1
    return 0


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else None


def report(rows, naive_max, notes, load, opts):
    # naive per-VM cost from the two largest measured sizes (fixed cost cancels out)
    measured = [(r["n"], median(r["naive"])) for r in rows if r["naive"]]
    slope = intercept = None
    if len(measured) >= 2:
        (n1, t1), (n2, t2) = measured[-2], measured[-1]
        slope = (t2 - t1) / float(n2 - n1)
        intercept = t1 - slope * n1
    lines = ["Wall time from `ansible-playbook` start until core1 has all N VM routes (one IPv6 /128 per VM)",
             "with the node as next hop, batched path vs naive baseline, measured in one run "
             "(`make bench`, {} run(s) each, median).".format(opts.repeat), "",
             "| N VMs | batched: routes on core1 | batched: playbook | naive: routes on core1 | naive: playbook "
             "| naive / batched |", "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if r.get("extra"):
            continue
        b = median(r["batched"])
        nv = median(r["naive"])
        if nv is not None:
            naive_txt, play_txt, ratio = fmt(nv) + " s", fmt(median(r["naive_play"])) + " s", "{:.1f}x".format(nv / b)
        elif slope is not None:
            est = intercept + slope * r["n"]
            naive_txt = "~{:.0f} s (extrapolated, not run)".format(est)
            play_txt, ratio = "-", "~{:.0f}x (extrapolated)".format(est / b)
        else:
            naive_txt, play_txt, ratio = "not run", "-", "-"
        lines.append("| {} | {} s | {} s | {} | {} | {} |".format(
            r["n"], fmt(b), fmt(median(r["batched_play"])), naive_txt, play_txt, ratio))
    lines.append("")
    b1000 = [median(r["batched"]) for r in rows if r["n"] == 1000]
    if b1000:
        lines.append("Target (1000 VMs on core1 in under 20 s, batched): **{}** ({} s).".format(
            "met" if b1000[0] < 20 else "missed", fmt(b1000[0])))
        lines.append("")
    if slope is not None and any(not r["naive"] for r in rows):
        lines.append("The naive baseline ran up to N = {} only (N = {} measured: {}); its cost grows by {:.2f} s "
                     "per VM (six Ansible loop items and a lineinfile each), so larger N are extrapolated "
                     "linearly from the two largest measured sizes.".format(
                         naive_max, ", ".join(str(n) for n, dummy in measured),
                         ", ".join(fmt(t) + " s" for dummy, t in measured), slope))
        lines.append("")
    lines.append("Machine: {}. Load average (1 min) during the run: {:.1f} to {:.1f}; other labs and test "
                 "runs shared the machine, so times vary from run to run (repeat with --repeat N for "
                 "medians).".format(notes, min(load), max(load)))
    return "\n".join(lines) + "\n"


def compare_report(runs, frr_node, bird_node, n, notes):
    rounds = len(runs[frr_node])
    lines = [COMPARE_HEAD, "",
             "The batched path at N = {} on an FRR node and on a BIRD node of the same lab, in one run: {} rounds, "
             "alternating which node goes first, median of the rounds (each run, in the order measured, in the "
             "last column). Clock as above: from `ansible-playbook` start until core1 has all N IPv6 /128 with "
             "the node as next hop. The same playbook (node_scale_batched.yml) on both; on the BIRD node it skips "
             "its frr_network task (BIRD learns the routes from the kernel), so that node runs one task fewer.".format(
                 n, rounds), "",
             "| node (BGP speaker) | N VMs | routes on core1 (median) | playbook (median) | each run: routes on core1 "
             "| /proc/loadavg before each run |",
             "| --- | ---: | ---: | ---: | --- | --- |"]
    for node, daemon in ((frr_node, "FRR"), (bird_node, "BIRD")):
        rs = runs[node]     # median(): the upper middle of an even count
        lines.append("| {} ({}) | {} | {} s | {} s | {} | {} |".format(
            node, daemon, n, fmt(median([r["routes"] for r in rs])), fmt(median([r["play"] for r in rs])),
            ", ".join(fmt(r["routes"]) + " s" for r in rs), "; ".join(r["load_before"] for r in rs)))
    lines.append("")
    b, f = median([r["routes"] for r in runs[bird_node]]), median([r["routes"] for r in runs[frr_node]])
    target = "" if n != 1000 else " Target (1000 VMs on core1 in under 20 s): FRR **{}**, BIRD **{}**.".format(
        "met" if f < 20 else "missed", "met" if b < 20 else "missed")
    lines.append("BIRD / FRR (medians): {:.2f}x.{}".format(b / f, target))
    lines.append("")
    loads = [r[k] for rs in runs.values() for r in rs for k in ("load_before", "load_after")]
    ones = [float(x.split()[0]) for x in loads]
    lines.append("Machine: {}. /proc/loadavg (1, 5, 15 min) from {} (lowest 1-min) to {} (highest); other labs "
                 "shared the machine.".format(notes, loads[ones.index(min(ones))], loads[ones.index(max(ones))]))
    return "\n".join(lines) + "\n"


COMPARE_HEAD = "### FRR node and BIRD node"
SECTION_HEAD = ("## Node scale\n\nProduced by `python tests/benchmarks/node_scale_bench.py` (what is measured: "
                "its docstring; playbooks: tests/benchmarks/node_scale_*.yml).\n\n")
SECTION = re.compile(r"^## Node scale\n.*?(?=^## |\Z)", re.S | re.M)


def read_doc():
    return open(DOC).read() if os.path.exists(DOC) else "# Benchmarks\n"


def write_section(body):
    section = SECTION_HEAD + body
    old = read_doc()
    new = SECTION.sub(lambda _m: section + "\n", old) if SECTION.search(old) else old.rstrip("\n") + "\n\n" + section
    with open(DOC, "w") as fh:
        fh.write(new)
    log("wrote the Node scale section of " + DOC)


def write_subsection(body):
    """Replace (or add) only the FRR / BIRD subsection of the Node scale section."""
    old = read_doc()
    m = SECTION.search(old)
    if not m:
        write_section(body)
        return
    section = m.group(0)
    sub = re.compile(r"^" + re.escape(COMPARE_HEAD) + r"\n.*?(?=^##|\Z)", re.S | re.M)
    new_section = (sub.sub(lambda _m: body + "\n", section) if sub.search(section)
                   else section.rstrip("\n") + "\n\n" + body + "\n")
    with open(DOC, "w") as fh:
        fh.write(old[:m.start()] + new_section + old[m.end():])
    log("wrote the FRR / BIRD subsection of the Node scale section of " + DOC)


if __name__ == "__main__":
    sys.exit(main())
