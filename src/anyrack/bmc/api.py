"""The verb set every BMC transport implements, and the plain values the verbs take and return.

A :class:`Controller` is one management controller reached over one transport (Redfish or IPMI),
with one vendor profile applied. Verbs are ``async``: discovery drives ~1,500 of them from one
event loop. A verb the transport cannot do raises :class:`anyrack.errors.Unsupported`; every write
is verified by reading it back and raises :class:`anyrack.errors.BmcVerifyFailed` if the BMC
silently kept the old value.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Literal

from anyrack.errors import Unsupported
from anyrack.facts import NodeFacts

PowerAction = Literal["on", "off", "graceful_off", "cycle", "reset", "graceful_restart", "nmi"]
PowerState = Literal["On", "Off", "PoweringOn", "PoweringOff", "Paused", "Unknown"]
BootTarget = Literal["none", "pxe", "http", "cd", "disk", "bios", "usb"]
BootMode = Literal["uefi", "legacy"]

# Redfish ResetType for each anyrack power action, in order of preference.
RESET_TYPES: dict[str, tuple[str, ...]] = {
    "on": ("On", "ForceOn"),
    "off": ("ForceOff",),
    "graceful_off": ("GracefulShutdown",),
    "cycle": ("PowerCycle", "ForceRestart"),
    "reset": ("ForceRestart", "PowerCycle"),
    "graceful_restart": ("GracefulRestart",),
    "nmi": ("Nmi",),
}


@dataclass(frozen=True)
class BootOverride:
    target: BootTarget
    persistent: bool
    mode: BootMode | None = None
    allowed: tuple[str, ...] = ()
    """Targets the BMC advertises (anyrack names), empty when it does not say."""


@dataclass(frozen=True)
class MediaStatus:
    slot: str
    inserted: bool
    image: str | None = None
    boot_on_next_reset: bool | None = None


@dataclass(frozen=True)
class BiosState:
    current: dict[str, object]
    pending: dict[str, object] = field(default_factory=dict)
    """Attributes set but not applied yet (applied at the next reset)."""


@dataclass(frozen=True)
class FirmwareItem:
    id: str
    name: str
    version: str
    updateable: bool | None = None
    kind: str = "other"
    """The component kind (anyrack.bmc.firmware.kinds.KINDS)."""
    path: str | None = None
    """The FirmwareInventory member (an update's target)."""


@dataclass(frozen=True)
class Health:
    overall: Literal["OK", "Warning", "Critical", "Unknown"]
    power_state: str
    problems: tuple[str, ...] = ()
    """One line per component not OK: ``'Fan.3: Critical'``."""
    temperatures_c: dict[str, float] = field(default_factory=dict)


class Controller(abc.ABC):
    """One BMC. Use as ``async with`` so sessions and connections are always released."""

    transport: str = "?"

    def __init__(self, url: str, node: str | None = None) -> None:
        self.url = url
        self.node = node or url

    async def __aenter__(self) -> Controller:
        try:
            await self.open()
        except BaseException:
            await self.close()  # a failed open still releases its session and connections
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect and log in (Redfish: create a session)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Log out (Redfish: delete the session) and release connections."""

    def _unsupported(self, verb: str) -> Unsupported:
        return Unsupported(what=verb, by=f"{self.transport} at {self.node}")

    # facts -------------------------------------------------------------------------------------
    @abc.abstractmethod
    async def inventory(self, node: str) -> NodeFacts:
        """Everything discovery records about the node (anyrack.facts/v1)."""

    # power -------------------------------------------------------------------------------------
    @abc.abstractmethod
    async def power_state(self) -> PowerState: ...

    async def allowed_power_actions(self) -> tuple[str, ...]:
        """The anyrack power actions this BMC accepts (read from the BMC where it says)."""
        return tuple(RESET_TYPES)

    @abc.abstractmethod
    async def power(self, action: PowerAction, wait: float = 0) -> PowerState:
        """Do ``action``; with ``wait`` > 0, wait up to that many seconds for the final state."""

    # boot --------------------------------------------------------------------------------------
    @abc.abstractmethod
    async def boot_override(self) -> BootOverride: ...

    @abc.abstractmethod
    async def set_boot_override(self, target: BootTarget, persistent: bool = False,
                                mode: BootMode | None = None) -> BootOverride:
        """Set the next (or every) boot's device; verified by read-back."""

    # virtual media -----------------------------------------------------------------------------
    async def media_status(self) -> MediaStatus:
        raise self._unsupported("virtual media")

    async def insert_media(self, image_url: str) -> MediaStatus:
        raise self._unsupported("virtual media")

    async def eject_media(self) -> MediaStatus:
        raise self._unsupported("virtual media")

    # BIOS --------------------------------------------------------------------------------------
    async def bios(self) -> BiosState:
        raise self._unsupported("BIOS attributes")

    async def set_bios(self, attributes: dict[str, object]) -> BiosState:
        """Stage attributes to apply at the next reset; returns the state with them pending."""
        raise self._unsupported("BIOS attributes")

    # firmware, users, health -------------------------------------------------------------------
    async def firmware(self) -> list[FirmwareItem]:
        raise self._unsupported("firmware inventory")

    async def set_user(self, username: str, password: str, role: str = "Administrator") -> None:
        """Create the local BMC user, or rotate its password; verified by logging in with it."""
        raise self._unsupported("BMC users")

    async def health(self) -> Health:
        raise self._unsupported("health summary")
