# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The allocator: what one pool_address transaction reads, decides and writes, in either store.

It runs inside a store transaction that holds the store's write lock (ipam_sqlite.py, ipam_postgresql.py)
and talks to it through ``tx`` (``tx.q``/``tx.one``/``tx.all`` with '?' placeholders). Tables: ipam_schema.py.
"""
from __future__ import annotations

import json
import time

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_requests import Request, Result, both_families
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_schema import addr_blob, blob_int
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.pools import FAMILY_NAMES, MAX_ADDR, Pool, addr_text


class Allocator:
    """One batch of requests against one pool, with the task's cooldown.

    ``synced_pools`` is the store's cache of pool definitions it already wrote (pool name -> JSON);
    ``hook`` a test callable(tx, event) run at points inside the transaction.
    """

    def __init__(self, cooldown: float, synced_pools: dict, hook=None):
        self.cooldown = cooldown
        self.synced_pools = synced_pools
        self.hook = hook

    def run(self, tx, pool: Pool, requests: list[Request], state: str, fams: list[int]) -> list[Result]:
        """Inside the store's write transaction: every request, or an IpamError (the caller rolls back)."""
        self._sync_pool(tx, pool)
        self._purge(tx)
        wanted = {}
        for i, req in enumerate(requests):
            for fam, value in req.reserve.items():
                if (fam, value) in wanted:
                    raise IpamError(f"owners[{i}] ({req.owner}) field {FAMILY_NAMES[fam]}: "
                                    f"{addr_text(fam, value)} is also asked for by {wanted[(fam, value)]}")
                wanted[(fam, value)] = req.owner
        results = []
        for i, req in enumerate(requests):
            if state == "present":
                results.append(self._present(tx, pool, req, fams, f"owners[{i}]"))
            else:
                results.append(self._absent(tx, pool, req, fams, f"owners[{i}]"))
            if self.hook:
                self.hook(tx, "request")
        return results

    def _held(self, tx, pool: Pool, owner: str, cooling: dict | None = None) -> dict:
        """family -> (address, uuid, reserved) the owner holds; fills ``cooling`` with family ->
        [(address, last_uuid, released_at)] of addresses it released that are still cooling down."""
        held = {}
        # "family IN (4, 6)" lets both backends seek the (pool, family, owner) and (pool, family, last_owner)
        # indexes instead of scanning the pool's rows (tests/unit: test_no_statement_scans_a_table); the
        # last_owner index is partial (last_owner IS NOT NULL) so that no planner can pick it for the first
        # half, whatever its statistics say
        for part, fam, addr, uuid, reserved, owner_now, released_at in tx.all(
                "SELECT 0, family, addr, uuid, reserved, owner, released_at FROM ipam_allocation "
                "WHERE pool = ? AND family IN (4, 6) AND owner = ? "
                "UNION ALL "
                "SELECT 1, family, addr, last_uuid, reserved, owner, released_at FROM ipam_allocation "
                "WHERE pool = ? AND family IN (4, 6) AND last_owner = ?",
                (pool.name, owner, pool.name, owner)):
            if part == 0:
                held[fam] = (blob_int(addr), uuid, reserved)
            elif owner_now is None and cooling is not None:
                cooling.setdefault(fam, []).append((blob_int(addr), uuid, released_at))
        return held

    def _present(self, tx, pool, req: Request, fams, where) -> Result:
        cooling = {}
        held = self._held(tx, pool, req.owner, cooling)
        check_uuid(pool, req, held, where)
        before = {FAMILY_NAMES[f]: addr_text(f, v[0]) for f, v in held.items()}
        after = dict(before)
        changed = False
        uuid = req.uuid or next((v[1] for v in held.values() if v[1]), None)
        for fam in fams:
            name = FAMILY_NAMES[fam]
            if fam in held:
                value = held[fam][0]
                if fam in req.reserve and req.reserve[fam] != value:
                    raise IpamError(
                        f"{where} ({req.owner}) field {name}: {req.owner} already holds {addr_text(fam, value)} in "
                        f"pool {pool.name!r}; release it first (state=absent) to reserve {addr_text(fam, req.reserve[fam])}"
                    )
                if req.uuid and held[fam][1] != req.uuid:
                    tx.q("UPDATE ipam_allocation SET uuid = ? WHERE family = ? AND addr = ?",
                         (req.uuid, fam, addr_blob(value)))
                    changed = True
                continue
            if fam in req.reserve:
                value = req.reserve[fam]
                row = tx.one("SELECT owner, last_owner, last_uuid, released_at, pool FROM ipam_allocation "
                             "WHERE family = ? AND addr = ?", (fam, addr_blob(value)))
                text = addr_text(fam, value)
                if row is None:
                    self._insert(tx, pool, fam, value, req, reserved=1)
                elif row[0] is None and row[1] == req.owner and row[4] == pool.name and \
                        (not req.uuid or not row[2] or row[2] == req.uuid):
                    self._reclaim(tx, pool, fam, value, req, reserved=1)
                elif row[0] is None:
                    raise IpamError(
                        f"{where} ({req.owner}) field {name}: cannot reserve {text}: released by {row[1]} and cooling "
                        f"down until {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(row[3] + self.cooldown))}"
                    )
                else:
                    raise IpamError(f"{where} ({req.owner}) field {name}: cannot reserve {text}: held by {row[0]} "
                                    f"(pool {row[4]!r})")
            else:
                # the owner's own address, released and still cooling down: give it back
                mine = sorted((c for c in cooling.get(fam, []) if pool.contains(fam, c[0]) and
                               (not req.uuid or not c[1] or c[1] == req.uuid)), key=lambda c: c[2])
                if mine:
                    value = mine[-1][0]
                    self._reclaim(tx, pool, fam, value, req, reserved=0)
                else:
                    value = self._lowest_free(tx, pool, fam)
                    if value is None:
                        raise IpamError(
                            f"pool {pool.name!r} is exhausted: no free {name} address for {req.owner} "
                            f"({pool.size(fam)} allocatable addresses; released addresses return after the cooldown)"
                        )
                    self._insert(tx, pool, fam, value, req, reserved=0)
            after[name] = addr_text(fam, value)
            changed = True
        return Result(req.owner, uuid, pool.name, both_families(before), both_families(after), changed)

    def _absent(self, tx, pool, req: Request, fams, where) -> Result:
        held = self._held(tx, pool, req.owner)
        check_uuid(pool, req, held, where)
        before = {FAMILY_NAMES[f]: addr_text(f, v[0]) for f, v in held.items()}
        after = dict(before)
        uuid = req.uuid or next((v[1] for v in held.values() if v[1]), None)
        changed = False
        for fam in fams:
            if fam not in held:
                continue
            value, vuuid = held[fam][:2]
            if self.cooldown > 0:
                tx.q("UPDATE ipam_allocation SET owner = NULL, uuid = NULL, last_owner = ?, last_uuid = ?, "
                     "released_at = ? WHERE family = ? AND addr = ?", (req.owner, vuuid, tx.now, fam, addr_blob(value)))
            else:
                tx.q("DELETE FROM ipam_allocation WHERE family = ? AND addr = ?", (fam, addr_blob(value)))
                self._run_remove(tx, fam, value)
            self._log(tx, "release", pool.name, req.owner, vuuid, fam, value)
            after[FAMILY_NAMES[fam]] = None
            changed = True
        return Result(req.owner, uuid, pool.name, both_families(before), both_families(after), changed)

    def _insert(self, tx, pool, fam, value, req, reserved):
        tx.q("INSERT INTO ipam_allocation (family, addr, address, pool, owner, uuid, reserved, allocated_at) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
             (fam, addr_blob(value), addr_text(fam, value), pool.name, req.owner, req.uuid, reserved, tx.now))
        self._run_add(tx, fam, value)
        self._log(tx, "reserve" if reserved else "allocate", pool.name, req.owner, req.uuid, fam, value)
        if self.hook:
            self.hook(tx, "insert")

    def _reclaim(self, tx, pool, fam, value, req, reserved):
        tx.q("UPDATE ipam_allocation SET owner = ?, uuid = COALESCE(?, last_uuid), reserved = ?, allocated_at = ?, "
             "released_at = NULL WHERE family = ? AND addr = ? AND owner IS NULL",
             (req.owner, req.uuid, reserved, tx.now, fam, addr_blob(value)))
        self._log(tx, "reclaim", pool.name, req.owner, req.uuid, fam, value)

    def _log(self, tx, action, pool, owner, uuid, fam, value):
        tx.logs.append((tx.now, action, pool, owner, uuid, fam, addr_text(fam, value) if value is not None else None))

    def _sync_pool(self, tx, pool: Pool):
        definition = json.dumps(pool.definition, sort_keys=True)
        synced = self.synced_pools
        if synced.get(pool.name) == definition:
            return
        row = tx.one("SELECT definition FROM ipam_pool WHERE name = ?", (pool.name,))
        if row is None:
            tx.q("INSERT INTO ipam_pool (name, definition, updated_at) VALUES (?, ?, ?)",
                 (pool.name, definition, tx.now))
        elif row[0] != definition:
            tx.q("UPDATE ipam_pool SET definition = ?, updated_at = ? WHERE name = ?", (definition, tx.now, pool.name))
        tx.after_commit.append(lambda: synced.__setitem__(pool.name, definition))

    def _purge(self, tx):
        """Forget released addresses whose cooldown has passed, so they can be handed out again."""
        rows = tx.all("SELECT family, addr, pool, last_owner FROM ipam_allocation WHERE owner IS NULL "
                      "AND released_at <= ?", (tx.now - self.cooldown,))
        for fam, addr, pool, last_owner in rows:
            tx.q("DELETE FROM ipam_allocation WHERE family = ? AND addr = ?", (fam, addr))
            self._run_remove(tx, fam, blob_int(addr))
            self._log(tx, "purge", pool, last_owner, None, fam, blob_int(addr))

    # -- the gap search over runs ----------------------------------------------------------------

    def _run_at(self, tx, fam, value):
        """The run that contains ``value``, or None. One index seek."""
        row = tx.one("SELECT start, stop FROM ipam_run WHERE family = ? AND start <= ? ORDER BY start DESC LIMIT 1",
                     (fam, addr_blob(value)))
        if row is None:
            return None
        start, stop = blob_int(row[0]), blob_int(row[1])
        return (start, stop) if stop >= value else None

    def _lowest_free(self, tx, pool: Pool, fam: int):
        """Lowest allocatable address that no row occupies. Cost: O(intervals x log runs)."""
        for first, last in pool.intervals.get(fam, []):
            candidate = first
            while candidate <= last:
                run = self._run_at(tx, fam, candidate)
                if run is None:
                    return candidate
                # runs are maximal, so run.stop + 1 is free (PRIMARY KEY (family, addr) backs this up)
                if run[1] + 1 <= last:
                    return run[1] + 1
                break
        return None

    def _run_add(self, tx, fam, value):
        left = right = None
        lo, hi = addr_blob(max(value - 1, 0)), addr_blob(min(value + 1, MAX_ADDR[fam]))
        for start, stop in tx.all("SELECT start, stop FROM ipam_run WHERE family = ? AND (stop = ? OR start = ?)",
                                  (fam, lo, hi)):
            if value > 0 and bytes(stop) == lo:
                left = (start,)
            if value < MAX_ADDR[fam] and bytes(start) == hi:
                right = (stop,)
        if left and right:
            tx.q("DELETE FROM ipam_run WHERE family = ? AND start = ?", (fam, addr_blob(value + 1)))
            tx.q("UPDATE ipam_run SET stop = ? WHERE family = ? AND start = ?", (right[0], fam, left[0]))
        elif left:
            tx.q("UPDATE ipam_run SET stop = ? WHERE family = ? AND start = ?", (addr_blob(value), fam, left[0]))
        elif right:
            tx.q("UPDATE ipam_run SET start = ? WHERE family = ? AND start = ?",
                 (addr_blob(value), fam, addr_blob(value + 1)))
        else:
            tx.q("INSERT INTO ipam_run (family, start, stop) VALUES (?, ?, ?)", (fam, addr_blob(value), addr_blob(value)))

    def _run_remove(self, tx, fam, value):
        run = self._run_at(tx, fam, value)
        if run is None:
            raise IpamError(f"store inconsistency: {addr_text(fam, value)} is not in ipam_run; "
                            "run the ipam_audit action with repair=true")
        start, stop = run
        if start == stop:
            tx.q("DELETE FROM ipam_run WHERE family = ? AND start = ?", (fam, addr_blob(start)))
        elif value == start:
            tx.q("UPDATE ipam_run SET start = ? WHERE family = ? AND start = ?",
                 (addr_blob(value + 1), fam, addr_blob(start)))
        elif value == stop:
            tx.q("UPDATE ipam_run SET stop = ? WHERE family = ? AND start = ?",
                 (addr_blob(value - 1), fam, addr_blob(start)))
        else:
            tx.q("UPDATE ipam_run SET stop = ? WHERE family = ? AND start = ?",
                 (addr_blob(value - 1), fam, addr_blob(start)))
            tx.q("INSERT INTO ipam_run (family, start, stop) VALUES (?, ?, ?)",
                 (fam, addr_blob(value + 1), addr_blob(stop)))


def check_uuid(pool, req, held, where):
    if not req.uuid:
        return
    for fam, (value, uuid, _reserved) in held.items():
        if uuid and uuid != req.uuid:
            raise IpamError(
                f"{where} ({req.owner}) field uuid: {req.owner} holds {addr_text(fam, value)} in pool {pool.name!r} "
                f"with uuid {uuid}, not {req.uuid}; a VM of the same name still owns it (release that first)"
            )
