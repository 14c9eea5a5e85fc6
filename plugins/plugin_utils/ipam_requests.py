# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a pool_address task asks the IPAM for: the owners (validated), the families; what it gets back."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _names
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.ipam_pool import IpamError
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.pools import FAMILIES, Pool, addr_int

# an owner's handle (a libvirt/LXD UUID, any stable id): same characters as a name, not a VM name itself
UUID_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")


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


def both_families(d: dict) -> dict:
    return {"ipv4": d.get("ipv4"), "ipv6": d.get("ipv6")}


def select_families(pool: Pool, families) -> list[int]:
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
