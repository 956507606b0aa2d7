"""OpenStack's sushy (Ironic's Redfish client) as an independent client of the emulator, on every fixture tree.

What Ironic does with a node's BMC, through sushy's own resource model, over HTTPS with the lab CA:
list the systems, switch power off and on and read it back, set a one-time boot override and read it
back, list the managers, and insert then eject virtual media wherever the recording has it (sushy's
VirtualMedia.insert_media: the InsertMedia action, or PATCH where the action is absent). A tree where
sushy cannot do one of these fails here, whoever is wrong (the recording, the emulator or sushy).
"""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path

import pytest

from anyrack.lab import BmcEntry, LabOptions, TreeSpec, serve_lab

sushy = pytest.importorskip("sushy", reason="sushy is not installed (dev dependency group)")

pytestmark = pytest.mark.bmc

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures/redfish"
TREES = sorted(p.relative_to(FIXTURES).as_posix() for p in FIXTURES.glob("*/*") if (p / "redfish/v1").is_dir())
IMAGE = "http://192.0.2.10/boot/node.iso"  # never fetched: the emulator records the URL as a BMC does


@pytest.fixture(scope="module")
def bmcs() -> dict[str, BmcEntry]:
    with serve_lab([TreeSpec(FIXTURES / t) for t in TREES], LabOptions()) as entries:
        yield dict(zip(TREES, entries, strict=True))


@contextlib.contextmanager
def connect(entry: BmcEntry):  # noqa: ANN201
    """A sushy root over a session; the session is deleted at the end of the block (left to sushy's __del__,
    the DELETE runs whenever the garbage collector gets to it, inside another request, and hangs there)."""
    # Finalise the previous tree's sushy objects now: their __del__ deletes sessions, and run by the garbage
    # collector in the middle of this tree's request that nested DELETE stalled the request (seen: 254 s).
    gc.collect()
    auth = sushy.auth.SessionOrBasicAuth(username=entry.username, password=entry.password)
    try:
        yield sushy.Sushy(f"{entry.url}/redfish/v1", verify=entry.ca, auth=auth, connect_timeout=10, read_timeout=20)
    finally:
        auth.close()


NO_OVERRIDE = {"hpe/cray-ex235a-mi250x", "hpe/cray-ex4252-4node"}
"""Recordings whose systems have no BootSourceOverride properties (they boot by BootOrder): sushy's
override PATCH must be refused (400), not silently accepted."""
NO_MEDIA = {"hpe/cray-ex235a-mi250x", "hpe/cray-ex4252-4node"}
"""Recordings with no VirtualMedia resource at all."""


def systems_with_reset(root) -> list:  # noqa: ANN001
    """The systems that advertise ComputerSystem.Reset (a GPU baseboard system may not)."""
    systems = [root.get_system(path) for path in root.get_system_collection().members_identities]
    return [s for s in systems if s._actions is not None and s._actions.reset is not None]


def check_power_and_boot(system, overridable: bool) -> None:  # noqa: ANN001
    system.reset_system(sushy.RESET_FORCE_OFF)
    system.refresh()
    assert system.power_state == sushy.POWER_STATE_OFF
    system.reset_system(sushy.RESET_ON)
    system.refresh()
    assert system.power_state == sushy.POWER_STATE_ON
    if not overridable:
        with pytest.raises(sushy.exceptions.BadRequestError):
            system.set_system_boot_options(sushy.BOOT_SOURCE_TARGET_PXE, enabled=sushy.BOOT_SOURCE_ENABLED_ONCE)
        return
    system.set_system_boot_options(sushy.BOOT_SOURCE_TARGET_PXE, enabled=sushy.BOOT_SOURCE_ENABLED_ONCE)
    system.refresh()
    assert (system.boot.target, system.boot.enabled) == (sushy.BOOT_SOURCE_TARGET_PXE, sushy.BOOT_SOURCE_ENABLED_ONCE)


def media_slots(root, systems: list) -> list:  # noqa: ANN001
    """Every VirtualMedia slot under the managers and the systems, CD/DVD slots first."""
    managers = [root.get_manager(path) for path in root.get_manager_collection().members_identities]
    assert managers and all(m.identity for m in managers)
    slots = [m.virtual_media.get_member(p) for m in managers if _has(m, "virtual_media")
             for p in m.virtual_media.members_identities]
    slots += [s.virtual_media.get_member(p) for s in systems if _has(s, "virtual_media")
              for p in s.virtual_media.members_identities]
    return sorted(slots, key=lambda s: not any(t in str(s.media_types).upper() for t in ("CD", "DVD")))


def _has(resource, name: str) -> bool:  # noqa: ANN001
    try:
        getattr(resource, name)
    except sushy.exceptions.MissingAttributeError:
        return False
    return True


@pytest.mark.parametrize("tree", TREES)
def test_sushy_drives_power_boot_managers_and_media(tree: str, bmcs: dict[str, BmcEntry]) -> None:
    with connect(bmcs[tree]) as root:
        systems = systems_with_reset(root)
        assert systems, "sushy found no system it can reset"
        for system in systems:
            check_power_and_boot(system, overridable=tree not in NO_OVERRIDE)
        slots = media_slots(root, systems)
    assert bool(slots) == (tree not in NO_MEDIA)
    if slots:
        slot = slots[0]
        slot.insert_media(IMAGE, inserted=True, write_protected=True)
        slot.refresh()
        assert (slot.image, slot.inserted) == (IMAGE, True)
        slot.eject_media()
        slot.refresh()
        assert not slot.inserted
