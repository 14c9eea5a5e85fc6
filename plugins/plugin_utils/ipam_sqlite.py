# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SQLite IPAM store: one file, WAL journal, ``BEGIN IMMEDIATE`` as the write lock.

A set of values reaches SQLite as one JSON array parameter read with ``json_each``; addresses travel as
hex text and become the stored 16-byte blobs through ``ipam_unhex`` (a function registered on the
connection: SQLite 3.40 has no unhex()), so the planner can still seek the indexes with them. Writes
of many rows use executemany (one prepared statement run in a loop in C).
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import time

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_schema import (
    SCHEMA_VERSION,
    SQLITE_SCHEMA,
    addr_blob,
    blob_int,
)
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_store import Store, Tx, retired_message, row_dicts
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.pools import MAX_ADDR

# one element of a JSON array [[family, "hex address"], ...] read with json_each(?) AS j
_FAM = "json_extract(j.value, '$[0]')"
_ADDR = "ipam_unhex(json_extract(j.value, '$[1]'))"


def _pairs_json(pairs) -> str:
    return json.dumps([[f, addr_blob(v).hex()] for f, v in pairs])


class SQLiteTx(Tx):
    """The set operations in SQLite's dialect."""

    def owner_rows(self, pool, owners):
        # "family IN (4, 6)" lets SQLite seek the (pool, family, owner) and (pool, family, last_owner)
        # indexes for every owner of the list (tests/unit: test_no_statement_scans_a_table); the
        # last_owner index is partial (last_owner IS NOT NULL) so that no planner picks it for the first
        # half; a row released and taken again by its owner is "held" only (owner_now is set)
        names = json.dumps(owners)
        rows = self.all(
            "SELECT 'held', family, addr, owner, uuid, reserved, released_at, owner FROM ipam_allocation "
            "WHERE pool = ? AND family IN (4, 6) AND owner IN (SELECT value FROM json_each(?)) "
            "UNION ALL "
            "SELECT 'cooling', family, addr, last_owner, last_uuid, reserved, released_at, owner FROM ipam_allocation "
            "WHERE pool = ? AND family IN (4, 6) AND last_owner IN (SELECT value FROM json_each(?))",
            (pool, names, pool, names))
        return [(p, f, blob_int(a), o, u, r, t) for p, f, a, o, u, r, t, now in rows if p == "held" or now is None]

    def rows_at(self, pairs):
        rows = self.all(
            "SELECT a.family, a.addr, a.pool, a.owner, a.uuid, a.reserved, a.allocated_at, a.released_at, a.last_owner, a.last_uuid FROM json_each(?) AS j "
            f"CROSS JOIN ipam_allocation AS a ON a.family = {_FAM} AND a.addr = {_ADDR}", (_pairs_json(pairs),))
        return row_dicts(rows)

    def runs_containing(self, pairs):
        # CROSS JOIN: SQLite keeps the values as the outer loop, so each one is one seek of the run that
        # starts at or before it (a plain JOIN may let the planner walk every run of the family instead)
        rows = self.all(
            "SELECT DISTINCT r.family, r.start, r.stop FROM json_each(?) AS j CROSS JOIN ipam_run AS r "
            f"ON r.family = {_FAM} AND r.start = (SELECT s.start FROM ipam_run AS s WHERE s.family = {_FAM} "
            f"AND s.start <= {_ADDR} ORDER BY s.start DESC LIMIT 1) WHERE r.stop >= {_ADDR}", (_pairs_json(pairs),))
        return [(f, blob_int(a), blob_int(b)) for f, a, b in rows]

    def runs_adjacent(self, pairs):
        before = _pairs_json((f, v - 1) for f, v in pairs if v > 0)
        after = _pairs_json((f, v + 1) for f, v in pairs if v < MAX_ADDR[f])
        rows = self.all(
            "SELECT r.family, r.start, r.stop FROM json_each(?) AS j CROSS JOIN ipam_run AS r "
            f"ON r.family = {_FAM} AND r.stop = {_ADDR} "
            "UNION "
            "SELECT r.family, r.start, r.stop FROM json_each(?) AS j CROSS JOIN ipam_run AS r "
            f"ON r.family = {_FAM} AND r.start = {_ADDR}", (before, after))
        return [(f, blob_int(a), blob_int(b)) for f, a, b in rows]


class SQLiteStore(Store):
    backend = "sqlite"

    def __init__(self, path: str, *, busy_timeout: float = 60.0, create: bool = True):
        super().__init__()
        self.path = path
        self.busy_timeout = busy_timeout
        self._conn = None
        self._memory = False
        if not os.path.exists(path) and not create:
            # check mode on a store that does not exist yet: work on an empty in-memory copy
            self._memory = True
        self._connect()

    def _connect(self):
        if self._memory:
            self._conn = sqlite3.connect(":memory:", isolation_level=None)
            self._conn.create_function("ipam_unhex", 1, bytes.fromhex, deterministic=True)
            return
        parent = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=0o700, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            self._conn.create_function("ipam_unhex", 1, bytes.fromhex, deterministic=True)
            self._conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            # WAL: readers (audit, check mode) never block writers. Falls back to the rollback journal
            # where WAL is impossible; both are crash-safe. synchronous=FULL: a committed allocation
            # survives a power cut, so an address a VM already uses is never handed out twice.
            self._retry(lambda: self._conn.execute("PRAGMA journal_mode = WAL").fetchone())
            self._conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.DatabaseError as exc:
            raise IpamError(f"ipfabric_ipam.path: cannot open SQLite store {self.path}: {exc}") from None

    def _retry(self, fn):
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.001, 0.02))

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def has_schema(self, tx) -> bool:
        return tx.one("PRAGMA user_version")[0] >= SCHEMA_VERSION

    @contextlib.contextmanager
    def transaction(self, check: bool = False, lock: bool = True, allow_retired: bool = False):
        conn = self._conn
        try:
            self._retry(lambda: conn.execute("BEGIN IMMEDIATE" if lock else "BEGIN"))
        except sqlite3.OperationalError as exc:
            raise IpamError(f"SQLite store {self.path}: no write lock within busy_timeout "
                            f"({self.busy_timeout:g} s): {exc}") from None
        ok = False
        try:
            cur = conn.cursor()
            tx = SQLiteTx(self, cur, self.clock() if self.clock else time.time())
            if lock or self._memory:
                version = cur.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise IpamError(f"SQLite store {self.path} has schema {version}; this collection knows "
                                    f"{SCHEMA_VERSION}: upgrade vmnet.ipfabric")
                if version < SCHEMA_VERSION:
                    for stmt in SQLITE_SCHEMA.split(";"):
                        if stmt.strip():
                            cur.execute(stmt)
                    cur.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    cur.execute("INSERT OR REPLACE INTO ipam_meta (key, value) VALUES ('schema_version', ?)",
                                (str(SCHEMA_VERSION),))
            if lock:
                row = cur.execute("SELECT value FROM ipam_meta WHERE key = 'retired'").fetchone()
                tx.retired = json.loads(row[0]) if row else None
                if tx.retired and not allow_retired:
                    raise IpamError(retired_message(f"SQLite store {self.path}", tx.retired))
            yield tx
            ok = True
        except sqlite3.IntegrityError as exc:
            raise IpamError(f"SQLite store refused a duplicate (nothing was written): {exc}") from None
        except sqlite3.OperationalError as exc:
            raise IpamError(f"SQLite store {self.path} (nothing was written): {exc}") from None
        finally:
            if ok and not check:
                conn.execute("COMMIT")
                for fn in tx.after_commit:
                    fn()
            else:
                conn.execute("ROLLBACK")
