# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property tests: whatever the pool and the sequence of allocate/release/reserve, the addresses are
unique, inside the pool, never a gateway or an exclusion, the lowest free one (same as a naive model),
and the run index matches the allocations."""
from __future__ import annotations

import ipaddress
import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError, parse_pools
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.pools import addr_int
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_requests import Request
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_sqlite import SQLiteStore

V4_BASE = int(ipaddress.IPv4Address("198.51.100.0"))
V6_BASE = int(ipaddress.IPv6Address("2001:db8:100::"))


@st.composite
def pools(draw):
    v4_prefix = draw(st.integers(26, 30))
    v6_prefix = draw(st.sampled_from([48, 64, 120, 126]))
    v4 = ipaddress.IPv4Network((V4_BASE, v4_prefix))
    v6 = ipaddress.IPv6Network((V6_BASE, v6_prefix))
    v4_size = v4.num_addresses
    excl = draw(st.lists(st.integers(0, v4_size - 1), max_size=6, unique=True))
    excl6 = draw(st.lists(st.integers(0, min(40, v6.num_addresses - 1)), max_size=6, unique=True))
    exclude = [str(v4.network_address + i) for i in excl] + [str(v6.network_address + i) for i in excl6]
    if v6_prefix <= 120 and draw(st.booleans()):
        exclude.append(str(ipaddress.IPv6Network((V6_BASE + 16, 126))))
    gateway = draw(st.sampled_from([None, "10.0.0.1", "192.0.2.1"]))
    raw = {"name": "p", "ipv4": [str(v4)], "ipv6": [str(v6)], "exclude": exclude}
    if gateway:
        raw["gateway"] = gateway
    return raw


ops = st.lists(
    st.one_of(
        st.tuples(st.just("alloc"), st.lists(st.integers(0, 30), min_size=1, max_size=4, unique=True)),
        st.tuples(st.just("release"), st.lists(st.integers(0, 30), min_size=1, max_size=4, unique=True)),
        st.tuples(st.just("reserve"), st.integers(0, 30), st.integers(0, 70)),
    ),
    max_size=25,
)


def lowest_free(pool, fam, occupied):
    for first, last in pool.intervals.get(fam, []):
        c = first
        while c <= last and c in occupied:
            c += 1
        if c <= last:
            return c
    return None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=pools(), script=ops)
def test_allocator_matches_model(raw, script):
    pool = parse_pools([raw])["p"]
    forbidden = {4: set(), 6: set()}
    for text in raw["exclude"] + [raw.get("gateway") or "10.0.0.1", "10.0.0.1"]:
        net = ipaddress.ip_network(text)
        if net.num_addresses <= 64:
            forbidden[net.version].update(int(a) for a in net)
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(os.path.join(tmp, "s.sqlite"))
        model = {}  # owner -> {fam: int}
        for op in script:
            occupied = {f: {v[f] for v in model.values() if f in v} for f in (4, 6)}
            if op[0] == "alloc":
                names = [f"vm{i}" for i in op[1]]
                expect, occ, ok = {}, {f: set(occupied[f]) for f in (4, 6)}, True
                for n in names:
                    expect[n] = dict(model.get(n, {}))
                    for f in (4, 6):
                        if f in expect[n]:
                            continue
                        v = lowest_free(pool, f, occ[f])
                        if v is None:
                            ok = False
                            break
                        occ[f].add(v)
                        expect[n][f] = v
                try:
                    res = store.apply(pool, [Request(n) for n in names], cooldown=0)
                except IpamError as exc:
                    assert not ok and "is exhausted" in str(exc)
                    continue
                assert ok
                for r in res:
                    got = {f: addr_int(r.after[k])[1] for f, k in ((4, "ipv4"), (6, "ipv6"))}
                    assert got == expect[r.owner]
                    assert r.changed == (got != model.get(r.owner))
                    model[r.owner] = got
            elif op[0] == "release":
                names = [f"vm{i}" for i in op[1]]
                res = store.apply(pool, [Request(n) for n in names], state="absent", cooldown=0)
                for r in res:
                    assert r.changed == (r.owner in model)
                    model.pop(r.owner, None)
            else:
                owner, offset = f"vm{op[1]}", op[2]
                value = V4_BASE + offset  # may be outside the pool, excluded or taken: then an error
                req = Request(owner, reserve={4: value})
                try:
                    res = store.apply(pool, [req], families=["ipv4"], cooldown=0)
                except IpamError:
                    held = model.get(owner, {}).get(4)
                    assert (not pool.contains(4, value) or value in occupied[4] and held != value
                            or (held is not None and held != value))
                    continue
                assert pool.contains(4, value) and value not in occupied[4] - {model.get(owner, {}).get(4)}
                model.setdefault(owner, {})[4] = value
            # invariants over the whole store
            rows = [r for r in store.rows() if r["owner"]]
            keys = [(r["family"], r["value"]) for r in rows]
            assert len(keys) == len(set(keys))
            for r in rows:
                fam = 4 if r["family"] == "ipv4" else 6
                assert pool.contains(fam, r["value"])
                assert r["value"] not in forbidden[fam]
            assert {(r["owner"], 4 if r["family"] == "ipv4" else 6): r["value"] for r in rows} == {
                (o, f): v for o, d in model.items() for f, v in d.items()}
        assert store.check_runs() == []
        store.close()


@settings(max_examples=25, deadline=None)
@given(offsets=st.lists(st.integers(0, 2**64 - 2), min_size=1, max_size=40, unique=True),
       count=st.integers(1, 30))
def test_sparse_reservations_in_a_64(offsets, count):
    """Reservations scattered over a /64, then allocations: each one is the lowest free address."""
    pool = parse_pools([{"name": "p", "ipv6": ["2001:db8:100::/64"]}])["p"]
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(os.path.join(tmp, "s.sqlite"))
        first = pool.intervals[6][0][0]
        store.apply(pool, [Request(f"r{i}", reserve={6: first + o}) for i, o in enumerate(offsets)])
        occupied = {first + o for o in offsets}
        res = store.apply(pool, [Request(f"a{i}") for i in range(count)])
        for r in res:
            v = addr_int(r.after["ipv6"])[1]
            assert v == lowest_free(pool, 6, occupied)
            occupied.add(v)
        assert store.check_runs() == []
        store.close()
