# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moving an IPAM store: every row as a JSON document (ipam_export) and back into a store (ipam_import).

The document holds every row of ``ipam_allocation`` as it is: held (``owner`` set), reserved
(``reserved: true``) and cooling down (``owner`` null, ``released_at`` and ``last_owner`` set; the
cooldown goes on in the new store, counted from the same ``released_at``), and the pool records. The
change log (``ipam_log``) stays with the old store; the import logs one ``import`` row per row it writes.

One row per line, sorted by family and address, no time of export in it: exporting an unchanged store
gives the same bytes (idempotent), and two exports compare line by line.

An import never changes a row the target already has: a row that is there exactly as in the document is
skipped (re-importing is a no-op), any other row at one of the document's addresses, or an owner that
holds another address in the same pool and family, is a conflict; the import then writes nothing and
names every conflict. So nothing can be handed out twice: an address is either the document's (and the
target's constraints keep it unique) or refused.
"""
from __future__ import annotations

import json
import math

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _names
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_allocator import change_runs, forget
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_requests import UUID_RE
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_schema import blob_int
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.pools import (
    FAMILIES,
    FAMILY_NAMES,
    POOL_NAME_RE,
    addr_int,
    addr_text,
)

FORMAT = "vmnet.ipfabric.ipam"
VERSION = 1
ROW_KEYS = ("family", "address", "pool", "owner", "uuid", "reserved", "allocated_at", "released_at", "last_owner",
            "last_uuid")
POOL_KEYS = ("name", "definition", "updated_at")


# --------------------------------------------------------------------------------------------------
# the document


def render(rows: list[dict], pools: list[dict]) -> str:
    """The document's text: one row, one pool record per line."""
    def block(items):
        if not items:
            return "[]"
        return "[\n" + ",\n".join("  " + json.dumps(item, sort_keys=True) for item in items) + "\n ]"
    return (f'{{"format": "{FORMAT}", "version": {VERSION},\n "pools": {block(pools)},\n'
            f' "allocations": {block(rows)}}}\n')


def state_text(row: dict) -> str:
    """What a row says about its address, for people: ``held by vm1 (uuid u1), reserved, in pool public``."""
    if row["owner"] is not None:
        what = f"held by {row['owner']}" + (f" (uuid {row['uuid']})" if row["uuid"] else "")
    else:
        what = f"cooling down, released by {row['last_owner'] or '?'} at {row['released_at']:.0f}"
    return what + (", reserved" if row["reserved"] else "") + f", in pool {row['pool']}"


def row_text(row: dict) -> str:
    """One row for people (diff mode)."""
    return f"{row['family']} {row['address']}: {state_text(row)}"


