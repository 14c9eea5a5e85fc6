#!/usr/bin/env python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run every benchmark in tests/benchmarks (`make bench`): each *_bench.py, one after the other.

    .venv/bin/python tests/benchmarks/run.py [--quick] [--no-write] [--only NAME[,NAME]]

--quick and --no-write are passed to every benchmark (each supports both); --only picks benchmarks
by name (anti_spoofing, ipam, node_scale). Each benchmark writes its own section of docs/benchmarks.md. A failing
benchmark does not stop the others; the exit status is non-zero if any failed.
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--quick", action="store_true", help="smaller counts (a smoke run)")
    ap.add_argument("--no-write", action="store_true", help="print only, do not touch docs/benchmarks.md")
    ap.add_argument("--only", default="", help="comma-separated names, e.g. ipam,node_scale")
    opts = ap.parse_args()
    names = sorted(f[:-len("_bench.py")] for f in os.listdir(HERE) if f.endswith("_bench.py"))
    if opts.only:
        wanted = opts.only.split(",")
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            ap.error("unknown benchmark(s): {} (have: {})".format(", ".join(unknown), ", ".join(names)))
        names = [n for n in names if n in wanted]
    extra = (["--quick"] if opts.quick else []) + (["--no-write"] if opts.no_write else [])
    failed = []
    for name in names:
        print("== benchmark {0} ({0}_bench.py)".format(name), flush=True)
        t0 = time.monotonic()
        rc = subprocess.call([sys.executable, os.path.join(HERE, name + "_bench.py")] + extra)
        verdict = "ok" if rc == 0 else "FAILED (rc {})".format(rc)
        print("== benchmark {}: {} in {:.0f} s".format(name, verdict, time.monotonic() - t0), flush=True)
        if rc != 0:
            failed.append(name)
    if failed:
        print("== failed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
