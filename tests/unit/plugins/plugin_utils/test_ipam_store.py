# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The allocator against both stores (the PostgreSQL runs carry the ``postgres`` marker)."""
from __future__ import annotations

import os
import re

import pytest
from ipam_testlib import make_cfg, snapshot

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError, parse_pools
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_config import open_store
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_requests import Request, parse_requests

POOLS = [
    {"name": "pub", "ipv4": ["198.51.100.0/29"], "ipv6": ["2001:db8:100::/64"], "exclude": ["198.51.100.2"]},
    {"name": "big", "ipv6": ["2001:db8:200::/48"]},
]


class Clock:
    def __init__(self, t=1_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def pools():
    return parse_pools(POOLS)


@pytest.fixture
def store(cfg):
    s = open_store(cfg)
    s.clock = Clock()
    yield s
    s.close()


def reqs(*names):
    return parse_requests(list(names))


def addrs(results):
    return [(r.owner, r.after["ipv4"], r.after["ipv6"], r.changed) for r in results]


def test_allocate_is_idempotent_and_lowest_free(store, pools):
    first = store.apply(pools["pub"], reqs("vm1", "vm2"))
    assert addrs(first) == [("vm1", "198.51.100.1", "2001:db8:100::1", True),
                            ("vm2", "198.51.100.3", "2001:db8:100::2", True)]
    again = store.apply(pools["pub"], reqs("vm2", "vm1"))
    assert addrs(again) == [("vm2", "198.51.100.3", "2001:db8:100::2", False),
                            ("vm1", "198.51.100.1", "2001:db8:100::1", False)]


def test_families_subset_and_errors(store, pools):
    r = store.apply(pools["pub"], reqs("vm1"), families=["ipv6"])
    assert addrs(r) == [("vm1", None, "2001:db8:100::1", True)]
    r = store.apply(pools["pub"], reqs("vm1"))
    assert addrs(r) == [("vm1", "198.51.100.1", "2001:db8:100::1", True)]
    with pytest.raises(IpamError, match="families: pool 'big' has no ipv4 range"):
        store.apply(pools["big"], reqs("vm1"), families=["ipv4"])
    with pytest.raises(IpamError, match="families: 'ipv5' is not ipv4 or ipv6"):
        store.apply(pools["big"], reqs("vm1"), families=["ipv5"])


def test_release_cooldown_and_reclaim(store, pools):
    store.apply(pools["pub"], reqs("vm1", "vm2"))
    r = store.apply(pools["pub"], reqs("vm1"), state="absent", cooldown=300)
    assert addrs(r) == [("vm1", None, None, True)]
    assert r[0].before == {"ipv4": "198.51.100.1", "ipv6": "2001:db8:100::1"}
    assert addrs(store.apply(pools["pub"], reqs("vm1"), state="absent", cooldown=300)) == [("vm1", None, None, False)]
    # during the cooldown nobody else gets the address
    store.clock.t += 299
    assert addrs(store.apply(pools["pub"], reqs("vm3"), cooldown=300)) == [
        ("vm3", "198.51.100.4", "2001:db8:100::3", True)]
    # ... but the same owner gets it back
    assert addrs(store.apply(pools["pub"], reqs("vm1"), cooldown=300)) == [
        ("vm1", "198.51.100.1", "2001:db8:100::1", True)]
    store.apply(pools["pub"], reqs("vm1"), state="absent", cooldown=300)
    store.clock.t += 300
    assert addrs(store.apply(pools["pub"], reqs("vm4"), cooldown=300)) == [
        ("vm4", "198.51.100.1", "2001:db8:100::1", True)]
    assert store.check_runs() == []


def test_cooldown_zero_deletes_at_once(store, pools):
    store.apply(pools["pub"], reqs("vm1", "vm2"))
    store.apply(pools["pub"], reqs("vm1"), state="absent", cooldown=0)
    assert not [r for r in store.rows() if r["last_owner"] == "vm1"]
    assert addrs(store.apply(pools["pub"], reqs("vm9"), cooldown=0))[0][1] == "198.51.100.1"


def test_reserve(store, pools):
    r = store.apply(pools["pub"], parse_requests([{"name": "vm1", "ipv4": "198.51.100.5", "ipv6": "2001:db8:100::ff"}]))
    assert addrs(r) == [("vm1", "198.51.100.5", "2001:db8:100::ff", True)]
    assert [x["reserved"] for x in store.rows()] == [True, True]
    r = store.apply(pools["pub"], parse_requests([{"name": "vm1", "ipv4": "198.51.100.5/32"}]))
    assert addrs(r) == [("vm1", "198.51.100.5", "2001:db8:100::ff", False)]
    r = store.apply(pools["pub"], reqs("vm2"))
    assert addrs(r) == [("vm2", "198.51.100.1", "2001:db8:100::1", True)]


@pytest.mark.parametrize("setup, owners, kwargs, match", [
    ([], [{"name": "vm9", "ipv4": "198.51.100.1"}], {},
     r"owners\[0\] \(vm9\) field ipv4: cannot reserve 198.51.100.1: held by vm1 \(pool 'pub'\)"),
    ([], [{"name": "vm9", "ipv4": "198.51.100.2"}], {},
     r"owners\[0\] \(vm9\) field ipv4: cannot reserve: 198.51.100.2 is excluded by exclude\[0\] 198.51.100.2"),
    ([], [{"name": "vm9", "ipv4": "198.51.100.0"}], {}, r"network, broadcast or subnet-router anycast address"),
    ([], [{"name": "vm9", "ipv4": "192.0.2.1"}], {}, r"192.0.2.1 is outside pool 'pub'"),
    ([], [{"name": "vm9", "ipv4": "10.0.0.1"}], {}, r"cannot reserve: 10.0.0.1 is the gateway"),
    ([], [{"name": "vm1", "ipv4": "198.51.100.6"}], {},
     r"owners\[0\] \(vm1\) field ipv4: vm1 already holds 198.51.100.1 in pool 'pub'; release it first"),
    ([], [{"name": "vm9", "ipv4": "2001:db8:100::9"}], {}, r"field ipv4: '2001:db8:100::9' is not an ipv4 address"),
    ([], [{"name": "vm9", "ipv6": "2001:db8:100::9"}], {"families": ["ipv4"]}, r"family not in families"),
    ([], [{"name": "vm8", "ipv4": "198.51.100.6"}, {"name": "vm9", "ipv4": "198.51.100.6"}], {},
     r"owners\[1\] \(vm9\) field ipv4: 198.51.100.6 is also asked for by vm8"),
    ([], ["vm8", "vm8"], {}, r"owners\[1\] field name: owner 'vm8' appears twice"),
    ([], ["bad name"], {}, r"owners\[0\] field name: 'bad name' is not a valid VM name"),
    ([], [{"name": "vm8", "color": "red"}], {}, r"owners\[0\]: unknown key\(s\) \['color'\]"),
    ([], [{"name": "vm1", "uuid": "other"}], {},
     r"owners\[0\] \(vm1\) field uuid: vm1 holds 198.51.100.1 in pool 'pub' with uuid u1, not other"),
    ([], [{"name": "vm1", "uuid": "other"}], {"state": "absent"}, r"with uuid u1, not other"),
    ([], ["vm3", "vm4", "vm5", "vm6"], {}, r"pool 'pub' is exhausted: no free ipv4 address for vm6"),
    (["vm1"], [{"name": "vm9", "ipv4": "198.51.100.1"}], {},
     r"cannot reserve 198.51.100.1: released by vm1 and cooling down until"),
    ([], ["vm3"], {"cooldown": -1}, r"cooldown: -1 must be a number of seconds >= 0"),
])
def test_bad_input_fails_and_changes_nothing(store, pools, cfg, setup, owners, kwargs, match):
    store.apply(pools["pub"], parse_requests([{"name": "vm1", "uuid": "u1"}, "vm2"]))
    if setup:
        store.apply(pools["pub"], reqs(*setup), state="absent")
    before = snapshot(cfg)
    with pytest.raises(IpamError, match=match):
        store.apply(pools["pub"], parse_requests(owners), **kwargs)
    assert snapshot(cfg) == before
    assert store.check_runs() == []


def test_uuid_is_adopted_and_kept(store, pools):
    store.apply(pools["pub"], reqs("vm1"))
    r = store.apply(pools["pub"], [Request("vm1", uuid="abc")])
    assert r[0].changed and r[0].uuid == "abc"
    r = store.apply(pools["pub"], [Request("vm1")])
    assert not r[0].changed and r[0].uuid == "abc"


def test_exhausted_batch_is_all_or_nothing(store, pools, cfg):
    before = snapshot(cfg)
    with pytest.raises(IpamError, match="pool 'pub' is exhausted"):
        store.apply(pools["pub"], reqs("a1", "a2", "a3", "a4", "a5", "a6"))
    assert snapshot(cfg) == before
    assert len(store.apply(pools["pub"], reqs("a1", "a2", "a3", "a4", "a5"))) == 5


def test_check_mode_writes_nothing_and_tells_the_truth(cfg, pools):
    with open_store(cfg, check=True) as s:
        r = s.apply(pools["pub"], reqs("vm1"), check=True)
    assert addrs(r) == [("vm1", "198.51.100.1", "2001:db8:100::1", True)]
    if cfg["backend"] == "sqlite":
        assert not os.path.exists(cfg["path"])
    else:
        assert snapshot(cfg) == {t: None for t in ("ipam_allocation", "ipam_run", "ipam_pool", "ipam_log")}
    with open_store(cfg) as s:
        s.apply(pools["pub"], reqs("vm0"))
    before = snapshot(cfg)
    with open_store(cfg, check=True) as s:
        predicted = s.apply(pools["pub"], reqs("vm1", "vm2"), check=True)
        released = s.apply(pools["pub"], reqs("vm0"), state="absent", check=True)
    assert snapshot(cfg) == before
    assert addrs(released) == [("vm0", None, None, True)]
    with open_store(cfg) as s:
        real = s.apply(pools["pub"], reqs("vm1", "vm2"))
    assert addrs(real) == addrs(predicted)


def test_renamed_pool_never_duplicates(store):
    old = parse_pools([{"name": "a", "ipv4": ["198.51.100.0/24"]}])["a"]
    new = parse_pools([{"name": "b", "ipv4": ["198.51.100.0/24"]}])["b"]
    store.apply(old, reqs("vm1"))
    r = store.apply(new, reqs("vm2"))
    assert r[0].after["ipv4"] == "198.51.100.2"


def test_statements_per_transaction_do_not_grow_with_batch_pool_or_allocations(store, pools):
    """Cost of a transaction: a fixed number of indexed statements, the same for 1 or 500 owners and for one
    family or two (set-based SQL: one statement for the whole batch), after 10 or 2,000 allocations, and
    the same in a /29 as in a /48 (the pool is never enumerated)."""
    store.trace = []

    def statements(pool, owners, **kw):
        del store.trace[:]
        store.apply(pool, reqs(*owners), **kw)
        return ["%s %s" % (sql.split()[0], re.search(r"ipam_\w+", sql).group(0)) for sql, dummy in store.trace]

    statements(pools["big"], [f"w{i}" for i in range(10)])
    one = statements(pools["big"], ["probe1"])
    # purge the cooled rows, read the owners' rows, the gap search, insert, the run index (the run that
    # grows, in place), the change log
    assert one == ["DELETE ipam_allocation", "SELECT ipam_allocation", "SELECT ipam_run", "INSERT ipam_allocation",
                   "UPDATE ipam_run", "INSERT ipam_log"], one
    assert statements(pools["big"], [f"x{i}" for i in range(500)]) == one
    statements(pools["big"], [f"y{i}" for i in range(1500)])
    assert statements(pools["big"], ["probe2"]) == one
    # first use of pool "pub": its record is written once (then cached by the store)
    assert statements(pools["pub"], ["warm"])[0] == "INSERT ipam_pool"
    # two families cost what one costs, except that pub's IPv4 is two intervals (.1, and .3 to .6: .2 is
    # excluded) and its first one is full: one gap search more, for the second interval (probe3 starts the
    # run .3, probe4 and after make it grow)
    statements(pools["pub"], ["probe3"])
    two = statements(pools["pub"], ["probe4"])
    assert two == one[:3] + ["SELECT ipam_run"] + one[3:], two
    assert statements(pools["pub"], ["probe5", "probe6"]) == two
    assert store.apply(pools["big"], reqs("probe7"))[0].after["ipv6"] == "2001:db8:200::7dd"  # 2012 held, ::1 first


def test_gap_search_fills_holes_lowest_first(store, pools):
    store.apply(pools["big"], reqs(*[f"v{i}" for i in range(20)]), cooldown=0)
    store.apply(pools["big"], reqs("v3", "v7", "v8", "v15"), state="absent", cooldown=0)
    r = store.apply(pools["big"], reqs("n1", "n2", "n3", "n4", "n5"), cooldown=0)
    assert [x.after["ipv6"] for x in r] == ["2001:db8:200::4", "2001:db8:200::8", "2001:db8:200::9",
                                            "2001:db8:200::10", "2001:db8:200::15"]
    assert store.check_runs() == []


def test_audit_rows_and_repair(store, pools):
    store.apply(pools["pub"], reqs("vm1", "vm2"))
    assert {r["owner"] for r in store.rows()} == {"vm1", "vm2"}
    with store.transaction() as tx:
        tx.q("DELETE FROM ipam_run")
    assert store.check_runs() and store.check_runs(repair=True)
    assert store.check_runs() == []
    assert store.apply(pools["pub"], reqs("vm3"))[0].after["ipv4"] == "198.51.100.4"


def test_no_statement_scans_a_table(tmp_path, pools):
    """Every statement of allocate/release/reclaim/reserve/purge is an index search in SQLite's query plan
    (a full scan would make an allocation cost grow with the number of rows)."""
    store = open_store({"backend": "sqlite", "path": str(tmp_path / "s.sqlite")})
    store.clock = Clock()
    store.apply(pools["pub"], reqs("warm"))
    store.trace = seen = []
    store.apply(pools["pub"], reqs("vm1", "vm2"), cooldown=60)
    store.apply(pools["pub"], reqs("vm1"), state="absent", cooldown=60)
    store.apply(pools["pub"], reqs("vm1"), cooldown=60)  # reclaim
    store.apply(pools["pub"], reqs("vm2"), state="absent", cooldown=0)
    store.apply(pools["pub"], [Request("vm3", reserve={4: 198 << 24 | 51 << 16 | 100 << 8 | 6})])
    store.apply(pools["pub"], reqs("vm3"), state="absent", cooldown=60)
    store.clock.t += 61
    store.apply(pools["pub"], reqs("vm4"), cooldown=60)  # purges vm3's address
    store.apply(pools["pub"], [Request("vm1", uuid="u1")])  # adopts a UUID
    store.trace = None
    assert len({pair[0] for pair in seen}) >= 14
    scans, plans = [], []
    for sql, params in seen:
        if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            continue
        plan = [row[-1] for row in store._conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
        plans += [(sql, p) for p in plan]
        scans += [(sql, p) for p in plan if p.startswith("SCAN") and "ipam_" in p]
    assert scans == []
    # and every search pins more than the pool or the family (else it reads all of the pool's rows, or
    # every run of the family)
    wide = re.compile(r"SEARCH \w+ USING (COVERING )?INDEX \w+ \((pool=\?|family=\?|pool=\? AND family=\?)\)$")
    assert [pair for pair in plans if wide.search(pair[1])] == []
    assert {p for sql, p in plans if "'held'" in sql and p.startswith("SEARCH")} == {
        "SEARCH ipam_allocation USING INDEX sqlite_autoindex_ipam_allocation_2 (pool=? AND family=? AND owner=?)",
        "SEARCH ipam_allocation USING INDEX ipam_allocation_last_owner (pool=? AND family=? AND last_owner=?)"}
    store.close()


def test_a_reservation_in_the_batch_is_placed_before_the_lowest_free(store, pools, cfg):
    r = store.apply(pools["pub"], parse_requests(["a", {"name": "b", "ipv4": "198.51.100.1"}, "c"]),
                    families=["ipv4"])
    assert addrs(r) == [("a", "198.51.100.3", None, True), ("b", "198.51.100.1", None, True),
                        ("c", "198.51.100.4", None, True)]
    assert store.check_runs() == []


def test_a_wrong_run_index_cannot_hand_out_an_address_twice(store, pools, cfg):
    """The run index is derived data; the PRIMARY KEY is what forbids duplicates (docs/ipam.md)."""
    store.apply(pools["pub"], reqs("vm1"))
    with store.transaction() as tx:
        tx.q("DELETE FROM ipam_run")  # the index now says every address is free
    before = snapshot(cfg)
    with pytest.raises(IpamError, match="refused a duplicate .nothing was written."):
        store.apply(pools["pub"], reqs("vm2"))
    assert snapshot(cfg) == before
    assert store.check_runs(repair=True) and store.check_runs() == []
    assert addrs(store.apply(pools["pub"], reqs("vm2"))) == [("vm2", "198.51.100.3", "2001:db8:100::2", True)]


@pytest.mark.postgres
def test_every_postgresql_statement_has_an_index_plan(pg_server, tmp_path, pools):
    """The PostgreSQL twin of test_no_statement_scans_a_table: with sequential scans disabled, the planner
    finds an index path for every statement (a statement without one keeps its Seq Scan). On tables this
    small the planner would rightly prefer a Seq Scan, hence enable_seqscan = off."""
    import psycopg

    cfg = make_cfg("postgresql", tmp_path, pg_server)
    store = open_store(cfg)
    store.clock = Clock()
    store.apply(pools["pub"], reqs("warm"))
    store.trace = seen = []
    store.apply(pools["pub"], reqs("vm1", "vm2"), cooldown=60)
    store.apply(pools["pub"], reqs("vm1"), state="absent", cooldown=60)
    store.apply(pools["pub"], reqs("vm1"), cooldown=60)  # reclaim
    store.apply(pools["pub"], reqs("vm2"), state="absent", cooldown=0)
    store.apply(pools["pub"], [Request("vm3", reserve={4: 198 << 24 | 51 << 16 | 100 << 8 | 6})])
    store.apply(pools["pub"], reqs("vm3"), state="absent", cooldown=60)
    store.clock.t += 61
    store.apply(pools["pub"], reqs("vm4"), cooldown=60)  # purges vm3's address
    store.apply(pools["pub"], [Request("vm1", uuid="u1")])  # adopts a UUID
    store.close()
    assert len({sql for sql, dummy in seen}) >= 14
    seq = []
    with psycopg.connect(cfg["dsn"], autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        for sql, params in seen:
            if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
                continue
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, params).fetchall())
            if "Seq Scan on ipam_" in plan:
                seq.append((sql, plan))
    assert seq == [], "\n\n".join(f"{sql}\n{plan}" for sql, plan in seq)
