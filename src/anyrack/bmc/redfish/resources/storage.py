"""Redfish Storage (DSP8010 Storage.v1_x: a storage subsystem and its controllers) and Drive (Drive.v1_x).

A system links ``Storage`` (a collection of subsystems); each subsystem lists its ``Drives`` as links.
Drives are the physical disks: a RAID volume the OS sees as one disk is not among them.
"""

from __future__ import annotations

from anyrack.bmc.redfish.resources import Field, Link, Links, Resource, known

WWN_FORMATS = ("NAA", "EUI", "FC_WWN", "iQN", "NQN")
"""``Identifiers[].DurableNameFormat`` values that name a disk as the OS's ``wwn`` does; a ``UUID`` does not."""
ROTATING = {"HDD": True, "SSD": False, "SMR": True}
"""``MediaType`` → rotational (an SMR drive is a spinning disk)."""
ABSENT = "Absent"
"""``Status.State`` of an empty bay: no disk."""


class Storage(Resource):
    """A storage subsystem of a system: its controllers and the drives behind them."""

    drives = Links("Drives")
    controllers = Link("Controllers")
    """The StorageController collection (newer BMCs); older ones embed ``StorageControllers``."""
    embedded_controllers = Field("StorageControllers", raw=True)

    @property
    def controller_models(self) -> list[str]:
        """The models of the controllers embedded in the subsystem, as sent (placeholders left out)."""
        items = self.embedded_controllers if isinstance(self.embedded_controllers, list) else []
        return [m for m in (known(c.get("Model")) for c in items if isinstance(c, dict)) if m]


class Drive(Resource):
    """One physical disk (or an empty bay, ``Status.State`` Absent)."""

    model = Field("Model")
    serial = Field("SerialNumber")
    capacity = Field("CapacityBytes", raw=True)
    media_type = Field("MediaType", raw=True)
    """"HDD", "SSD", "SMR" (as sent)."""
    protocol = Field("Protocol", raw=True)
    """"NVMe", "SATA", "SAS", "PCIe", ... (as sent)."""
    identifiers = Field("Identifiers", raw=True)
    service_label = Field("PhysicalLocation", "PartLocation", "ServiceLabel")
    """The bay label ("Drive 0", "Slot=25:Port=1I:Box=3:Bay=4")."""
    location_type = Field("PhysicalLocation", "PartLocation", "LocationType")
    ordinal = Field("PhysicalLocation", "PartLocation", "LocationOrdinalValue", raw=True)
    state = Field("Status", "State", raw=True)
    health = Field("Status", "Health", raw=True)

    @property
    def location(self) -> str | None:
        """The bay label, else the location type and number ("Slot 2"), else None."""
        if self.service_label:
            return self.service_label
        if self.location_type and isinstance(self.ordinal, int):
            return f"{self.location_type} {self.ordinal}"
        return None

    @property
    def size_bytes(self) -> int | None:
        return self.capacity if isinstance(self.capacity, int) and self.capacity > 0 else None

    @property
    def rotational(self) -> bool | None:
        """From ``MediaType``: None where the BMC does not say."""
        return ROTATING.get(str(self.media_type))

    @property
    def wwn(self) -> str | None:
        """The first durable name in a WWN-like format, as ``lsblk -o WWN`` writes it: NAA as lowercase hex
        without ``0x``, EUI-64 as ``eui.`` and lowercase hex (separators dropped)."""
        items = self.identifiers if isinstance(self.identifiers, list) else []
        for item in items:
            if not isinstance(item, dict) or item.get("DurableNameFormat") not in WWN_FORMATS:
                continue
            name = known(item.get("DurableName"))
            if not name:
                continue
            text = name.lower().removeprefix("0x")
            if item["DurableNameFormat"] in ("NAA", "EUI", "FC_WWN"):
                text = text.removeprefix("eui.").replace(":", "").replace("-", "")
            return f"eui.{text}" if item["DurableNameFormat"] == "EUI" else text
        return None

    @property
    def absent(self) -> bool:
        return self.state == ABSENT
