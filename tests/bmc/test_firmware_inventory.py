"""Firmware inventory per component: every recorded tree, served by the emulator, read through the BMC layer.

The expected kinds and versions are the recorded ones (tests/fixtures/redfish/*/*/redfish/v1/UpdateService/
FirmwareInventory), written out here so that a change in classification cannot silently change what
"right" means. One lab serves every tree; each tree is read once, by inventory() (the facts) and by
firmware() (the verb), which must agree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from anyrack.bmc import connect
from anyrack.facts import NodeFacts
from anyrack.lab.emulator import LabOptions, TreeSpec, serve_lab

pytestmark = pytest.mark.bmc
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures/redfish"
TREES = sorted(str(p.parent.relative_to(FIXTURES)) for p in FIXTURES.glob("*/*/SOURCE.md"))
SYSTEM = {"hpe/cray-ex4252-4node": "Node2"}

# tree → {kind: sorted versions (one entry per component; None: the BMC reports no version)}
EXPECTED: dict[str, dict[str, list[str | None]]] = {
    "ami/megarac-h262-z63": {"bios": ["C27"], "bmc": ["12.84.13"], "cpld": ["ff"]},
    "dell/idrac9-r750": {
        "bios": ["1.8.2"], "bmc": ["6.00.30.00"], "cpld": ["1.0.5"], "psu": ["00.2A.2B"] * 2,
        "nic": ["20.31.10.14", "20.31.10.14", "21.80.16.95", "21.80.16.95", "21.80.9", "21.80.9", "24.40.10.00"],
        "other": ["2.1.3"] * 3 + ["21.03.10", "3.48", "4.0.1", "4301A56", "6.00.30.00", "7.2.2.0"]},
    "hpe/cray-ex235a-mi250x": {
        "bmc": ["nc.1.6.16-21-prod-master.arm.2022-01-25T16:23:33+00:00.28331ff"], "bios": ["ex235a.bios-1.3.6"],
        "gpu": ["113-D65201-Y36-592042"], "cpld": ["2.02", "2.02", "4.05"], "nic": [None],
        "other": ["1.11-tlnc", "1.5.27-ESM", "1.5.27-ESM", "1.5.27-ESM", "1.5.27-ESM", "3.14",
                  "nc.1.6.16-21-prod-master.arm.2022-01-25T16:23:33+00:00.28331ff"]},
    # Node2 of the four: the enclosure's BMC and FPGAs, and Node2's own BIOS, NICs and PSU only
    "hpe/cray-ex4252-4node": {
        "bmc": ["nc.1.8.3-10-shasta-release.arm.2023-04-26T21:09:35+00:00.a8e719d"], "bios": ["ex4252.bios-1.3.0"],
        "cpld": ["2.02"] * 4 + ["4.0a"] * 2, "nic": [None], "psu": ["1.19"],
        "other": ["1.11-ge900731124-hmc", "1.5.41", "1.5.41",
                  "nc.1.7.9-8-shasta-release.arm.2022-07-22T16:26:47+00:00.138c518"]},
    "hpe/ilo5-xl675d": {
        "bmc": ["2.70 May 16 2022"], "bios": ["A47 v2.58 (05/19/2022)"], "gpu": ["92.00.19.00.10"] * 8,
        "nvswitch": ["92.10.14.00.01"], "cpld": ["0x0F"], "psu": ["1.00", "2.03", "238.00", "3.11"],
        "nic": [None, None, "1.3082.0"],
        "other": [None, "1.6.10", "2.5", "3.00", "5.00", "9.1.0 Build 27", "HPG1"]},
    "lenovo/xcc-sr670v2": {
        "bmc": ["20E-1.40"], "bios": ["12A-1.02"], "psu": ["7.52"] * 4,
        "other": ["08B-3.07", "08B-3.07", "08G-3.07", "2CV1L028", "2CV1L028"]},
    "openbmc/hgx-h100-baseboard": {"bmc": ["HGX-22.10-1-rc80"], "gpu": ["96.00.74.00.1C"] * 8},
}


@pytest.fixture(scope="module")
def read() -> Iterator[dict[str, tuple[NodeFacts, list]]]:
    async def one(entry, tree: str) -> tuple[NodeFacts, list]:  # noqa: ANN001
        async with connect(f"redfish+{entry.url}", entry.username, entry.password, ca_file=entry.ca,
                           node="n1", system=SYSTEM.get(tree)) as bmc:
            return await bmc.inventory("n1"), await bmc.firmware()

    async def every(entries) -> list:  # noqa: ANN001
        return list(await asyncio.gather(*(one(e, t) for e, t in zip(entries, TREES, strict=True))))

    with serve_lab([TreeSpec(FIXTURES / t) for t in TREES], LabOptions()) as entries:
        yield dict(zip(TREES, asyncio.run(every(entries)), strict=True))


def _by_kind(pairs: list[tuple[str, str | None]]) -> dict[str, list[str | None]]:
    out: dict[str, list[str | None]] = {}
    for kind, version in pairs:
        out.setdefault(kind, []).append(version)
    return {k: sorted(v, key=lambda x: (x is not None, x or "")) for k, v in out.items()}


def test_every_tree_is_expected() -> None:
    assert sorted(EXPECTED) == TREES


@pytest.mark.parametrize("tree", TREES)
def test_components_by_kind(read: dict[str, tuple[NodeFacts, list]], tree: str) -> None:
    facts, items = read[tree]
    assert _by_kind([(c.kind, c.version) for c in facts.components]) == EXPECTED[tree]
    assert facts.components_complete is True and not facts.problems
    # the verb and the facts agree, member for member
    assert [(i.id, i.kind, i.version or None) for i in items] == [(c.id, c.kind, c.version) for c in facts.components]
    assert all(c.path and c.path.startswith("/redfish/v1/UpdateService/FirmwareInventory") for c in facts.components)


def test_related_items_and_updateable_are_kept(read: dict[str, tuple[NodeFacts, list]]) -> None:
    xcc = {c.id: c for c in read["lenovo/xcc-sr670v2"][0].components}
    assert xcc["PSU3"].related == "/redfish/v1/Chassis/1/Power#/PowerSupplies/2"
    assert xcc["UEFI"].related == "/redfish/v1/Systems/1/Bios" and xcc["UEFI"].updateable is True
    assert "BMC-Backup" not in xcc  # the backup image is not running firmware (lenovo profile)
    assert xcc["Disk1"].updateable is False
    cray = {c.id for c in read["hpe/cray-ex4252-4node"][0].components}
    assert "Node2.BIOS" in cray and not {"Node0.BIOS", "Node1.BIOS", "Node3.BIOS"} & cray
