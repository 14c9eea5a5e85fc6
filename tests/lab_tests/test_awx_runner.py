# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 15: the playbooks run as AWX runs them, through ansible-runner's Python API: one private data dir
per job, the extra vars a survey of awx/surveys gives (plus the job template's: the PostgreSQL IPAM), the
environment AWX sets, and the results read the way AWX reads them, from the job events (failed events,
playbook_on_stats) and the set_stats data of the stats event (AWX's job artifacts), also from the
artifacts ansible-runner writes to disk. Four vm_create jobs at once against one PostgreSQL IPAM get
distinct addresses and reachable VMs; one of them is migrated, then all are deleted, each a runner job.
The execution environment's Python requirements are importable where the runner runs the playbooks."""
import glob
import importlib.metadata
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile

import ansible_runner
import psycopg
import pytest
import yaml

from conftest import ANSIBLE_BIN, INVENTORY, REPO, run_playbook
from fabric import NODES, wait_for

VMS = [("awx1", "node1"), ("awx2", "node2"), ("awx3", "node3"), ("awx4", "node1")]
MIGRATE = ("awx1", "node2")
# the runner starts the ansible-playbook of its PATH: in AWX the EE's, here the virtualenv's
RUNNER_PATH = os.pathsep.join([ANSIBLE_BIN, os.environ.get("PATH", os.defpath)])
JOB_IDS = itertools.count(1)   # AWX's job ids: integers (its callback plugin reads JOB_ID as one)
JOB_TIMEOUT = 1200      # seconds: AWX's job timeout; the runner cancels a job that runs longer


def survey_answers(template, **answers):
    """The extra vars AWX makes from a survey (awx/surveys/<template>.json): each question's variable with
    the answer given or the question's default, checked as AWX checks it (required, type, length,
    choices); an answer to no question is refused, as AWX drops it."""
    with open(os.path.join(REPO, "awx", "surveys", template + ".json")) as f:
        spec = json.load(f)["spec"]
    unknown = set(answers) - {q["variable"] for q in spec}
    assert not unknown, "no question of the {} survey asks for {}".format(template, sorted(unknown))
    extra = {}
    for q in spec:
        value = answers.get(q["variable"], q.get("default"))
        if value in (None, ""):
            assert not q["required"], "{}: {!r} is required".format(template, q["variable"])
            continue
        if q["type"] in ("text", "textarea", "password"):
            assert isinstance(value, str) and q["min"] <= len(value) <= q["max"], (template, q["variable"], value)
        elif q["type"] == "multiplechoice":
            assert value in q["choices"], (template, q["variable"], value, q["choices"])
        elif q["type"] == "integer":
            value = int(value)
            assert q["min"] <= value <= q["max"], (template, q["variable"], value)
        else:
            raise AssertionError("{}: survey question type {!r} not handled here".format(template, q["type"]))
        extra[q["variable"]] = value
    return extra


class Job:
    """One AWX job: ansible_runner.run_async with its own private data dir; the events come to an event
    handler as they come to AWX's (RunnerCallback.event_handler), which keeps them."""

    def __init__(self, tmp_path, control_dir, name, template, extravars):
        self.name, self.template, self.extravars = name, template, extravars
        self.job_id = next(JOB_IDS)
        self.private_data_dir = tmp_path / name
        collections = self.private_data_dir / "requirements_collections" / "ansible_collections" / "vmnet"
        collections.mkdir(parents=True)
        # as AWX's project update installs the project's collection (docs/awx.md: type dir, source ../)
        (collections / "ipfabric").symlink_to(REPO)
        # AWX's is <private data dir>/cp, /runner/cp in the EE: a short path; pytest's tmp_path is too long
        # for ssh's ControlPath socket (108 bytes), so the job's own one is under a short temporary dir
        self.control_dir = os.path.join(control_dir, str(self.job_id))
        os.mkdir(self.control_dir)
        self.events = []
        self.thread = self.runner = None

    def envvars(self):
        """What AWX's RunJob.build_env sets (minus its callback receiver's): the job's collections path
        first, its own SSH control path directory, no retry files; the project's ansible.cfg (AWX runs
        ansible-playbook in the project directory, where ansible finds it)."""
        pdd = str(self.private_data_dir)
        return {
            "JOB_ID": str(self.job_id),
            "AWX_PRIVATE_DATA_DIR": pdd,
            "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": ":".join([os.path.join(pdd, "requirements_collections"),
                                                  "~/.ansible/collections", "/usr/share/ansible/collections"]),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": self.control_dir,
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
            "ANSIBLE_PARAMIKO_RECORD_HOST_KEYS": "False",
            "ANSIBLE_FORCE_COLOR": "False",
            "PYTHONUNBUFFERED": "1",
            "PATH": RUNNER_PATH,
        }

    def _event(self, event):
        self.events.append(event)
        return True         # keep it on disk too (artifacts/<ident>/job_events)

    def start(self):
        self.thread, self.runner = ansible_runner.run_async(
            private_data_dir=str(self.private_data_dir), ident=self.name, project_dir=REPO,
            playbook=os.path.join("playbooks", self.template + ".yml"), inventory=INVENTORY,
            extravars=self.extravars, envvars=self.envvars(),
            settings={"suppress_ansible_output": True, "job_timeout": JOB_TIMEOUT},
            timeout=JOB_TIMEOUT, event_handler=self._event, quiet=True)
        return self

    def wait(self):
        self.thread.join(JOB_TIMEOUT + 60)
        assert not self.thread.is_alive(), "{}: the runner did not finish in {} s".format(self.name, JOB_TIMEOUT + 60)
        return self

    @property
    def artifact_dir(self):
        return os.path.join(str(self.private_data_dir), "artifacts", self.name)

    def failures(self):
        """Each failed event (not ignored, as AWX counts them): task, host and Ansible's msg."""
        out = []
        for event in self.events:
            data = event.get("event_data", {})
            if event.get("event") == "runner_on_failed" and not data.get("ignore_errors"):
                kind = "failed"
            elif event.get("event") == "runner_on_unreachable":
                kind = "unreachable"
            else:
                continue
            res = data.get("res", {})
            msg = res.get("msg") or res.get("stderr") or res.get("reason") or "(no msg; result keys: {})".format(
                ", ".join(sorted(res)))
            out.append("{} task '{}' on {}: {}".format(kind, data.get("task"), data.get("host"), msg))
        return out

    def explain(self):
        """Why a job failed, for an assertion message: its failed tasks with their msg, else stdout's end."""
        failures = self.failures()
        head = "job {} {} ({}): status {}, rc {}".format(self.job_id, self.name, self.template, self.runner.status, self.runner.rc)
        if failures:
            return head + "\n" + "\n".join(failures)
        stdout = "".join(event.get("stdout", "") + "\n" for event in self.events if event.get("stdout"))
        return head + ", no failed event; the end of its output:\n" + stdout[-4000:]

    def stats_event(self):
        stats = [e for e in self.events if e.get("event") == "playbook_on_stats"]
        assert len(stats) == 1, "{}: {} playbook_on_stats events\n{}".format(self.name, len(stats), self.explain())
        return stats[0]

    def artifacts(self):
        """The job's artifacts, as AWX stores them: the artifact_data of the playbook_on_stats event; the
        same as in that event's file in artifacts/<ident>/job_events, which runner.events reads."""
        data = self.stats_event()["event_data"]
        assert not data["failures"] and not data["dark"], (data, self.explain())
        on_disk = [e for e in self.runner.events if e.get("event") == "playbook_on_stats"]
        assert len(on_disk) == 1 and on_disk[0]["event_data"]["artifact_data"] == data["artifact_data"], on_disk
        for path in glob.glob(os.path.join(self.artifact_dir, "job_events", "*.json")):
            with open(path) as f:
                event = json.load(f)
            if event.get("event") == "playbook_on_stats":
                assert event["event_data"]["artifact_data"] == data["artifact_data"], path
        return data["artifact_data"]

    def assert_successful(self):
        """Successful as AWX judges a job: status and rc (also in the artifact dir), no failed event."""
        assert self.runner.status == "successful" and self.runner.rc == 0, self.explain()
        assert not self.failures(), self.explain()
        with open(os.path.join(self.artifact_dir, "status")) as f:
            assert f.read().strip() == "successful", self.explain()
        with open(os.path.join(self.artifact_dir, "rc")) as f:
            assert f.read().strip() == "0", self.explain()
        events = {e.get("event") for e in self.events}
        assert {"playbook_on_start", "playbook_on_task_start", "runner_on_ok", "playbook_on_stats"} <= events, events
        return self.artifacts()


@pytest.fixture
def control_dir():
    with tempfile.TemporaryDirectory(prefix="awxcp") as path:
        yield path


def run_jobs(tmp_path, control_dir, template, requests, ipam):
    """Start one job per request (survey answers) at once, as AWX runs a template with concurrent jobs
    enabled; wait for all of them."""
    jobs = [Job(tmp_path, control_dir, "{}-{}".format(template, answers["vm_name"]), template,
                dict(ipam, **survey_answers(template, **answers))).start() for answers in requests]
    return [job.wait() for job in jobs]


def allocated(dsn, owners):
    """{owner: {4: address, 6: address}} of the owners that hold addresses in the PostgreSQL IPAM."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT owner, family, address FROM ipam_allocation WHERE owner = ANY(%s)",
                            (list(owners),)).fetchall()
    out = {}
    for owner, family, address in rows:
        out.setdefault(owner, {})[family] = address
    return out


def test_execution_environment_requirements_import_where_the_runner_runs():
    """The EE's Python requirements (execution-environment.yml: its python file, ansible_core,
    ansible_runner) are installed at the EE's pins and import under the interpreter of the
    ansible-playbook the runner starts."""
    with open(os.path.join(REPO, "execution-environment.yml")) as f:
        deps = yaml.safe_load(f)["dependencies"]
    with open(os.path.join(REPO, deps["python"])) as f:
        wanted = [line.split("#")[0].strip() for line in f]
    wanted = [line for line in wanted if line] + [deps["ansible_core"]["package_pip"], deps["ansible_runner"]["package_pip"]]
    playbook = shutil.which("ansible-playbook", path=RUNNER_PATH)
    assert playbook, RUNNER_PATH
    with open(playbook) as f:
        interpreter = f.readline()[2:].strip()
    modules = []
    for requirement in wanted:
        m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(==\s*(\S+))?$", requirement)
        assert m and m.group(4), "the EE's requirement {!r} is not pinned (name==version)".format(requirement)
        name, version = m.group(1), m.group(4)
        assert importlib.metadata.version(name) == version, (requirement, importlib.metadata.version(name))
        top = [mod for mod, dists in importlib.metadata.packages_distributions().items()
               if name.lower().replace("_", "-") in {d.lower().replace("_", "-") for d in dists} and not mod.startswith("_")]
        assert top, "no importable module of {}".format(name)
        modules += top
    assert {"ansible", "ansible_runner", "psycopg", "netaddr", "yaml"} <= set(modules), modules
    proc = subprocess.run([interpreter, "-c", "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)"]
                          + sorted(set(modules)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    assert proc.returncode == 0, (interpreter, modules, proc.stdout)
    # psycopg finds a libpq (psycopg[binary]'s): without one it imports but cannot connect
    proc = subprocess.run([interpreter, "-c", "import psycopg; print(psycopg.pq.version())"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0 and proc.stdout.strip().isdigit(), proc.stdout


def test_a_failed_job_names_its_task_and_msg(lab, site, ipam_extra_vars, tmp_path, control_dir):
    """A job that fails is explained by its failed event: the task and the playbook's msg."""
    ipam = json.loads(ipam_extra_vars)
    job, = run_jobs(tmp_path, control_dir, "vm_migrate", [{"vm_name": "awxnone", "node": "node2"}], ipam)
    assert job.runner.status == "failed" and job.runner.rc != 0, job.explain()
    failures = job.failures()
    assert failures and all(" task '" in f and "vm_name" in f for f in failures), job.explain()
    assert "awxnone" in job.explain() and "'res'" not in job.explain(), job.explain()


def test_four_awx_jobs_create_migrate_delete(lab, site, ipam_extra_vars, tmp_path, control_dir):
    ipam = json.loads(ipam_extra_vars)
    dsn = ipam["ipfabric_ipam"]["dsn"]
    names = [vm for vm, dummy in VMS]
    try:
        # --- four vm_create jobs at once, one PostgreSQL IPAM ------------------------------------------
        jobs = run_jobs(tmp_path, control_dir, "vm_create", [{"vm_name": vm, "node": node} for vm, node in VMS], ipam)
        addresses = {}
        for job, (vm, node) in zip(jobs, VMS):
            artifacts = job.assert_successful()
            alloc, = artifacts["vm_create"]
            assert alloc["owner"] == vm and alloc["ipv4"] and alloc["ipv6"], artifacts
            assert lab.vm_addresses(node, vm) == (alloc["ipv4"], alloc["ipv6"]), (vm, node, artifacts)
            addresses[vm] = (alloc["ipv4"], alloc["ipv6"])
        assert len({a[0] for a in addresses.values()}) == len(VMS), addresses
        assert len({a[1] for a in addresses.values()}) == len(VMS), addresses
        assert allocated(dsn, names) == {vm: {4: v4, 6: v6} for vm, (v4, v6) in addresses.items()}
        for vm, node in VMS:
            v4, v6 = addresses[vm]
            wait_for("{}'s /32 via {} on core1".format(vm, node),
                     lambda v4=v4, node=node: lab.core_routes("ipv4").get(v4 + "/32") == [NODES[node]], timeout=180)
            wait_for("{}'s /128 on core1".format(vm), lambda v6=v6: v6 + "/128" in lab.core_routes("ipv6"), timeout=180)
            assert lab.wait_reachable(v4, timeout=180), (vm, v4)     # a KVM guest boots first
            assert lab.wait_reachable(v6, timeout=180), (vm, v6)

        # --- vm_migrate (the survey's default phase: all, a live migration) ------------------------------
        vm, target = MIGRATE
        source = dict(VMS)[vm]
        job, = run_jobs(tmp_path, control_dir, "vm_migrate", [{"vm_name": vm, "node": target}], ipam)
        moved = job.assert_successful()["vm_migrate"]
        assert {k: moved[k] for k in ("vm", "from", "to", "ipv4", "ipv6", "phase", "moved", "live")} == {
            "vm": vm, "from": source, "to": target, "ipv4": [addresses[vm][0] + "/32"], "ipv6": [addresses[vm][1] + "/128"],
            "phase": "all", "moved": True, "live": True}, moved
        v4, v6 = addresses[vm]
        assert lab.vm_addresses(target, vm) == (v4, v6) and lab.vm_addresses(source, vm) == (None, None)
        wait_for("{}'s /32 via {} on core1".format(vm, target),
                 lambda: lab.core_routes("ipv4").get(v4 + "/32") == [NODES[target]], timeout=60)
        assert lab.wait_reachable(v4, timeout=60) and lab.wait_reachable(v6, timeout=60), (vm, v4, v6)

        # --- four vm_delete jobs at once -----------------------------------------------------------------
        jobs = run_jobs(tmp_path, control_dir, "vm_delete", [{"vm_name": vm} for vm in names], ipam)
        for job, vm in zip(jobs, names):
            released, = job.assert_successful()["vm_delete"]
            assert released["owner"] == vm and released["ipv4"] is None and released["ipv6"] is None, released
            assert released["changed"] is True, released
        assert allocated(dsn, names) == {}
        for vm, (v4, v6) in addresses.items():
            wait_for("{}'s prefixes withdrawn from core1".format(vm),
                     lambda v4=v4, v6=v6: v4 + "/32" not in lab.core_routes("ipv4") and v6 + "/128" not in lab.core_routes("ipv6"),
                     timeout=60)
            assert not lab.ping("inet1", v4), (vm, v4)
        assert all(lab.find_vm(vm) is None for vm in names), [(vm, lab.find_vm(vm)) for vm in names]
    finally:
        run_playbook("vm_delete.yml", "-e", ipam_extra_vars, "-e", json.dumps({"vms": [{"name": vm} for vm in names]}),
                     check=False)
