# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PostgreSQL IPAM store: READ COMMITTED transactions behind one advisory transaction lock (psycopg 3)."""
from __future__ import annotations

import contextlib

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_schema import PG_SCHEMA, SCHEMA_VERSION
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_store import Store, Tx

PG_LOCK_KEY = 0x766D6E6574495041  # "vmnetIPA": the one advisory lock all IPAM writers take


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
        self._conn.execute(f"SET lock_timeout = {ms}")
        self._conn.execute(f"SET idle_in_transaction_session_timeout = {ms}")
        self._schema_ok = False

    def sql(self, text: str) -> str:
        return text.replace("?", "%s")

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _has_schema(self, tx) -> bool:
        return tx.one("SELECT to_regclass('ipam_meta') IS NOT NULL")[0]

    @contextlib.contextmanager
    def transaction(self, check: bool = False, lock: bool = True):
        psycopg = self._psycopg
        conn = self._conn
        try:
            with conn.cursor() as cur:
                ok = False
                try:
                    # one round trip (simple query protocol, no parameters): begin, and for a writer take
                    # the lock every writer of every pool takes, so writers run one at a time and each
                    # statement after it sees every transaction committed before (READ COMMITTED)
                    if lock:
                        cur.execute(f"BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({PG_LOCK_KEY}); "
                                    "SELECT extract(epoch from clock_timestamp())::float8")
                    else:
                        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
                                    "SELECT extract(epoch from clock_timestamp())::float8")
                    while cur.nextset():
                        pass
                    now = cur.fetchone()[0]
                    tx = Tx(self, cur, self.clock() if self.clock else now)
                    if lock and not self._schema_ok:
                        if not self._has_schema(tx):
                            cur.execute(PG_SCHEMA)
                            cur.execute("INSERT INTO ipam_meta (key, value) VALUES ('schema_version', %s)",
                                        (str(SCHEMA_VERSION),))
                        version = int(tx.one("SELECT value FROM ipam_meta WHERE key = 'schema_version'")[0])
                        if version > SCHEMA_VERSION:
                            raise IpamError(f"PostgreSQL store has schema {version}; this collection knows "
                                            f"{SCHEMA_VERSION}: upgrade vmnet.ipfabric")
                    yield tx
                    tx.flush()
                    ok = True
                finally:
                    if ok and not check:
                        cur.execute("COMMIT")
                        for fn in tx.after_commit:
                            fn()
                        if lock:
                            self._schema_ok = True  # the schema is committed now (DDL rolls back with the rest)
                    elif not conn.closed:
                        try:
                            cur.execute("ROLLBACK")
                        except psycopg.Error:
                            pass
        except psycopg.errors.LockNotAvailable:
            raise IpamError("PostgreSQL store: another IPAM writer held the lock longer than lock_timeout") from None
        except psycopg.errors.UniqueViolation as exc:
            raise IpamError(f"PostgreSQL store refused a duplicate (nothing was written): {exc}") from None
        except psycopg.Error as exc:
            raise IpamError(f"PostgreSQL store error (nothing was written): {str(exc).strip()}") from None
