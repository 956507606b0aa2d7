"""Where the stateful parts of a tree live (systems, BIOS settings, media, accounts, sessions, actions).

Found once per tree from links and ``@odata.type`` only, the way a standards-only client would find
them, and shared by every BMC serving the tree.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from anyrack.lab.emulator.tree import Tree, path_key

RESET_TYPES = ("On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "Nmi", "ForceOn",
               "PushPowerButton", "PowerCycle", "Suspend", "Pause", "Resume")
"""ResetType values of the Redfish schema, for a Reset action that advertises none."""


@dataclass(frozen=True)
class SystemLayout:
    """One ComputerSystem: its reset values, chassis, BIOS and BIOS settings object."""

    key: str
    reset_values: tuple[str, ...]
    chassis: tuple[str, ...] = ()
    bios: str | None = None
    settings: str | None = None
    settings_in_tree: bool = False
    settings_full: bool = False
    """The recorded settings object lists every attribute (pending merged over current), not only changes."""


@dataclass(frozen=True, eq=False)
class Layout:
    """The stateful resources of one tree, by key."""

    systems: dict[str, SystemLayout] = field(default_factory=dict)
    actions: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Lowercase action target key → (owner key, action name such as ``ComputerSystem.Reset``)."""
    media: frozenset[str] = frozenset()
    accounts: str | None = None
    sessions: str | None = None
    session_type: str = "#Session.v1_0_0.Session"

    def settings_owner(self, key: str) -> SystemLayout | None:
        """The system whose BIOS settings object is ``key``."""
        return next((s for s in self.systems.values() if s.settings == key), None)

    def chassis_owner(self, key: str) -> SystemLayout | None:
        """The system a chassis belongs to (for its PowerState)."""
        return next((s for s in self.systems.values() if key in s.chassis), None)

    @functools.cached_property
    def dynamic(self) -> frozenset[str]:
        """Keys rendered from BMC state rather than served as recorded."""
        keys = set(self.systems) | set(self.media) | {self.sessions} - {None}
        for system in self.systems.values():
            keys |= set(system.chassis) | ({system.settings} if system.settings else set())
        return frozenset(keys)

    @functools.cached_property
    def virtual(self) -> dict[str, str]:
        """Lowercase key → key of resources the emulator adds to the tree (a settings object it lacks)."""
        return {s.settings.lower(): s.settings for s in self.systems.values() if s.settings and not s.settings_in_tree}


def _odata_type(doc: Any) -> str:
    return doc.get("@odata.type", "") if isinstance(doc, dict) else ""


def _members(tree: Tree, key: str | None) -> list[str]:
    doc = tree.docs.get(key) if key else None
    links = doc.get("Members", []) if isinstance(doc, dict) else []
    return [k for k in (tree.link(m) for m in links if isinstance(m, dict)) if k]


def _collect_actions(tree: Tree, key: str, value: Any, out: dict[str, tuple[str, str]]) -> None:
    """Every action target under any ``Actions`` object of a resource (standard and Oem)."""
    if isinstance(value, dict):
        for name, item in value.items():
            if name == "Actions" and isinstance(item, dict):
                _collect_targets(key, item, out)
            _collect_actions(tree, key, item, out)
    elif isinstance(value, list):
        for item in value:
            _collect_actions(tree, key, item, out)


def _collect_targets(key: str, actions: dict[str, Any], out: dict[str, tuple[str, str]]) -> None:
    for name, action in actions.items():
        if name == "Oem" and isinstance(action, dict):
            _collect_targets(key, action, out)
        elif name.startswith("#") or "#" in name:
            target = action.get("target") if isinstance(action, dict) else None
            if isinstance(target, str):
                out[path_key(target).lower()] = (key, name.rsplit("#", 1)[-1])


def _reset_values(tree: Tree, system: dict[str, Any]) -> tuple[str, ...]:
    action = (system.get("Actions") or {}).get("#ComputerSystem.Reset") or {}
    values = action.get("ResetType@Redfish.AllowableValues")
    if isinstance(values, list) and values:
        return tuple(values)
    info_key = tree.link(action.get("@Redfish.ActionInfo"))
    info = tree.docs.get(info_key) if info_key else None
    for param in (info or {}).get("Parameters", []) if isinstance(info, dict) else []:
        if isinstance(param, dict) and param.get("Name") == "ResetType" and param.get("AllowableValues"):
            return tuple(param["AllowableValues"])
    return RESET_TYPES


def _system(tree: Tree, key: str) -> SystemLayout:
    doc = tree.docs[key]
    chassis = tuple(k for k in (tree.link(c) for c in (doc.get("Links") or {}).get("Chassis", [])) if k)
    bios = tree.link(doc.get("Bios"))
    settings, in_tree, full = None, False, False
    if bios:
        bios_doc = tree.docs[bios]
        link = ((bios_doc.get("@Redfish.Settings") or {}).get("SettingsObject") or {}).get("@odata.id")
        default = tree.behaviour.get("bios_settings_path", "Settings")
        wanted = path_key(link) if isinstance(link, str) else f"{bios}/{default}"
        found = tree.find(wanted)
        settings, in_tree = found or wanted, found is not None
        full = bool(in_tree and isinstance(tree.docs.get(found), dict) and tree.docs[found].get("Attributes"))
    return SystemLayout(key=key, reset_values=_reset_values(tree, doc), chassis=chassis, bios=bios,
                        settings=settings, settings_in_tree=in_tree, settings_full=full)


@functools.cache
def tree_layout(tree: Tree) -> Layout:
    """The layout of ``tree``, computed once."""
    root = tree.docs.get("/redfish/v1", {})
    systems = {}
    for key in _members(tree, tree.link(root.get("Systems"))):
        if _odata_type(tree.docs.get(key)).startswith("#ComputerSystem."):
            systems[key] = _system(tree, key)
    actions: dict[str, tuple[str, str]] = {}
    media, accounts, sessions, session_type = set(), None, None, "#Session.v1_0_0.Session"
    for key, doc in tree.docs.items():
        kind = _odata_type(doc)
        _collect_actions(tree, key, doc, actions)
        if kind.startswith("#VirtualMedia."):
            media.add(key)
        elif kind.startswith("#ManagerAccountCollection."):
            accounts = accounts or key
        elif kind.startswith("#SessionCollection."):
            sessions = sessions or key
        elif kind.startswith("#Session.") and ".v1_" in kind:
            session_type = kind
    sessions = tree.link((root.get("Links") or {}).get("Sessions")) or sessions
    return Layout(systems=systems, actions=actions, media=frozenset(media), accounts=accounts,
                  sessions=sessions, session_type=session_type)
