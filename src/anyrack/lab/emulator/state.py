"""The state of one emulated BMC: a small copy-on-write overlay over its shared, read-only tree.

A resource is copied out of the tree only when this BMC changes it; everything else is read from
the tree that all BMCs of the same recording share. Power transitions are timestamps, settled
lazily at the next request, so an idle BMC costs no timers and no CPU.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from anyrack.lab.emulator.layout import Layout, tree_layout
from anyrack.lab.emulator.quirks import EmulatedQuirks
from anyrack.lab.emulator.tree import Tree

POWERING = {"On": "PoweringOn", "Off": "PoweringOff"}


@dataclass(frozen=True)
class BmcConfig:
    """What makes one emulated BMC: where it listens, what it serves, and how it misbehaves."""

    index: int
    host: str
    port: int
    tree: Tree
    username: str
    password: str
    quirks: EmulatedQuirks = EmulatedQuirks()
    faults: frozenset[str] = frozenset()
    session_limit: int = 8
    power_delay_s: float = 0.0
    power_on_delay_s: float | None = None
    """Power-on time when it differs from ``power_delay_s`` (the slow-power-on fault)."""
    latency_ms: int = 0


@dataclass
class PowerTimeline:
    """The power state of one system: settled ``state`` until ``until``, then ``target``."""

    state: str
    target: str | None = None
    until: float = 0.0
    boots: bool = False

    def read(self, now: float) -> str:
        """PowerState as a client sees it at ``now``."""
        if self.target is not None and now < self.until:
            return POWERING[self.target]
        return self.target or self.state


@dataclass
class Session:
    """One Redfish session: its id, URI key, secret token and user."""

    id: str
    key: str
    token: str
    username: str


def clone(doc: Any) -> Any:
    """A deep copy of JSON data."""
    return json.loads(json.dumps(doc))


@dataclass
class BmcState:
    """Everything one BMC remembers; the tree itself is never written."""

    config: BmcConfig
    clock: Callable[[], float] = time.monotonic
    overlay: dict[str, Any] = field(default_factory=dict)
    created: dict[str, str] = field(default_factory=dict)
    """Lowercase key → key of resources this BMC created (accounts)."""
    deleted: set[str] = field(default_factory=set)
    power: dict[str, PowerTimeline] = field(default_factory=dict)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    """System key → BIOS attributes waiting for the next boot."""
    sessions: dict[str, Session] = field(default_factory=dict)
    """Lowercase session key → session."""
    tokens: dict[str, Session] = field(default_factory=dict)
    next_session: int = 1
    passwords: dict[str, str] = field(default_factory=dict)
    """Account key (or '' when the tree has no accounts) → password."""
    hits: dict[str, int] = field(default_factory=dict)
    busy: bool = False
    """The next write is refused as 'not ready' (symptom busy_after_power, set by a power change)."""
    on_boot: list[Callable[[BmcState, str], None]] = field(default_factory=list)
    """Called with the system key each time a system finishes powering on."""
    updates: dict[str, Any] = field(default_factory=dict)
    """The UpdateService's tasks and staged images (anyrack.lab.emulator.updates)."""

    def __post_init__(self) -> None:
        for key in self.layout.systems:
            recorded = self.tree.docs[key].get("PowerState")
            self.power[key] = PowerTimeline("Off" if recorded in ("Off", "PoweringOff") else "On")

    @property
    def tree(self) -> Tree:
        """The shared recording."""
        return self.config.tree

    @property
    def layout(self) -> Layout:
        """Where the stateful resources of the tree are."""
        return tree_layout(self.config.tree)

    @property
    def quirks(self) -> EmulatedQuirks:
        """This BMC's switches."""
        return self.config.quirks

    def doc(self, key: str) -> Any:
        """The current resource at ``key`` (None if absent); read-only unless obtained by :meth:`edit`."""
        if key in self.overlay:
            return self.overlay[key]
        if key in self.deleted:
            return None
        return self.tree.docs.get(key)

    def edit(self, key: str) -> dict[str, Any]:
        """The resource at ``key`` as this BMC's own, writable copy (copied from the tree on first write)."""
        if key not in self.overlay:
            self.overlay[key] = clone(self.tree.docs[key])
        return self.overlay[key]

    def put(self, key: str, doc: dict[str, Any]) -> None:
        """Create or replace a resource of this BMC."""
        self.overlay[key] = doc
        self.deleted.discard(key)
        if key not in self.tree.docs:
            self.created[key.lower()] = key

    def remove(self, key: str) -> None:
        """Delete a resource of this BMC."""
        self.overlay.pop(key, None)
        self.created.pop(key.lower(), None)
        if key in self.tree.docs:
            self.deleted.add(key)

    def changed(self, key: str) -> bool:
        """Whether this BMC serves ``key`` differently from the recording."""
        return key in self.overlay or key in self.deleted or key in self.layout.dynamic

    def settle(self) -> None:
        """Finish the power transitions whose time has come, running the boot hooks of those that boot."""
        now = self.clock()
        for key, timeline in self.power.items():
            if timeline.target is not None and now >= timeline.until:
                timeline.state, timeline.target, boots = timeline.target, None, timeline.boots
                timeline.boots = False
                if boots:
                    for hook in self.on_boot:
                        hook(self, key)

    def transition(self, key: str, target: str, boots: bool) -> None:
        """Start moving system ``key`` to ``target`` ("On"/"Off"); ``boots`` runs the boot hooks at the end."""
        self.settle()
        timeline = self.power[key]
        delay = self.config.power_delay_s
        if target == "On" and self.config.power_on_delay_s is not None:
            delay = self.config.power_on_delay_s
        timeline.target, timeline.until, timeline.boots = target, self.clock() + delay, boots
        self.settle()
