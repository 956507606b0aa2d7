"""Named switches that make one emulated BMC depart from the Redfish spec the way some real BMCs do.

The switches are the symptoms of :mod:`anyrack.bmc.symptoms`, the one list shared with the client;
each one documents there what it makes the emulator do. Every switch is off by default (spec
behaviour). A switch is set per tree or per BMC by name; the emulator never looks at which vendor a
tree came from. Which real BMCs need which switch is the business of ``anyrack.bmc.profiles``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields, make_dataclass
from typing import Any

from anyrack.bmc.symptoms import SYMPTOM_NAMES, SYMPTOMS
from anyrack.errors import InputError


class UnknownQuirk(InputError):
    """A quirk name that the emulator does not know."""

    template = "unknown quirk {name!r} (known: {known})"


class _Switches:
    """Behaviour of :class:`EmulatedQuirks`; its fields (one bool per symptom) are made from the shared list."""

    @classmethod
    def from_names(cls, names: Iterable[str]) -> Any:
        """Switches from names such as ``etag-required`` or ``etag_required``; raises UnknownQuirk."""
        return cls(**dict.fromkeys((quirk_name(n) for n in names), True))

    def names(self) -> tuple[str, ...]:
        """The names of the switches that are on, in declaration order."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name))  # type: ignore[arg-type]


EmulatedQuirks = make_dataclass(
    "EmulatedQuirks", [(s.name, bool, False) for s in SYMPTOMS], bases=(_Switches,), frozen=True,
    namespace={"__doc__": "The switches of one emulated BMC: one per symptom of anyrack.bmc.symptoms."})
EmulatedQuirks.__module__ = __name__

QUIRK_NAMES: tuple[str, ...] = SYMPTOM_NAMES


def quirk_name(name: str) -> str:
    """The canonical (snake_case) name of a quirk; raises UnknownQuirk."""
    canonical = name.strip().lower().replace("-", "_")
    if canonical not in QUIRK_NAMES:
        raise UnknownQuirk(name=name, known=", ".join(n.replace("_", "-") for n in QUIRK_NAMES))
    return canonical
