# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ipam_export and ipam_import (issue 15.5): moving the store, SQLite file to PostgreSQL, with every
allocation, reservation and cooldown kept and nothing handed out twice."""
from __future__ import annotations

import json
import os
import re

import pytest
from ipam_testlib import make_cfg, snapshot

from ansible_collections.vmnet.ipfabric.plugins.action.ipam_export import ActionModule as ExportAction
from ansible_collections.vmnet.ipfabric.plugins.action.ipam_export import run_ipam_export
from ansible_collections.vmnet.ipfabric.plugins.action.ipam_import import ActionModule as ImportAction
from ansible_collections.vmnet.ipfabric.plugins.action.ipam_import import run_ipam_import
from ansible_collections.vmnet.ipfabric.plugins.action.pool_address import run_pool_address
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_config import open_store
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError, parse_pools
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_requests import Request
from test_pool_address import run  # noqa: E402  (the action plugins as Ansible runs them)

POOLS = [{"name": "pub", "ipv4": ["198.51.100.0/24"], "ipv6": ["2001:db8:100::/64"], "exclude": ["198.51.100.1"]}]


def store_of(cfg):
    return {k: v for k, v in cfg.items() if k in ("backend", "path", "dsn")}


def populate(cfg):
    """A store with a bit of everything: held (single and batch), a reservation, UUID handles, addresses
    cooling down (cooldown 600), one owner that came back and reclaimed its address."""
    store = store_of(cfg)

    def pa(args):
        run_pool_address(dict(args, pools=POOLS, store=store, cooldown=600), {})
    pa({"owners": ["web1", {"name": "db1", "uuid": "u-db1"}, "cache1"]})
    pa({"owner": "res1", "ipv4": "198.51.100.77", "ipv6": "2001:db8:100::77"})
    pa({"owners": ["gone1", "gone2", "back1"]})
    pa({"owners": ["gone1", "gone2", "back1"], "state": "absent"})
    pa({"owner": "back1"})  # reclaims its cooling address
    pa({"owner": "v6only", "families": ["ipv6"]})


def rows(cfg):
    """Every row, in address order (the stores sort NULL owners differently)."""
    with open_store(cfg, check=True) as s:
        return sorted(s.rows(), key=lambda r: (r["family"], r["value"]))


def test_export_is_every_row_one_per_line_and_idempotent(cfg, tmp_path):
    populate(cfg)
    dest = str(tmp_path / "ipam.json")
    r = run_ipam_export({"dest": dest, "store": store_of(cfg)}, {}, check=True, diff=True)
    assert r["changed"] and not os.path.exists(dest) and r["diff"]["before"] == ""
    r = run_ipam_export({"dest": dest, "store": store_of(cfg)}, {})
    assert r["changed"] and r["counts"] == {"held": 11, "cooling": 4, "reserved": 2, "pools": 1} and not r["retired"]
    doc = json.load(open(dest))
    assert doc["format"] == "vmnet.ipfabric.ipam" and doc["version"] == 1
    assert len(doc["allocations"]) == len(rows(cfg)) == 15
    assert oct(os.stat(dest).st_mode & 0o777) == "0o600"
    lines = open(dest).read().splitlines()
    assert sum(1 for line in lines if '"address"' in line) == 15   # one row per line
    cooling = [a for a in doc["allocations"] if a["owner"] is None]
    assert sorted(a["last_owner"] for a in cooling) == ["gone1", "gone1", "gone2", "gone2"]
    assert all(a["released_at"] for a in cooling)
    mtime = os.stat(dest).st_mtime_ns
    again = run_ipam_export({"dest": dest, "store": store_of(cfg)}, {}, diff=True)
    assert not again["changed"] and os.stat(dest).st_mtime_ns == mtime
    assert again["diff"]["before"] == again["diff"]["after"]


def test_import_keeps_everything_and_is_idempotent(cfg, tmp_path, pg_server):
    """The other direction too: whatever the test's backend, export it and import into a fresh store of the
    other backend; the rows are identical, the run index consistent."""
    populate(cfg)
    dest = str(tmp_path / "ipam.json")
    run_ipam_export({"dest": dest, "store": store_of(cfg)}, {})
    other = make_cfg("postgresql" if cfg["backend"] == "sqlite" else "sqlite", tmp_path / "o", pg_server)
    os.makedirs(tmp_path / "o", exist_ok=True)
    r = run_ipam_import({"src": dest, "store": store_of(other)}, {}, check=True, diff=True)
    assert r["changed"] and r["imported"] == {"held": 11, "cooling": 4, "reserved": 2}
    assert "ipv4 198.51.100.77: held by res1, reserved, in pool pub\n" in r["diff"]["after"]
    assert rows(other) == []
    r = run_ipam_import({"src": dest, "store": store_of(other)}, {})
    assert r["changed"] and r["imported"] == {"held": 11, "cooling": 4, "reserved": 2} and r["pools_added"] == ["pub"]
    assert rows(other) == rows(cfg)
    with open_store(other) as s:
        assert s.check_runs() == []
    again = run_ipam_import({"src": dest, "store": store_of(other)}, {})
    assert not again["changed"] and again["unchanged"] == 15 and rows(other) == rows(cfg)


def test_the_path_from_sqlite_to_postgresql(tmp_path, pg_server):
    """docs/ipam.md, Moving the store: export with retire, import, switch. Every allocation, reservation and
    cooldown is kept; the new store hands out what the old one would have; the old one hands out nothing."""
    old = make_cfg("sqlite", tmp_path, cooldown=600)
    new = make_cfg("postgresql", tmp_path, pg_server, cooldown=600)
    populate(old)
    # what the old store would do next: a new owner's addresses, and a cooling owner coming back
    predicted = run_pool_address({"owners": ["new1", "gone1"], "pools": POOLS, "store": old}, {}, check=True)
    before = rows(old)
    dest = str(tmp_path / "move.json")
    r = run_ipam_export({"dest": dest, "retire": True, "store": store_of(old)}, {})
    assert r["changed"] and r["retired"]
    # the old store refuses to write, saying where its rows went; reading (audit) still works
    with pytest.raises(IpamError, match=r"retired .* by vmnet.ipfabric.ipam_export \(exported to .*move.json\)"):
        run_pool_address({"owner": "late1", "pools": POOLS, "store": old}, {})
    with pytest.raises(IpamError, match="retired"):
        run_pool_address({"owner": "late1", "pools": POOLS, "store": old}, {}, check=True)
    assert rows(old) == before
    again = run_ipam_export({"dest": dest, "retire": True, "store": store_of(old)}, {})
    assert not again["changed"]  # same file, already retired
    r = run_ipam_import({"src": dest, "store": store_of(new)}, {})
    assert r["imported"] == {"held": 11, "cooling": 4, "reserved": 2}
    assert rows(new) == before
    # the new store goes on where the old one stopped: same next addresses, the cooling owner gets its own back
    real = run_pool_address({"owners": ["new1", "gone1"], "pools": POOLS, "store": new}, {})
    assert real["allocations"] == predicted["allocations"]
    # nobody else gets a cooling address; nothing is held twice
    third = run_pool_address({"owners": [f"n{i}" for i in range(20)], "pools": POOLS, "store": new}, {})
    cooling = {r["address"] for r in rows(new) if r["owner"] is None}
    got = {a[f] for a in third["allocations"] for f in ("ipv4", "ipv6")}
    assert cooling and not got & cooling
    held = [r["address"] for r in rows(new) if r["owner"]]
    assert len(held) == len(set(held))
    with open_store(new) as s:
        assert s.check_runs() == []


@pytest.fixture
def exported(tmp_path):
    src = make_cfg("sqlite", tmp_path / "src")
    os.makedirs(tmp_path / "src")
    populate(src)
    dest = str(tmp_path / "ipam.json")
    run_ipam_export({"dest": dest, "store": store_of(src)}, {})
    return dest


def test_conflicting_rows_refuse_the_import_and_are_named(cfg, exported):
    pool = parse_pools(POOLS)["pub"]
    with open_store(cfg) as s:
        # someone else holds web1's address here, and db1 holds another address than in the file
        s.apply(pool, [Request("intruder", reserve={4: int.from_bytes(bytes([198, 51, 100, 2]), "big")})],
                families=["ipv4"])
        s.apply(pool, [Request("db1", reserve={6: (0x20010db8010000000000000000000000 | 0x99)})], families=["ipv6"])
    before = snapshot(cfg)
    for check in (True, False):
        with pytest.raises(IpamError) as exc:
            run_ipam_import({"src": exported, "store": store_of(cfg)}, {}, check=check)
        msg = str(exc.value)
        assert "nothing was written" in msg and "2 conflicting row(s)" in msg, msg
        assert ("allocations[0] ipv4 198.51.100.2: the file has it held by web1, in pool pub, the store has it held "
                "by intruder, reserved, in pool pub") in msg, msg
        assert "owner db1 (pool pub, ipv6): the file gives it 2001:db8:100::2, the store holds 2001:db8:100::99" \
            in msg, msg
        assert snapshot(cfg) == before


@pytest.mark.parametrize("edit, match", [
    (lambda d: "not json", r"src .*: not a JSON document"),
    (lambda d: dict(d, format="other"), r"field format: 'other' is not 'vmnet.ipfabric.ipam'"),
    (lambda d: dict(d, version=2), r"field version: 2; this collection reads version 1"),
    (lambda d: dict(d, extra=1), r"unknown field\(s\) \['extra'\]"),
    (lambda d: dict(d, allocations={}), r"field allocations: expected a list"),
    (lambda d: _row(d, 0, address="198.51.100.999"), r"allocations\[0\] field address: '198.51.100.999' is not an IP"),
    (lambda d: _row(d, 0, address="2001:db8:100::5"), r"allocations\[0\] field address: .* is not an ipv4 address"),
    (lambda d: _row(d, 0, owner="bad name"), r"allocations\[0\] field owner: 'bad name' is not a valid VM name"),
    (lambda d: _row(d, 0, pool="a b"), r"allocations\[0\] field pool: 'a b' is not a valid pool name"),
    (lambda d: _row(d, 0, reserved="yes"), r"allocations\[0\] field reserved: 'yes' is not true or false"),
    (lambda d: _row(d, 0, allocated_at="now"), r"allocations\[0\] field allocated_at: 'now' is not a time"),
    (lambda d: _row(d, 0, released_at=5.0), r"allocations\[0\] field released_at: a row is either held"),
    (lambda d: _row(d, 0, color="red"), r"allocations\[0\]: unknown field\(s\) \['color'\]"),
    (lambda d: dict(d, allocations=d["allocations"] + d["allocations"][:1]),
     r"allocations\[15\] field address: .* appears twice \(also allocations\[0\]\)"),
    (lambda d: dict(d, pools=[{"name": "pub"}]), r"pools\[0\]: expected an object with exactly name, definition"),
])
def test_bad_files_are_refused_naming_the_field(cfg, exported, tmp_path, edit, match):
    doc = json.load(open(exported))
    bad = edit(doc)
    path = tmp_path / "bad.json"
    path.write_text(bad if isinstance(bad, str) else json.dumps(bad))
    run_pool_address({"owner": "seed", "pools": POOLS, "store": store_of(cfg)}, {})
    before = snapshot(cfg)
    with pytest.raises(IpamError, match=match):
        run_ipam_import({"src": str(path), "store": store_of(cfg)}, {})
    assert snapshot(cfg) == before


def _row(doc, i, **change):
    doc["allocations"][i] = dict(doc["allocations"][i], **change)
    return doc


def test_owner_twice_in_a_file(cfg, exported, tmp_path):
    doc = json.load(open(exported))
    twin = dict(doc["allocations"][0], address="198.51.100.250")
    path = tmp_path / "twice.json"
    path.write_text(json.dumps(dict(doc, allocations=doc["allocations"] + [twin])))
    with pytest.raises(IpamError, match=r"field owner: \w+ holds two ipv4 addresses in pool 'pub'"):
        run_ipam_import({"src": str(path), "store": store_of(cfg)}, {})


@pytest.mark.parametrize("cls, args, match", [
    (ExportAction, {}, "missing required arguments: dest"),
    (ExportAction, {"dest": "/nonexistent-dir/x.json"}, r"dest: the directory /nonexistent-dir does not exist"),
    (ExportAction, {"dest": "/tmp"}, r"dest: /tmp is a directory"),
    (ExportAction, {"dest": "x.json", "bogus": 1}, "bogus"),
    (ExportAction, {"dest": "x.json", "retire": "maybe"}, "retire"),
    (ImportAction, {}, "missing required arguments: src"),
    (ImportAction, {"src": "/nonexistent-file.json"}, r"src: cannot read /nonexistent-file.json"),
])
def test_bad_options_through_ansible(cfg, tmp_path, cls, args, match):
    tv = {"ipfabric_pools": POOLS, "ipfabric_ipam": store_of(cfg)}
    r = run(cls, args, tv)
    assert r.get("failed") and re.search(match, r["msg"]), r


def test_export_of_a_missing_sqlite_file_is_an_error(tmp_path):
    with pytest.raises(IpamError, match="ipfabric_ipam field path: .* does not exist: there is no store to export"):
        run_ipam_export({"dest": str(tmp_path / "x.json"),
                         "store": {"backend": "sqlite", "path": str(tmp_path / "none.sqlite")}}, {})
    assert not os.path.exists(tmp_path / "none.sqlite")


def test_through_ansible_with_inventory_store(cfg, tmp_path):
    populate(cfg)
    tv = {"ipfabric_pools": POOLS, "ipfabric_ipam": store_of(cfg)}
    dest = str(tmp_path / "a.json")
    r = run(ExportAction, {"dest": dest}, tv, check=True, diff=True)
    if r.get('failed'):
        pytest.fail(str(r), pytrace=False)
    assert r["changed"] and not os.path.exists(dest)
    r = run(ExportAction, {"dest": dest}, tv)
    assert r["changed"] and os.path.exists(dest)
    r = run(ImportAction, {"src": dest}, tv, diff=True)
    assert not r.get("failed") and not r["changed"] and r["unchanged"] == 15, r


def test_an_address_whose_cooldown_is_over_in_the_target_is_free_not_a_conflict(cfg, exported):
    """The import forgets the target's expired cooling rows first, as every pool_address transaction does."""
    pool = parse_pools(POOLS)["pub"]
    with open_store(cfg) as s:
        s.clock = lambda: 1_000.0  # long ago
        s.apply(pool, [Request("old1", reserve={4: int.from_bytes(bytes([198, 51, 100, 2]), "big")})],
                families=["ipv4"])
        s.apply(pool, [Request("old1")], state="absent", families=["ipv4"], cooldown=600)
    r = run_ipam_import({"src": exported, "store": dict(store_of(cfg), cooldown=600)}, {})
    assert r["imported"]["held"] == 11
    assert [x for x in rows(cfg) if x["address"] == "198.51.100.2"][0]["owner"] == "web1"
    with open_store(cfg) as s:
        assert s.check_runs() == []
