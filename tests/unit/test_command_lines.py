# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""No command line carries unescaped user input (issue 7), checked on the source.

* Python (modules, module_utils, plugins): every ``run_command`` gets an argv list (never a string that
  a shell would split), nothing uses ``use_unsafe_shell``, ``shell=True``, ``os.system`` or ``os.popen``;
  user data reaches ``ip`` and ``vtysh`` only through stdin (``ip -batch -``) or a file (``vtysh -f``),
  after validation.
* Roles and playbooks: ``command`` tasks use ``argv`` (a list), no ``shell`` task has a Jinja expression,
  and every Jinja expression in a ``raw`` task ends with ``| quote``.
"""
from __future__ import annotations

import ast
import glob
import os
import re

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY_FILES = sorted(glob.glob(os.path.join(REPO, "plugins", "**", "*.py"), recursive=True))
YAML_FILES = sorted(glob.glob(os.path.join(REPO, "roles", "*", "tasks", "*.yml"))
                    + glob.glob(os.path.join(REPO, "roles", "*", "handlers", "*.yml"))
                    + glob.glob(os.path.join(REPO, "playbooks", "*.yml")))


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = getattr(f.value, "id", "") if isinstance(f, ast.Attribute) else ""
            yield node, name, owner


@pytest.mark.parametrize("path", PY_FILES, ids=lambda p: os.path.relpath(p, REPO))
def test_python_never_builds_a_shell_command(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for call, name, owner in _calls(tree):
        where = "%s:%d" % (os.path.relpath(path, REPO), call.lineno)
        for kw in call.keywords:
            if kw.arg in ("use_unsafe_shell", "shell"):
                assert isinstance(kw.value, ast.Constant) and kw.value.value is False, where + ": shell execution"
        assert not (owner == "os" and name in ("system", "popen")), where + ": os.%s" % name
        if name == "run_command" and call.args:
            first = call.args[0]
            assert not isinstance(first, (ast.Constant, ast.JoinedStr)), where + ": run_command with a string"
            assert not (isinstance(first, ast.BinOp) and isinstance(first.op, ast.Mod)), \
                where + ": run_command with a %-formatted string"
            assert not (isinstance(first, ast.Call) and getattr(first.func, "attr", "") == "format"), \
                where + ": run_command with a str.format() string"


def _tasks(data):
    """Every task (also inside blocks and plays) of a tasks file or a playbook."""
    if isinstance(data, list):
        for item in data:
            yield from _tasks(item)
    elif isinstance(data, dict):
        if any(k in data for k in ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always")):
            for k in ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always"):
                yield from _tasks(data.get(k) or [])
        else:
            yield data


JINJA = re.compile(r"\{\{(.*?)\}\}", re.S)


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: os.path.relpath(p, REPO))
def test_tasks_pass_argv_not_strings(path):
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    for task in _tasks(data or []):
        name = task.get("name", "?")
        for key in ("ansible.builtin.command", "command", "ansible.builtin.shell", "shell",
                    "ansible.builtin.raw", "raw"):
            if key not in task:
                continue
            value = task[key]
            if key.endswith("command"):
                assert isinstance(value, dict) and "argv" in value and "cmd" not in value, \
                    "%s / %s: command must use argv" % (os.path.relpath(path, REPO), name)
            elif key.endswith("shell"):
                text = value if isinstance(value, str) else str(value.get("cmd", ""))
                assert "{{" not in text, "%s / %s: shell with templated input" % (os.path.relpath(path, REPO), name)
            else:
                text = value if isinstance(value, str) else str(value.get("_raw_params", ""))
                for expr in JINJA.findall(text):
                    assert re.search(r"\|\s*quote\s*$", expr.strip()), \
                        "%s / %s: raw with unquoted {{%s}}" % (os.path.relpath(path, REPO), name, expr)


def test_scan_found_the_code():
    assert len(PY_FILES) >= 15 and len(YAML_FILES) >= 15
