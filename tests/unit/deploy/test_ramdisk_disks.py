"""The deploy ramdisk's own disk listing (roles/pxe_server/files/deploy/init, ``list_disks``), run by a real
POSIX shell over a sysfs-shaped tree built from the HGX lsblk shape, read back by the deploy's parser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from anyrack.deploy.disks import choose, from_lsblk, from_ramdisk
from anyrack.site.deployment import RootDevice

ROOT = Path(__file__).resolve().parents[3]
INIT = ROOT / "roles/pxe_server/files/deploy/init"
HGX = from_lsblk(json.loads((ROOT / "tests/fixtures/deploy/lsblk-hgx-2boot-8data.json").read_text()))


def _functions() -> str:
    text = INIT.read_text()
    return re.search(r"# disks: begin.*?\n(.*)# disks: end", text, re.S).group(1)


def _sysfs(root: Path) -> None:
    """/sys/block and /dev/disk/by-path as an NVMe server shows them (controller facts under device/)."""
    for i, disk in enumerate(HGX):
        block = root / "sys/block" / disk.name
        (block / "queue").mkdir(parents=True)
        (block / "device").mkdir()
        (block / "size").write_text(f"{disk.size_bytes // 512}\n")
        (block / "removable").write_text(f"{int(disk.removable)}\n")
        (block / "queue/rotational").write_text(f"{int(disk.rotational)}\n")
        if disk.serial:
            (block / "device/serial").write_text(f"{disk.serial}    \n")  # NVMe pads with blanks
            (block / "wwid").write_text(f"{disk.wwn}\n")
        (block / "device/model").write_text(f"{disk.model}\n")
        links = root / "dev/disk/by-path"
        links.mkdir(parents=True, exist_ok=True)
        os.symlink(f"../../{disk.name}", links / f"pci-0000:{i + 0x18:02x}:00.0-nvme-1")
    for skipped in ("loop0", "sr0"):
        (root / "sys/block" / skipped).mkdir()
        (root / "sys/block" / skipped / "size").write_text("8\n")


@pytest.mark.skipif(not shutil.which("sh"), reason="no POSIX shell")
def test_the_ramdisk_lists_what_lsblk_sees_and_the_hint_picks_one(tmp_path: Path) -> None:
    _sysfs(tmp_path)
    out = subprocess.run(["sh", "-c", _functions() + "\nlist_disks"], env={"PATH": os.environ["PATH"],
                         "ar_sysroot": str(tmp_path)}, capture_output=True, text=True, check=True).stdout
    listed = from_ramdisk(out.replace("+", " "))  # what aiohttp's form parser hands the callback
    assert [d.name for d in listed] == sorted(d.name for d in HGX)  # loop and sr devices are left out
    by_name = {d.name: d for d in listed}
    for disk in HGX:
        got = by_name[disk.name]
        assert (got.size_bytes, got.rotational, got.removable, got.serial, got.wwn, got.model) == \
            (disk.size_bytes, disk.rotational, disk.removable, disk.serial, disk.wwn, disk.model)
    assert by_name["nvme1n1"].by_path == "/dev/disk/by-path/pci-0000:19:00.0-nvme-1"
    assert choose(listed, RootDevice(by_path="/dev/disk/by-path/pci-0000:19:00.0-nvme-1")).path == "/dev/nvme1n1"


def test_separators_in_a_value_cannot_forge_a_disk(tmp_path: Path) -> None:
    block = tmp_path / "sys/block/vda"
    (block / "device").mkdir(parents=True)
    (block / "size").write_text("8388608\n")
    (block / "device/model").write_text("EVIL;vdz,1,0,0,,,x,&disk=%41\n")
    out = subprocess.run(["sh", "-c", _functions() + "\nlist_disks"], env={"PATH": os.environ["PATH"],
                         "ar_sysroot": str(tmp_path)}, capture_output=True, text=True, check=True).stdout
    listed = from_ramdisk(out)
    assert [(d.name, d.size_bytes, d.model) for d in listed] == [("vda", 4 * 2**30, "EVILvdz100xdisk41")]
