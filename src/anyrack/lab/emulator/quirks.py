"""Named switches that make one emulated BMC depart from the Redfish spec the way some real BMCs do.

Every switch is off by default (spec behaviour). A switch is set per tree or per BMC by name; the
emulator never looks at which vendor a tree came from. Which real BMCs need which switch is the
business of ``anyrack.bmc.profiles``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from anyrack.errors import InputError


class UnknownQuirk(InputError):
    """A quirk name that the emulator does not know."""

    template = "unknown quirk {name!r} (known: {known})"


@dataclass(frozen=True)
class EmulatedQuirks:
    """The switches of one emulated BMC; each field documents the symptom it produces."""

    etag_required: bool = False
    """PATCH without If-Match is refused with 428 Precondition Required."""
    silent_boot_revert: bool = False
    """A PATCH of Boot answers 200 but the boot override does not change."""
    lowercase_links: bool = False
    """Links are served in lowercase and the server is case-sensitive: the canonical case answers 404."""
    reject_boot_mode: bool = False
    """A PATCH of Boot that names BootSourceOverrideMode is refused with 400."""
    media_patch_only: bool = False
    """VirtualMedia has no InsertMedia/EjectMedia actions; media is attached by PATCH of Image."""
    media_rejects_inserted: bool = False
    """Attaching media with Inserted or WriteProtected in the request is refused with 400."""
    media_requires_inserted: bool = False
    """Attaching media without both Inserted and WriteProtected in the request is refused with 400."""
    expand_refused: bool = False
    """The service root advertises ``$expand`` but every ``$expand`` request is answered 501."""

    @classmethod
    def from_names(cls, names: Iterable[str]) -> EmulatedQuirks:
        """Switches from names such as ``etag-required`` or ``etag_required``; raises UnknownQuirk."""
        return cls(**dict.fromkeys((quirk_name(n) for n in names), True))

    def names(self) -> tuple[str, ...]:
        """The names of the switches that are on, in declaration order."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name))


QUIRK_NAMES: tuple[str, ...] = tuple(f.name for f in fields(EmulatedQuirks))


def quirk_name(name: str) -> str:
    """The canonical (snake_case) name of a quirk; raises UnknownQuirk."""
    canonical = name.strip().lower().replace("-", "_")
    if canonical not in QUIRK_NAMES:
        raise UnknownQuirk(name=name, known=", ".join(n.replace("_", "-") for n in QUIRK_NAMES))
    return canonical
