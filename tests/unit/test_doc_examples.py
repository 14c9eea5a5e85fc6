# -*- coding: utf-8 -*-
"""The EXAMPLES of every module, filter and role entry point are tasks or plays a user can paste.

`make docs` renders them; antsibull-docs and ansible-test check that they are YAML, not what they say.
Here: each task has exactly one action, named by its FQCN, with its arguments under it (a ``msg:`` beside
``ansible.builtin.debug:`` instead of under it is valid YAML but a broken task); the collection's own
modules get only options their DOCUMENTATION has; roles are named by FQCN; a filter's examples use it by
its FQCN; and every filter the plugins register has its documentation file.
"""

from __future__ import annotations

import ast
import glob
import os

import pytest
import yaml

from ansible.playbook.play import Play
from ansible.playbook.task import Task

from ansible_collections.vmnet.ipfabric.plugins.filter import ipfabric, lifecycle, migration

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COLLECTION = "vmnet.ipfabric."
TASK_KEYWORDS = set(Task.fattributes) - {"action", "args"}
PLAY_KEYWORDS = set(Play.fattributes)
MODULES = sorted(glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py")))


def _module_docs(path):
    """DOCUMENTATION (parsed) and EXAMPLES (text) of a module file."""
    found = {}
    for node in ast.parse(open(path).read()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and \
                node.targets[0].id in ("DOCUMENTATION", "EXAMPLES"):
            found[node.targets[0].id] = node.value.value
    return yaml.safe_load(found["DOCUMENTATION"]), found.get("EXAMPLES")


def _option_names(doc):
    names = set()
    for name, spec in (doc.get("options") or {}).items():
        names.add(name)
        names.update(spec.get("aliases") or [])
    return names


MODULE_OPTIONS = {COLLECTION + os.path.basename(p)[:-3]: _option_names(_module_docs(p)[0]) for p in MODULES}


def _check_tasks(where, tasks):
    assert isinstance(tasks, list) and tasks, "%s: the examples are not a list of tasks or plays" % where
    for item in tasks:
        assert isinstance(item, dict), "%s: %r is not a task or a play" % (where, item)
        if "hosts" in item:
            unknown = set(item) - PLAY_KEYWORDS
            assert not unknown, "%s: play %r: unknown keyword(s) %s" % (where, item.get("name"), sorted(unknown))
            for role in item.get("roles") or []:
                name = role if isinstance(role, str) else role.get("role", role.get("name"))
                assert name.startswith(COLLECTION), "%s: role %r is not named by its FQCN" % (where, name)
            for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                if item.get(key):
                    _check_tasks(where, item[key])
            continue
        if "block" in item:
            _check_tasks(where, item["block"])
            continue
        actions = sorted(set(item) - TASK_KEYWORDS)
        assert len(actions) == 1, "%s: task %r has %d actions: %s (arguments not indented under the action?)" % (
            where, item.get("name"), len(actions), actions)
        action = actions[0]
        assert action.count(".") == 2, "%s: task %r: action %r is not an FQCN" % (where, item.get("name"), action)
        if action in MODULE_OPTIONS and isinstance(item[action], dict):
            unknown = set(item[action]) - MODULE_OPTIONS[action]
            assert not unknown, "%s: task %r: %s has no option(s) %s" % (where, item.get("name"), action,
                                                                         sorted(unknown))


@pytest.mark.parametrize("path", MODULES, ids=os.path.basename)
def test_module_examples(path):
    _doc, examples = _module_docs(path)
    assert examples and examples.strip(), "%s has no EXAMPLES" % path
    _check_tasks(os.path.basename(path), yaml.safe_load(examples))


FILTERS = sorted(set(ipfabric.FilterModule().filters()) | set(lifecycle.FilterModule().filters())
                 | set(migration.FilterModule().filters()))


@pytest.mark.parametrize("name", FILTERS)
def test_filter_documentation_and_examples(name):
    path = os.path.join(ROOT, "plugins", "filter", name + ".yml")
    assert os.path.exists(path), "filter %s has no documentation file plugins/filter/%s.yml" % (name, name)
    with open(path) as f:
        doc = yaml.safe_load(f)
    assert set(doc) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}
    assert doc["DOCUMENTATION"]["name"] == name
    assert COLLECTION + name in doc["EXAMPLES"], "the examples of %s do not use %s%s" % (name, COLLECTION, name)
    _check_tasks(name + ".yml", yaml.safe_load(doc["EXAMPLES"]))


ROLE_SPECS = sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")))


@pytest.mark.parametrize("path", ROLE_SPECS, ids=lambda p: p.split(os.sep)[-3])
def test_role_entry_point_examples(path):
    with open(path) as f:
        specs = yaml.safe_load(f)["argument_specs"]
    role = path.split(os.sep)[-3]
    for entry_point, spec in specs.items():
        where = "role %s, entry point %s" % (role, entry_point)
        assert spec.get("examples"), "%s has no examples" % where
        assert COLLECTION + role in spec["examples"]
        _check_tasks(where, yaml.safe_load(spec["examples"]))


def test_every_role_has_argument_specs():
    roles = sorted(os.listdir(os.path.join(ROOT, "roles")))
    assert [p.split(os.sep)[-3] for p in ROLE_SPECS] == roles