def parse(text: str, where: str = "src") -> tuple[list[dict], list[dict]]:
    """Validate a document; return (rows, pools) in its canonical form. Errors name the field."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise IpamError(f"{where}: not a JSON document ({exc})") from None
    if not isinstance(doc, dict):
        raise IpamError(f"{where}: expected a JSON object with format, version, pools, allocations")
    if doc.get("format") != FORMAT:
        raise IpamError(f"{where} field format: {doc.get('format')!r} is not {FORMAT!r} (a file written by "
                        "vmnet.ipfabric.ipam_export)")
    if doc.get("version") != VERSION:
        raise IpamError(f"{where} field version: {doc.get('version')!r}; this collection reads version {VERSION}")
    unknown = sorted(set(doc) - {"format", "version", "pools", "allocations"})
    if unknown:
        raise IpamError(f"{where}: unknown field(s) {unknown}")
    for key in ("pools", "allocations"):
        if not isinstance(doc.get(key), list):
            raise IpamError(f"{where} field {key}: expected a list")
    pools = [_pool(p, f"{where} pools[{i}]") for i, p in enumerate(doc["pools"])]
    names = {}
    for i, p in enumerate(pools):
        if p["name"] in names:
            raise IpamError(f"{where} pools[{i}] field name: pool {p['name']!r} appears twice (also pools[{names[p['name']]}])")
        names[p["name"]] = i
    rows = [_row(r, f"{where} allocations[{i}]") for i, r in enumerate(doc["allocations"])]
    at, held = {}, {}
    for i, r in enumerate(rows):
        key = (r["family"], r["address"])
        if key in at:
            raise IpamError(f"{where} allocations[{i}] field address: {r['address']} appears twice "
                            f"(also allocations[{at[key]}])")
        at[key] = i
        if r["owner"] is not None:
            okey = (r["pool"], r["family"], r["owner"])
            if okey in held:
                raise IpamError(f"{where} allocations[{i}] field owner: {r['owner']} holds two {r['family']} "
                                f"addresses in pool {r['pool']!r} (also allocations[{held[okey]}])")
            held[okey] = i
    return rows, pools


def _number(value, where, field, optional=False):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise IpamError(f"{where} field {field}: {value!r} is not a time (seconds since the epoch)")
    return float(value)


def _name(value, where, field, check):
    if value is None:
        return None
    reason = check(value)
    if reason:
        raise IpamError(f"{where} field {field}: {value!r} {reason}")
    return value


def _vm_name_reason(value):
    reason = _names.validate_vm_name(value)
    return f"is not a valid VM name: it {reason}" if reason else None


def _handle_reason(value):
    return None if isinstance(value, str) and UUID_RE.match(value) else "is not a valid handle"


def _pool_name_reason(value):
    return None if isinstance(value, str) and POOL_NAME_RE.match(value) else "is not a valid pool name"


def _row(raw, where) -> dict:
    if not isinstance(raw, dict):
        raise IpamError(f"{where}: expected an object with {', '.join(ROW_KEYS)}")
    unknown = sorted(set(raw) - set(ROW_KEYS))
    missing = [k for k in ROW_KEYS if k not in raw]
    if unknown or missing:
        raise IpamError(f"{where}: " + "; ".join(filter(None, (
            f"unknown field(s) {unknown}" if unknown else "", f"missing field(s) {missing}" if missing else ""))))
    fam = FAMILIES.get(raw["family"])
    if fam is None:
        raise IpamError(f"{where} field family: {raw['family']!r} is not ipv4 or ipv6")
    try:
        afam, value = addr_int(raw["address"])
    except ValueError:
        raise IpamError(f"{where} field address: {raw['address']!r} is not an IP address") from None
    if afam != fam:
        raise IpamError(f"{where} field address: {raw['address']!r} is not an {raw['family']} address")
    if not isinstance(raw["reserved"], bool):
        raise IpamError(f"{where} field reserved: {raw['reserved']!r} is not true or false")
    row = {
        "family": raw["family"], "address": addr_text(fam, value), "value": value,
        "pool": _name(raw["pool"], where, "pool", _pool_name_reason),
        "owner": _name(raw["owner"], where, "owner", _vm_name_reason),
        "uuid": _name(raw["uuid"], where, "uuid", _handle_reason),
        "reserved": raw["reserved"],
        "allocated_at": _number(raw["allocated_at"], where, "allocated_at"),
        "released_at": _number(raw["released_at"], where, "released_at", optional=True),
        "last_owner": _name(raw["last_owner"], where, "last_owner", _vm_name_reason),
        "last_uuid": _name(raw["last_uuid"], where, "last_uuid", _handle_reason),
    }
    if row["pool"] is None:
        raise IpamError(f"{where} field pool: every row belongs to a pool")
    if (row["owner"] is None) != (row["released_at"] is not None):
        raise IpamError(f"{where} field released_at: a row is either held (owner set, released_at null) or "
                        "cooling down (owner null, released_at set)")
    if row["owner"] is None and row["uuid"] is not None:
        raise IpamError(f"{where} field uuid: a cooling row keeps its handle in last_uuid")
    return row


def _pool(raw, where) -> dict:
    if not isinstance(raw, dict) or sorted(raw) != sorted(POOL_KEYS):
        raise IpamError(f"{where}: expected an object with exactly {', '.join(POOL_KEYS)}")
    if not isinstance(raw["definition"], dict):
        raise IpamError(f"{where} field definition: expected an object (the pool as the IPAM last saw it)")
    return {"name": _name(raw["name"], where, "name", _pool_name_reason) or "",
            "definition": raw["definition"], "updated_at": _number(raw["updated_at"], where, "updated_at")}


def public(row: dict) -> dict:
    """A row as the document writes it (without the integer address)."""
    return {k: row[k] for k in ROW_KEYS}


# --------------------------------------------------------------------------------------------------
# stores


def _read(tx) -> tuple[list[dict], list[dict]]:
    rows = []
    for r in tx.all("SELECT family, addr, pool, owner, uuid, reserved, allocated_at, released_at, last_owner, "
                    "last_uuid FROM ipam_allocation ORDER BY family, addr"):
        fam, value = r[0], blob_int(r[1])
        rows.append({"family": FAMILY_NAMES[fam], "address": addr_text(fam, value), "value": value, "pool": r[2],
                     "owner": r[3], "uuid": r[4], "reserved": bool(r[5]), "allocated_at": float(r[6]),
                     "released_at": None if r[7] is None else float(r[7]), "last_owner": r[8], "last_uuid": r[9]})
    pools = [{"name": n, "definition": json.loads(d), "updated_at": float(t)} for n, d, t in tx.pool_records()]
    return rows, pools


def _retired(tx):
    row = tx.one("SELECT value FROM ipam_meta WHERE key = 'retired'")
    return json.loads(row[0]) if row else None


def export_store(store, *, retire_note: str | None = None, check: bool = False, deliver=None):
    """Every row and pool record of ``store``: (rows, pools, retired before).

    Without ``retire_note`` a read transaction (a consistent snapshot). With it, the write transaction:
    the rows are read under the write lock, ``deliver(rows, pools)`` runs (the action plugin writes the
    file there), then the store is marked retired and the transaction commits, so no allocation can
    happen between the snapshot and the mark. In check mode nothing is delivered or marked.
    """
    if retire_note is None or check:
        with store.transaction(check=True, lock=False) as tx:
            if not store.has_schema(tx):
                return [], [], None
            rows, pools = _read(tx)
            retired = _retired(tx)
        if deliver and not check:
            deliver(rows, pools)
        return rows, pools, retired
    with store.transaction(lock=True, allow_retired=True) as tx:
        rows, pools = _read(tx)
        retired = tx.retired
        if deliver:
            deliver(rows, pools)
        if not retired:
            tx.retire(json.dumps({"at": tx.now, "note": retire_note}, sort_keys=True))
    return rows, pools, retired


def import_rows(store, rows: list[dict], pools: list[dict], *, cooldown: float, check: bool = False) -> dict:
    """Write the document's rows the target does not have, in one transaction; IpamError naming every
    conflict (and nothing written) if the target holds other rows at those addresses or for those owners.
    First, as every pool_address transaction does, the target forgets its addresses released more than
    ``cooldown`` seconds ago (so an address whose cooldown is over there is free, not a conflict).

    Returns {imported: [rows written], unchanged: [rows already there], pools_added: [names]}.
    """
    with store.transaction(check=check) as tx:
        forget(tx, tx.purge(tx.now - cooldown))
        there = tx.rows_at([(FAMILIES[r["family"]], r["value"]) for r in rows]) if rows else {}
        conflicts, new, same = [], [], []
        for i, r in enumerate(rows):
            mine = there.get((FAMILIES[r["family"]], r["value"]))
            if mine is None:
                new.append(r)
            elif all(mine[k] == r[k] for k in mine):
                same.append(r)
            else:
                conflicts.append(f"allocations[{i}] {r['family']} {r['address']}: the file has it {state_text(r)}, "
                                 f"the store has it {state_text(mine)}")
        by_pool = {}
        for r in new:
            if r["owner"] is not None:
                by_pool.setdefault(r["pool"], {})[(FAMILIES[r["family"]], r["owner"])] = r
        for pool, wanted in sorted(by_pool.items()):
            for part, fam, value, owner, dummy, dummy2, dummy3 in tx.owner_rows(pool, sorted({o for f, o in wanted})):
                r = wanted.get((fam, owner))
                if part == "held" and r is not None and value != r["value"]:
                    conflicts.append(f"owner {owner} (pool {pool}, {FAMILY_NAMES[fam]}): the file gives it "
                                     f"{r['address']}, the store holds {addr_text(fam, value)}")
        if conflicts:
            raise IpamError(f"import refused, nothing was written: the store holds {len(conflicts)} conflicting "
                            "row(s): " + "; ".join(conflicts))
        if new:
            tx.insert_rows([(FAMILIES[r["family"]], r["value"], r["pool"], r["owner"], r["uuid"], r["reserved"],
                             r["allocated_at"], r["released_at"], r["last_owner"], r["last_uuid"]) for r in new])
            pairs = [(FAMILIES[r["family"]], r["value"]) for r in new]
            change_runs(tx, tx.runs_adjacent(pairs), add=pairs)
            for r in new:
                tx.logs.append((tx.now, "import", r["pool"], r["owner"] or r["last_owner"], r["uuid"] or r["last_uuid"],
                                FAMILIES[r["family"]], r["address"]))
        tx.write_log()
        known = {name for name, dummy, dummy2 in tx.pool_records()}
        added = [p for p in pools if p["name"] not in known]
        if added:
            tx.add_pool_records([(p["name"], json.dumps(p["definition"], sort_keys=True), p["updated_at"])
                                 for p in added])
    return {"imported": new, "unchanged": same, "pools_added": [p["name"] for p in added]}
