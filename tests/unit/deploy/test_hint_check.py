"""A root-device hint checked against the disks discovery read from the BMC, before anything is powered on.

The facts are written as discovery writes them for an HGX-like node: two M.2 boot drives of one model and
eight data NVMe drives (serials and sizes in the style of the recordings in tests/fixtures/redfish).
"""

from __future__ import annotations

import pytest

from anyrack.deploy.disks import check_before_boot, from_facts
from anyrack.facts import NodeFacts
from anyrack.site.deployment import RootDevice

M2 = "SAMSUNG MZ1L2960HCJR-00A07"
DATA = "SSDPF2KE016T9L"


def facts(extra: list[dict] | None = None, complete: bool = True) -> NodeFacts:
    boot = [{"id": f"M2_{i}", "model": M2, "serial": f"S6EXNA0T80{i}", "size_bytes": 960197124096,
             "media": "SSD", "rotational": False, "protocol": "NVMe", "wwn": f"eui.0025388b1111000{i}"}
            for i in range(2)]
    data = [{"id": f"Drive.Bay_{i}", "model": DATA, "serial": f"PHAB12340{i}1P9SGN", "size_bytes": 1600000000000,
             "media": "SSD", "rotational": False, "protocol": "NVMe", "state": "Enabled"} for i in range(8)]
    return NodeFacts.model_validate({"schema": "anyrack.facts/v1", "node": "gpu001",
                                     "collected_at": "2026-12-08T00:00:00Z", "disks": boot + data + (extra or []),
                                     "disks_complete": complete})


def check(hint: dict, node: NodeFacts | None):  # noqa: ANN201
    return check_before_boot(RootDevice.model_validate(hint), node)


@pytest.mark.parametrize(("hint", "drive"), [
    ({"serial": "S6EXNA0T801"}, "M2_1"),
    ({"wwn": "0xEUI.0025388B11110000", "model": M2}, "M2_0"),
    ({"model": M2, "serial": "S6EXNA0T800"}, "M2_0"),
    ({"size_gb": 894, "serial": "S6EXNA0T800"}, "M2_0"),
])
def test_exactly_one_discovered_disk(hint: dict, drive: str) -> None:
    got = check(hint, facts())
    assert (got.verdict, [d.drive for d in got.matched], got.refused) == ("one", [drive], False)
    assert "matches 1 of 10 discovered disks: drive " + drive in got.detail


def test_the_boot_pair_by_model_is_several_naming_both() -> None:
    got = check({"model": M2}, facts())
    assert (got.verdict, got.refused) == ("several", True)
    assert [d.drive for d in got.matched] == ["M2_0", "M2_1"]
    assert "drive M2_0 (894 GiB, solid-state, model SAMSUNG MZ1L2960HCJR-00A07, serial S6EXNA0T800" in got.detail
    assert "S6EXNA0T801" in got.detail and DATA not in got.detail


def test_a_size_no_disk_has_is_none_listing_every_disk() -> None:
    got = check({"size_gb": 3576}, facts())
    assert (got.verdict, got.matched, got.refused) == ("none", (), True)
    assert "matches 0 of 10 discovered disks; disks: drive M2_0 (894 GiB" in got.detail
    assert got.detail.count("drive ") == 10


def test_several_certain_matches_refuse_even_when_the_list_is_incomplete() -> None:
    got = check({"model": DATA}, facts(complete=False))
    assert (got.verdict, len(got.matched)) == ("several", 8)


@pytest.mark.parametrize(("hint", "node", "why"), [
    ({"size_gb": 3576}, facts(complete=False), "disks_complete: false"),
    # a drive whose media type the BMC does not say may be the one rotational disk
    ({"rotational": True}, facts([{"id": "9", "size_bytes": 4000787030016}]), "1 more may match"),
    # one certain match, but a drive with no serial recorded might carry it too
    ({"serial": "S6EXNA0T800"}, facts([{"id": "9"}]), "1 more may match"),
    ({"by_path": "/dev/disk/by-path/pci-0000:c1:00.0-nvme-1"}, facts(), "10 more may match"),
    # the data drives have no WWN recorded: any of them may be the one
    ({"wwn": "eui.0025388b11110000"}, facts(), "8 more may match"),
    ({"serial": "S6EXNA0T800"}, None, "no discovered facts"),
])
def test_what_the_bmc_does_not_say_is_left_to_the_ramdisk(hint: dict, node: NodeFacts | None, why: str) -> None:
    got = check(hint, node)
    assert (got.verdict, got.refused) == ("unknown", False)
    assert why in got.detail


def test_offline_and_absent_drives_are_not_candidates() -> None:
    node = facts([{"id": "3", "state": "UnavailableOffline"}, {"id": "4", "state": "StandbySpare", "model": M2}])
    assert [d.drive for d in from_facts(node)][-1] == "Drive.Bay_7"
    assert check({"serial": "S6EXNA0T800"}, node).verdict == "one"


def test_disks_round_trip_and_older_facts_say_disks_unknown() -> None:
    node = facts()
    again = NodeFacts.model_validate_json(node.to_json())
    assert again == node and again.disks[0].wwn == "eui.0025388b11110000"
    old = NodeFacts.model_validate({"schema": "anyrack.facts/v1", "node": "n", "collected_at": "2026-12-08T00:00:00Z"})
    assert (old.disks, old.disks_complete) == ([], False)
    assert "disks" not in old.to_json()
