"""Redfish ComputerSystem (DSP8010 ComputerSystem.v1_x): a host, or a GPU baseboard that cannot boot."""

from __future__ import annotations

from anyrack.bmc.redfish.resources import Field, Link, Links, Resource

POWER_STATES = ("On", "Off", "PoweringOn", "PoweringOff", "Paused")


class ComputerSystem(Resource):
    """One system of a BMC; several may share one BMC (blade enclosures), each a node of its own."""

    manufacturer = Field("Manufacturer")
    model = Field("Model")
    serial = Field("SerialNumber")
    uuid = Field("UUID")
    bios_version = Field("BiosVersion")
    power = Field("PowerState", raw=True)
    health = Field("Status", "Health", raw=True)
    health_rollup = Field("Status", "HealthRollup", raw=True)
    boot_enabled = Field("Boot", "BootSourceOverrideEnabled", raw=True)
    boot_target = Field("Boot", "BootSourceOverrideTarget", raw=True)
    boot_mode = Field("Boot", "BootSourceOverrideMode", raw=True)
    boot_targets = Field("Boot", "BootSourceOverrideTarget@Redfish.AllowableValues", raw=True)
    boot_enabled_values = Field("Boot", "BootSourceOverrideEnabled@Redfish.AllowableValues", raw=True)
    reset_types = Field("Actions", "#ComputerSystem.Reset", "ResetType@Redfish.AllowableValues", raw=True)
    reset_info = Field("Actions", "#ComputerSystem.Reset", "@Redfish.ActionInfo", raw=True)
    reset_target = Field("Actions", "#ComputerSystem.Reset", "target", raw=True)
    processors = Link("Processors")
    ethernet_interfaces = Link("EthernetInterfaces")
    bios = Link("Bios")
    storage = Link("Storage")
    """The Storage collection (subsystems and their drives), where the BMC offers one."""
    virtual_media = Link("VirtualMedia")
    """Virtual media under the system (some BMCs; most have it under the Manager)."""
    chassis = Links("Links", "Chassis")
    """The chassis the system sits in, the node's own first."""
    managed_by = Links("Links", "ManagedBy")

    @property
    def system_id(self) -> str:
        """``Id``, else the last part of the path."""
        return str(self.doc.get("Id") or self.path.rstrip("/").rsplit("/", 1)[-1])

    @property
    def is_host(self) -> bool:
        """A system that can be booted (has ``Boot``); a GPU baseboard system has none."""
        return "Boot" in self.doc

    @property
    def power_state(self) -> str | None:
        return self.power if self.power in POWER_STATES else None
