# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side asks plugins/module_utils/_names.py, the one VM-name authority, about VM names."""
from __future__ import annotations

import pytest

from ansible_collections.vmnet.ipfabric.plugins.action.ipam_audit import run_ipam_audit
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _names
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_requests import parse_requests

NAMES = ["vm1", "a" * 63, "a" * 64, "web1\n", "web\n1", "-x", "_x", "x.y-z_1", "ab~cdef", "wéb1", "", "a b", None, 7]


def accepted_by_ipam(name):
    try:
        parse_requests([name if not isinstance(name, (int, type(None))) else {"name": name}])
    except IpamError as exc:
        assert "field name" in str(exc)
        return False
    return True


def accepted_by_audit(name, tmp_path):
    args = {"vms": [name], "pools": [{"name": "p", "ipv4": ["198.51.100.0/24"]}],
            "store": {"backend": "sqlite", "path": str(tmp_path / "s.sqlite")}}
    try:
        run_ipam_audit(args, {})
    except IpamError as exc:
        assert "vms[0]" in str(exc)
        return False
    return True


@pytest.mark.parametrize("name", NAMES)
def test_ipam_accepts_exactly_the_names_the_authority_accepts(name, tmp_path):
    valid = _names.validate_vm_name(name) is None
    assert accepted_by_ipam(name) == valid
    assert accepted_by_audit(name, tmp_path) == valid


def test_the_reason_comes_from_the_authority_and_it_is_asked_at_call_time(monkeypatch, tmp_path):
    with pytest.raises(IpamError) as exc:
        parse_requests(["web1\n"])
    assert _names.validate_vm_name("web1\n") in str(exc.value)
    # a stricter authority (say, a future rule) is followed without touching the IPAM
    monkeypatch.setattr(_names, "validate_vm_name", lambda name: "is reserved" if name == "vm1" else None)
    assert not accepted_by_ipam("vm1") and accepted_by_ipam("vm2")
    assert not accepted_by_audit("vm1", tmp_path) and accepted_by_audit("vm2", tmp_path)
