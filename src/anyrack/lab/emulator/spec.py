"""What to emulate: trees and how many BMCs of each, their quirks and faults, and lab-wide options.

The same description comes from Python (:class:`TreeSpec`, :class:`LabOptions`), from the command
line, or from a YAML file (:func:`load_config`)::

    seed: 7
    port: 8443
    power_delay_s: 2
    faults: {timeout: 0.01}          # share of all BMCs
    trees:
      - path: tests/fixtures/redfish/vendor/model
        count: 100
        quirks: [etag-required]
        faults: {"503": 0.1}         # share of this tree's BMCs
        bmc_quirks: {0: [silent-boot-revert]}   # by index within the tree
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from anyrack import document, validation
from anyrack.errors import InputError
from anyrack.lab.emulator.quirks import quirk_name

FAULT_KINDS = ("timeout", "5xx", "401", "503", "slow-power-on", "session-limit", "reset")
UPDATE_FAULT_KINDS = ("update-hang", "update-reset", "update-silent", "update-on-reset")
"""Faults of the UpdateService only (anyrack.lab.emulator.updates): every other request is answered normally."""
SLOW_POWER_ON_S = 46.0
"""Power-on time of the slow-power-on fault (seen on large GPU servers)."""


class LabSpecError(InputError):
    """A lab description that cannot be served."""

    template = "{what}: {reason}"


def fault_kind(kind: str) -> str:
    """The canonical name of a fault kind; raises LabSpecError."""
    canonical = kind.strip().lower().replace("_", "-")
    if canonical not in FAULT_KINDS + UPDATE_FAULT_KINDS:
        known = ", ".join(FAULT_KINDS + UPDATE_FAULT_KINDS)
        raise LabSpecError(what=f"fault {kind!r}", reason=f"unknown kind (known: {known})")
    return canonical


def parse_fault(text: str) -> tuple[str, float]:
    """``KIND:SHARE`` (``timeout:0.1``) → ``("timeout", 0.1)``; raises LabSpecError."""
    kind, sep, share = text.rpartition(":")
    try:
        value = float(share) if sep else 1.0
    except ValueError:
        value = -1.0
    if not sep:
        kind = text
    if not 0.0 <= value <= 1.0:
        raise LabSpecError(what=f"fault {text!r}", reason="expected KIND:SHARE with SHARE between 0 and 1")
    return fault_kind(kind), value


def parse_tree(text: str) -> tuple[str, int]:
    """``DIR:COUNT`` (``trees/x:50``) → ``("trees/x", 50)``; a bare DIR means one BMC."""
    path, sep, count = text.rpartition(":")
    if not sep or not count.isdigit():
        return text, 1
    if int(count) < 1:
        raise LabSpecError(what=f"tree {text!r}", reason="COUNT must be at least 1")
    return path, int(count)


@dataclass(frozen=True)
class TreeSpec:
    """``count`` BMCs serving the recorded tree at ``path``, with the given quirks and fault shares."""

    path: Path | str
    count: int = 1
    quirks: Sequence[str] = ()
    faults: Mapping[str, float] = field(default_factory=dict)
    """Fault kind → share of this tree's BMCs that have it (chosen with the lab's seed)."""
    bmc_quirks: Mapping[int, Sequence[str]] = field(default_factory=dict)
    """Index within this tree → extra quirks for that BMC only."""

    def __post_init__(self) -> None:
        if self.count < 1:
            raise LabSpecError(what=f"tree {self.path}", reason="count must be at least 1")
        for name in list(self.quirks) + [q for qs in self.bmc_quirks.values() for q in qs]:
            quirk_name(name)
        for kind, share in self.faults.items():
            fault_kind(kind)
            if not 0.0 <= share <= 1.0:
                raise LabSpecError(what=f"fault {kind!r}", reason="share must be between 0 and 1")


@dataclass(frozen=True)
class LabOptions:
    """Lab-wide settings: addresses, credentials, timings, the seed and lab-wide faults."""

    port: int = 0
    """Port of every BMC address; 0 = an ephemeral port per BMC (what tests want). The CLI uses 8443."""
    port_base: int | None = None
    """If set, every BMC listens on 127.0.0.1 on consecutive ports from here."""
    first_address: str | None = None
    """The first BMC's address: 127.0.1.1 (one address per BMC), or 127.0.0.1 with ``port_base``."""
    state_dir: Path | None = None
    """Where the CA and certificates live; None = a temporary directory removed at stop."""
    username: str = "admin"
    password: str | None = None
    """The default user's password on every BMC; None = a random one per BMC (see the listing)."""
    session_limit: int = 8
    power_delay_s: float = 0.0
    latency_ms: int = 0
    seed: int = 0
    faults: Mapping[str, float] = field(default_factory=dict)
    """Fault kind → share of all BMCs that have it."""


class _TreeModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    count: int = Field(default=1, ge=1)
    quirks: list[str] = []
    faults: dict[str, float] = {}
    bmc_quirks: dict[int, list[str]] = {}


class _LabModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trees: list[_TreeModel] = Field(min_length=1)
    port: int = Field(default=8443, ge=0, le=65535)
    port_base: int | None = Field(default=None, ge=1, le=65535)
    first_address: str | None = None
    state_dir: str | None = None
    username: str = "admin"
    password: str | None = None
    session_limit: int = Field(default=8, ge=0)
    power_delay_s: float = Field(default=0.0, ge=0)
    latency_ms: int = Field(default=0, ge=0)
    seed: int = 0
    faults: dict[str, float] = {}


def load_config(path: Path) -> tuple[list[TreeSpec], LabOptions]:
    """Trees and options from a YAML file; relative tree paths are relative to the file. Raises InputError."""
    model = validation.validate(document.load(path), _LabModel)
    base = path.parent
    trees = [TreeSpec(path=base / t.path, count=t.count, quirks=tuple(t.quirks), faults=dict(t.faults),
                      bmc_quirks={i: tuple(q) for i, q in t.bmc_quirks.items()}) for t in model.trees]
    options = model.model_dump(exclude={"trees", "state_dir"})
    state_dir = base / model.state_dir if model.state_dir else None
    return trees, LabOptions(**options, state_dir=state_dir)
