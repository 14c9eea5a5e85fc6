# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The arithmetic of the run index (table ``ipam_run``), on integers, without touching the store.

The occupied addresses of one family are kept as *maximal runs* ``(start, stop)`` of consecutive
integers: disjoint, and never adjacent (``stop + 1`` of a run is always free). Everything here is
proportional to the number of runs and values involved, never to the size of a run or of a pool: a run
of 2^64 addresses costs what a run of one address costs.

The allocator (ipam_allocator.py) reads the few runs a change touches, computes the new runs here, and
writes the difference back (ipam_store.Tx.replace_runs).
"""
from __future__ import annotations


def runs_of(values) -> list[tuple[int, int]]:
    """The maximal runs of a set of integers."""
    out = []
    for v in sorted(values):
        if out and out[-1][1] == v - 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def free_in(first: int, last: int, runs, complete: bool, need: int) -> list[int]:
    """The lowest free addresses of ``[first, last]``, at most ``need`` of them, in ascending order.

    ``runs``: the run that contains ``first`` or is the last one before it (if any), then the runs that
    start in ``(first, last + 1]``, in order; ``complete`` says whether those are all such runs (else they
    are the first ones of them). Runs are maximal, so the address after a run is free: with ``k`` runs
    after ``first`` there are at least ``k`` free addresses before the last of them, and the caller asks
    the store for ``need`` of them.
    """
    out = []
    pos = first
    for start, stop in sorted(runs):
        if stop < pos:
            continue
        # the gap [pos, start - 1] is free
        for v in range(pos, min(start, last + 1)):
            out.append(v)
            if len(out) == need:
                return out
        pos = max(pos, stop + 1)
        if start > last or pos > last:
            return out
    if complete:
        # nothing else starts in the interval: [pos, last] is free
        while pos <= last and len(out) < need:
            out.append(pos)
            pos += 1
    return out


def add(known, values) -> tuple[list, list]:
    """Runs after adding free ``values`` to the store. ``known``: every run that contains or touches one
    of ``values`` (it may hold others, they come out unchanged). Returns (runs to delete, runs to insert).

    Raises ValueError if a value is already inside a known run (the store's index would be wrong).
    """
    known = sorted(set(known))
    merged = []
    for start, stop in sorted(known + [(v, v) for v in set(values)]):
        if merged and start <= merged[-1][1]:
            raise ValueError(f"{start} is already occupied (inside the run {merged[-1]})")
        if merged and start == merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((start, stop))
    return _difference(known, merged)


def remove(known, values) -> tuple[list, list]:
    """Runs after removing occupied ``values``. ``known``: every run that contains one of ``values``.
    Returns (runs to delete, runs to insert). Raises ValueError for a value in no known run."""
    known = sorted(set(known))
    todo = sorted(set(values))
    result = []
    i = 0
    for start, stop in known:
        if i < len(todo) and todo[i] < start:
            raise ValueError(f"{todo[i]} is in no run")
        pos = start
        while i < len(todo) and todo[i] <= stop:
            if todo[i] > pos:
                result.append((pos, todo[i] - 1))
            pos = todo[i] + 1
            i += 1
        if pos <= stop:
            result.append((pos, stop))
    if i < len(todo):
        raise ValueError(f"{todo[i]} is in no run")
    return _difference(known, result)


def as_updates(delete, insert) -> tuple[list, list, list]:
    """Turn (runs to delete, runs to insert) of one change into (deletes, updates, inserts) with as many
    in-place updates as possible: an inserted run that overlaps a deleted one replaces it, ``(old_start,
    new_start, new_stop)``; the common case, a run that grows or shrinks at one end, is then one update.
    Written in this order (deletes, updates, inserts), no statement meets a start or stop still in use:
    the results are disjoint, and each lies inside or around the run it updates."""
    deletes, updates, inserts = list(delete), [], []
    for start, stop in insert:
        old = next((d for d in deletes if d[0] <= stop and start <= d[1]), None)
        if old is None:
            inserts.append((start, stop))
        else:
            deletes.remove(old)
            updates.append((old[0], start, stop))
    return deletes, updates, inserts


def _difference(before, after):
    b, a = set(before), set(after)
    return sorted(b - a), sorted(a - b)
