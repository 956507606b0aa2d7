"""Conformance matrix: every verb against every recorded tree; the suite writes docs/conformance.md.

A cell is ``pass`` (spec behaviour), ``quirk: <switches>`` (works through the profile's named
quirks or hook), ``unsupported`` (the BMC says it cannot: anyrack raises Unsupported) or
``FAIL: <error>``, which fails the test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from anyrack.bmc import connect
from anyrack.bmc.api import Controller
from anyrack.bmc.quirks import Quirks
from anyrack.errors import Unsupported
from anyrack.filetree import write_atomic
from anyrack.lab.emulator import LabOptions, TreeSpec, serve_lab

pytestmark = pytest.mark.bmc
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures/redfish"
TREES = sorted(str(p.parent.relative_to(FIXTURES)) for p in FIXTURES.glob("*/*/SOURCE.md"))
DEFAULTS = Quirks()
SYSTEM = {"hpe/cray-ex4252-4node": "Node0"}
"""The host the verbs act on, for a BMC that manages several."""

# The quirk switches (and hooks) each verb's code path consults.
VERB_QUIRKS: dict[str, tuple[str, ...]] = {
    "inventory": ("gpu_finder", "gpu_baseboard_systems", "host_interface_macs_excluded"),
    "power": ("transient_message_ids", "power_on_timeout_s"),
    "boot once": ("boot_mode_rejected", "boot_patch_needs_enabled", "etag_required"),
    "boot persistent": ("boot_mode_rejected", "boot_patch_needs_enabled", "etag_required"),
    "virtual media": ("media_send_inserted", "media_on_systems", "media_boot_target", "etag_required"),
    "BIOS pending": ("bios_settings_path", "etag_required"),
    "firmware inventory": (),
    "BMC user": ("etag_required",),
    "health": (),
}


def _checks(image: str) -> dict[str, Callable[[Controller], Awaitable[object]]]:
    async def bios(bmc: Controller) -> object:
        state = await bmc.bios()
        name, value = next((k, v) for k, v in sorted(state.current.items()) if isinstance(v, str))
        return await bmc.set_bios({name: value + "X" if len(value) < 30 else value[:-1]})

    async def media(bmc: Controller) -> object:
        await bmc.insert_media(image)
        return await bmc.eject_media()

    return {
        "inventory": lambda bmc: bmc.inventory("n1"),
        "power": lambda bmc: bmc.power("cycle", wait=15),
        "boot once": lambda bmc: bmc.set_boot_override("pxe"),
        "boot persistent": lambda bmc: bmc.set_boot_override("disk", persistent=True),
        "virtual media": media,
        "BIOS pending": bios,
        "firmware inventory": lambda bmc: bmc.firmware(),
        "BMC user": lambda bmc: bmc.set_user("anyrack", "Rotated-Pa55-word", "Administrator"),
        "health": lambda bmc: bmc.health(),
    }


def _used_quirks(bmc: Controller, verb: str) -> list[str]:
    profile = bmc.profile  # type: ignore[attr-defined]
    used = []
    for name in VERB_QUIRKS[verb]:
        if name == "gpu_finder":
            used += ["gpu_finder"] if profile.gpu_finder else []
        elif getattr(profile.quirks, name) != getattr(DEFAULTS, name):
            used.append(name)
    return used


async def _row(entry, tree: str) -> tuple[str, str, dict[str, str]]:  # noqa: ANN001
    cells: dict[str, str] = {}
    firmware = profile = "?"
    for verb, check in _checks("http://127.0.0.1:8080/deploy.iso").items():
        async with connect(f"redfish+{entry.url}", entry.username, entry.password, ca_file=entry.ca,
                           node=tree, system=SYSTEM.get(tree)) as bmc:
            profile = bmc.profile.name  # type: ignore[attr-defined]
            try:
                result = await check(bmc)
            except Unsupported:
                cells[verb] = "unsupported"
                continue
            except Exception as err:  # noqa: BLE001 - recorded, then the test fails on it
                cells[verb] = f"FAIL: {err}"
                continue
            if verb == "inventory":
                firmware = result.bmc.firmware or "?"  # type: ignore[attr-defined]
            used = _used_quirks(bmc, verb)
            cells[verb] = f"quirk: {', '.join(used)}" if used else "pass"
    return profile, firmware, cells


def test_conformance_matrix() -> None:
    with serve_lab([TreeSpec(FIXTURES / t) for t in TREES], LabOptions(power_delay_s=0.2)) as entries:
        rows = asyncio.run(_all(entries))
    lines = [
        "# Conformance matrix",
        "",
        "Written by `tests/bmc/test_conformance.py` (bmc tier): every BMC verb against every recorded tree",
        "in `tests/fixtures/redfish/`, served by the emulator over HTTPS. `pass`: spec behaviour;",
        "`quirk: …`: works through the named profile quirks or hooks; `unsupported`: the BMC does not",
        "allow it (anyrack raises `Unsupported` before writing). Firmware is the BMC firmware of the recording.",
        "",
        "| tree | profile | BMC firmware | " + " | ".join(VERB_QUIRKS) + " |",
        "|---|---|---|" + "---|" * len(VERB_QUIRKS),
    ]
    for tree, (profile, firmware, cells) in zip(TREES, rows, strict=True):
        lines.append(f"| {tree} | {profile} | {firmware} | " + " | ".join(cells[v] for v in VERB_QUIRKS) + " |")
    write_atomic(ROOT / "docs/conformance.md", "\n".join(lines) + "\n")
    failures = {(t, v): c for t, (_, _, cells) in zip(TREES, rows, strict=True) for v, c in cells.items()
                if c.startswith("FAIL")}
    assert failures == {}
    assert len(rows) == len(TREES) >= 5
    assert json.dumps(dataclasses.asdict(DEFAULTS))  # the defaults are plain data


async def _all(entries) -> list[tuple[str, str, dict[str, str]]]:  # noqa: ANN001
    return list(await asyncio.gather(*(_row(e, t) for e, t in zip(entries, TREES, strict=True))))
