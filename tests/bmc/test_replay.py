"""Replay: each recorded vendor tree, served by the emulator over HTTPS, through the BMC layer.

The expected values are the real ones in the recorded files (tests/fixtures/redfish/*/*), written
out here so that a change in parsing cannot silently change what "right" means. Every write verb
is checked by reading back, and BIOS changes by the reset that applies them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from anyrack.bmc import connect
from anyrack.bmc.api import Controller
from anyrack.errors import Unsupported
from anyrack.lab.emulator import BmcEntry, LabOptions, TreeSpec, serve_lab

pytestmark = pytest.mark.bmc
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures/redfish"


@dataclass(frozen=True)
class Recorded:
    tree: str
    profile: str
    vendor: str
    model: str
    serial: str
    bmc_firmware: str
    bios_version: str | None
    gpu_model: str
    gpu_serials: list[str]
    macs: list[str]
    bios_attribute: tuple[str, str, str] | None = None
    """(name, recorded value, a new value) for the BIOS round trip; None where the tree has no Bios."""
    persistent_boot: bool = True
    """False where the BMC allows only one-time overrides (BootSourceOverrideEnabled@AllowableValues)."""
    disks: tuple[tuple[str, str | None, int | None, str | None], ...] = ()
    """(id, serial, size in bytes, wwn) of each Drive under Systems/*/Storage, in the recording's order."""
    disks_complete: bool = True
    """False where the system links no Storage: its disks are unknown."""


RECORDED = [
    Recorded(
        "dell/idrac9-r750", "dell", "Dell Inc.", "PowerEdge R750", "CNIVC0014M0388", "6.00.30.00", "1.8.2",
        "NVIDIA H100 PCIe", ["1654422007043"],
        ["70:b5:e8:f0:52:dc", "70:b5:e8:f0:52:dd", "b8:3f:d2:90:97:c4", "b8:3f:d2:a4:1b:d2", "b8:3f:d2:a4:1b:d3",
         "e4:3d:1a:13:27:f0", "e4:3d:1a:13:27:f1"],
        ("AcPwrRcvry", "Last", "Off"),
        disks=tuple((f"Disk.Bay.{bay}:Enclosure.Internal.0-1", serial, 1920383410176, None)
                    for bay, serial in ((2, "61P0A06CTCD8"), (1, "61M0A08ZTCD8"), (0, "61X0A002TCD8"))),
    ),
    Recorded(
        # iLO 5 lists the GPUs only in OEM resources (PCIDevices + Chassis Devices).
        "hpe/ilo5-xl675d", "hpe", "HPE", "ProLiant XL675d Gen10 Plus", "JS05NP0896", "iLO 5 v2.70",
        "A47 v2.58 (05/19/2022)", "NVIDIA A100-SXM4-40GB",
        ["1323620023536", "1323620016558", "1323820022112", "1323820021985", "1323820020860", "1323820021721",
         "1323620024311", "1323820022124"],
        ["98:03:9b:1e:de:fc", "98:03:9b:7f:c3:38", "b4:96:91:67:d8:e8", "b4:96:91:67:d8:e9", "b4:96:91:67:d8:ea",
         "b4:96:91:67:d8:eb"],
        ("AcpiHpet", "Enabled", "Disabled"),
        # bay 3 is recorded UnavailableOffline with nothing known: listed (a disk is there), every field unknown
        disks=(("0", "21122DE9C12C", 960197124096, "31402ec014cd7db0"), ("3", None, None, None)),
    ),
    Recorded(
        # XCC: GPU Processors carry no Model (the PCIeDevice's name is used); no host MACs are recorded.
        "lenovo/xcc-sr670v2", "lenovo", "Lenovo", "ThinkSystem SR670 V2", "J101RZ43", "TGBT20E 1.40 2021-05-17",
        "U8E112A", "NVIDIA Quadro RTX A6000", ["1322221026831", "1322221028609"], [],
        ("AdvancedRAS_MachineCheckRecovery", "Enabled", "Disabled"), persistent_boot=False,
        disks=(("Drive.Bay_0", "PHAB1234034Z1P9SGN", 1600000000000, None),
               ("Drive.Bay_1", "PHAB123401GY1P9SGN", 1600000000000, None)),
    ),
    Recorded(
        # MegaRAC: Systems/Self and Managers/Self; one MAC is reported on two interfaces (counted once);
        # no GPUs in this 2U4N node.
        "ami/megarac-h262-z63", "ami", "GIGABYTE", "H262-Z63-00", "GJG9NF512A000302", "12.84.13", "C27",
        "", [], ["b4:2e:99:ba:de:15", "b4:2e:99:ba:de:16"], ("FBO001", "UEFI", "LEGACY"),
        disks=(("1", "S455NY0M831393", 2013667524608, None),),  # the serial is recorded space-padded
    ),
    Recorded(
        # Hand-written layout (see its SOURCE.md): GPUs in HGX_Baseboard_0, identity on the chassis.
        "openbmc/hgx-h100-baseboard", "openbmc", "NVIDIA", "HGX H100 8-GPU", "1654323000123", "HGX-22.10-1-rc80",
        None, "NVIDIA H100 80GB HBM3", [f"165432301{i:04d}" for i in range(1, 9)], [], None,
        disks_complete=False,
    ),
]


@pytest.fixture(scope="module")
def lab() -> Iterator[dict[str, BmcEntry]]:
    trees = [TreeSpec(FIXTURES / r.tree) for r in RECORDED]
    with serve_lab(trees, LabOptions(power_delay_s=0.3)) as entries:
        yield {r.tree: e for r, e in zip(RECORDED, entries, strict=True)}


def controller(entry: BmcEntry) -> Controller:
    return connect(f"redfish+{entry.url}", entry.username, entry.password, ca_file=entry.ca, node="n1")


def run(coro):  # noqa: ANN001, ANN201
    return asyncio.run(coro)


@pytest.mark.parametrize("rec", RECORDED, ids=[r.tree for r in RECORDED])
def test_inventory_matches_the_recording(lab: dict[str, BmcEntry], rec: Recorded) -> None:
    async def go():  # noqa: ANN202
        async with controller(lab[rec.tree]) as bmc:
            return await bmc.inventory("n1")

    facts = run(go())
    assert facts.bmc.profile == rec.profile
    assert (facts.system.manufacturer, facts.system.model, facts.system.serial) == (rec.vendor, rec.model, rec.serial)
    assert facts.bmc.firmware == rec.bmc_firmware
    assert facts.system.bios_version == rec.bios_version
    assert [g.model for g in facts.gpus] == [rec.gpu_model] * len(rec.gpu_serials)
    assert [g.serial for g in facts.gpus] == rec.gpu_serials
    assert facts.macs == rec.macs
    assert facts.nics_complete is bool(rec.macs)
    assert facts.bmc.url == f"redfish+{lab[rec.tree].url}"
    assert [(d.id, d.serial, d.size_bytes, d.wwn) for d in facts.disks] == list(rec.disks)
    assert facts.disks_complete is rec.disks_complete
    assert facts.problems == []


@pytest.mark.parametrize("rec", RECORDED, ids=[r.tree for r in RECORDED])
def test_power_round_trip(lab: dict[str, BmcEntry], rec: Recorded) -> None:
    async def go() -> list[str]:
        async with controller(lab[rec.tree]) as bmc:
            assert "off" in await bmc.allowed_power_actions()
            states = [await bmc.power("off", wait=15), await bmc.power_state(), await bmc.power("on", wait=15)]
            states.append(await bmc.power("on"))  # already on: a no-op, not an error
            return states

    assert run(go()) == ["Off", "Off", "On", "On"]


@pytest.mark.parametrize("rec", RECORDED, ids=[r.tree for r in RECORDED])
def test_boot_override_round_trip(lab: dict[str, BmcEntry], rec: Recorded) -> None:
    async def go():  # noqa: ANN202
        async with controller(lab[rec.tree]) as bmc:
            once = await bmc.set_boot_override("pxe")
            if rec.persistent_boot:
                always = await bmc.set_boot_override("disk", persistent=True)
            else:
                with pytest.raises(Unsupported, match="a persistent boot override is not supported by n1"):
                    await bmc.set_boot_override("disk", persistent=True)
                always = await bmc.set_boot_override("disk")
            read = await bmc.boot_override()
            cleared = await bmc.set_boot_override("none")
            return once, always, read, cleared

    once, always, read, cleared = run(go())
    assert (once.target, once.persistent) == ("pxe", False)
    assert (always.target, always.persistent) == ("disk", rec.persistent_boot)
    assert read == always
    assert cleared.target == "none"


@pytest.mark.parametrize("rec", RECORDED, ids=[r.tree for r in RECORDED])
def test_virtual_media_round_trip(lab: dict[str, BmcEntry], rec: Recorded) -> None:
    image = "http://127.0.0.1:8080/images/deploy.iso"

    async def go():  # noqa: ANN202
        async with controller(lab[rec.tree]) as bmc:
            return await bmc.insert_media(image), await bmc.media_status(), await bmc.eject_media()

    inserted, status, ejected = run(go())
    assert (inserted.inserted, inserted.image) == (True, image)
    assert status == inserted
    assert not ejected.inserted


@pytest.mark.parametrize("rec", [r for r in RECORDED if r.bios_attribute], ids=lambda r: r.tree)
def test_bios_pending_then_applied_on_reset(lab: dict[str, BmcEntry], rec: Recorded) -> None:
    assert rec.bios_attribute is not None
    name, recorded, new = rec.bios_attribute

    async def go():  # noqa: ANN202
        async with controller(lab[rec.tree]) as bmc:
            before = await bmc.bios()
            staged = await bmc.set_bios({name: new})
            await bmc.power("reset", wait=15)
            return before, staged, await bmc.bios()

    before, staged, after = run(go())
    assert before.current[name] == recorded and name not in before.pending
    assert staged.current[name] == recorded and staged.pending[name] == new
    assert after.current[name] == new and name not in after.pending


def test_firmware_inventory(lab: dict[str, BmcEntry]) -> None:
    async def go():  # noqa: ANN202
        async with controller(lab["openbmc/hgx-h100-baseboard"]) as bmc:
            return await bmc.firmware()

    items = run(go())
    assert len(items) == 9
    assert {i.id: i.version for i in items}["HGX_FW_GPU_SXM_3"] == "96.00.74.00.1C"
