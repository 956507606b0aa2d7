"""Root-device hints matched against disk listings (lsblk --json shapes and the ramdisk's own listing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anyrack.deploy.disks import Disk, NoSingleDisk, choose, from_lsblk, from_ramdisk
from anyrack.site.deployment import RootDevice

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures/deploy"
HGX = from_lsblk(json.loads((FIXTURES / "lsblk-hgx-2boot-8data.json").read_text()))
VM = from_lsblk(json.loads((FIXTURES / "lsblk-vm-virtio-old-strings.json").read_text()))


def test_listings_keep_whole_disks_with_their_facts() -> None:
    assert [d.name for d in HGX][:3] == ["nvme0n1", "nvme1n1", "nvme2n1"] and len(HGX) == 11  # the CD is a rom
    assert HGX[0] == Disk("nvme0n1", 960197124096, False, False, "S6EWNA0T100001", "eui.002538b131a00001",
                          "SAMSUNG MZ1L2960HCJR-00A07")
    assert HGX[-1].removable and HGX[-1].size_bytes == 0
    assert [(d.name, d.rotational, d.removable, d.size_bytes) for d in VM] == [
        ("vda", True, False, 4 * 2**30), ("vdb", True, False, 2**30)]  # the old all-strings shape


@pytest.mark.parametrize(("hint", "chosen"), [
    ({"serial": "S6EWNA0T100002"}, "nvme1n1"),
    ({"model": "SAMSUNG MZ1L2960HCJR-00A07", "serial": "S6EWNA0T100001"}, "nvme0n1"),
    ({"wwn": "0xEUI.002538B131A00001"}, "nvme0n1"),  # case and 0x prefix do not matter
    ({"size_gb": 3576, "serial": "S64HNE0R200007"}, "nvme9n1"),
])
def test_exactly_one_match_is_chosen(hint: dict, chosen: str) -> None:
    assert choose(HGX, RootDevice(**hint)).name == chosen


def test_the_hgx_boot_pair_by_model_is_refused_with_both_candidates() -> None:
    with pytest.raises(NoSingleDisk) as err:
        choose(HGX, RootDevice(model="SAMSUNG MZ1L2960HCJR-00A07"))
    assert str(err.value).startswith("root_device {model=SAMSUNG MZ1L2960HCJR-00A07} matches 2 of 10 disks; "
                                     "nothing written; matches: /dev/nvme0n1 (894 GiB, solid-state, model SAMSUNG")
    assert "/dev/nvme1n1 (894 GiB" in str(err.value) and "nvme2n1" not in str(err.value)


@pytest.mark.parametrize("hint", [{"size_gb": 3576}, {"rotational": False}])
def test_a_hint_matching_the_data_drives_is_refused(hint: dict) -> None:
    with pytest.raises(NoSingleDisk, match=r"matches (8|10) of 10 disks; nothing written"):
        choose(HGX, RootDevice(**hint))


def test_a_hint_matching_nothing_lists_every_disk() -> None:
    with pytest.raises(NoSingleDisk) as err:
        choose(VM, RootDevice(serial="nope"))
    assert str(err.value) == ("root_device {serial=nope} matches 0 of 2 disks; nothing written; disks: "
                              "/dev/vda (4 GiB, rotational); /dev/vdb (1 GiB, rotational, serial marker-b)")


def test_the_ramdisk_listing_round_trips_and_skips_garbage() -> None:
    text = ("vda,4294967296,1,0,,,,/dev/disk/by-path/pci-0000:00:07.0;"
            "vdb,1073741824,1,0,marker-b,,QEMU HARDDISK,/dev/disk/by-path/pci-0000:00:08.0;broken;sr0,x,1,1,,,,")
    disks = from_ramdisk(text)
    assert [d.name for d in disks] == ["vda", "vdb"] and disks[1].model == "QEMU HARDDISK"
    assert choose(disks, RootDevice(by_path="/dev/disk/by-path/pci-0000:00:08.0")).name == "vdb"
    assert choose(disks, RootDevice(model="QEMU HARDDISK")).path == "/dev/vdb"
