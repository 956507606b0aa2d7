"""Redfish Manager (DSP8010 Manager.v1_x): a BMC, an enclosure manager or an auxiliary controller."""

from __future__ import annotations

from anyrack.bmc.redfish.resources import Field, Link, Links, Resource


class Manager(Resource):
    """A management controller; which host it manages is read from the links, never from list order."""

    manufacturer = Field("Manufacturer")
    model = Field("Model")
    firmware = Field("FirmwareVersion")
    manager_type = Field("ManagerType", raw=True)
    """"BMC", "EnclosureManager", "AuxiliaryController" (a board's micro-controller), ..."""
    servers = Links("Links", "ManagerForServers")
    home = Link("Links", "ManagerInChassis")
    """The chassis the manager itself sits in (a BMC module): never a node's identity."""
    host_interfaces = Link("HostInterfaces")
    virtual_media = Link("VirtualMedia")

    @property
    def is_auxiliary(self) -> bool:
        return self.manager_type == "AuxiliaryController"

    def manages(self, system_path: str) -> bool:
        """True if ``ManagerForServers`` lists the system (trailing '/' and case ignored)."""
        own = system_path.rstrip("/").lower()
        return any(s.rstrip("/").lower() == own for s in self.servers)
