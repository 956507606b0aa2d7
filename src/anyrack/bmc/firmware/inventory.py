"""Every ``UpdateService/FirmwareInventory`` member of one node, normalised to component kinds.

A member belongs to the node unless its ``Id`` starts with another host system's id and a dot (a
blade enclosure BMC lists ``Node0.BIOS`` … ``Node3.BIOS``); members the BMC shares between its hosts
(its own firmware, the enclosure's FPGAs) belong to every host. A member that cannot be read is a
problem of the facts (the reader records it), never a failure of the node.
"""

from __future__ import annotations

from typing import Any

from anyrack.bmc.firmware.kinds import IGNORE, classify
from anyrack.bmc.redfish.resources import Link, Links, known

_NO_VERSION = {"undefined", "unknown", "none", "null"}
"""Version texts BMCs write for "not known" beyond the usual placeholders (a recorded blade enclosure BMC
writes ``undefined``)."""


def _version(value: object) -> str | None:
    """The version as text; control characters dropped (one recorded BMC reports a drive firmware as "0\\x14")."""
    text = known("".join(ch for ch in value if ch.isprintable()) if isinstance(value, str) else value)
    return None if text is None or text.lower() in _NO_VERSION else text


def _related(member: dict) -> str | None:
    related = Links("RelatedItem").read(member)
    return related[0] if related else None


def components(members: list[dict], rules: tuple[tuple[str, str], ...], system_id: str | None,
               other_systems: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Facts entries (``id``, ``name``, ``kind``, ``version``, ``updateable``, ``related``) sorted by id."""
    out = []
    for member in members:
        member_id = str(member.get("Id") or str(member.get("@odata.id", "")).rstrip("/").rsplit("/", 1)[-1])
        if any(member_id.startswith(f"{other}.") for other in other_systems if other != system_id):
            continue
        name = str(member.get("Name") or member_id)
        kind = classify(member_id, name, rules)
        if kind == IGNORE:
            continue
        updateable = member.get("Updateable")
        out.append({"id": member_id, "name": name, "kind": kind, "version": _version(member.get("Version")),
                    "updateable": updateable if isinstance(updateable, bool) else None,
                    "related": _related(member), "path": member.get("@odata.id")})
    return sorted(out, key=lambda c: c["id"])


async def read_components(reader: Any, root: dict, rules: tuple[tuple[str, str], ...], system_id: str | None,
                          other_systems: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The node's components, read through a facts ``Reader`` (what cannot be read becomes a problem)."""
    service = await reader.get(Link("UpdateService").read(root))
    inventory = Link("FirmwareInventory").read(service)
    return components(await reader.members(inventory), rules, system_id, other_systems)
