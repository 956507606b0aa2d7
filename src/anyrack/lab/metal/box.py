"""The metal lab's OS image: Debian 12 with a kernel, as a bootable disk, a deploy image and a Vagrant box.

``build`` runs mmdebstrap once (with linux-image-amd64, so the image boots on its own), lays the tree
onto a partitioned raw disk (MBR + one ext4 partition + extlinux), then derives from that disk:

* ``disk.raw.gz`` (+ ``.sha256``): what the deploy ramdisk streams onto a blank machine's disk;
* ``vmlinuz`` and ``initrd.img``: the same kernel and initramfs, which the PXE server hands to the
  ramdisk (initramfs-tools' image with busybox; the deploy overlay replaces its ``/init``);
* ``box.img`` + ``anyrack-debian12.box``: a vagrant-libvirt box (qcow2, metadata.json, Vagrantfile).

Everything is cached under one directory named by a key over the package list, the public key
baked in and this module's format version, so a second ``build`` returns at once.
The disk's filesystem is built by ``mkfs.ext4 -d`` at an offset; it is loop-mounted (offset, not
partition devices: ``losetup -P`` makes none here) only for extlinux to install itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from anyrack.errors import AnyrackError
from anyrack.lab.hostimage import LAB_USER, MIRROR, SUITE
from anyrack.lockfile import exclusive

FORMAT = "v2"
PACKAGES = ("systemd", "systemd-sysv", "dbus", "udev", "kmod", "openssh-server", "python3", "sudo",
            "iproute2", "ca-certificates", "procps", "less", "linux-image-amd64", "initramfs-tools",
            "busybox", "e2fsprogs")
# Not needed on a lab VM; every MiB is uploaded to libvirt by Vagrant and streamed by the deploy ramdisk
EXCLUDE = ("/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*", "/usr/share/info/*",
           "/lib/modules/*/kernel/sound/*", "/lib/modules/*/kernel/drivers/media/*",
           "/lib/modules/*/kernel/drivers/net/wireless/*", "/lib/modules/*/kernel/drivers/gpu/*",
           "/lib/modules/*/kernel/drivers/bluetooth/*", "/lib/modules/*/kernel/drivers/staging/*",
           "/lib/modules/*/kernel/drivers/iio/*", "/lib/modules/*/kernel/drivers/hid/*",
           "/lib/modules/*/kernel/drivers/usb/*", "/lib/modules/*/kernel/drivers/infiniband/*",
           "/lib/modules/*/kernel/drivers/isdn/*", "/lib/modules/*/kernel/drivers/input/*",
           "/lib/modules/*/kernel/net/wireless/*", "/lib/modules/*/kernel/net/bluetooth/*",
           "/lib/modules/*/kernel/net/mac80211/*")
DISK_MIB = 2048
PART_OFFSET = 1024 * 1024
ROOT_LABEL = "anyrack-root"
BOX_NAME = "anyrack/debian12"
MBR_BIN = Path("/usr/lib/syslinux/mbr/mbr.bin")
EXTLINUX_CONF = f"""\
DEFAULT debian
TIMEOUT 1
PROMPT 0
LABEL debian
  KERNEL /boot/vmlinuz
  INITRD /boot/initrd.img
  APPEND root=LABEL={ROOT_LABEL} ro console=tty0 console=ttyS0,115200 quiet
"""
NETWORK = """\
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no

[DHCPv4]
UseHostname=yes
"""
BOX_VAGRANTFILE = f"""\
# The box's own defaults: anyrack's lab user and key, not Vagrant's insecure key.
Vagrant.configure("2") do |config|
  config.ssh.username = "{LAB_USER}"
  config.ssh.insert_key = false
  config.vm.synced_folder ".", "/vagrant", disabled: true
end
"""

Progress = Callable[[str], None]


class BoxError(AnyrackError):
    """Building the metal lab's image failed."""

    template = "metal box: {what}: {detail}"


@dataclass(frozen=True)
class Box:
    """The built artefacts, all in ``dir``."""

    dir: Path

    @property
    def disk_gz(self) -> Path:
        return self.dir / "disk.raw.gz"

    @property
    def kernel(self) -> Path:
        return self.dir / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.dir / "initrd.img"

    @property
    def qcow2(self) -> Path:
        return self.dir / "box.img"

    @property
    def box(self) -> Path:
        return self.dir / "anyrack-debian12.box"

    @property
    def sha256(self) -> str:
        return (self.dir / "disk.raw.gz.sha256").read_text().split()[0]


