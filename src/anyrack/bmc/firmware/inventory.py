"""Every ``UpdateService/FirmwareInventory`` member of one node, normalised to component kinds.

A member belongs to the node unless its ``Id`` starts with another host system's id and a dot (a
blade enclosure BMC lists ``Node0.BIOS`` … ``Node3.BIOS``); members the BMC shares between its hosts
(its own firmware, the enclosure's FPGAs) belong to every host. A member that cannot be read is a
problem of the facts (the reader records it), never a failure of the node.
"""

from __future__ import annotations

from typing import Any

from anyrack.bmc.firmware.kinds import IGNORE, classify
from anyrack.bmc.redfish.resources import Link
from anyrack.bmc.redfish.resources.updates import SoftwareInventory, UpdateService


def components(members: list[dict], rules: tuple[tuple[str, str], ...], system_id: str | None,
               other_systems: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Facts entries (``id``, ``name``, ``kind``, ``version``, ``updateable``, ``related``) sorted by id."""
    out = []
    for member in map(SoftwareInventory, members):
        member_id = member.member_id
        if any(member_id.startswith(f"{other}.") for other in other_systems if other != system_id):
            continue
        name = member.name or member_id
        kind = classify(member_id, name, rules)
        if kind == IGNORE:
            continue
        related = member.related
        out.append({"id": member_id, "name": name, "kind": kind, "version": member.version,
                    "updateable": member.updateable, "related": related[0] if related else None,
                    "path": member.path or None})
    return sorted(out, key=lambda c: c["id"])


async def read_components(reader: Any, root: dict, rules: tuple[tuple[str, str], ...], system_id: str | None,
                          other_systems: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The node's components, read through a facts ``Reader`` (what cannot be read becomes a problem)."""
    service = UpdateService(await reader.get(Link("UpdateService").read(root)))
    return components(await reader.members(service.firmware_inventory), rules, system_id, other_systems)
