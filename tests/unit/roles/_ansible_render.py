# -*- coding: utf-8 -*-
"""The render worker of _render.py: renders role templates with Ansible's own variable handling and templar.

    python _ansible_render.py COLLECTIONS_PATH     (COLLECTIONS_PATH holds ansible_collections/vmnet/ipfabric)

Reads one JSON request per line on stdin, ``{"role", "template", "inventory", "overrides"}`` (inventory:
what _render.lab_vars returns), and answers one JSON line each: ``{"ok": true, "text": ...}`` or
``{"ok": false, "error": ...}``. It ends at the end of its input.

What it does for a request is what a play does up to the role's template task: an inventory (groups, group
``all``, host variables; ``overrides`` are host variables of the host), the host's facts, a play with the
role (Ansible's role loader reads ``defaults/main.yml`` and ``vars/main.yml``), the vars file of the
distribution that the role's ``include_vars`` task would find (include_vars precedence), VariableManager's
merge for a task of the role, ``hostvars`` as the task queue manager gives it, and the templar with the
settings of the template action (plugins/action/template.py: trust the file as a template, ``trim_blocks``,
no ``lstrip_blocks``, ``\\n``, the template's directory as search path).
"""

from __future__ import annotations

import json
import os
import sys

from ansible.plugins.loader import init_plugin_loader

TEMPLATE_OVERRIDES = {"trim_blocks": True, "lstrip_blocks": False, "newline_sequence": "\n"}


def distribution_vars_file(role_path, facts):
    """The file the role's 'Load the variables of this distribution' task finds (its first_found list)."""
    names = ["%s_%s.yml" % (facts.get("distribution"), facts.get("distribution_version")),
             "%s_%s.yml" % (facts.get("distribution"), facts.get("distribution_major_version")),
             "%s.yml" % facts.get("distribution"), "%s.yml" % facts.get("os_family")]
    for name in names:
        path = os.path.join(role_path, "vars", name)
        if os.path.isfile(path):
            return path
    return None


def render(request, repo_root):
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook.play import Play
    from ansible.template import Templar
    from ansible.vars.hostvars import HostVars
    from ansible.vars.manager import VariableManager

    inv = request["inventory"]
    name = inv["host"]
    loader = DataLoader()
    loader.set_basedir(os.path.join(repo_root, "playbooks"))
    inventory = InventoryManager(loader=loader, sources=None, parse=False)
    # InventoryManager has no public way to add hosts and variables without an inventory source
    data = inventory._inventory  # pylint: disable=protected-access
    for group, hosts in inv["groups"].items():
        data.add_group(group)
        for h in hosts:
            data.add_host(h, group=group)
    for key, value in inv["all"].items():
        data.set_variable("all", key, value)
    for h, hv in inv["hostvars"].items():
        for key, value in dict(hv, **(request["overrides"] if h == name else {})).items():
            data.set_variable(h, key, value)
    variable_manager = VariableManager(loader=loader, inventory=inventory)
    variable_manager.set_host_facts(name, inv["facts"])
    play = Play.load({"name": "render", "hosts": name, "gather_facts": False,
                      "roles": ["vmnet.ipfabric." + request["role"]]}, variable_manager=variable_manager, loader=loader)
    role = play.get_roles()[0]
    role_path = role._role_path  # pylint: disable=protected-access
    vars_file = distribution_vars_file(role_path, inv["facts"])
    if vars_file:
        for key, value in (loader.load_from_file(vars_file) or {}).items():
            variable_manager.set_host_variable(name, key, value)
    task = next(t for block in role.compile(play) for t in block.block)
    task_vars = variable_manager.get_vars(play=play, host=inventory.get_host(name), task=task)
    task_vars["hostvars"] = HostVars(inventory=inventory, variable_manager=variable_manager, loader=loader)
    src = os.path.join(role_path, "templates", request["template"])
    try:
        from ansible.template import trust_as_template
    except ImportError:  # ansible-core 2.16 - 2.18 (no data tagging): what their template action does
        from ansible.template import AnsibleEnvironment
        with open(src, encoding="utf-8") as f:
            text = f.read()
        overrides = dict(TEMPLATE_OVERRIDES)
        templar = Templar(loader=loader, variables=task_vars).copy_with_new_env(
            environment_class=AnsibleEnvironment, searchpath=[os.path.dirname(src)],
            newline_sequence=overrides.pop("newline_sequence"), available_variables=task_vars)
        return templar.do_template(text, preserve_trailing_newlines=True, escape_backslashes=False,
                                   overrides=overrides)
    templar = Templar(loader=loader, variables=task_vars).copy_with_new_env(
        searchpath=[os.path.dirname(src)], available_variables=task_vars)
    return templar.template(trust_as_template(loader.get_text_file_contents(src)), escape_backslashes=False,
                            overrides=TEMPLATE_OVERRIDES)


def main(argv):
    # the answers get stdout to themselves: whatever Ansible prints goes to stderr
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    init_plugin_loader([argv[1]])
    repo_root = os.path.join(argv[1], "ansible_collections", "vmnet", "ipfabric")
    for line in sys.stdin:
        # whatever goes wrong goes back to the test as Ansible's message
        try:
            answer = {"ok": True, "text": render(json.loads(line), repo_root)}
        except Exception as exc:  # pylint: disable=broad-except
            answer = {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
