"""ComputerSystem: power (the Reset action, with a transition delay) and the boot source override."""

from __future__ import annotations

from typing import Any

from anyrack.lab.emulator.messages import error_response
from anyrack.lab.emulator.patch import check_properties, merge
from anyrack.lab.emulator.reply import Answer, Reply
from anyrack.lab.emulator.state import BmcState

BOOT_TARGETS = ("None", "Pxe", "Floppy", "Cd", "Usb", "Hdd", "BiosSetup", "Utilities", "Diags", "UefiShell",
                "UefiTarget", "SDCard", "UefiHttp", "RemoteDrive", "UefiBootNext", "Recovery")
BOOT_ENABLED = ("Disabled", "Once", "Continuous")
BOOT_MODES = ("Legacy", "UEFI")

# ResetType → (power state reached, whether the host boots on the way)
_TO_ON = {"On", "ForceOn", "GracefulRestart", "ForceRestart", "PowerCycle"}
_TO_OFF = {"ForceOff", "GracefulShutdown"}


def reset(state: BmcState, system_key: str, body: Any) -> Answer:
    """ComputerSystem.Reset: check ResetType against what the tree advertises, then move the power state."""
    allowed = state.layout.systems[system_key].reset_values
    if not isinstance(body, dict) or "ResetType" not in body:
        return error_response(400, "ActionParameterMissing", "ComputerSystem.Reset", "ResetType")
    unknown = [p for p in body if p != "ResetType" and not p.startswith("@")]
    if unknown:
        return error_response(400, "ActionParameterNotSupported", unknown[0], "ComputerSystem.Reset")
    kind = body["ResetType"]
    if kind not in allowed:
        return error_response(400, "ActionParameterValueNotInList", kind, "ResetType", "ComputerSystem.Reset")
    state.settle()
    timeline = state.power[system_key]
    heading = timeline.target or timeline.state
    if kind in ("On", "ForceOn"):
        if heading == "Off":
            state.transition(system_key, "On", boots=True)
    elif kind in _TO_OFF:
        if heading == "On":
            state.transition(system_key, "Off", boots=False)
    elif kind in _TO_ON:
        state.transition(system_key, "On", boots=True)
    elif kind == "PushPowerButton":
        state.transition(system_key, "Off" if heading == "On" else "On", boots=heading == "Off")
    state.busy = state.quirks.busy_after_power
    return Reply(None, 204)


def power_view(state: BmcState, system_key: str, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with the system's PowerState as of now (and its boot targets as the BMC's symptoms make them)."""
    doc = {**doc, "PowerState": state.power[system_key].read(state.clock())}
    boot = doc.get("Boot")
    if state.quirks.media_boots_as_usbcd and isinstance(boot, dict) and "BootSourceOverrideTarget" in boot:
        doc["Boot"] = {**boot, _TARGETS_KEY: list(_boot_targets(state, boot))}
    return doc


_TARGETS_KEY = "BootSourceOverrideTarget@Redfish.AllowableValues"


def _boot_targets(state: BmcState, boot: dict[str, Any]) -> tuple[str, ...]:
    """The boot targets a PATCH may name: the recorded list (else the standard one), where the
    media-boots-as-UsbCd symptom replaces Cd by UsbCd."""
    targets = tuple(boot.get(_TARGETS_KEY) or BOOT_TARGETS)
    if state.quirks.media_boots_as_usbcd:
        targets = tuple(dict.fromkeys("UsbCd" if t == "Cd" else t for t in (*targets, "UsbCd")))
    return targets


def end_boot_once(state: BmcState, system_key: str) -> None:
    """Boot hook: a one-time boot override is used up by the boot (Enabled back to Disabled)."""
    boot = (state.doc(system_key) or {}).get("Boot")
    if isinstance(boot, dict) and boot.get("BootSourceOverrideEnabled") == "Once":
        edited = state.edit(system_key)["Boot"]
        edited["BootSourceOverrideEnabled"] = "Disabled"
        if "BootSourceOverrideTarget" in edited:
            edited["BootSourceOverrideTarget"] = "None"


def _check_boot(state: BmcState, boot: dict[str, Any], change: dict[str, Any]) -> Answer | None:
    if "BootSourceOverrideMode" in change and state.quirks.reject_boot_mode:
        return error_response(400, "PropertyNotWritable", "Boot/BootSourceOverrideMode")
    for name, standard in (("BootSourceOverrideTarget", BOOT_TARGETS), ("BootSourceOverrideEnabled", BOOT_ENABLED),
                           ("BootSourceOverrideMode", BOOT_MODES)):
        if name not in change:
            continue
        if name not in boot:
            return error_response(400, "PropertyUnknown", f"Boot/{name}")
        allowed = _boot_targets(state, boot) if name == "BootSourceOverrideTarget" else (
            boot.get(f"{name}@Redfish.AllowableValues") or standard)
        if change[name] not in allowed:
            return error_response(400, "PropertyValueNotInList", change[name], f"Boot/{name}")
    return None


def update(state: BmcState, system_key: str, body: dict[str, Any]) -> Answer:
    """PATCH of a system: Boot override values checked against the tree's allowable values, others merged."""
    doc = state.doc(system_key)
    change = body.get("Boot")
    boot = doc.get("Boot")
    if change is not None:
        if not isinstance(change, dict) or not isinstance(boot, dict):
            return error_response(400, "PropertyValueTypeError", change, "Boot")
        problem = _check_boot(state, boot, change)
        if problem is not None:
            return problem
    problem = check_properties(doc, body)
    if problem is not None:
        return problem
    if change is not None and state.quirks.silent_boot_revert:
        body = {k: v for k, v in body.items() if k != "Boot"}
    elif change is not None and state.quirks.boot_once_kept and change.get("BootSourceOverrideEnabled") == "Once":
        body = {**body, "Boot": {**change, "BootSourceOverrideEnabled": "Continuous"}}
    if body:
        merge(state.edit(system_key), body)
    return Reply(system_key)
