# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The frame every controller-side action plugin of this collection shares.

A subclass sets ARGUMENT_SPEC (and VALIDATION, extra keyword arguments of validate_argument_spec, e.g.
mutually_exclusive), ERRORS (the exceptions that are bad input or a refused operation) and implements
run_checked(args, task_vars). Unknown or invalid options and those errors become a failed result with
the message; nothing else is caught.
"""
from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class CheckedActionBase(ActionBase):
    """ActionBase with argument validation and error reporting done once."""

    TRANSFERS_FILES = False
    _requires_connection = False
    ARGUMENT_SPEC: dict = {}
    VALIDATION: dict = {}
    ERRORS: tuple = ()
    ERROR_PREFIX = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._VALID_ARGS = frozenset(cls.ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        try:
            result = super().run(tmp, task_vars)
        except AnsibleActionFail as exc:  # unknown option
            return {"failed": True, "changed": False, "msg": str(exc)}
        del tmp
        try:
            dummy, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC, **self.VALIDATION)
        except AnsibleActionFail as exc:
            return dict(result, failed=True, msg=str(exc))
        try:
            result.update(self.run_checked(args, task_vars or {}))
        except self.ERRORS as exc:  # pylint: disable=catching-non-exception
            result.update(failed=True, changed=False, msg=self.ERROR_PREFIX + str(exc))
        return result

    def run_checked(self, args: dict, task_vars: dict) -> dict:
        """The plugin's work on validated arguments; returns what goes into the result."""
        raise NotImplementedError
