"""The host lab's image: Debian 12 built with mmdebstrap once, cached by its package list."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from anyrack.errors import AnyrackError

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
LAB_USER = "anyrack"
PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "sudo", "iproute2",
            "ca-certificates", "procps", "less")


class ImageError(AnyrackError):
    """mmdebstrap or unpacking failed."""

    template = "host lab image: {what}: {detail}"


def _run(cmd: Sequence[str]) -> None:
    proc = subprocess.run(list(cmd), text=True, capture_output=True)
    if proc.returncode != 0:
        raise ImageError(what=" ".join(cmd[:2]), detail=(proc.stderr or proc.stdout).strip()[-1500:])


# --- image ------------------------------------------------------------------------------------------

def image_key(packages: Sequence[str] = PACKAGES) -> str:
    """Cache key of the image: suite, mirror, user and the sorted package list."""
    text = "\n".join([SUITE, MIRROR, LAB_USER, "v1", *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _customize_hooks() -> list[str]:
    sudoers = f"{LAB_USER} ALL=(ALL) NOPASSWD:ALL"
    return [
        f'chroot "$1" useradd -m -s /bin/bash {LAB_USER}',
        f'echo "{sudoers}" > "$1/etc/sudoers.d/{LAB_USER}" && chmod 0440 "$1/etc/sudoers.d/{LAB_USER}"',
        'chroot "$1" systemctl enable systemd-networkd ssh',
        'rm -f "$1"/etc/ssh/ssh_host_*',
        # host keys per host: generated at first boot in each overlay
        'printf "[Unit]\\nBefore=ssh.service\\nConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\\n'
        '[Service]\\nType=oneshot\\nExecStart=/usr/bin/ssh-keygen -A\\n[Install]\\nWantedBy=multi-user.target\\n"'
        ' > "$1/etc/systemd/system/anyrack-hostkeys.service"',
        'chroot "$1" systemctl enable anyrack-hostkeys.service',
        'echo "pts/0" >> "$1/etc/securetty" || true',
        'rm -f "$1/etc/hostname" "$1/etc/machine-id" && touch "$1/etc/machine-id"',
    ]


def build_image(cache_dir: Path, progress: Callable[[str], None], packages: Sequence[str] = PACKAGES) -> Path:
    """The unpacked image root for ``packages``: built with mmdebstrap once, then reused from the cache."""
    key = image_key(packages)
    root = cache_dir / f"debian-{SUITE}-{key}"
    tarball = cache_dir / f"debian-{SUITE}-{key}.tar"
    if (root / ".complete").exists():
        progress(f"image: cached {root}")
        return root
    cache_dir.mkdir(parents=True, exist_ok=True)
    if not tarball.exists():
        started = time.monotonic()
        progress(f"image: building with mmdebstrap ({len(packages)} packages, ~1 min)")
        partial = tarball.with_suffix(".partial.tar")
        cmd = ["mmdebstrap", "--variant=minbase", "--mode=root", f"--include={','.join(packages)}"]
        cmd += [f"--customize-hook={hook}" for hook in _customize_hooks()]
        _run([*cmd, SUITE, str(partial), MIRROR])
        partial.rename(tarball)
        progress(f"image: built in {time.monotonic() - started:.0f} s")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    _run(["tar", "-C", str(root), "-xpf", str(tarball)])
    (root / ".complete").touch()
    return root


