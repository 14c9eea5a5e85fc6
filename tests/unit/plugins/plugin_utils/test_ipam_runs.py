# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run-index arithmetic (plugin_utils/ipam_runs.py) against a naive model on sets of integers."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils import ipam_runs

occupied_sets = st.sets(st.integers(0, 80), max_size=60)


def fetch(runs, first, last, limit):
    """What Tx.runs_for_gap reads: the run holding or preceding first, then up to limit runs starting in
    (first, last + 1]; and whether that was all of them."""
    before = [r for r in runs if r[0] <= first][-1:]
    after = [r for r in runs if first < r[0] <= last + 1]
    return before + after[:limit], len(after) < limit


def apply(runs, delete, insert):
    """The runs after a change, written the way the stores write it (deletes, updates, inserts), checking
    that no statement would meet a start or a stop that is still in use."""
    out = set(runs)
    deletes, updates, inserts = ipam_runs.as_updates(delete, insert)
    state = set(runs)
    for d in deletes:
        state.remove(d)
    for old_start, start, stop in updates:
        old = next(r for r in state if r[0] == old_start)
        state.remove(old)
        assert not any(r[0] == start or r[1] == stop for r in state), "an update meets a start or stop in use"
        state.add((start, stop))
    for r in inserts:
        assert not any(x[0] == r[0] or x[1] == r[1] for x in state), "an insert meets a start or stop in use"
        state.add(r)
    assert set(delete) <= out, "deletes a run that is not there"
    out -= set(delete)
    assert not out & set(insert), "inserts a run that stays"
    assert sorted(state) == sorted(out | set(insert))
    return sorted(out | set(insert))


def touching(runs, values):
    return [r for r in runs if any(r[0] - 1 <= v <= r[1] + 1 for v in values)]


@settings(max_examples=300, deadline=None)
@given(occupied=occupied_sets, first=st.integers(0, 80), size=st.integers(0, 40), need=st.integers(1, 30))
def test_free_in_is_the_lowest_free(occupied, first, size, need):
    last = first + size
    runs = ipam_runs.runs_of(occupied)
    got = ipam_runs.free_in(first, last, *fetch(runs, first, last, need), need)
    naive = [v for v in range(first, last + 1) if v not in occupied][:need]
    assert got == naive


@settings(max_examples=300, deadline=None)
@given(occupied=occupied_sets, data=st.data())
def test_add_and_remove_keep_the_runs_maximal(occupied, data):
    runs = ipam_runs.runs_of(occupied)
    free = sorted(set(range(0, 82)) - occupied)
    new = data.draw(st.sets(st.sampled_from(free), max_size=10)) if free else set()
    delete, insert = ipam_runs.add(touching(runs, new), new)
    after_add = apply(runs, delete, insert)
    assert after_add == ipam_runs.runs_of(occupied | new)
    gone = data.draw(st.sets(st.sampled_from(sorted(occupied | new)), max_size=10)) if occupied | new else set()
    containing = [r for r in after_add if any(r[0] <= v <= r[1] for v in gone)]
    delete, insert = ipam_runs.remove(containing, gone)
    assert apply(after_add, delete, insert) == ipam_runs.runs_of((occupied | new) - gone)


def test_huge_runs_cost_nothing_more():
    # a run of 2^64 addresses: split and grown by interval arithmetic, never enumerated
    big = (1 << 64, (1 << 65) - 1)
    assert ipam_runs.remove([big], [1 << 64 | 5]) == ([big], [(1 << 64, (1 << 64) + 4), ((1 << 64) + 6, big[1])])
    assert ipam_runs.add([big], [big[1] + 1]) == ([big], [(big[0], big[1] + 1)])
    assert ipam_runs.free_in(1 << 64, 1 << 80, [big], True, 3) == [big[1] + 1, big[1] + 2, big[1] + 3]


def test_inconsistent_index_is_an_error():
    with pytest.raises(ValueError, match="already occupied"):
        ipam_runs.add([(10, 20)], [15])
    with pytest.raises(ValueError, match="in no run"):
        ipam_runs.remove([(10, 20)], [25])
