# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SQLite IPAM store: one file, WAL journal, ``BEGIN IMMEDIATE`` as the write lock."""
from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import time

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_schema import SCHEMA_VERSION, SQLITE_SCHEMA
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_store import Store, Tx


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
            return
        parent = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=0o700, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
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

    def _has_schema(self, tx) -> bool:
        return tx.one("PRAGMA user_version")[0] >= SCHEMA_VERSION

    @contextlib.contextmanager
    def transaction(self, check: bool = False, lock: bool = True):
        conn = self._conn
        self._retry(lambda: conn.execute("BEGIN IMMEDIATE" if lock else "BEGIN"))
        ok = False
        try:
            cur = conn.cursor()
            tx = Tx(self, cur, self.clock() if self.clock else time.time())
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
            yield tx
            tx.flush()
            ok = True
        finally:
            if ok and not check:
                conn.execute("COMMIT")
                for fn in tx.after_commit:
                    fn()
            else:
                conn.execute("ROLLBACK")
