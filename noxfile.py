# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ansible-core matrix of vmnet.ipfabric (antsibull-nox sessions; `make matrix`, part of `make test`).

For every ansible-core release that meta/runtime.yml claims (CORE_VERSIONS), on this machine's Python 3.11:

  sanity-<X.Y>   ansible-test sanity, no ignore files, in the collection tree antsibull-nox prepares
                 (its add_ansible_test_session: the collection copied by git ls-files, the collections
                 it depends on linked in from the controller's `ansible-galaxy collection list`)
  units-<X.Y>    the unit tests (tests/unit, pytest) with that ansible-core and the controller
                 requirements of requirements.txt

antsibull-nox's own sanity and units sessions run ansible-test in a container (--docker); there is none
here, so these are the same sessions with `--python 3.11` instead (ansible-test's managed virtualenvs,
cached under ~/.ansible/test). The virtualenvs live under .build/nox and are reused (`make matrix`).

  nox --envdir .build/nox --reuse-venv yes -s sanity-2.16 units-2.16
"""
import glob
import os
import re
import shutil
import sys
import sysconfig

import nox

try:
    import antsibull_nox
except ImportError:
    print("You need to install antsibull-nox in the same Python environment as nox (make deps).")
    sys.exit(1)

antsibull_nox.load_antsibull_nox_toml()

HERE = os.path.dirname(os.path.abspath(__file__))
# The ansible-core releases the collection claims (meta/runtime.yml requires_ansible), oldest first.
# Each session installs the newest X.Y.* from PyPI (antsibull-nox's PyPI source); the controller's own
# pin (requirements.txt, the execution environment) is tested by `make unit` and the lab tests.
CORE_VERSIONS = ("2.16", "2.17", "2.18", "2.19")
PYTHON = "3.11"
GET_PIP_STAND_IN = os.path.join(HERE, "tests", "tools", "ansible_test_get_pip.py")
# tools the unit tests run besides pytest (requirements-dev.txt pins them)
UNIT_TOOLS = ("pytest", "pytest-xdist", "hypothesis", "ansible-builder", "vermin", "prometheus-client")

# The collections this one depends on (galaxy.yml: junipernetworks.junos and what it needs) come from
# the community package in the virtualenv that runs nox (requirements-dev.txt), not from Galaxy:
# antsibull-nox lists them with the session's ansible-galaxy, which looks here.
os.environ["ANSIBLE_COLLECTIONS_PATH"] = sysconfig.get_path("purelib")

nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True


def _pins(path):
    """{name: line} of a requirements file (no -r, no comments)."""
    out = {}
    with open(os.path.join(HERE, path)) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                out[re.split(r"[\[=<>!~ ]", line, 1)[0].lower()] = line
    return out


def install_get_pip_stand_in():
    """ansible-test bootstraps pip in each sanity virtualenv with get-pip.py fetched from a host this
    machine cannot reach; put the stand-in (tests/tools/ansible_test_get_pip.py) into its cache under the
    name each installed ansible-test looks for (the pip version it pins differs between releases)."""
    cache = os.path.expanduser("~/.ansible/test/cache")
    os.makedirs(cache, exist_ok=True)
    pattern = os.path.join(HERE, ".build", "nox", "*", "lib", "python*", "site-packages", "ansible_test",
                           "_internal", "python_requirements.py")
    for source in glob.glob(pattern):
        with open(source) as f:
            match = re.search(r"pip=.([0-9.]+).", f.read())
        if match:
            shutil.copyfile(GET_PIP_STAND_IN, os.path.join(cache, "get_pip_%s.py" % match.group(1).replace(".", "_")))


def drop_ansible_test_scratch():
    """antsibull-nox 1.10 copies ansible-test's tests/output back into this tree walking it bottom-up, and
    so fails on a nested directory whose parent it has not made yet (tests/output/.tmp/pylint); .tmp is
    ansible-test's scratch space, not a result: remove it from the prepared tree before the copy."""
    shutil.rmtree(os.path.join(os.getcwd(), "tests", "output", ".tmp"), ignore_errors=True)


def install_ansible_core(session, core, extra=()):
    """ansible-core X.Y.* (the newest on PyPI), the controller's requirements (requirements.txt, without
    its own ansible-core pin) and ``extra`` in the session's virtualenv."""
    controller = _pins("requirements.txt")
    controller.pop("ansible-core")
    major, minor = core.split(".")
    session.install("ansible-core>=%s,<%s.%d" % (core, major, int(minor) + 1), *(list(controller.values()) + list(extra)))
    session.run("ansible", "--version")


for _core in CORE_VERSIONS:
    antsibull_nox.add_ansible_test_session(
        name="sanity-" + _core,
        description="ansible-test sanity (no ignore files) under ansible-core " + _core,
        ansible_test_params=["sanity", "--python", PYTHON, "--color", "no"],
        add_posargs=True,
        default=True,
        ansible_core_version=_core,
        ansible_core_source="pypi",
        handle_coverage="never",
        callback_before=install_get_pip_stand_in,
        callback_after=drop_ansible_test_scratch,
    )

    def _units(session, core=_core):
        dev = _pins("requirements-dev.txt")
        install_ansible_core(session, core, [dev[t] for t in UNIT_TOOLS])
        session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/unit", *session.posargs,
                    env={"PYTHONDONTWRITEBYTECODE": "1"})

    _units.__doc__ = "unit tests (tests/unit) under ansible-core " + _core
    nox.session(name="units-" + _core, python=PYTHON, default=True)(_units)


@nox.session(name="lab-smoke-" + CORE_VERSIONS[0], python=PYTHON, default=False)
def lab_smoke_oldest(session):
    """site.yml, vm_create, verify and vm_delete in the real lab (tests/lab_tests/test_walking_skeleton.py)
    with the playbooks run by the oldest ansible-core claimed; the newest is the controller's pin, which
    every lab test runs with. The lab instance is $VMNET_LAB_INSTANCE (0), brought up here and down after."""
    install_ansible_core(session, CORE_VERSIONS[0])
    lab = os.path.join(HERE, "tests", "lab", "lab")
    env = {
        "VMNET_ANSIBLE_BIN": os.path.abspath(session.bin),
        "VMNET_LAB_PARALLEL": "1",        # the lab fixture brings the lab up
        # the checkout as vmnet.ipfabric, then the collections it depends on (the community package)
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(HERE, ".build", "collections") + ":" + sysconfig.get_path("purelib"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    try:
        # the test harness is the controller's (.venv); only the Ansible it drives is this session's
        session.run(os.path.join(HERE, ".venv", "bin", "pytest"), "-q", "-p", "no:cacheprovider",
                    "tests/lab_tests/test_walking_skeleton.py", *session.posargs, env=env, external=True)
    finally:
        session.run(lab, "down", external=True)
