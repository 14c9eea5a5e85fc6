# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every IPAM store offers (apply, rows, check_runs) and the transaction frame the backends fill in.

The backends are ipam_sqlite.py and ipam_postgresql.py; open one with ipam_config.open_store(). Writers
are serialized: SQLite with ``BEGIN IMMEDIATE`` (plus a busy timeout and a retry loop), PostgreSQL with a
transaction-scoped advisory lock. The constraints of ipam_schema.py are the backstop: if the allocator
(ipam_allocator.py) ever picked a taken address, the INSERT would fail and the transaction roll back.
"""
from __future__ import annotations

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_allocator import Allocator
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_requests import Request, Result, select_families
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_schema import addr_blob, blob_int
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.pools import FAMILY_NAMES, Pool

DEFAULT_COOLDOWN = 600


class Tx:
    """A write (or check) transaction. ``q`` runs one statement with '?' placeholders."""

    def __init__(self, store, cur, now: float):
        self.store = store
        self.cur = cur
        self.now = now
        self.queries = 0
        self.after_commit = []
        self.logs = []  # ipam_log rows, written in one executemany before the commit

    def flush(self):
        if self.logs:
            self.queries += 1
            self.cur.executemany(self.store.sql("INSERT INTO ipam_log (at, action, pool, owner, uuid, family, address) "
                                                "VALUES (?, ?, ?, ?, ?, ?, ?)"), self.logs)
            self.logs = []

    def q(self, sql: str, params=()):
        self.queries += 1
        self.cur.execute(self.store.sql(sql), params)
        return self.cur

    def all(self, sql: str, params=()):
        return self.q(sql, params).fetchall()

    def one(self, sql: str, params=()):
        return self.q(sql, params).fetchone()


class Store:
    backend = "base"
    placeholder = "?"
    hook = None  # tests: a callable(tx, event) run at points inside the transaction
    clock = None  # tests: a callable returning "now"; default: time.time() (SQLite), the server clock (PostgreSQL)

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
        allocator = Allocator(cooldown, self.synced_pools, self.hook)
        with self.transaction(check=check) as tx:
            return allocator.run(tx, pool, requests, state, fams)

    # -- reading -------------------------------------------------------------------------------

    def rows(self) -> list[dict]:
        """Every row of ipam_allocation (held and cooling), as dicts, sorted by pool, owner, family."""
        with self.transaction(check=True, lock=False) as tx:
            if not self._has_schema(tx):
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
            if not self._has_schema(tx):
                return []
            problems = []
            for fam in (4, 6):
                values = sorted(blob_int(r[0]) for r in tx.all("SELECT addr FROM ipam_allocation WHERE family = ?",
                                                           (fam,)))
                expected = []
                for v in values:
                    if expected and expected[-1][1] == v - 1:
                        expected[-1][1] = v
                    else:
                        expected.append([v, v])
                actual = [[blob_int(a), blob_int(b)] for a, b in
                          tx.all("SELECT start, stop FROM ipam_run WHERE family = ? ORDER BY start", (fam,))]
                if actual != expected:
                    problems.append(f"{FAMILY_NAMES[fam]}: ipam_run has {len(actual)} runs, the allocations make "
                                    f"{len(expected)}")
                    if repair:
                        tx.q("DELETE FROM ipam_run WHERE family = ?", (fam,))
                        for a, b in expected:
                            tx.q("INSERT INTO ipam_run (family, start, stop) VALUES (?, ?, ?)",
                                 (fam, addr_blob(a), addr_blob(b)))
            return problems

    def _has_schema(self, tx) -> bool:
        raise NotImplementedError

    def transaction(self, check: bool = False, lock: bool = True):
        """A context manager yielding a Tx; see the backends."""
        raise NotImplementedError
