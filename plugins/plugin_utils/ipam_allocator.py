# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The allocator: what one pool_address transaction reads, decides and writes, in either store.

It runs inside a store transaction that holds the store's write lock (ipam_sqlite.py,
ipam_postgresql.py) and works on the whole batch at once: every read and every write is one statement
for all the owners of the batch (``tx.owner_rows``, ``tx.insert_allocations``, ...), so a batch of 1,000
owners costs the round trips of a batch of one. The statements per batch:

- forget the released addresses whose cooldown is over, and read every row the owners hold or released
  (one indexed statement each; PostgreSQL sends both in one round trip);
- reservations: read the rows at the wanted addresses, insert or reclaim, update the run index;
- new addresses: the gap search of every family in one statement, its first interval of the pool (the
  lowest free addresses are right after runs, so it reads at most as many runs as it needs addresses;
  one more statement for a family whose interval is full), then one insert and one run-index update for
  all of them;
- the UUIDs adopted, the releases, the change log: one statement each.

A single dual-stack allocation is 6 statements: purge, owners' rows, gap search, insert, run index, log.

The pool is never enumerated: the gap search walks runs (ipam_runs.py), a /48 costs what a /24 costs.
"""
from __future__ import annotations

import json
import time

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils import ipam_runs
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_requests import Request, Result, both_families
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.pools import FAMILY_NAMES, Pool, addr_text


class Allocator:
    """One batch of requests against one pool, with the task's cooldown.

    ``synced_pools`` is the store's cache of pool definitions it already wrote (pool name -> JSON);
    ``hook`` a test callable(tx, event) run at points inside the transaction (event ``insert``: once per
    row, after the rows of a statement were inserted and before the commit).
    """

    def __init__(self, cooldown: float, synced_pools: dict, hook=None):
        self.cooldown = cooldown
        self.synced_pools = synced_pools
        self.hook = hook

    def run(self, tx, pool: Pool, requests: list[Request], state: str, fams: list[int]) -> list[Result]:
        """Inside the store's write transaction: every request, or an IpamError (the caller rolls back)."""
        self._sync_pool(tx, pool)
        purged, rows = tx.purge_and_owner_rows(tx.now - self.cooldown, pool.name, [r.owner for r in requests])
        forget(tx, purged)
        held, cooling = self._owner_rows(rows)
        if state == "present":
            results = self._present(tx, pool, requests, fams, held, cooling)
        else:
            results = self._absent(tx, pool, requests, fams, held)
        tx.write_log()
        return results

    # -- reading -------------------------------------------------------------------------------

    @staticmethod
    def _owner_rows(rows):
        """held: owner -> family -> (address, uuid, reserved); cooling: owner -> family ->
        [(address, last_uuid, released_at)] of addresses it released that are still cooling down."""
        held, cooling = {}, {}
        for part, fam, value, owner, uuid, reserved, released_at in rows:
            if part == "held":
                held.setdefault(owner, {})[fam] = (value, uuid, reserved)
            else:
                cooling.setdefault(owner, {}).setdefault(fam, []).append((value, uuid, released_at))
        return held, cooling

    # -- state=present ---------------------------------------------------------------------------

    def _present(self, tx, pool, requests, fams, held, cooling) -> list[Result]:
        plans = []            # per request: {before, after, changed, uuid}
        reserve = []          # (request index, family, value)
        reclaim = []          # (family, value, owner, uuid, reserved)
        new = {f: [] for f in fams}  # family -> [request index] that need the lowest free address
        uuids = []            # (family, value, uuid) adopted by an allocation that had none or another
        for i, req in enumerate(requests):
            where = f"owners[{i}]"
            mine = held.get(req.owner, {})
            check_uuid(pool, req, mine, where)
            before = {FAMILY_NAMES[f]: addr_text(f, v[0]) for f, v in mine.items()}
            plan = {"before": before, "after": dict(before), "changed": False,
                    "uuid": req.uuid or next((v[1] for v in mine.values() if v[1]), None)}
            plans.append(plan)
            for fam in fams:
                name = FAMILY_NAMES[fam]
                if fam in mine:
                    value = mine[fam][0]
                    if fam in req.reserve and req.reserve[fam] != value:
                        raise IpamError(
                            f"{where} ({req.owner}) field {name}: {req.owner} already holds {addr_text(fam, value)} "
                            f"in pool {pool.name!r}; release it first (state=absent) to reserve "
                            f"{addr_text(fam, req.reserve[fam])}"
                        )
                    if req.uuid and mine[fam][1] != req.uuid:
                        uuids.append((fam, value, req.uuid))
                        plan["changed"] = True
                elif fam in req.reserve:
                    reserve.append((i, fam, req.reserve[fam]))
                else:
                    # the owner's own address, released and still cooling down: give it back
                    own = sorted((c for c in cooling.get(req.owner, {}).get(fam, []) if pool.contains(fam, c[0]) and
                                  (not req.uuid or not c[1] or c[1] == req.uuid)), key=lambda c: c[2])
                    if own:
                        reclaim.append((fam, own[-1][0], req.owner, req.uuid, 0))
                        log_change(tx, "reclaim", pool.name, req.owner, req.uuid, fam, own[-1][0])
                        plan["after"][name] = addr_text(fam, own[-1][0])
                        plan["changed"] = True
                    else:
                        new[fam].append(i)
        self._reserve(tx, pool, requests, reserve, reclaim, plans)
        if reclaim:
            if tx.reclaim(reclaim) != len(reclaim):
                raise IpamError("store inconsistency: a cooling address changed under the write lock; "
                                "nothing was written")
        self._allocate(tx, pool, {fam: [(requests[i], plans[i]) for i in new[fam]] for fam in fams if new[fam]})
        if uuids:
            tx.set_uuids(uuids)
        return [Result(req.owner, plan["uuid"], pool.name, both_families(plan["before"]),
                       both_families(plan["after"]), plan["changed"]) for req, plan in zip(requests, plans)]

    def _reserve(self, tx, pool, requests, reserve, reclaim, plans):
        """Reservations: a free address is inserted, the owner's own cooling address reclaimed, any other
        is an error. Written (with the run index) before the gap search, which then steps over them."""
        if not reserve:
            return
        rows = tx.rows_at([(fam, value) for dummy, fam, value in reserve])
        inserts = []
        for i, fam, value in sorted(reserve):
            req, name, text = requests[i], FAMILY_NAMES[fam], addr_text(fam, value)
            row = rows.get((fam, value))
            where = f"owners[{i}] ({req.owner}) field {name}"
            if row is None:
                inserts.append((fam, value, req))
            elif row["owner"] is None and row["last_owner"] == req.owner and row["pool"] == pool.name and \
                    (not req.uuid or not row["last_uuid"] or row["last_uuid"] == req.uuid):
                reclaim.append((fam, value, req.owner, req.uuid, 1))
                log_change(tx, "reclaim", pool.name, req.owner, req.uuid, fam, value)
            elif row["owner"] is None:
                until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row["released_at"] + self.cooldown))
                raise IpamError(f"{where}: cannot reserve {text}: released by {row['last_owner']} and cooling "
                                f"down until {until}")
            else:
                raise IpamError(f"{where}: cannot reserve {text}: held by {row['owner']} (pool {row['pool']!r})")
            plans[i]["after"][name] = text
            plans[i]["changed"] = True
        if inserts:
            self._insert(tx, pool, inserts, reserved=1, known=tx.runs_adjacent([(f, v) for f, v, dummy in inserts]))

    def _allocate(self, tx, pool, wanted):
        """The lowest free addresses of the pool, one per (request, plan) of ``wanted`` (family -> list),
        in order. The gap searches of all families go in one statement; a family whose interval had too
        few free addresses goes on with its next interval in the next one."""
        if not wanted:
            return
        chosen = {fam: [] for fam in wanted}
        known = []
        interval = {fam: 0 for fam in wanted}
        while True:
            asks = []
            for fam, items in wanted.items():
                need = len(items) - len(chosen[fam])
                intervals = pool.intervals.get(fam, [])
                if need and interval[fam] < len(intervals):
                    first, last = intervals[interval[fam]]
                    asks.append((fam, first, last, need))
                    interval[fam] += 1
                elif need:
                    items_left = items[len(chosen[fam]):]
                    raise IpamError(
                        f"pool {pool.name!r} is exhausted: no free {FAMILY_NAMES[fam]} address for "
                        f"{items_left[0][0].owner} ({pool.size(fam)} allocatable addresses; released addresses "
                        "return after the cooldown)"
                    )
            if not asks:
                break
            for (fam, first, last, need), (runs, complete) in zip(asks, tx.runs_for_gaps(asks)):
                known += [(fam, a, b) for a, b in runs]
                chosen[fam] += ipam_runs.free_in(first, last, runs, complete, need)
        inserts = []
        for fam, items in wanted.items():
            for (req, plan), value in zip(items, chosen[fam]):
                plan["after"][FAMILY_NAMES[fam]] = addr_text(fam, value)
                plan["changed"] = True
                inserts.append((fam, value, req))
        self._insert(tx, pool, inserts, reserved=0, known=known)

    def _insert(self, tx, pool, items, reserved, known):
        """Insert rows (family, value, request) and add them to the run index. ``known``: every run
        (family, start, stop) that touches one of the values (ipam_runs.add)."""
        tx.insert_allocations(pool.name, [(fam, value, req.owner, req.uuid, reserved) for fam, value, req in items])
        for fam, value, req in items:
            log_change(tx, "reserve" if reserved else "allocate", pool.name, req.owner, req.uuid, fam, value)
        change_runs(tx, known, add=[(fam, value) for fam, value, dummy in items])
        if self.hook:
            tx.flush()  # the rows are on the server (uncommitted) when the test's hook runs
            for dummy in items:
                self.hook(tx, "insert")

    # -- state=absent ----------------------------------------------------------------------------

    def _absent(self, tx, pool, requests, fams, held) -> list[Result]:
        results, gone = [], []   # gone: (family, value, owner, uuid) released
        for i, req in enumerate(requests):
            mine = held.get(req.owner, {})
            check_uuid(pool, req, mine, f"owners[{i}]")
            before = {FAMILY_NAMES[f]: addr_text(f, v[0]) for f, v in mine.items()}
            after = dict(before)
            changed = False
            for fam in fams:
                if fam in mine:
                    value, vuuid = mine[fam][:2]
                    gone.append((fam, value, req.owner, vuuid))
                    log_change(tx, "release", pool.name, req.owner, vuuid, fam, value)
                    after[FAMILY_NAMES[fam]] = None
                    changed = True
            uuid = req.uuid or next((v[1] for v in mine.values() if v[1]), None)
            results.append(Result(req.owner, uuid, pool.name, both_families(before), both_families(after), changed))
        if gone and self.cooldown > 0:
            tx.release(gone)            # the rows stay (cooling), so do their runs
        elif gone:
            pairs = [(fam, value) for fam, value, dummy, dummy2 in gone]
            tx.delete_allocations(pairs)
            change_runs(tx, tx.runs_containing(pairs), remove=pairs)
        return results

    # -- the rest of a transaction ---------------------------------------------------------------

    def _sync_pool(self, tx, pool: Pool):
        """Record the pool's definition in ipam_pool (what the audit compares with), once per store."""
        definition = json.dumps(pool.definition, sort_keys=True)
        if self.synced_pools.get(pool.name) == definition:
            return
        tx.sync_pool(pool.name, definition)
        tx.after_commit.append(lambda: self.synced_pools.__setitem__(pool.name, definition))


