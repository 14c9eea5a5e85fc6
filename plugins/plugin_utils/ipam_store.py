# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IPAM stores (SQLite, PostgreSQL) and the allocator that runs inside their transactions.

Tables (same in both backends, see docs/ipam.md):

``ipam_allocation``
    one row per address that is held (``owner`` set) or cooling down after a release (``owner`` NULL,
    ``released_at`` set). PRIMARY KEY (family, addr): an address exists once in the whole store, whatever
    the pool. UNIQUE (pool, family, owner): an owner holds at most one address per family and pool.
``ipam_run``
    the occupied addresses as maximal runs ``[start, stop]`` of consecutive integers. The lowest free
    address of an interval is found with one index seek per run boundary, so an allocation costs
    O(log allocations) and never looks at the free addresses of a pool.
``ipam_pool``
    the pool definitions last used by a writer (pool sync; read by the audit).
``ipam_log``
    one row per change (allocate, reserve, reclaim, release, purge).

Writers are serialized: SQLite with ``BEGIN IMMEDIATE`` (plus a busy timeout and a retry loop),
PostgreSQL with a transaction-scoped advisory lock. The constraints above are the backstop: if the
allocator ever picked a taken address, the INSERT would fail and the transaction would roll back.
"""
from __future__ import annotations

import contextlib
import os
import random
import re
import sqlite3
import time
import json
from dataclasses import dataclass, field

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _names
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.pools import (
    FAMILIES,
    FAMILY_NAMES,
    MAX_ADDR,
    Pool,
    addr_int,
    addr_text,
)

SCHEMA_VERSION = 1
DEFAULT_COOLDOWN = 600
DEFAULT_SQLITE_PATH = ".ipam/ipam.sqlite"
PG_LOCK_KEY = 0x766D6E6574495041  # "vmnetIPA": the one advisory lock all IPAM writers take
# an owner's handle (a libvirt/LXD UUID, any stable id): same characters as a name, not a VM name itself
UUID_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")


def _blob(value: int) -> bytes:
    return value.to_bytes(16, "big")


def _int(blob) -> int:
    return int.from_bytes(bytes(blob), "big")


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS ipam_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ipam_allocation (
    family INTEGER NOT NULL CHECK (family IN (4, 6)),
    addr BLOB NOT NULL CHECK (length(addr) = 16),
    address TEXT NOT NULL,
    pool TEXT NOT NULL,
    owner TEXT,
    uuid TEXT,
    reserved INTEGER NOT NULL DEFAULT 0,
    allocated_at REAL NOT NULL,
    released_at REAL,
    last_owner TEXT,
    last_uuid TEXT,
    PRIMARY KEY (family, addr),
    UNIQUE (pool, family, owner),
    CHECK ((owner IS NULL) = (released_at IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS ipam_allocation_cooling ON ipam_allocation (released_at) WHERE owner IS NULL;
CREATE INDEX IF NOT EXISTS ipam_allocation_last_owner ON ipam_allocation (pool, family, last_owner)
    WHERE last_owner IS NOT NULL;
CREATE TABLE IF NOT EXISTS ipam_run (
    family INTEGER NOT NULL,
    start BLOB NOT NULL,
    stop BLOB NOT NULL,
    PRIMARY KEY (family, start),
    UNIQUE (family, stop),
    CHECK (start <= stop)
);
CREATE TABLE IF NOT EXISTS ipam_pool (name TEXT PRIMARY KEY, definition TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS ipam_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    action TEXT NOT NULL,
    pool TEXT,
    owner TEXT,
    uuid TEXT,
    family INTEGER,
    address TEXT
);
"""

