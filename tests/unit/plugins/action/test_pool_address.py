# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugins as Ansible runs them: options, task-var fallback, check and diff mode."""
from __future__ import annotations

import os
from unittest.mock import MagicMock

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.template import Templar
from ipam_testlib import snapshot

from ansible_collections.vmnet.ipfabric.plugins.action.ipam_audit import ActionModule as AuditAction
from ansible_collections.vmnet.ipfabric.plugins.action.pool_address import ActionModule as PoolAction

POOLS = [{"name": "pub", "ipv4": ["198.51.100.0/24"], "ipv6": ["2001:db8:100::/64"], "exclude": ["198.51.100.1"]}]


def run(cls, args, task_vars, check=False, diff=False):
    task = MagicMock()
    task.args = dict(args)
    task.check_mode = check
    task.diff = diff
    task.async_val = 0
    task.action = "vmnet.ipfabric.test"
    loader = DataLoader()
    templar = Templar(loader=loader, variables=task_vars)
    plugin = cls(task=task, connection=MagicMock(), play_context=PlayContext(), loader=loader, templar=templar,
                 shared_loader_obj=None)
    return plugin.run(task_vars=task_vars)


@pytest.fixture
def tv(cfg):
    store = {k: v for k, v in cfg.items() if k in ("backend", "path", "dsn", "cooldown")}
    return {"ipfabric_pools": POOLS, "ipfabric_ipam": store}


def test_single_form_check_apply_idempotent(tv, cfg):
    r = run(PoolAction, {"owner": "vm1"}, tv, check=True, diff=True)
    if r.get('failed'):
        pytest.fail(str(r), pytrace=False)
    assert r["changed"] and (r["ipv4"], r["ipv6"]) == ("198.51.100.2", "2001:db8:100::1")
    assert r["diff"]["before"] == {"vm1": {"ipv4": None, "ipv6": None}}
    assert r["diff"]["after"] == {"vm1": {"ipv4": "198.51.100.2", "ipv6": "2001:db8:100::1"}}
    if cfg["backend"] == "sqlite":
        assert not os.path.exists(cfg["path"])
    r = run(PoolAction, {"owner": "vm1"}, tv)
    assert r["changed"] and r["allocations"] == [
        {"owner": "vm1", "uuid": None, "pool": "pub", "ipv4": "198.51.100.2", "ipv6": "2001:db8:100::1",
         "changed": True}]
    r = run(PoolAction, {"owner": "vm1"}, tv, check=True, diff=True)
    assert not r["changed"] and r["diff"]["after"] == {}
    r = run(PoolAction, {"owner": "vm1", "state": "absent"}, tv, diff=True)
    assert r["changed"] and r["released"] == {"ipv4": "198.51.100.2", "ipv6": "2001:db8:100::1"}
    assert r["diff"]["after"] == {"vm1": {"ipv4": None, "ipv6": None}}


def test_list_form_and_audit(tv):
    r = run(PoolAction, {"owners": ["a", {"name": "b", "uuid": "u-b", "ipv4": "198.51.100.77"}, "c"],
                         "families": ["ipv4"]}, tv)
    assert [(a["owner"], a["ipv4"], a["ipv6"], a["uuid"]) for a in r["allocations"]] == [
        ("a", "198.51.100.2", None, None), ("b", "198.51.100.77", None, "u-b"), ("c", "198.51.100.3", None, None)]
    a = run(AuditAction, {"vms": ["a", "b", "d"]}, tv)
    if a.get('failed'):
        pytest.fail(str(a), pytrace=False)
    assert [o["owner"] for o in a["orphans"]] == ["c"]
    assert a["missing"] == ["d"]
    assert a["by_owner"]["b"] == {"pool": "pub", "uuid": "u-b", "ipv4": "198.51.100.77", "ipv6": None}
    a = run(AuditAction, {"vms": ["a", "b", "d"], "fail_on_findings": True}, tv)
    assert a["failed"] and "without a VM: c" in a["msg"] and "without an allocation: d" in a["msg"]
    a = run(AuditAction, {"vms": ["a", "b", "c"], "fail_on_findings": True}, tv)
    assert not a.get("failed") and a["findings"] == []


def test_audit_reports_allocations_outside_a_shrunk_pool(tv):
    run(PoolAction, {"owners": ["a", "b"]}, tv)
    tv = dict(tv, ipfabric_pools=[dict(POOLS[0], exclude=["198.51.100.1", "198.51.100.3"])])
    a = run(AuditAction, {}, tv)
    assert [(o["owner"], o["address"]) for o in a["outside"]] == [("b", "198.51.100.3")]
    assert "orphans" not in a and a["findings"] == ["1 allocation(s) outside their pool's current definition"]


def test_task_vars_are_templated_and_options_win(tv, cfg):
    # inventory strings reach an action plugin untemplated (and, since ansible-core 2.19, trusted)
    try:
        from ansible.template import trust_as_template
    except ImportError:  # ansible-core < 2.19
        def trust_as_template(value):
            return value
    tv = dict(tv, pool_cidr="198.51.100.0/24",
              ipfabric_pools=[{"name": "pub", "ipv4": [trust_as_template("{{ pool_cidr }}")]}])
    r = run(PoolAction, {"owner": "vm1"}, tv)
    assert r.get("ipv4") == "198.51.100.1" and r["ipv6"] is None, r
    r = run(PoolAction, {"owner": "vm2", "pools": [{"name": "other", "ipv4": ["192.0.2.0/24"]}]}, tv)
    assert r["pool"] == "other" and r["ipv4"] == "192.0.2.1"


@pytest.mark.parametrize("args, extra, match", [
    ({}, {}, "one of the following is required: owner, owners"),
    ({"owner": "vm1", "owners": ["vm2"]}, {}, "mutually exclusive"),
    ({"owner": "vm1", "state": "gone"}, {}, "value of state must be one of"),
    ({"owner": "vm1", "pool": "nope"}, {}, "no pool named 'nope'"),
    ({"owner": "vm1"}, {"ipfabric_pools": [{"name": "pub", "ipv4": ["198.51.100.1/24"]}]},
     r"pool 'pub' field ipv4\[0\]: '198.51.100.1/24' has host bits set"),
    ({"owner": "vm1"}, {"ipfabric_gateway_ipv4": "198.51.100.9"},
     r"contains the gateway 198.51.100.9 \(ipfabric_gateway_ipv4\)"),
    ({"owner": "vm1"}, {"ipfabric_ipam": {"backend": "mysql"}}, "ipfabric_ipam field backend: 'mysql'"),
    ({"owner": "vm1"}, {"ipfabric_ipam": {"backend": "sqlite", "cooldown": "soon"}},
     "ipfabric_ipam field cooldown: 'soon' is not a number"),
    ({"owner": "vm1"}, {"ipfabric_ipam": {"backend": "postgresql"}}, "backend=postgresql needs a dsn"),
    ({"owner": "vm1", "ipv4": "198.51.100.1"}, {}, r"cannot reserve: 198.51.100.1 is excluded"),
    ({"owner": "vm1", "bogus": 1}, {}, "bogus"),
])
def test_bad_input_is_a_failed_task_and_changes_nothing(tv, cfg, args, extra, match):
    run(PoolAction, {"owner": "vm0"}, tv)
    before = snapshot(cfg)
    r = run(PoolAction, args, dict(tv, **extra))
    assert r.get("failed") is True and not r.get("changed"), r
    assert pytest.importorskip("re").search(match, r["msg"]), r["msg"]
    assert snapshot(cfg) == before
