"""Vendor profiles: how to recognise a BMC family, and the quirks (data) it needs.

A profile is data first: a detection test over the service root and the Systems/Managers ids, and
a :class:`~anyrack.bmc.quirks.Quirks` record. Only when data is not enough does a profile point at
a hook (``gpu_finder``) or a controller subclass overriding one verb. This package is the only
place in anyrack where vendor names appear.

Third-party profiles register in the ``anyrack.bmc_profiles`` entry-point group; each entry point
names a :class:`Profile` object.
"""

from __future__ import annotations

import functools
import importlib
import logging
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from anyrack.bmc.quirks import Quirks
from anyrack.errors import InputError

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "anyrack.bmc_profiles"


@dataclass(frozen=True)
class RootInfo:
    """What detection looks at: the service root and the ids of Systems and Managers."""

    vendor: str = ""
    product: str = ""
    oem: tuple[str, ...] = ()
    system_ids: tuple[str, ...] = ()
    manager_ids: tuple[str, ...] = ()
    service: str = ""
    """The service root's own Id and Name (for BMCs that name no Vendor or Product)."""

    @classmethod
    def from_root(cls, root: dict, system_ids: tuple[str, ...] = (), manager_ids: tuple[str, ...] = ()) -> RootInfo:
        oem = root.get("Oem") if isinstance(root.get("Oem"), dict) else {}
        return cls(str(root.get("Vendor") or ""), str(root.get("Product") or ""), tuple(oem), system_ids,
                   manager_ids, f"{root.get('Id') or ''} {root.get('Name') or ''}".strip())

    def says(self, *words: str) -> bool:
        """True if any word appears (any case) in the vendor, product or an Oem key."""
        text = " ".join((self.vendor, self.product, *self.oem)).lower()
        return any(w.lower() in text for w in words)


GpuFinder = Callable[[Any, str], Awaitable[list[dict]]]
"""``async finder(client, system_path) -> [{'model', 'serial', 'firmware', 'location'}]``"""


@dataclass(frozen=True)
class Profile:
    name: str
    detect: Callable[[RootInfo], bool]
    quirks: Quirks = field(default_factory=Quirks)
    gpu_finder: GpuFinder | None = None
    """Where GPUs are found when the standard places (Processors of type GPU) have none."""
    description: str = ""
    firmware_kinds: tuple[tuple[str, str], ...] = ()
    """(regex over a FirmwareInventory member's ``Id Name``, kind), tried before the generic rules
    (anyrack.bmc.firmware.kinds); kind ``ignore`` leaves out a member that is no running firmware."""


def _builtin(name: str) -> Profile:
    return importlib.import_module(f"anyrack.bmc.profiles.{name}").PROFILE


def builtin_names() -> list[str]:
    """Every profile module in this package, alphabetically, ``generic`` last."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return [n for n in names if n != "generic"] + ["generic"]


@functools.cache
def all_profiles() -> tuple[Profile, ...]:
    """Third-party profiles first (so they can refine a built-in family), then built-ins, generic last."""
    found: list[Profile] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            profile = ep.load()
        except Exception as err:  # noqa: BLE001 - a broken plug-in must not stop discovery
            log.warning("BMC profile entry point %r failed to load: %s", ep.name, err)
            continue
        if isinstance(profile, Profile):
            found.append(profile)
        else:
            log.warning("BMC profile entry point %r is not an anyrack Profile; ignored", ep.name)
    return (*found, *(_builtin(name) for name in builtin_names()))


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (from the site file or the command line)."""
    for profile in all_profiles():
        if profile.name == name:
            return profile
    known = ", ".join(sorted(p.name for p in all_profiles()))
    raise InputError(detail=f"unknown BMC profile {name!r} (known: {known})")


def detect_profile(info: RootInfo) -> Profile:
    """The first profile whose detection accepts ``info``; ``generic`` accepts everything."""
    for profile in all_profiles():
        if profile.detect(info):
            return profile
    return _builtin("generic")