_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS ipam_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ipam_allocation (
    family SMALLINT NOT NULL CHECK (family IN (4, 6)),
    addr BYTEA NOT NULL CHECK (length(addr) = 16),
    address TEXT NOT NULL,
    pool TEXT NOT NULL,
    owner TEXT,
    uuid TEXT,
    reserved SMALLINT NOT NULL DEFAULT 0,
    allocated_at DOUBLE PRECISION NOT NULL,
    released_at DOUBLE PRECISION,
    last_owner TEXT,
    last_uuid TEXT,
    PRIMARY KEY (family, addr),
    UNIQUE (pool, family, owner),
    CHECK ((owner IS NULL) = (released_at IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS ipam_allocation_cooling ON ipam_allocation (released_at) WHERE owner IS NULL;
CREATE INDEX IF NOT EXISTS ipam_allocation_last_owner ON ipam_allocation (pool, family, last_owner)
    WHERE last_owner IS NOT NULL;
CREATE TABLE IF NOT EXISTS ipam_run (
    family SMALLINT NOT NULL,
    start BYTEA NOT NULL,
    stop BYTEA NOT NULL,
    PRIMARY KEY (family, start),
    UNIQUE (family, stop),
    CHECK (start <= stop)
);
CREATE TABLE IF NOT EXISTS ipam_pool (name TEXT PRIMARY KEY, definition TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS ipam_log (
    id BIGSERIAL PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    action TEXT NOT NULL,
    pool TEXT,
    owner TEXT,
    uuid TEXT,
    family SMALLINT,
    address TEXT
);
"""


@dataclass
class Request:
    """One owner of a batch. ``reserve`` maps family -> wanted address (int)."""

    owner: str
    uuid: str | None = None
    reserve: dict = field(default_factory=dict)


@dataclass
class Result:
    owner: str
    uuid: str | None
    pool: str
    before: dict  # family name -> address text or None
    after: dict
    changed: bool

    def as_dict(self) -> dict:
        return {
            "owner": self.owner,
            "uuid": self.uuid,
            "pool": self.pool,
            "ipv4": self.after.get("ipv4"),
            "ipv6": self.after.get("ipv6"),
            "changed": self.changed,
        }


def parse_requests(owners, *, where: str = "owners") -> list[Request]:
    """Validate the owners list (names or dicts {name, uuid, ipv4, ipv6}); nothing is looked up yet."""
    if not isinstance(owners, (list, tuple)) or not owners:
        raise IpamError(f"{where}: expected a non-empty list of VM names or dicts with name, uuid, ipv4, ipv6")
    out, seen = [], {}
    for i, item in enumerate(owners):
        here = f"{where}[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            raise IpamError(f"{here}: expected a VM name or a dict with name, uuid, ipv4, ipv6")
        unknown = sorted(set(item) - {"name", "uuid", "ipv4", "ipv6"})
        if unknown:
            raise IpamError(f"{here}: unknown key(s) {unknown}; allowed: name, uuid, ipv4, ipv6")
        name = item.get("name")
        reason = _names.validate_vm_name(name)  # the one VM-name authority
        if reason:
            raise IpamError(f"{here} field name: {name!r} is not a valid VM name: it {reason}")
        if name in seen:
            raise IpamError(f"{here} field name: owner {name!r} appears twice (also {where}[{seen[name]}])")
        seen[name] = i
        uuid = item.get("uuid")
        if uuid in ("", None):
            uuid = None
        elif not isinstance(uuid, str) or not UUID_RE.match(uuid):
            raise IpamError(f"{here} field uuid: {uuid!r} is not a valid handle (letters, digits, '_', '.', '-')")
        req = Request(owner=name, uuid=uuid)
        for fam_name, fam in FAMILIES.items():
            value = item.get(fam_name)
            if value in (None, ""):
                continue
            text = str(value).strip()
            if text.endswith(("/32", "/128")):
                text = text.rsplit("/", 1)[0]
            try:
                vfam, v = addr_int(text)
            except ValueError:
                raise IpamError(f"{here} field {fam_name}: {value!r} is not an IP address") from None
            if vfam != fam:
                raise IpamError(f"{here} field {fam_name}: {value!r} is not an {fam_name} address")
            req.reserve[fam] = v
        out.append(req)
    return out


# --------------------------------------------------------------------------------------------------
# Transactions


class _Tx:
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
        fams = _families(pool, families)
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
        with self.transaction(check=check) as tx:
            self._sync_pool(tx, pool)
            self._purge(tx, cooldown)
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
                    results.append(self._absent(tx, pool, req, fams, cooldown, f"owners[{i}]"))
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
                held[fam] = (_int(addr), uuid, reserved)
            elif owner_now is None and cooling is not None:
                cooling.setdefault(fam, []).append((_int(addr), uuid, released_at))
        return held

    def _present(self, tx, pool, req: Request, fams, where) -> Result:
        cooling = {}
        held = self._held(tx, pool, req.owner, cooling)
        _check_uuid(pool, req, held, where)
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
                         (req.uuid, fam, _blob(value)))
                    changed = True
                continue
            if fam in req.reserve:
                value = req.reserve[fam]
                row = tx.one("SELECT owner, last_owner, last_uuid, released_at, pool FROM ipam_allocation "
                             "WHERE family = ? AND addr = ?", (fam, _blob(value)))
                text = addr_text(fam, value)
                if row is None:
                    self._insert(tx, pool, fam, value, req, reserved=1)
                elif row[0] is None and row[1] == req.owner and row[4] == pool.name and \
                        (not req.uuid or not row[2] or row[2] == req.uuid):
                    self._reclaim(tx, pool, fam, value, req, reserved=1)
                elif row[0] is None:
                    raise IpamError(
                        f"{where} ({req.owner}) field {name}: cannot reserve {text}: released by {row[1]} and cooling "
                        f"down until {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(row[3] + self._cooldown))}"
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
        return Result(req.owner, uuid, pool.name, _fill(before), _fill(after), changed)

    def _absent(self, tx, pool, req: Request, fams, cooldown, where) -> Result:
        held = self._held(tx, pool, req.owner)
        _check_uuid(pool, req, held, where)
        before = {FAMILY_NAMES[f]: addr_text(f, v[0]) for f, v in held.items()}
        after = dict(before)
        uuid = req.uuid or next((v[1] for v in held.values() if v[1]), None)
        changed = False
        for fam in fams:
            if fam not in held:
                continue
            value, vuuid = held[fam][:2]
            if cooldown > 0:
                tx.q("UPDATE ipam_allocation SET owner = NULL, uuid = NULL, last_owner = ?, last_uuid = ?, "
                     "released_at = ? WHERE family = ? AND addr = ?", (req.owner, vuuid, tx.now, fam, _blob(value)))
            else:
                tx.q("DELETE FROM ipam_allocation WHERE family = ? AND addr = ?", (fam, _blob(value)))
                self._run_remove(tx, fam, value)
            self._log(tx, "release", pool.name, req.owner, vuuid, fam, value)
            after[FAMILY_NAMES[fam]] = None
            changed = True
        return Result(req.owner, uuid, pool.name, _fill(before), _fill(after), changed)

    def _insert(self, tx, pool, fam, value, req, reserved):
        tx.q("INSERT INTO ipam_allocation (family, addr, address, pool, owner, uuid, reserved, allocated_at) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
             (fam, _blob(value), addr_text(fam, value), pool.name, req.owner, req.uuid, reserved, tx.now))
        self._run_add(tx, fam, value)
        self._log(tx, "reserve" if reserved else "allocate", pool.name, req.owner, req.uuid, fam, value)
        if self.hook:
            self.hook(tx, "insert")

    def _reclaim(self, tx, pool, fam, value, req, reserved):
        tx.q("UPDATE ipam_allocation SET owner = ?, uuid = COALESCE(?, last_uuid), reserved = ?, allocated_at = ?, "
             "released_at = NULL WHERE family = ? AND addr = ? AND owner IS NULL",
             (req.owner, req.uuid, reserved, tx.now, fam, _blob(value)))
        self._log(tx, "reclaim", pool.name, req.owner, req.uuid, fam, value)

    def _log(self, tx, action, pool, owner, uuid, fam, value):
        tx.logs.append((tx.now, action, pool, owner, uuid, fam, addr_text(fam, value) if value is not None else None))

    def _sync_pool(self, tx, pool: Pool):
        definition = json.dumps(pool.definition, sort_keys=True)
        synced = self.__dict__.setdefault("_synced", {})
        if synced.get(pool.name) == definition:
            return
        row = tx.one("SELECT definition FROM ipam_pool WHERE name = ?", (pool.name,))
        if row is None:
            tx.q("INSERT INTO ipam_pool (name, definition, updated_at) VALUES (?, ?, ?)",
                 (pool.name, definition, tx.now))
        elif row[0] != definition:
            tx.q("UPDATE ipam_pool SET definition = ?, updated_at = ? WHERE name = ?", (definition, tx.now, pool.name))
        tx.after_commit.append(lambda: synced.__setitem__(pool.name, definition))

    def _purge(self, tx, cooldown):
        """Forget released addresses whose cooldown has passed, so they can be handed out again."""
        self._cooldown = cooldown
        rows = tx.all("SELECT family, addr, pool, last_owner FROM ipam_allocation WHERE owner IS NULL "
                      "AND released_at <= ?", (tx.now - cooldown,))
        for fam, addr, pool, last_owner in rows:
            tx.q("DELETE FROM ipam_allocation WHERE family = ? AND addr = ?", (fam, addr))
            self._run_remove(tx, fam, _int(addr))
            self._log(tx, "purge", pool, last_owner, None, fam, _int(addr))

    # -- the gap search over runs ----------------------------------------------------------------

    def _run_at(self, tx, fam, value):
        """The run that contains ``value``, or None. One index seek."""
        row = tx.one("SELECT start, stop FROM ipam_run WHERE family = ? AND start <= ? ORDER BY start DESC LIMIT 1",
                     (fam, _blob(value)))
        if row is None:
            return None
        start, stop = _int(row[0]), _int(row[1])
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
        lo, hi = _blob(max(value - 1, 0)), _blob(min(value + 1, MAX_ADDR[fam]))
        for start, stop in tx.all("SELECT start, stop FROM ipam_run WHERE family = ? AND (stop = ? OR start = ?)",
                                  (fam, lo, hi)):
            if value > 0 and bytes(stop) == lo:
                left = (start,)
            if value < MAX_ADDR[fam] and bytes(start) == hi:
                right = (stop,)
        if left and right:
            tx.q("DELETE FROM ipam_run WHERE family = ? AND start = ?", (fam, _blob(value + 1)))
            tx.q("UPDATE ipam_run SET stop = ? WHERE family = ? AND start = ?", (right[0], fam, left[0]))
        elif left:
            tx.q("UPDATE ipam_run SET stop = ? WHERE family = ? AND start = ?", (_blob(value), fam, left[0]))
        elif right:
            tx.q("UPDATE ipam_run SET start = ? WHERE family = ? AND start = ?",
                 (_blob(value), fam, _blob(value + 1)))
        else:
            tx.q("INSERT INTO ipam_run (family, start, stop) VALUES (?, ?, ?)", (fam, _blob(value), _blob(value)))

    def _run_remove(self, tx, fam, value):
        run = self._run_at(tx, fam, value)
        if run is None:
            raise IpamError(f"store inconsistency: {addr_text(fam, value)} is not in ipam_run; "
                            "run the ipam_audit action with repair=true")
        start, stop = run
        if start == stop:
            tx.q("DELETE FROM ipam_run WHERE family = ? AND start = ?", (fam, _blob(start)))
        elif value == start:
            tx.q("UPDATE ipam_run SET start = ? WHERE family = ? AND start = ?",
                 (_blob(value + 1), fam, _blob(start)))
        elif value == stop:
            tx.q("UPDATE ipam_run SET stop = ? WHERE family = ? AND start = ?",
                 (_blob(value - 1), fam, _blob(start)))
        else:
            tx.q("UPDATE ipam_run SET stop = ? WHERE family = ? AND start = ?",
                 (_blob(value - 1), fam, _blob(start)))
            tx.q("INSERT INTO ipam_run (family, start, stop) VALUES (?, ?, ?)",
                 (fam, _blob(value + 1), _blob(stop)))

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
                    "family": FAMILY_NAMES[r[0]], "value": _int(r[1]), "address": r[2], "pool": r[3],
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
                values = sorted(_int(r[0]) for r in tx.all("SELECT addr FROM ipam_allocation WHERE family = ?",
                                                           (fam,)))
                expected = []
                for v in values:
                    if expected and expected[-1][1] == v - 1:
                        expected[-1][1] = v
                    else:
                        expected.append([v, v])
                actual = [[_int(a), _int(b)] for a, b in
                          tx.all("SELECT start, stop FROM ipam_run WHERE family = ? ORDER BY start", (fam,))]
                if actual != expected:
                    problems.append(f"{FAMILY_NAMES[fam]}: ipam_run has {len(actual)} runs, the allocations make "
                                    f"{len(expected)}")
                    if repair:
                        tx.q("DELETE FROM ipam_run WHERE family = ?", (fam,))
                        for a, b in expected:
                            tx.q("INSERT INTO ipam_run (family, start, stop) VALUES (?, ?, ?)",
                                 (fam, _blob(a), _blob(b)))
            return problems

    def _has_schema(self, tx) -> bool:
        raise NotImplementedError

    def transaction(self, check: bool = False, lock: bool = True):
        """A context manager yielding a _Tx; see the backends."""
        raise NotImplementedError


def _fill(d: dict) -> dict:
    return {"ipv4": d.get("ipv4"), "ipv6": d.get("ipv6")}


def _families(pool: Pool, families) -> list[int]:
    if families in (None, [], ()):
        return pool.families
    if isinstance(families, str):
        families = [families]
    out = []
    for f in families:
        if f not in FAMILIES:
            raise IpamError(f"families: {f!r} is not ipv4 or ipv6")
        if FAMILIES[f] not in pool.families:
            raise IpamError(f"families: pool {pool.name!r} has no {f} range")
        if FAMILIES[f] not in out:
            out.append(FAMILIES[f])
    return sorted(out)


def _check_uuid(pool, req, held, where):
    if not req.uuid:
        return
    for fam, (value, uuid, _reserved) in held.items():
        if uuid and uuid != req.uuid:
            raise IpamError(
                f"{where} ({req.owner}) field uuid: {req.owner} holds {addr_text(fam, value)} in pool {pool.name!r} "
                f"with uuid {uuid}, not {req.uuid}; a VM of the same name still owns it (release that first)"
            )


# --------------------------------------------------------------------------------------------------
# SQLite


class SQLiteStore(Store):
    backend = "sqlite"

    def __init__(self, path: str, *, busy_timeout: float = 60.0, create: bool = True):
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
            tx = _Tx(self, cur, self.clock() if self.clock else time.time())
            if lock or self._memory:
                version = cur.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise IpamError(f"SQLite store {self.path} has schema {version}; this collection knows "
                                    f"{SCHEMA_VERSION}: upgrade vmnet.ipfabric")
                if version < SCHEMA_VERSION:
                    for stmt in _SQLITE_SCHEMA.split(";"):
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


# --------------------------------------------------------------------------------------------------
# PostgreSQL


class PostgreSQLStore(Store):
    backend = "postgresql"

    def __init__(self, dsn: str, *, lock_timeout: float = 60.0, connect_timeout: int = 10):
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
                    tx = _Tx(self, cur, self.clock() if self.clock else now)
                    if lock and not self._schema_ok:
                        if not self._has_schema(tx):
                            cur.execute(_PG_SCHEMA)
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


# --------------------------------------------------------------------------------------------------


def store_config(raw, *, base_dir: str | None = None) -> dict:
    """Normalize ``ipfabric_ipam`` / the ``store`` option."""
    if raw in (None, ""):
        raw = {}
    if not isinstance(raw, dict):
        raise IpamError(f"ipfabric_ipam: expected a dict with backend, path or dsn, cooldown; got {type(raw).__name__}")
    known = {"backend", "path", "dsn", "cooldown", "busy_timeout", "lock_timeout"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise IpamError(f"ipfabric_ipam: unknown key(s) {unknown}; allowed: {', '.join(sorted(known))}")
    backend = raw.get("backend") or "sqlite"
    cfg = {"backend": backend}
    cooldown = raw.get("cooldown", DEFAULT_COOLDOWN)
    try:
        cooldown = float(cooldown)
    except (TypeError, ValueError):
        raise IpamError(f"ipfabric_ipam field cooldown: {cooldown!r} is not a number of seconds") from None
    if cooldown < 0:
        raise IpamError(f"ipfabric_ipam field cooldown: {cooldown!r} must be >= 0")
    cfg["cooldown"] = cooldown
    if backend == "sqlite":
        path = raw.get("path") or DEFAULT_SQLITE_PATH
        if not isinstance(path, str):
            raise IpamError(f"ipfabric_ipam field path: {path!r} is not a file name")
        path = os.path.expanduser(path)
        if not os.path.isabs(path) and base_dir:
            path = os.path.join(base_dir, path)
        cfg["path"] = path
        cfg["busy_timeout"] = float(raw.get("busy_timeout", 60))
        if raw.get("dsn"):
            raise IpamError("ipfabric_ipam field dsn: only for backend=postgresql")
    elif backend == "postgresql":
        dsn = raw.get("dsn")
        if not isinstance(dsn, str) or not dsn:
            raise IpamError("ipfabric_ipam field dsn: backend=postgresql needs a dsn (postgresql://user@host/db)")
        cfg["dsn"] = dsn
        cfg["lock_timeout"] = float(raw.get("lock_timeout", 60))
    else:
        raise IpamError(f"ipfabric_ipam field backend: {backend!r} is not sqlite or postgresql")
    return cfg


def open_store(cfg: dict, *, check: bool = False) -> Store:
    if cfg["backend"] == "sqlite":
        return SQLiteStore(cfg["path"], busy_timeout=cfg.get("busy_timeout", 60), create=not check)
    return PostgreSQLStore(cfg["dsn"], lock_timeout=cfg.get("lock_timeout", 60))
