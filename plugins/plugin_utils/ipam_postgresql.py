# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PostgreSQL IPAM store: READ COMMITTED transactions behind one advisory transaction lock (psycopg 3).

Every set operation of the allocator is one statement whatever the number of owners: a set of values is
one array parameter (``= ANY(%b)``, ``unnest(%b, %b, ...)`` for rows, in binary), so a batch of 100 owners
costs the round trips of a batch of one; and the writes whose results nobody reads go to the server with
the next read or with the COMMIT (psycopg pipeline mode). The server's plan for each statement is an
index scan.
"""
from __future__ import annotations

import contextlib
import json

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_schema import (
    PG_SCHEMA,
    SCHEMA_VERSION,
    addr_blob,
    blob_int,
)
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_store import (
    LOG_COLUMNS,
    Store,
    Tx,
    retired_message,
    row_dicts,
)
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.pools import MAX_ADDR, addr_text

PG_LOCK_KEY = 0x766D6E6574495041  # "vmnetIPA": the one advisory lock all IPAM writers take


def _blobs(values):
    return [addr_blob(v) for v in values]


class PostgreSQLTx(Tx):
    """The set operations in PostgreSQL's dialect: arrays and unnest, parameters in binary (``%b``).

    Deferred writes (``defer``) wait in ``pending`` and go to the server in one pipeline with the next
    read, or with the COMMIT: a batch costs a round trip per read, not per statement.
    """

    def __init__(self, store, cur, now):
        super().__init__(store, cur, now)
        self.pending = []  # (sql, params) of deferred writes, not sent yet

    def _pipeline(self, statements):
        """Send the pending writes and ``statements`` in one round trip; a cursor with the rows of each."""
        conn = self.cur.connection
        pending, self.pending = self.pending, []
        cursors = []
        with conn.pipeline():
            writes = conn.cursor()
            for sql, params in pending:
                writes.execute(sql, params)
            for i, (sql, params) in enumerate(statements):
                cur = self.cur if i == len(statements) - 1 else conn.cursor()
                cur.execute(sql, params)
                cursors.append(cur)
        return cursors

    def _execute(self, sql, params):
        if not self.pending:
            self.cur.execute(sql, params)
            return self.cur
        return self._pipeline([(sql, params)])[0]

    def _send_later(self, sql, params):
        self.pending.append((sql, params))

    def flush(self):
        if self.pending:
            self._pipeline([])

    def finish(self, sql):
        if self.pending:
            self._pipeline([(sql, ())])
        else:
            self.cur.execute(sql)

    def purge_and_owner_rows(self, cutoff, pool, owners):
        purge = ("DELETE FROM ipam_allocation WHERE owner IS NULL AND released_at <= %b "
                 "RETURNING family, addr, pool, last_owner", (cutoff,))
        rows = ("SELECT 'held', family, addr, owner, uuid, reserved, released_at, owner FROM ipam_allocation "
                "WHERE pool = %b AND family IN (4, 6) AND owner = ANY(%b::text[]) "
                "UNION ALL "
                "SELECT 'cooling', family, addr, last_owner, last_uuid, reserved, released_at, owner FROM ipam_allocation "
                "WHERE pool = %b AND family IN (4, 6) AND last_owner = ANY(%b::text[])", (pool, owners, pool, owners))
        for sql, params in (purge, rows):
            self._count(sql, params)
        purged_cur, rows_cur = self._pipeline([purge, rows])
        purged = [(f, blob_int(a), p, o) for f, a, p, o in purged_cur.fetchall()]
        return purged, self._owner_rows(rows_cur.fetchall())

    @staticmethod
    def _owner_rows(rows):
        # a row released and taken again by its owner is "held" only (owner_now is set)
        return [(p, f, blob_int(a), o, u, r, t) for p, f, a, o, u, r, t, now in rows if p == "held" or now is None]

    def owner_rows(self, pool, owners):
        # "family IN (4, 6)": an index scan on (pool, family, owner) and on the partial (pool, family,
        # last_owner index for the whole owner array; a row released and taken again by its owner is
        # "held" only (owner_now is set)
        rows = self.all(
            "SELECT 'held', family, addr, owner, uuid, reserved, released_at, owner FROM ipam_allocation "
            "WHERE pool = %b AND family IN (4, 6) AND owner = ANY(%b::text[]) "
            "UNION ALL "
            "SELECT 'cooling', family, addr, last_owner, last_uuid, reserved, released_at, owner FROM ipam_allocation "
            "WHERE pool = %b AND family IN (4, 6) AND last_owner = ANY(%b::text[])",
            (pool, owners, pool, owners))
        return self._owner_rows(rows)

    def rows_at(self, pairs):
        f, v = zip(*pairs)
        rows = self.all("SELECT a.family, a.addr, a.pool, a.owner, a.uuid, a.reserved, a.allocated_at, a.released_at, a.last_owner, a.last_uuid "
                        "FROM unnest(%b::smallint[], %b::bytea[]) AS v(family, addr) "
                        "JOIN ipam_allocation AS a ON a.family = v.family AND a.addr = v.addr", (list(f), _blobs(v)))
        return row_dicts(rows)

    def runs_containing(self, pairs):
        f, v = zip(*pairs)
        rows = self.all(
            "SELECT DISTINCT v.family, r.start, r.stop FROM unnest(%b::smallint[], %b::bytea[]) AS v(family, x) "
            "CROSS JOIN LATERAL (SELECT start, stop FROM ipam_run WHERE family = v.family AND start <= v.x "
            "ORDER BY start DESC LIMIT 1) AS r WHERE r.stop >= v.x", (list(f), _blobs(v)))
        return [(f, blob_int(a), blob_int(b)) for f, a, b in rows]

    def runs_adjacent(self, pairs):
        before = [(f, v - 1) for f, v in pairs if v > 0]
        after = [(f, v + 1) for f, v in pairs if v < MAX_ADDR[f]]
        rows = self.all(
            "SELECT r.family, r.start, r.stop FROM unnest(%b::smallint[], %b::bytea[]) AS v(family, x) "
            "JOIN ipam_run AS r ON r.family = v.family AND r.stop = v.x "
            "UNION "
            "SELECT r.family, r.start, r.stop FROM unnest(%b::smallint[], %b::bytea[]) AS v(family, x) "
            "JOIN ipam_run AS r ON r.family = v.family AND r.start = v.x",
            ([f for f, dummy in before], _blobs(v for dummy, v in before),
             [f for f, dummy in after], _blobs(v for dummy, v in after)))
        return [(f, blob_int(a), blob_int(b)) for f, a, b in rows]

    def insert_allocations(self, pool, rows):
        if rows:
            f, v, o, u, r = zip(*rows)
            self.defer("INSERT INTO ipam_allocation (family, addr, address, pool, owner, uuid, reserved, allocated_at) "
                       "SELECT v.family, v.addr, v.address, %b, v.owner, v.uuid, v.reserved, %b FROM unnest("
                       "%b::smallint[], %b::bytea[], %b::text[], %b::text[], %b::text[], %b::smallint[]) "
                       "AS v(family, addr, address, owner, uuid, reserved)",
                       (pool, self.now, list(f), _blobs(v), [addr_text(x, y) for x, y in zip(f, v)], list(o), list(u),
                        list(r)))

    def reclaim(self, rows):
        if not rows:
            return 0
        f, v, o, u, r = zip(*rows)
        return self.q("UPDATE ipam_allocation AS a SET owner = v.owner, uuid = COALESCE(v.uuid, a.last_uuid), "
                      "reserved = v.reserved, allocated_at = %b, released_at = NULL FROM unnest("
                      "%b::smallint[], %b::bytea[], %b::text[], %b::text[], %b::smallint[]) "
                      "AS v(family, addr, owner, uuid, reserved) "
                      "WHERE a.family = v.family AND a.addr = v.addr AND a.owner IS NULL",
                      (self.now, list(f), _blobs(v), list(o), list(u), list(r))).rowcount

    def release(self, rows):
        if rows:
            f, v, o, u = zip(*rows)
            self.defer("UPDATE ipam_allocation AS a SET owner = NULL, uuid = NULL, last_owner = v.owner, "
                       "last_uuid = v.uuid, released_at = %b FROM unnest(%b::smallint[], %b::bytea[], %b::text[], "
                       "%b::text[]) AS v(family, addr, owner, uuid) WHERE a.family = v.family AND a.addr = v.addr",
                       (self.now, list(f), _blobs(v), list(o), list(u)))

    def delete_allocations(self, pairs):
        if pairs:
            f, v = zip(*pairs)
            self.defer("DELETE FROM ipam_allocation AS a USING unnest(%b::smallint[], %b::bytea[]) AS v(family, addr) "
                       "WHERE a.family = v.family AND a.addr = v.addr", (list(f), _blobs(v)))

    def set_uuids(self, rows):
        if rows:
            f, v, u = zip(*rows)
            self.defer("UPDATE ipam_allocation AS a SET uuid = v.uuid FROM unnest(%b::smallint[], %b::bytea[], "
                       "%b::text[]) AS v(family, addr, uuid) WHERE a.family = v.family AND a.addr = v.addr",
                       (list(f), _blobs(v), list(u)))

    def replace_runs(self, deletes, updates, inserts):
        if deletes:
            f, a, dummy = zip(*deletes)
            self.defer("DELETE FROM ipam_run AS r USING unnest(%b::smallint[], %b::bytea[]) AS v(family, start) "
                       "WHERE r.family = v.family AND r.start = v.start", (list(f), _blobs(a)))
        if updates:
            f, old, a, b = zip(*updates)
            self.defer("UPDATE ipam_run AS r SET start = v.start, stop = v.stop FROM unnest(%b::smallint[], "
                       "%b::bytea[], %b::bytea[], %b::bytea[]) AS v(family, old, start, stop) "
                       "WHERE r.family = v.family AND r.start = v.old", (list(f), _blobs(old), _blobs(a), _blobs(b)))
        if inserts:
            f, a, b = zip(*inserts)
            self.defer("INSERT INTO ipam_run (family, start, stop) SELECT * FROM unnest(%b::smallint[], "
                       "%b::bytea[], %b::bytea[])", (list(f), _blobs(a), _blobs(b)))

    def insert_rows(self, rows):
        if rows:
            cols = list(zip(*rows))
            self.defer("INSERT INTO ipam_allocation (family, addr, address, pool, owner, uuid, reserved, allocated_at, "
                       "released_at, last_owner, last_uuid) SELECT * FROM unnest(%b::smallint[], %b::bytea[], "
                       "%b::text[], %b::text[], %b::text[], %b::text[], %b::smallint[], %b::float8[], %b::float8[], "
                       "%b::text[], %b::text[])",
                       (list(cols[0]), _blobs(cols[1]), [addr_text(f, v) for f, v in zip(cols[0], cols[1])],
                        list(cols[2]), list(cols[3]), list(cols[4]), [int(x) for x in cols[5]],
                        [float(x) for x in cols[6]], [None if x is None else float(x) for x in cols[7]],
                        list(cols[8]), list(cols[9])))

    def add_pool_records(self, rows):
        if rows:
            name, definition, updated = zip(*rows)
            self.defer("INSERT INTO ipam_pool (name, definition, updated_at) SELECT * FROM unnest(%b::text[], "
                       "%b::text[], %b::float8[]) ON CONFLICT (name) DO NOTHING",
                       (list(name), list(definition), [float(x) for x in updated]))

    def write_log(self):
        rows, self.logs = self.logs, []
        if rows:
            self.defer(f"INSERT INTO ipam_log ({LOG_COLUMNS}) SELECT * FROM unnest(%b::float8[], %b::text[], "
                       "%b::text[], %b::text[], %b::text[], %b::smallint[], %b::text[])",
                       tuple(list(col) for col in zip(*rows)))


class PostgreSQLStore(Store):
    backend = "postgresql"

    def __init__(self, dsn: str, *, lock_timeout: float = 60.0, connect_timeout: int = 10):
        super().__init__()
        try:
            import psycopg  # noqa: F401  (controller-side dependency, see requirements.txt)
        except ImportError:
            raise IpamError("ipfabric_ipam.backend=postgresql needs the Python package psycopg (v3) on the "
                            "controller: pip install 'psycopg[binary]'") from None
        self._psycopg = psycopg
        self.dsn = dsn
        try:
            self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=connect_timeout)
        except psycopg.Error as exc:
            raise IpamError(f"ipfabric_ipam.dsn: cannot connect to PostgreSQL: {str(exc).strip()}") from None
        ms = int(lock_timeout * 1000)
        self._conn.execute(f"SET lock_timeout = {ms}; SET idle_in_transaction_session_timeout = {ms}")
        self._schema_ok = False

    def sql(self, text: str) -> str:
        return text.replace("?", "%b")  # parameters in binary: bytea arrays cost no hex escaping

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def has_schema(self, tx) -> bool:
        return tx.one("SELECT to_regclass('ipam_meta') IS NOT NULL")[0]

    def _rollback(self, cur):
        if self._conn.closed:
            return  # the server ended the session: the transaction is gone with it
        try:
            cur.execute("ROLLBACK")
        except self._psycopg.Error:
            pass

    @contextlib.contextmanager
    def transaction(self, check: bool = False, lock: bool = True, allow_retired: bool = False):
        psycopg = self._psycopg
        conn = self._conn
        try:
            with conn.cursor() as cur:
                ok = False
                try:
                    # one round trip (simple query protocol, no parameters): begin, and for a writer take
                    # the lock every writer of every pool takes, so writers run one at a time and each
                    # statement after it sees every transaction committed before (READ COMMITTED)
                    # (and whether the store was retired; on a connection's first write, whether the schema
                    # is there at all)
                    first = lock and not self._schema_ok
                    last = ""
                    if first:
                        last = "; SELECT to_regclass('ipam_meta') IS NOT NULL"
                    elif lock:
                        last = "; SELECT value FROM ipam_meta WHERE key = 'retired'"
                    cur.execute(("BEGIN ISOLATION LEVEL READ COMMITTED; "
                                 f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY}); " if lock else
                                 "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; ")
                                + "SELECT extract(epoch from clock_timestamp())::float8" + last)
                    results = []  # the first row of each result, None when it has none
                    while True:
                        if cur.description is not None:
                            row = cur.fetchone()
                            results.append(row[0] if row else None)
                        if not cur.nextset():
                            break
                    now = results[-2] if last else results[-1]
                    tx = PostgreSQLTx(self, cur, self.clock() if self.clock else now)
                    retired = results[-1] if lock and not first else None
                    if first:
                        if not results[-1]:
                            cur.execute(PG_SCHEMA)
                            cur.execute("INSERT INTO ipam_meta (key, value) VALUES ('schema_version', %s)",
                                        (str(SCHEMA_VERSION),))
                        version = int(tx.one("SELECT value FROM ipam_meta WHERE key = 'schema_version'")[0])
                        if version > SCHEMA_VERSION:
                            raise IpamError(f"PostgreSQL store has schema {version}; this collection knows "
                                            f"{SCHEMA_VERSION}: upgrade vmnet.ipfabric")
                        row = tx.one("SELECT value FROM ipam_meta WHERE key = 'retired'")
                        retired = row[0] if row else None
                    tx.retired = json.loads(retired) if retired else None
                    if tx.retired and not allow_retired:
                        raise IpamError(retired_message("PostgreSQL store", tx.retired))
                    yield tx
                    ok = True
                finally:
                    if ok:
                        # the deferred writes go with the COMMIT; in check mode with the ROLLBACK, so that
                        # they meet the constraints there too. If one fails, nothing after it ran.
                        try:
                            tx.finish("ROLLBACK" if check else "COMMIT")
                        except psycopg.Error:
                            self._rollback(cur)
                            raise
                        if not check:
                            for fn in tx.after_commit:
                                fn()
                            if lock:
                                self._schema_ok = True  # the schema is committed now (DDL rolls back with the rest)
                    else:
                        self._rollback(cur)
        except psycopg.errors.LockNotAvailable:
            raise IpamError("PostgreSQL store: another IPAM writer held the lock longer than lock_timeout") from None
        except psycopg.errors.UniqueViolation as exc:
            raise IpamError(f"PostgreSQL store refused a duplicate (nothing was written): {exc}") from None
        except psycopg.Error as exc:
            raise IpamError(f"PostgreSQL store error (nothing was written): {str(exc).strip()}") from None
