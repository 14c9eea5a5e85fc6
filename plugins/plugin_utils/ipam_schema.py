# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IPAM store's tables, the same in SQLite and PostgreSQL (see docs/ipam.md), and how addresses are stored.

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
``ipam_meta``
    the schema version.

Addresses are 16-byte big-endian strings (``BLOB``/``BYTEA``): they compare like the integers they
encode, so IPv6 needs no 128-bit integers in SQLite.
"""
from __future__ import annotations

SCHEMA_VERSION = 1


def addr_blob(value: int) -> bytes:
    """An address (integer) as stored: 16 bytes, big-endian."""
    return value.to_bytes(16, "big")


def blob_int(blob) -> int:
    """A stored address back to its integer."""
    return int.from_bytes(bytes(blob), "big")


SQLITE_SCHEMA = """
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

PG_SCHEMA = """
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
