"""The small object a Redfish verb needs: the client of one BMC and where this node's resources are.

Verbs outside the controller (virtual media, BIOS, users in ``settings.py``) take a :class:`Target`
rather than the whole controller, so what they may touch is explicit.
"""

from __future__ import annotations

from dataclasses import dataclass

from anyrack.bmc.redfish.client import RedfishClient


@dataclass(frozen=True)
class Target:
    """One node on one BMC: its client (session, quirks), its system and its manager."""

    client: RedfishClient
    node: str
    root: dict
    """The BMC's service root."""
    system: str
    """The path of this node's ComputerSystem."""
    manager: str | None
    """The path of the manager that ``Links.ManagedBy`` names for the system (None: the BMC lists none)."""