def _run(what: str, cmd: Sequence[str]) -> str:
    proc = subprocess.run(list(cmd), text=True, capture_output=True)
    if proc.returncode != 0:
        raise BoxError(what=what, detail=(proc.stderr or proc.stdout).strip()[-1500:] or f"exit {proc.returncode}")
    return proc.stdout


def missing_prerequisites() -> list[str]:
    tools = {"mmdebstrap": "mmdebstrap", "mkfs.ext4": "e2fsprogs", "sfdisk": "fdisk", "extlinux": "extlinux",
             "qemu-img": "qemu-utils"}
    missing = [f"{tool} (Debian package {pkg})" for tool, pkg in tools.items() if shutil.which(tool) is None]
    if not MBR_BIN.exists():
        missing.append(f"{MBR_BIN} (Debian package syslinux-common)")
    return missing


def box_key(pubkey: str, packages: Sequence[str] = PACKAGES, apt_url: str = "") -> str:
    text = "\n".join([SUITE, MIRROR, LAB_USER, FORMAT, pubkey.strip(), apt_url, *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _hooks(pubkey: str, apt_url: str) -> list[str]:
    sudoers = f"{LAB_USER} ALL=(ALL) NOPASSWD:ALL"
    home = f"/home/{LAB_USER}"
    hostkeys = ('printf "[Unit]\\nBefore=ssh.service\\nConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\\n'
                '[Service]\\nType=oneshot\\nExecStart=/usr/bin/ssh-keygen -A\\n'
                '[Install]\\nWantedBy=multi-user.target\\n" > "$1/etc/systemd/system/anyrack-hostkeys.service"')
    return [
        f'chroot "$1" useradd -m -s /bin/bash {LAB_USER}',
        f'echo "{sudoers}" > "$1/etc/sudoers.d/{LAB_USER}" && chmod 0440 "$1/etc/sudoers.d/{LAB_USER}"',
        f'mkdir -p "$1{home}/.ssh" && echo "{pubkey.strip()}" > "$1{home}/.ssh/authorized_keys"',
        f'chroot "$1" chown -R {LAB_USER}: {home}/.ssh && chmod 700 "$1{home}/.ssh"',
        f"printf '{NETWORK}' > \"$1/etc/systemd/network/80-anyrack-dhcp.network\"",
        f'printf "LABEL={ROOT_LABEL} / ext4 errors=remount-ro 0 1\\n" > "$1/etc/fstab"',
        'chroot "$1" systemctl enable systemd-networkd ssh',
        'rm -f "$1"/etc/ssh/ssh_host_*',
        hostkeys,
        'chroot "$1" systemctl enable anyrack-hostkeys.service',
        # the hostname comes from DHCP (the PXE server names each MAC): no static one in the image
        'rm -f "$1/etc/hostname" "$1/etc/machine-id" && touch "$1/etc/machine-id"',
        'printf "127.0.0.1\\tlocalhost\\n" > "$1/etc/hosts"',
        # the VMs reach Debian only through the lab's apt cache (no NAT)
        *([f'printf "deb {apt_url}/debian {SUITE} main\\ndeb {apt_url}/debian {SUITE}-updates main\\n"'
           ' > "$1/etc/apt/sources.list"'] if apt_url else []),
        'ln -sf "$(basename "$(ls "$1"/boot/vmlinuz-* | tail -1)")" "$1/boot/vmlinuz"',
        'ln -sf "$(basename "$(ls "$1"/boot/initrd.img-* | tail -1)")" "$1/boot/initrd.img"',
        'rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*_dists_*',
    ]


@contextlib.contextmanager
def _mounted(disk: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="anyrack-box-") as mnt:
        _run("mount", ["mount", "-o", f"loop,offset={PART_OFFSET}", str(disk), mnt])
        try:
            yield Path(mnt)
        finally:
            _run("umount", ["umount", mnt])


def _make_disk(root: Path, disk: Path) -> None:
    disk.unlink(missing_ok=True)
    with disk.open("wb") as f:
        f.truncate(DISK_MIB * 1024 * 1024)
    table = f"label: dos\nstart={PART_OFFSET // 512}, type=83, bootable\n"
    proc = subprocess.run(["sfdisk", "--quiet", str(disk)], input=table, text=True, capture_output=True)
    if proc.returncode != 0:
        raise BoxError(what="sfdisk", detail=proc.stderr.strip())
    size_k = (DISK_MIB * 1024 * 1024 - PART_OFFSET) // 1024
    # no 64bit: extlinux reads the filesystem itself and wants the classic block-group layout
    _run("mkfs.ext4", ["mkfs.ext4", "-q", "-F", "-L", ROOT_LABEL, "-O", "^64bit", "-E", f"offset={PART_OFFSET}",
                       "-d", str(root), str(disk), f"{size_k}k"])
    with _mounted(disk) as mnt:
        (mnt / "boot/extlinux").mkdir(exist_ok=True)
        (mnt / "boot/extlinux/extlinux.conf").write_text(EXTLINUX_CONF)
        _run("extlinux", ["extlinux", "--install", str(mnt / "boot/extlinux")])
    with disk.open("r+b") as f:
        f.write(MBR_BIN.read_bytes()[:440])


def _write_box(box: Box) -> None:
    virtual_gb = DISK_MIB // 1024
    with tempfile.TemporaryDirectory(prefix="anyrack-box-", dir=box.dir) as tmp:
        t = Path(tmp)
        (t / "metadata.json").write_text(json.dumps({"provider": "libvirt", "format": "qcow2",
                                                      "virtual_size": virtual_gb}) + "\n")
        (t / "Vagrantfile").write_text(BOX_VAGRANTFILE)
        os.link(box.qcow2, t / "box.img")
        partial = box.box.with_suffix(".partial")
        _run("tar", ["tar", "-C", tmp, "-cf", str(partial), "metadata.json", "Vagrantfile", "box.img"])
        partial.rename(box.box)


def build(cache_dir: Path, pubkey: str, progress: Progress = print, *, mirror: str = MIRROR, apt_url: str = "") -> Box:
    """Build (or reuse) the image for ``pubkey``; every artefact lands in one cache directory.

    ``apt_url`` (an apt-cacher-ng such as http://10.78.0.1:3142) becomes the image's sources.list.
    """
    if missing := missing_prerequisites():
        raise BoxError(what="prerequisites", detail="; ".join(missing))
    box = Box(cache_dir / f"debian-{SUITE}-{box_key(pubkey, apt_url=apt_url)}")
    # two labs (or two triggers of one) may share the cache: one builds, the other waits and reuses it
    with exclusive(cache_dir / ".build.lock", what="metal lab box build", progress=progress):
        return _build(box, cache_dir, pubkey, progress, mirror=mirror, apt_url=apt_url)


def _build(box: Box, cache_dir: Path, pubkey: str, progress: Progress, *, mirror: str, apt_url: str) -> Box:
    if (box.dir / ".complete").exists():
        progress(f"box: cached {box.dir}")
        return box
    started = time.monotonic()
    shutil.rmtree(box.dir, ignore_errors=True)
    box.dir.mkdir(parents=True)
    root = box.dir / "root"
    progress(f"box: mmdebstrap {SUITE} with a kernel ({len(PACKAGES)} packages, a few minutes)")
    cmd = ["mmdebstrap", "--variant=minbase", "--mode=root", f"--include={','.join(PACKAGES)}"]
    cmd += [f"--dpkgopt=path-exclude={p}" for p in EXCLUDE]
    cmd += [f"--customize-hook={hook}" for hook in _hooks(pubkey, apt_url)]
    _run("mmdebstrap", [*cmd, SUITE, str(root), mirror])
    for name, link in (("vmlinuz", root / "boot/vmlinuz"), ("initrd.img", root / "boot/initrd.img")):
        shutil.copy(root / "boot" / os.readlink(link), box.dir / name)
    progress(f"box: disk image ({DISK_MIB} MiB, ext4 + extlinux)")
    disk = box.dir / "disk.raw"
    _make_disk(root, disk)
    shutil.rmtree(root)
    progress("box: deploy image (gzip) and qcow2")
    with box.disk_gz.open("wb") as out:
        subprocess.run(["gzip", "-1", "-c", str(disk)], stdout=out, check=True)
    digest = hashlib.sha256(box.disk_gz.read_bytes()).hexdigest()
    (box.dir / "disk.raw.gz.sha256").write_text(f"{digest}  disk.raw.gz\n")
    # compressed clusters: a third of the bytes for Vagrant to upload; reads decompress, writes go to the overlay
    _run("qemu-img", ["qemu-img", "convert", "-c", "-O", "qcow2", str(disk), str(box.qcow2)])
    disk.unlink()
    _write_box(box)
    (box.dir / ".complete").touch()
    for old in cache_dir.glob(f"debian-{SUITE}-*"):  # earlier builds: one box is kept
        if old != box.dir:
            shutil.rmtree(old, ignore_errors=True)
    progress(f"box: built in {time.monotonic() - started:.0f} s: {box.dir}")
    return box
