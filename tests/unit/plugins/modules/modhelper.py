# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() with arguments and a fake run_command; return the parsed result."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

try:  # ansible-core 2.19+
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core 2.16 - 2.18: the module reads its arguments from basic._ANSIBLE_ARGS
    patch_module_args = None


class FakeRunner(object):
    """Answers run_command calls with a function of the argv; records every call."""

    def __init__(self, answer):
        self.answer = answer
        self.calls = []

    def __call__(self, args, **kwargs):
        self.calls.append((list(args), kwargs))
        return self.answer(list(args), kwargs)


def run_module(main, args, answer, monkeypatch, capsys):
    runner = FakeRunner(answer)
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', lambda self, args, **kw: runner(args, **kw))
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path',
                        lambda self, name, required=False, opt_dirs=None: '/usr/bin/' + name)
    if patch_module_args is not None:
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                main()
    else:
        monkeypatch.setattr(basic, '_ANSIBLE_ARGS', to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args})))
        with pytest.raises(SystemExit):
            main()
    out = capsys.readouterr().out
    return json.loads(out), runner.calls
