"""Conformance: every profile's quirks on and off against the emulator, then every verb against every
recorded tree; ``docs/conformance.md`` is generated from these results only.

A matrix cell is ``pass`` (spec behaviour), ``quirk: <switches>`` (works through quirks that an on/off
case below proved for that profile and verb), ``unsupported`` (the BMC says it cannot:
anyrack raises Unsupported) or ``FAIL: <error>``, which fails the test. The committed file must equal
the generated one; ``ANYRACK_WRITE_DOCS=1`` rewrites it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from anyrack.bmc import connect
from anyrack.bmc.api import Controller
from anyrack.bmc.profiles import Profile, builtin_names, get_profile
from anyrack.bmc.quirks import Quirks
from anyrack.bmc.redfish.client import HttpError
from anyrack.errors import Unsupported
from anyrack.filetree import write_atomic
from anyrack.lab.emulator import LabOptions, TreeSpec, serve_lab

pytestmark = pytest.mark.bmc
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures/redfish"
DOC = ROOT / "docs/conformance.md"
TREES = sorted(str(p.parent.relative_to(FIXTURES)) for p in FIXTURES.glob("*/*/SOURCE.md"))
SYSTEM = {"hpe/cray-ex4252-4node": "Node0"}
"""The host the verbs act on, for a BMC that manages several."""
VERBS = ("inventory", "power", "boot once", "boot persistent", "virtual media", "BIOS pending", "firmware inventory",
         "BMC user", "health")

# the on/off cases --------------------------------------------------------------------------------
IMAGE = "http://127.0.0.1:8080/deploy.iso"
STAND_IN = "dell/idrac9-r750"
"""The tree that shows a symptom by switch for a profile with no recording of its own (supermicro, sushy)."""


async def _gpus(bmc: Controller) -> object:
    facts = await bmc.inventory("n1")
    if not facts.gpus:
        raise LookupError("no GPUs found")
    return len(facts.gpus)


async def _media(bmc: Controller) -> object:
    await bmc.insert_media(IMAGE)
    return await bmc.eject_media()


async def _cycle_then_boot(bmc: Controller) -> object:
    await bmc.power("cycle", wait=15)
    return await bmc.set_boot_override("pxe")


def _bios_change(current: dict[str, object]) -> dict[str, object]:
    """A change to the first string attribute: a value of the same type, different from the current one."""
    name, value = next((k, v) for k, v in sorted(current.items()) if isinstance(v, str))
    return {name: value + "X" if len(value) < 30 else value[:-1]}


CASE_VERBS: dict[str, Callable[[Controller], Awaitable[object]]] = {
    "inventory": _gpus,
    "boot once": lambda bmc: bmc.set_boot_override("pxe"),
    "boot once (UEFI)": lambda bmc: bmc.set_boot_override("pxe", mode="uefi"),
    "boot from virtual media": lambda bmc: bmc.set_boot_override("cd"),
    "power cycle, then boot once": _cycle_then_boot,
    "virtual media": _media,
}
MATRIX_VERB = {"inventory": "inventory", "boot once": "boot once", "virtual media": "virtual media",
               "BIOS set": "BIOS pending"}
"""The conformance-matrix column each verb proves a quirk for (the same calls; the others have no column)."""


@dataclass(frozen=True)
class Case:
    profile: str
    quirk: str
    """A Quirks field, or ``gpu_finder`` (the profile's hook)."""
    verb: str
    tree: str
    switches: tuple[str, ...] = ()
    """Emulator symptoms switched on; empty when the recording itself shows the symptom."""
    off_tree: str | None = None
    """Where the symptom is off, when the recording shows it (no switch can turn it off)."""
    fails: str = "HttpError 400"
    """What the verb fails with when the symptom is on and the quirk off (as :func:`describe` puts it)."""

    @property
    def id(self) -> str:
        return f"{self.profile}-{self.quirk}"


CASES: tuple[Case, ...] = (
    Case("dell", "transient_message_ids", "power cycle, then boot once", "dell/idrac9-r750", ("busy_after_power",)),
    Case("hpe", "transient_message_ids", "power cycle, then boot once", "hpe/ilo5-xl675d", ("busy_after_power",)),
    Case("ami", "etag_required", "BIOS set", "ami/megarac-h262-z63", ("etag_required",), fails="HttpError 428"),
    Case("ami", "bios_settings_path", "BIOS set", "ami/megarac-h262-z63", off_tree=STAND_IN, fails="HttpError 404"),
    Case("hpe", "etag_required", "BIOS set", "hpe/ilo5-xl675d", ("etag_required",), fails="HttpError 428"),
    Case("hpe", "boot_mode_rejected", "boot once (UEFI)", "hpe/ilo5-xl675d", ("reject_boot_mode",)),
    Case("hpe", "bios_settings_path", "BIOS set", "hpe/ilo5-xl675d", ("bios_settings_unlinked", "lowercase_links"),
         fails="HttpError 404"),
    Case("hpe", "gpu_finder", "inventory", "hpe/ilo5-xl675d", off_tree="lenovo/xcc-sr670v2", fails="LookupError"),
    Case("lenovo", "etag_required", "BIOS set", "lenovo/xcc-sr670v2", ("etag_required",), fails="HttpError 428"),
    Case("lenovo", "bios_settings_path", "BIOS set", "lenovo/xcc-sr670v2", ("bios_settings_unlinked",),
         fails="HttpError 404"),
    Case("openbmc", "gpu_baseboard_systems", "inventory", "openbmc/hgx-h100-baseboard", off_tree="lenovo/xcc-sr670v2",
         fails="LookupError"),
    Case("supermicro", "media_boot_target", "boot from virtual media", STAND_IN, ("media_boots_as_usbcd",),
         fails="Unsupported"),
    Case("supermicro", "media_send_inserted", "virtual media", STAND_IN, ("media_rejects_inserted",)),
    Case("sushy", "boot_once_is_continuous", "boot once", STAND_IN, ("boot_once_kept",), fails="BmcVerifyFailed"),
)

NOT_PROVEN: dict[str, str] = {
    "max_sessions": "a concurrency limit (how many requests at a time), not a symptom a request can show",
}
"""Quirks a profile configures that no on/off case proves, and why: the matrix never credits them."""


def quirk_off(profile: Profile, quirk: str) -> Profile:
    """``profile`` with one quirk back at its default (or its hook removed)."""
    if quirk == "gpu_finder":
        return dataclasses.replace(profile, gpu_finder=None)
    default = getattr(Quirks(), quirk)
    return dataclasses.replace(profile, quirks=dataclasses.replace(profile.quirks, **{quirk: default}))


def describe(outcome: object) -> str:
    """An outcome as the matrix shows it: ``works``, or the error class and HTTP status."""
    if not isinstance(outcome, Exception):
        return "works"
    status = f" {outcome.status}" if isinstance(outcome, HttpError) else ""
    return f"fails: {type(outcome).__name__}{status}"


async def run_leg(entry, case: Case, profile: Profile) -> object:  # noqa: ANN001
    """One verb against one emulated BMC with ``profile``; returns the result, or the exception it raised.

    ``BIOS set`` is a write in a session of its own, as ``anyrack bmc bios set`` does it: the attribute to
    change is read in a session before."""
    def session() -> Controller:
        return connect(f"redfish+{entry.url}", entry.username, entry.password, ca_file=entry.ca, node=case.id,
                       profile=profile)

    try:
        if case.verb == "BIOS set":
            async with session() as bmc:
                change = _bios_change((await bmc.bios()).current)
            async with session() as bmc:
                return await bmc.set_bios(change)
        async with session() as bmc:
            return await CASE_VERBS[case.verb](bmc)
    except Exception as err:  # noqa: BLE001 - the outcome is what the case asserts on
        return err


async def run_case(on_entry, off_entry, case: Case) -> dict[str, object]:  # noqa: ANN001
    """The three legs of ``case``, in order, on the BMC with the symptom and the one without."""
    shipped = get_profile(case.profile)
    return {"symptom on, quirk on": await run_leg(on_entry, case, shipped),
            "symptom on, quirk off": await run_leg(on_entry, case, quirk_off(shipped, case.quirk)),
            "symptom off, quirk on": await run_leg(off_entry, case, shipped)}


RESULTS: dict[str, dict[str, object]] = {}
"""Case id → the outcome of each leg, filled by the on/off tests (and by the matrix for any deselected)."""


@pytest.fixture(scope="module")
def bmcs():  # noqa: ANN201
    """One emulator process for the whole module: per tree, one BMC for the matrix, then per case one BMC
    with its symptoms on and one without. Yields (tree → matrix entry, case id → (on entry, off entry))."""
    wanted: dict[str, list[tuple[str, tuple[str, ...]]]] = {t: [("matrix", ())] for t in TREES}
    for case in CASES:
        wanted[case.tree].append((f"{case.id}/on", case.switches))
        wanted[case.off_tree or case.tree].append((f"{case.id}/off", ()))
    specs = [TreeSpec(FIXTURES / tree, count=len(roles), bmc_quirks={i: s for i, (_, s) in enumerate(roles) if s})
             for tree, roles in wanted.items()]
    with serve_lab(specs, LabOptions(power_delay_s=0.2)) as entries:
        by_role = dict(zip([f"{t}:{r}" for t, roles in wanted.items() for r, _ in roles], entries, strict=True))
        matrix = {t: by_role[f"{t}:matrix"] for t in TREES}
        legs = {c.id: (by_role[f"{c.tree}:{c.id}/on"], by_role[f"{c.off_tree or c.tree}:{c.id}/off"]) for c in CASES}
        yield matrix, legs


def _outcomes(bmcs, case: Case) -> dict[str, object]:  # noqa: ANN001
    if case.id not in RESULTS:
        RESULTS[case.id] = asyncio.run(run_case(*bmcs[1][case.id], case))
    return RESULTS[case.id]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_quirk_on_and_off(bmcs, case: Case) -> None:  # noqa: ANN001
    """Symptom on + quirk → works; symptom on, quirk at its default → the failure it exists for; symptom off
    + quirk → still works."""
    on, off, absent = _outcomes(bmcs, case).values()
    assert not isinstance(on, Exception), f"with the quirk: {on}"
    assert describe(off) == f"fails: {case.fails}", f"without the quirk: {off!r}"
    assert not isinstance(absent, Exception), f"symptom off: {absent}"


def test_every_configured_quirk_is_proven_or_explained() -> None:
    """A quirk a built-in profile sets needs an on/off case, or a stated reason why none can exist."""
    defaults, missing = Quirks(), []
    for name in builtin_names():
        profile = get_profile(name)
        configured = [f.name for f in dataclasses.fields(Quirks)
                      if getattr(profile.quirks, f.name) != getattr(defaults, f.name)]
        configured += ["gpu_finder"] if profile.gpu_finder else []
        proven = {c.quirk for c in CASES if c.profile == name}
        missing += [f"{name}.{q}" for q in configured if q not in proven and q not in NOT_PROVEN]
    assert missing == []


def _checks(entry, tree: str) -> dict[str, Callable[[Controller], Awaitable[object]]]:  # noqa: ANN001
    async def bios(bmc: Controller) -> object:
        change = _bios_change((await bmc.bios()).current)
        async with connect(f"redfish+{entry.url}", entry.username, entry.password, ca_file=entry.ca, node=tree,
                           system=SYSTEM.get(tree)) as fresh:  # a write in a session of its own, as in the cases
            return await fresh.set_bios(change)

    async def media(bmc: Controller) -> object:
        await bmc.insert_media(IMAGE)
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


def _proven(profile: str, verb: str) -> list[str]:
    """The quirks an on/off case proved for ``profile`` on a verb of this matrix column."""
    return [c.quirk for c in CASES if c.profile == profile and MATRIX_VERB.get(c.verb) == verb and _passed(c)]


def _passed(case: Case) -> bool:
    on, off, absent = RESULTS[case.id].values()
    return not isinstance(on, Exception) and describe(off) == f"fails: {case.fails}" and \
        not isinstance(absent, Exception)


async def _row(entry, tree: str) -> tuple[str, str, dict[str, str]]:  # noqa: ANN001
    cells: dict[str, str] = {}
    firmware = profile = "?"
    for verb, check in _checks(entry, tree).items():
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
            used = _proven(profile, verb)
            cells[verb] = f"quirk: {', '.join(used)}" if used else "pass"
    return profile, firmware, cells


def render(rows: list[tuple[str, str, dict[str, str]]]) -> str:
    """docs/conformance.md from the on/off results and the matrix rows."""
    lines = [
        "# Conformance matrix",
        "",
        "Generated from the results of `tests/bmc/test_conformance.py` (bmc tier); a test fails when this file",
        "differs from what the results give (`ANYRACK_WRITE_DOCS=1` rewrites it).",
        "",
        "## Quirks, on and off",
        "",
        "Each profile quirk against the emulator showing the symptom it exists for (the symptoms are named once,",
        "in `src/anyrack/bmc/symptoms.py`, for the client and the emulator). *Recorded*: the recording itself",
        "shows the symptom; the symptom-off leg then runs on another tree. Supermicro and sushy have no",
        "recording here: a stand-in tree shows their symptoms by switch.",
        "",
        "| profile | quirk | verb | tree | emulator symptom | symptom on, quirk on | symptom on, quirk off "
        "| symptom off, quirk on |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in CASES:
        legs = [describe(o) for o in RESULTS[case.id].values()]
        symptom = ", ".join(case.switches) or f"recorded (off: {case.off_tree})"
        lines.append(f"| {case.profile} | {case.quirk} | {case.verb} | {case.tree} | {symptom} | " + " | ".join(legs)
                     + " |")
    lines += ["", "Configured but not proven on and off (never credited below):", ""]
    for name in builtin_names():
        profile = get_profile(name)
        for quirk, why in NOT_PROVEN.items():
            if getattr(profile.quirks, quirk) != getattr(Quirks(), quirk):
                lines.append(f"- {name}: `{quirk}` — {why}")
    lines += [
        "",
        "## Verbs against every recorded tree",
        "",
        "Every BMC verb against every recorded tree in `tests/fixtures/redfish/`, served by the emulator over",
        "HTTPS. `pass`: spec behaviour; `quirk: …`: works through profile quirks proven on and off above for",
        "this verb; `unsupported`: the BMC does not allow it (anyrack raises `Unsupported` before writing).",
        "Firmware is the BMC firmware of the recording.",
        "",
        "| tree | profile | BMC firmware | " + " | ".join(VERBS) + " |",
        "|---|---|---|" + "---|" * len(VERBS),
    ]
    for tree, (profile, firmware, cells) in zip(TREES, rows, strict=True):
        lines.append(f"| {tree} | {profile} | {firmware} | " + " | ".join(cells[v] for v in VERBS) + " |")
    return "\n".join(lines) + "\n"


def test_conformance_matrix(bmcs) -> None:  # noqa: ANN001
    for case in CASES:
        _outcomes(bmcs, case)  # the cases deselected in this run
    rows = asyncio.run(_all(bmcs[0]))
    failures = {(t, v): c for t, (_, _, cells) in zip(TREES, rows, strict=True) for v, c in cells.items()
                if c.startswith("FAIL")}
    assert failures == {}
    assert len(rows) == len(TREES) >= 5
    text = render(rows)
    if os.environ.get("ANYRACK_WRITE_DOCS") == "1":
        write_atomic(DOC, text)
    assert DOC.read_text() == text, "docs/conformance.md is stale: run this test with ANYRACK_WRITE_DOCS=1"


async def _all(entries: dict) -> list[tuple[str, str, dict[str, str]]]:
    return list(await asyncio.gather(*(_row(entries[t], t) for t in TREES)))
