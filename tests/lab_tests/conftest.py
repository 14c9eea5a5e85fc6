# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the lab tests: they run the real playbooks against the real lab (tests/lab/lab up)."""
import json
import os
import re
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Under pytest-xdist with VMNET_LAB_PARALLEL=1 (make lab-test), worker gwN drives its own lab instance
# VMNET_LAB_INSTANCE + N, which it brings up (and down) itself; tests/lab/lab exec reads the variable.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if os.environ.get("VMNET_LAB_PARALLEL") == "1" and _WORKER.startswith("gw"):
    os.environ["VMNET_LAB_INSTANCE"] = str(int(os.environ.get("VMNET_LAB_INSTANCE", "0") or 0) + int(_WORKER[2:]))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
import fabric  # noqa: E402  pylint: disable=wrong-import-position

# The Ansible the playbooks run with: the controller's pin in .venv, or another release's virtualenv
# (VMNET_ANSIBLE_BIN; the lab smoke sessions of noxfile.py run under the oldest ansible-core claimed).
ANSIBLE_BIN = os.environ.get("VMNET_ANSIBLE_BIN") or os.path.join(REPO, ".venv", "bin")
_INSTANCE = os.environ.get("VMNET_LAB_INSTANCE", "0")
INVENTORY = os.path.join(REPO, "inventories", "lab" + ("" if _INSTANCE in ("", "0") else _INSTANCE))
# A throwaway PostgreSQL IPAM per lab instance (tests/tools/postgres.sh): its own data directory and port.
PG_ENV = dict(os.environ, VMNET_PG_DIR="/var/tmp/vmnet-ipfabric-pg-lab{}".format(_INSTANCE or "0"),
              VMNET_PG_PORT=str(54340 + int(_INSTANCE or 0)))
POSTGRES = os.path.join(REPO, "tests", "tools", "postgres.sh")
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class PlaybookResult:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.output = proc.stdout
        self.recap = {m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3)),
                                   "unreachable": int(m.group(4)), "failed": int(m.group(5))}
                      for m in RECAP.finditer(proc.stdout)}

    @property
    def changed(self):
        return sum(h["changed"] for h in self.recap.values())

    def failures(self):
        """Each failed task: its name and the whole result Ansible printed for it (msg included)."""
        out, task = [], None
        lines = self.output.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("TASK ["):
                task = line.split("[", 1)[1].rsplit("]", 1)[0]
            elif line.startswith(("fatal: ", "failed: ")) or "FAILED!" in line or line.startswith("[ERROR]"):
                block = [line]
                i += 1
                while i < len(lines) and (lines[i].startswith((" ", "\t")) or not lines[i].strip()):
                    if lines[i].strip():
                        block.append(lines[i])
                    i += 1
                if len(block) > 40:     # a long result (a loop, an argv of hundreds): keep what explains it
                    keep = [l for l in block[20:-10] if l.strip().startswith(("msg:", "stderr", "rc:", "reason"))]
                    block = block[:20] + ["    ... ({} lines) ...".format(len(block) - 30)] + keep + block[-10:]
                out.append("task {!r}:\n{}".format(task, "\n".join(block)[:6000]))
                continue
            i += 1
        return out

    def __repr__(self):
        failures = self.failures()
        head = "<playbook rc={} recap={}>".format(self.rc, self.recap)
        if failures:
            return head + "\nfailed:\n" + "\n".join(failures) + "\n--- end of the output:\n" + self.output[-2000:]
        return head + "\n" + self.output[-6000:]


def run_playbook(playbook, *extra, check=True):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1")
    argv = [os.path.join(ANSIBLE_BIN, "ansible-playbook"), "-i", INVENTORY,
            os.path.join(REPO, "playbooks", playbook)] + list(extra)
    proc = subprocess.run(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=1200, check=False)
    result = PlaybookResult(proc)
    if check:
        assert result.rc == 0, result
    return result


@pytest.fixture(scope="session")
def lab():
    status = subprocess.run([fabric.LAB, "status"], stdout=subprocess.PIPE, universal_newlines=True, check=False)
    if status.returncode != 0 and os.environ.get("VMNET_LAB_PARALLEL") == "1":
        subprocess.run([fabric.LAB, "up"], check=True)
        status = subprocess.run([fabric.LAB, "status"], stdout=subprocess.PIPE, universal_newlines=True, check=False)
    assert status.returncode == 0, "the lab is not up (make lab-up):\n" + status.stdout
    return fabric


BGP_SPEAKERS = ("core1", "rr1", "rr2", "node1", "node2", "node3")


def bird_nodes():
    """The lab nodes whose BGP speaker is BIRD now (ipfabric_bgp_daemon: bird in the lab's inventory)."""
    return fabric.bird_nodes(INVENTORY)


bird_sessions = fabric.bird_sessions     # {protocol: (state, since)} of BIRD's BGP protocols on a host


def wait_established(timeout=90):
    """Wait (bounded) until every BGP session of every lab host is Established; return the stragglers.
    A BIRD node's sessions are read with birdc (its BGP protocols, Established, and at least one)."""
    deadline = time.monotonic() + timeout
    while True:
        down = []
        bird = bird_nodes()
        for host in BGP_SPEAKERS:
            if host in bird:
                sessions = bird_sessions(host)
                down += [(host, name, state) for name, (state, dummy) in sessions.items() if state != "Established"]
                if not sessions:
                    down.append((host, "bird", "no BGP protocol"))
                continue
            summary = fabric.vtysh_json(host, "show bgp summary json")
            for family in ("ipv4Unicast", "ipv6Unicast"):
                for peer, info in summary.get(family, {}).get("peers", {}).items():
                    if info.get("state") != "Established":
                        down.append((host, peer, info.get("state")))
        if not down or time.monotonic() > deadline:
            return down
        time.sleep(1)


@pytest.fixture(scope="session")
def site(lab):
    """The fabric configured once by playbooks/site.yml, with every BGP session Established (tests that
    compare session counters need a settled fabric to start from); the result of that first run."""
    result = run_playbook("site.yml")
    down = wait_established()
    assert not down, "BGP sessions not Established 90 s after site.yml: {}".format(down)
    return result


@pytest.fixture(scope="module")
def ipam_extra_vars():
    """A PostgreSQL IPAM for the module (started, and deleted after it): the extra vars, JSON, that point
    the playbooks at it, as an AWX job template's would (concurrent jobs need it, docs/awx.md)."""
    res = subprocess.run([POSTGRES, "start"], env=PG_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr
    dsn = res.stdout.strip().splitlines()[-1]
    yield json.dumps({"ipfabric_ipam": {"backend": "postgresql", "dsn": dsn}})
    subprocess.run([POSTGRES, "stop"], env=PG_ENV, timeout=120, check=False)
