"""Redfish host network: EthernetInterface (a system's NICs), NetworkAdapter and NetworkDeviceFunction
(the chassis' adapters and their ports, where rail NICs may be listed only), HostInterface (the BMC's own
interface to the host, never a host NIC)."""

from __future__ import annotations

import re
from typing import Any

from anyrack.bmc.redfish.resources import Field, Link, Resource, known

_MAC = re.compile(r"^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$", re.I)


def mac(value: Any) -> str | None:
    """A MAC address in lowercase with colons, or None (placeholders, all zeros, broadcast, malformed)."""
    text = known(value)
    if not text or not _MAC.match(text):
        return None
    normal = text.lower().replace("-", ":")
    return None if normal in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff") else normal


class EthernetInterface(Resource):
    """One NIC of a system (DSP8010 EthernetInterface.v1_x)."""

    permanent_mac = Field("PermanentMACAddress")
    current_mac = Field("MACAddress")
    speed = Field("SpeedMbps", raw=True)
    label_id = Field("Id", raw=True)
    label_name = Field("Name", raw=True)
    host_interface = Link("Links", "HostInterface")
    """Set when this interface is the BMC's host interface (the BMC's side of a USB NIC)."""

    @property
    def mac(self) -> str | None:
        """The burnt-in address, else the current one."""
        return mac(self.permanent_mac) or mac(self.current_mac)

    @property
    def speed_mbps(self) -> int | None:
        return self.speed if isinstance(self.speed, int) and self.speed > 0 else None

    @property
    def label(self) -> str:
        """The interface's Id as sent, else its Name."""
        return str(self.label_id or self.label_name)


class NetworkAdapter(Resource):
    """A network adapter in a chassis (DSP8010 NetworkAdapter.v1_x)."""

    functions = Link("NetworkDeviceFunctions")


class NetworkDeviceFunction(Resource):
    """One function (port) of an adapter; its Ethernet MACs (DSP8010 NetworkDeviceFunction.v1_x)."""

    permanent_mac = Field("Ethernet", "PermanentMACAddress")
    current_mac = Field("Ethernet", "MACAddress")

    @property
    def mac(self) -> str | None:
        return mac(self.permanent_mac) or mac(self.current_mac)


class HostInterface(Resource):
    """The BMC's interface to its host (DSP8010 HostInterface.v1_x)."""

    host_ethernet_interfaces = Link("HostEthernetInterfaces")
