"""Redfish Chassis (DSP8010 Chassis.v1_x): the enclosure a system sits in, or a part of one."""

from __future__ import annotations

from anyrack.bmc.redfish.resources import Field, Link, Links, Resource

COMPONENT_TYPES = {"Card", "Component", "Module", "Expansion", "IPBasedDrive", "StorageEnclosure", "PowerStrip",
                   "HeatExchanger", "Sidecar"}
"""ChassisType values of parts of a server (a BMC module, a riser card), not of the server itself."""
ASSEMBLY_TYPES = {"Module"}
"""Component types that may still stand for the node when they are all its system links to (an HGX
baseboard assembly is all a baseboard BMC knows), unless they are the BMC's own chassis."""


class Chassis(Resource):
    """A physical container: a rack-mount server, a blade, an enclosure, or a component such as a card."""

    manufacturer = Field("Manufacturer")
    model = Field("Model")
    serial = Field("SerialNumber")
    chassis_type = Field("ChassisType", raw=True)
    network_adapters = Link("NetworkAdapters")
    thermal = Link("Thermal")
    computer_systems = Links("Links", "ComputerSystems")
    """Systems in this chassis; a GPU baseboard system is credited to a host only through this link."""

    @property
    def is_component(self) -> bool:
        return self.chassis_type in COMPONENT_TYPES

    @property
    def is_assembly(self) -> bool:
        return self.chassis_type in ASSEMBLY_TYPES
