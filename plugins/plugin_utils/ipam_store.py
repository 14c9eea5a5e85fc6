# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every IPAM store offers (apply, rows, check_runs) and the transaction frame the backends fill in.

The backends are ipam_sqlite.py and ipam_postgresql.py; open one with ipam_config.open_store(). Writers
are serialized: SQLite with ``BEGIN IMMEDIATE`` (plus a busy timeout and a retry loop), PostgreSQL with a
transaction-scoped advisory lock. The constraints of ipam_schema.py are the backstop: if the allocator
(ipam_allocator.py) ever picked a taken address, the INSERT would fail and the transaction roll back.

``Tx`` is one transaction: every statement goes through ``q`` (a read: its rows now), ``defer`` (a write
whose result nobody reads: a backend may send it with the next read or the commit, in one round trip)
or ``many`` (one statement for many rows); each is counted in ``queries`` and recorded in the store's
``trace`` list when a test sets one. Its set operations each run one statement for any number of owners
or addresses; the SQL that differs between the backends (how a set of values is passed: a JSON array
in SQLite, an array parameter in PostgreSQL) is in the backends' Tx subclasses.
"""
from __future__ import annotations

import time

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils import ipam_runs
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_allocator import Allocator
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_requests import Request, Result, select_families
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_schema import addr_blob, blob_int
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.pools import FAMILY_NAMES, MAX_ADDR, Pool, addr_text

DEFAULT_COOLDOWN = 600
LOG_COLUMNS = "at, action, pool, owner, uuid, family, address"


class Tx:
    """A write (or check, or read) transaction of a store. Statements use '?' placeholders."""

    def __init__(self, store, cur, now: float):
        self.store = store
        self.cur = cur
        self.now = now
        self.queries = 0
        self.retired = None  # a write transaction: ipam_meta's "retired" record (ipam_transfer), if any
        self.after_commit = []
        self.logs = []  # ipam_log rows, written in one statement before the commit

    # -- statements ----------------------------------------------------------------------------

    def _count(self, sql: str, params):
        self.queries += 1
        if self.store.trace is not None:
            self.store.trace.append((sql, tuple(params)))

    def q(self, sql: str, params=()):
        """Run a statement now; the cursor holds its rows."""
        sql = self.store.sql(sql)
        self._count(sql, params)
        return self._execute(sql, params)

    def defer(self, sql: str, params=()):
        """A write whose result nobody reads. Here it runs now; PostgreSQLTx sends it with the next read."""
        sql = self.store.sql(sql)
        self._count(sql, params)
        self._send_later(sql, params)

    def many(self, sql: str, rows):
        """One statement run for every row (executemany); returns the number of rows changed."""
        rows = list(rows)
        if not rows:
            return 0
        sql = self.store.sql(sql)
        self._count(sql, rows[0])
        self.cur.executemany(sql, rows)
        return self.cur.rowcount

    def _execute(self, sql, params):
        self.cur.execute(sql, params)
        return self.cur

    def _send_later(self, sql, params):
        self.cur.execute(sql, params)

    def flush(self):
        """Send the deferred writes now (nothing to do where they run at once)."""

    def finish(self, sql: str):
        """End the transaction with ``sql`` (COMMIT, or ROLLBACK in check mode) after the deferred writes."""
        self.cur.execute(sql)

    def all(self, sql: str, params=()):
        return self.q(sql, params).fetchall()

    def one(self, sql: str, params=()):
        return self.q(sql, params).fetchone()

    # -- the set operations of the allocator: one statement each -----------------------------------

    def owner_rows(self, pool: str, owners: list[str]) -> list[tuple]:
        """Rows of ``pool`` held by one of ``owners`` or released by one and cooling down:
        [("held" | "cooling", family, address, owner, uuid (the last one when cooling), reserved, released_at)]."""
        raise NotImplementedError

    def rows_at(self, pairs: list[tuple[int, int]]) -> dict:
        """(family, address) -> the row there (row_dicts), for each of ``pairs`` that has one."""
        raise NotImplementedError

    def runs_containing(self, pairs: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
        """The runs (family, start, stop) that contain one of the (family, address) ``pairs``."""
        raise NotImplementedError

    def runs_adjacent(self, pairs: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
        """The runs (family, start, stop) that end right before or start right after one of ``pairs``."""
        raise NotImplementedError

    def purge_and_owner_rows(self, cutoff: float, pool: str, owners: list[str]) -> tuple[list, list]:
        """The two reads every transaction starts with (PostgreSQLTx sends them in one round trip)."""
        return self.purge(cutoff), self.owner_rows(pool, owners)

    def runs_for_gaps(self, asks) -> list[tuple[list, bool]]:
        """For the gap searches (ipam_runs.free_in), one per ask (family, first, last, limit), in one
        statement: the run holding or preceding ``first``, then up to ``limit`` runs starting in
        ``(first, last + 1]``; and whether that was all of them."""
        parts, params = [], []
        for k, (fam, first, last, limit) in enumerate(asks):
            parts.append(f"SELECT {k}, start, stop FROM (SELECT start, stop FROM ipam_run WHERE family = ? "
                         f"AND start <= ? ORDER BY start DESC LIMIT 1) AS before_{k}")
            parts.append(f"SELECT {k}, start, stop FROM (SELECT start, stop FROM ipam_run WHERE family = ? "
                         f"AND start > ? AND start <= ? ORDER BY start LIMIT ?) AS after_{k}")
            params += [fam, addr_blob(first), fam, addr_blob(first), addr_blob(min(last + 1, MAX_ADDR[fam])), limit]
        found = [[] for dummy in asks]
        for k, start, stop in self.all(" UNION ALL ".join(parts), params):
            found[k].append((blob_int(start), blob_int(stop)))
        out = []
        for (fam, first, last, limit), runs in zip(asks, found):
            out.append((runs, sum(1 for start, dummy in runs if start > first) < limit))
        return out

    def insert_allocations(self, pool: str, rows):
        """rows: (family, address, owner, uuid, reserved), allocated now."""
        self.many("INSERT INTO ipam_allocation (family, addr, address, pool, owner, uuid, reserved, allocated_at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                  [(f, addr_blob(v), addr_text(f, v), pool, o, u, r, self.now) for f, v, o, u, r in rows])

    def reclaim(self, rows) -> int:
        """rows: (family, address, owner, uuid, reserved) of cooling rows given back; returns rows changed."""
        return self.many("UPDATE ipam_allocation SET owner = ?, uuid = COALESCE(?, last_uuid), reserved = ?, "
                         "allocated_at = ?, released_at = NULL WHERE family = ? AND addr = ? AND owner IS NULL",
                         [(o, u, r, self.now, f, addr_blob(v)) for f, v, o, u, r in rows])

    def release(self, rows):
        """rows: (family, address, owner, uuid) released into the cooldown."""
        self.many("UPDATE ipam_allocation SET owner = NULL, uuid = NULL, last_owner = ?, last_uuid = ?, "
                  "released_at = ? WHERE family = ? AND addr = ?",
                  [(o, u, self.now, f, addr_blob(v)) for f, v, o, u in rows])

    def delete_allocations(self, pairs: list[tuple[int, int]]):
        self.many("DELETE FROM ipam_allocation WHERE family = ? AND addr = ?", [(f, addr_blob(v)) for f, v in pairs])

    def set_uuids(self, rows):
        """rows: (family, address, uuid)."""
        self.many("UPDATE ipam_allocation SET uuid = ? WHERE family = ? AND addr = ?",
                  [(u, f, addr_blob(v)) for f, v, u in rows])

    def replace_runs(self, deletes, updates, inserts):
        """Write a change of the run index (ipam_runs.as_updates): ``deletes`` (family, start, stop), then
        ``updates`` (family, old start, new start, new stop), then ``inserts`` (family, start, stop)."""
        self.many("DELETE FROM ipam_run WHERE family = ? AND start = ?", [(f, addr_blob(a)) for f, a, dummy in deletes])
        self.many("UPDATE ipam_run SET start = ?, stop = ? WHERE family = ? AND start = ?",
                  [(addr_blob(a), addr_blob(b), f, addr_blob(old)) for f, old, a, b in updates])
        self.many("INSERT INTO ipam_run (family, start, stop) VALUES (?, ?, ?)",
                  [(f, addr_blob(a), addr_blob(b)) for f, a, b in inserts])

    def purge(self, cutoff: float) -> list[tuple]:
        """Delete the cooling rows released at or before ``cutoff``: [(family, address, pool, last_owner)]."""
        rows = self.all("DELETE FROM ipam_allocation WHERE owner IS NULL AND released_at <= ? "
                        "RETURNING family, addr, pool, last_owner", (cutoff,))
        return [(f, blob_int(a), p, o) for f, a, p, o in rows]

    def insert_rows(self, rows):
        """Rows exactly as given (ipam_transfer): (family, address, pool, owner, uuid, reserved, allocated_at,
        released_at, last_owner, last_uuid)."""
        self.many("INSERT INTO ipam_allocation (family, addr, address, pool, owner, uuid, reserved, allocated_at, "
                  "released_at, last_owner, last_uuid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  [(r[0], addr_blob(r[1]), addr_text(r[0], r[1]), r[2], r[3], r[4], int(r[5]), r[6], r[7], r[8], r[9])
                   for r in rows])

    def pool_records(self) -> list[tuple]:
        """Every ipam_pool row: (name, definition JSON, updated_at), by name."""
        return self.all("SELECT name, definition, updated_at FROM ipam_pool ORDER BY name")

    def add_pool_records(self, rows):
        """(name, definition JSON, updated_at) of pools the store has no record of (others are kept)."""
        self.many("INSERT INTO ipam_pool (name, definition, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                  rows)

    def retire(self, record: str):
        """Mark the store retired (ipam_meta "retired", JSON ``record``): its writers refuse from now on."""
        self.q("INSERT INTO ipam_meta (key, value) VALUES ('retired', ?) "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (record,))

    def sync_pool(self, name: str, definition: str):
        """Record a pool's definition (JSON); updated_at changes only when the definition does."""
        self.defer("INSERT INTO ipam_pool (name, definition, updated_at) VALUES (?, ?, ?) "
                   "ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at "
                   "WHERE ipam_pool.definition <> excluded.definition", (name, definition, self.now))

    def write_log(self):
        """The change log of the transaction (tx.logs), in one statement."""
        rows, self.logs = self.logs, []
        self.many(f"INSERT INTO ipam_log ({LOG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


class Store:
    backend = "base"
    hook = None  # tests: a callable(tx, event) run at points inside the transaction (ipam_allocator.Allocator)
    clock = None  # tests: a callable returning "now"; default: time.time() (SQLite), the server clock (PostgreSQL)
    trace = None  # tests: a list; every statement is appended to it as (sql, params)

    def __init__(self):
        self.synced_pools = {}  # pool name -> the definition (JSON) this store wrote to ipam_pool

    def sql(self, text: str) -> str:
        return text

    def close(self):
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- allocation --------------------------------------------------------------------------

    def apply(self, pool: Pool, requests: list[Request], *, state: str = "present", families=None,
              cooldown: float = DEFAULT_COOLDOWN, check: bool = False) -> list[Result]:
        """Allocate (state=present) or release (state=absent) for every request, in one transaction.

        Either every request succeeds or an IpamError is raised and nothing is written. With
        ``check`` the same work is done and rolled back, so check mode tells exactly what would happen.
        """
        fams = select_families(pool, families)
        if cooldown is None:
            cooldown = DEFAULT_COOLDOWN
        if not isinstance(cooldown, (int, float)) or cooldown < 0:
            raise IpamError(f"cooldown: {cooldown!r} must be a number of seconds >= 0")
        wanted = {}
        for i, req in enumerate(requests):
            for fam, value in req.reserve.items():
                if state != "present":
                    raise IpamError(f"owners[{i}] ({req.owner}): an address to reserve makes no sense with "
                                    f"state={state}")
                if fam not in fams:
                    raise IpamError(f"owners[{i}] ({req.owner}) field {FAMILY_NAMES[fam]}: family not in families "
                                    f"{[FAMILY_NAMES[f] for f in fams]}")
                if not pool.contains(fam, value):
                    raise IpamError(f"owners[{i}] ({req.owner}) field {FAMILY_NAMES[fam]}: cannot reserve: "
                                    f"{pool.why_not(fam, value)}")
                if (fam, value) in wanted:
                    raise IpamError(f"owners[{i}] ({req.owner}) field {FAMILY_NAMES[fam]}: "
                                    f"{addr_text(fam, value)} is also asked for by {wanted[(fam, value)]}")
                wanted[(fam, value)] = req.owner
        allocator = Allocator(cooldown, self.synced_pools, self.hook)
        with self.transaction(check=check) as tx:
            return allocator.run(tx, pool, requests, state, fams)

    # -- reading -------------------------------------------------------------------------------

    def rows(self) -> list[dict]:
        """Every row of ipam_allocation (held and cooling), as dicts, sorted by pool, owner, family."""
        with self.transaction(check=True, lock=False) as tx:
            if not self.has_schema(tx):
                return []
            out = []
            for r in tx.all("SELECT family, addr, address, pool, owner, uuid, reserved, allocated_at, released_at, "
                            "last_owner, last_uuid FROM ipam_allocation ORDER BY pool, owner, family"):
                out.append({
                    "family": FAMILY_NAMES[r[0]], "value": blob_int(r[1]), "address": r[2], "pool": r[3],
                    "owner": r[4], "uuid": r[5], "reserved": bool(r[6]), "allocated_at": r[7],
                    "released_at": r[8], "last_owner": r[9], "last_uuid": r[10],
                })
            return out

    def check_runs(self, repair: bool = False) -> list[str]:
        """Compare ipam_run with the runs computed from ipam_allocation; optionally rebuild it."""
        with self.transaction(check=not repair, lock=repair) as tx:
            if not self.has_schema(tx):
                return []
            problems = []
            for fam in (4, 6):
                expected = ipam_runs.runs_of(blob_int(r[0]) for r in tx.all(
                    "SELECT addr FROM ipam_allocation WHERE family = ?", (fam,)))
                actual = [(blob_int(a), blob_int(b)) for a, b in
                          tx.all("SELECT start, stop FROM ipam_run WHERE family = ? ORDER BY start", (fam,))]
                if actual != expected:
                    problems.append(f"{FAMILY_NAMES[fam]}: ipam_run has {len(actual)} runs, the allocations make "
                                    f"{len(expected)}")
                    if repair:
                        tx.q("DELETE FROM ipam_run WHERE family = ?", (fam,))
                        tx.replace_runs([], [], [(fam, a, b) for a, b in expected])
            return problems

    def has_schema(self, tx) -> bool:
        raise NotImplementedError

    def transaction(self, check: bool = False, lock: bool = True, allow_retired: bool = False):
        """A context manager yielding a Tx; see the backends. ``lock``: a write transaction (the store's
        write lock); it fails on a retired store unless ``allow_retired``. ``check``: rolled back at the end."""
        raise NotImplementedError


ROW_COLUMNS = ("pool", "owner", "uuid", "reserved", "allocated_at", "released_at", "last_owner", "last_uuid")


def row_dicts(rows) -> dict:
    """(family, address) -> {pool, owner, uuid, reserved, allocated_at, released_at, last_owner, last_uuid}
    from rows (family, addr, then those columns)."""
    out = {}
    for row in rows:
        d = dict(zip(ROW_COLUMNS, row[2:]))
        d["reserved"] = bool(d["reserved"])
        out[(row[0], blob_int(row[1]))] = d
    return out


def retired_message(store: str, retired: dict) -> str:
    """Why a retired store refuses to write (ipam_export with retire=true moved its allocations)."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(retired.get("at", 0)))
    return (f"{store} was retired at {when} by vmnet.ipfabric.ipam_export ({retired.get('note') or 'moved'}): "
            "its allocations live in another store now, so it hands out nothing more; point ipfabric_ipam at the "
            "new store (docs/ipam.md, Moving the store)")