def log_change(tx, action, pool, owner, uuid, fam, value):
    """One row of the change log (ipam_log), written with the others at the end of the transaction."""
    tx.logs.append((tx.now, action, pool, owner, uuid, fam, addr_text(fam, value) if value is not None else None))


def forget(tx, purged):
    """The released addresses whose cooldown has passed were deleted (tx.purge): take them out of the run
    index too, so they can be handed out again, and log them."""
    if purged:
        pairs = [(fam, value) for fam, value, dummy, dummy2 in purged]
        change_runs(tx, tx.runs_containing(pairs), remove=pairs)
    for fam, value, pool, last_owner in purged:
        log_change(tx, "purge", pool, last_owner, None, fam, value)


def change_runs(tx, known, add=(), remove=()):
    """Write the run index after adding or removing (family, value) pairs; ``known``: the runs
    (family, start, stop) that touch (add) or contain (remove) them."""
    deletes, updates, inserts = [], [], []
    for fam in sorted({f for f, dummy in list(add) + list(remove)}):
        runs = [(a, b) for f, a, b in known if f == fam]
        try:
            if add:
                d, i = ipam_runs.add(runs, [v for f, v in add if f == fam])
            else:
                d, i = ipam_runs.remove(runs, [v for f, v in remove if f == fam])
        except ValueError as exc:
            raise IpamError(f"store inconsistency in ipam_run ({FAMILY_NAMES[fam]}): {exc}; run the ipam_audit "
                            "action with repair=true") from None
        d, u, i = ipam_runs.as_updates(d, i)
        deletes += [(fam, a, b) for a, b in d]
        updates += [(fam, old, a, b) for old, a, b in u]
        inserts += [(fam, a, b) for a, b in i]
    tx.replace_runs(deletes, updates, inserts)


def check_uuid(pool, req, held, where):
    if not req.uuid:
        return
    for fam, (value, uuid, _reserved) in held.items():
        if uuid and uuid != req.uuid:
            raise IpamError(
                f"{where} ({req.owner}) field uuid: {req.owner} holds {addr_text(fam, value)} in pool {pool.name!r} "
                f"with uuid {uuid}, not {req.uuid}; a VM of the same name still owns it (release that first)"
            )
