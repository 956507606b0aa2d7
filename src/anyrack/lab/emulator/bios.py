"""BIOS settings: a PATCH to the settings object stores pending attributes, applied at the next boot.

The settings object is the one the Bios resource names in ``@Redfish.Settings.SettingsObject``,
else ``<Bios>/Settings``. If the recorded settings object lists every attribute, pending values are
shown merged over the current ones; if it lists only changes (or the tree has none), only the
pending values are shown.
"""

from __future__ import annotations

from typing import Any

from anyrack.lab.emulator.layout import SystemLayout
from anyrack.lab.emulator.messages import error_response
from anyrack.lab.emulator.patch import same_kind
from anyrack.lab.emulator.reply import Answer, Reply
from anyrack.lab.emulator.state import BmcState


def _current(state: BmcState, system: SystemLayout) -> dict[str, Any]:
    bios = state.doc(system.bios) if system.bios else None
    attributes = bios.get("Attributes") if isinstance(bios, dict) else None
    return attributes if isinstance(attributes, dict) else {}


def settings_view(state: BmcState, system: SystemLayout) -> dict[str, Any]:
    """The settings object as served: recorded (or made up) with the pending attributes in it."""
    pending = state.pending.get(system.key, {})
    if system.settings_in_tree:
        doc = dict(state.doc(system.settings))
    else:
        bios = state.doc(system.bios) or {}
        doc = {"@odata.id": system.settings, "@odata.type": bios.get("@odata.type", "#Bios.v1_0_0.Bios"),
               "Id": system.settings.rsplit("/", 1)[-1], "Name": "BIOS Pending Settings"}
        if "AttributeRegistry" in bios:
            doc["AttributeRegistry"] = bios["AttributeRegistry"]
    doc["Attributes"] = {**_current(state, system), **pending} if system.settings_full else dict(pending)
    return doc


def update(state: BmcState, system: SystemLayout, body: dict[str, Any]) -> Answer:
    """PATCH of the settings object: every attribute must exist in Bios and keep its type; 200."""
    attributes = body.get("Attributes")
    unknown = [k for k in body if k != "Attributes" and "@" not in k]
    if unknown:
        return error_response(400, "PropertyUnknown", unknown[0])
    if not isinstance(attributes, dict):
        return error_response(400, "PropertyMissing", "Attributes")
    current = _current(state, system)
    for name, value in attributes.items():
        if name not in current:
            return error_response(400, "PropertyUnknown", f"Attributes/{name}")
        if not same_kind(current[name], value) or isinstance(value, dict | list):
            return error_response(400, "PropertyValueTypeError", value, f"Attributes/{name}")
    state.pending.setdefault(system.key, {}).update(attributes)
    return Reply(system.settings)


def apply_pending(state: BmcState, system_key: str) -> None:
    """Boot hook: pending attributes become the current ones and pending is cleared."""
    pending = state.pending.pop(system_key, None)
    system = state.layout.systems[system_key]
    if pending and system.bios:
        state.edit(system.bios).setdefault("Attributes", {}).update(pending)
