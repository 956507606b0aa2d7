"""What runs beside the lab's hosts: apt-cacher-ng on the bridge address and one emulated BMC per host."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from anyrack.errors import AnyrackError
from anyrack.lab.hostsite import BMC_PORT_BASE

ACNG_PORT = 3142
BMC_TREE = "tests/fixtures/redfish/dell/idrac9-r750"
BMC_PASSWORD = "anyrack-lab"


class ServiceError(AnyrackError):
    """A service of the host lab did not come up."""

    template = "host lab {what}: {detail}"


def pid_running(pid: int) -> bool:
    """A process that exists and is not a zombie (a PID 1 that reaps nothing leaves those behind)."""
    if pid <= 0:  # kill(0, 0) would ask about our own process group
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True


def apt_cache_url(address: str) -> str:
    """The apt cache as the lab's machines reach it (their sources.list, the playbooks' mirrors)."""
    return f"http://{address}:{ACNG_PORT}"


class LabNetwork:
    """A lab's network as its machines see it: this host is its first address (their gateway) and serves the
    apt cache there. Mixed into the host lab's state and the metal lab's plan, which both carry ``cidr``."""

    cidr: str

    @property
    def gateway(self) -> str:
        return str(next(ipaddress.ip_network(self.cidr).hosts()))

    @property
    def apt_url(self) -> str:
        """The lab's apt cache as the machines reach it (their only way to Debian where there is no NAT)."""
        return apt_cache_url(self.gateway)


def start_apt_cache(base: Path, address: str, mirror: str, cache: Path) -> subprocess.Popen[bytes]:
    """apt-cacher-ng on ``address``, its Debian backend pointed at ``mirror`` (its default one is unreachable).

    Its configuration and logs live in ``base`` (removed with the lab); the packages in ``cache``, which
    outlives the lab, so the next lab up installs from the cache instead of the mirror.
    """
    conf, log = base / "conf", base / "log"
    for d in (conf, cache, log):
        d.mkdir(parents=True, exist_ok=True)
    for name in ("acng.conf", "backends_debian", "security.conf"):
        src = Path("/etc/apt-cacher-ng") / name
        if src.exists():
            shutil.copy(src, conf / name)
    (conf / "backends_debian").write_text(mirror + "/\n")
    acng = shutil.which("apt-cacher-ng") or "/usr/sbin/apt-cacher-ng"
    with (base / "stdout.log").open("w") as logf:
        return subprocess.Popen([acng, "-c", str(conf), "ForeGround=1", f"BindAddress={address}",
                                 f"Port={ACNG_PORT}", f"CacheDir={cache}", f"LogDir={log}",
                                 f"SocketPath={base / 'socket'}", f"PidFile={base / 'pid'}",
                                 "Remap-debrep: file:deb_mirror*.gz /debian ; file:backends_debian"],
                                stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)


def start_bmcs(base: Path, count: int) -> subprocess.Popen[bytes]:
    """The BMC emulator serving ``count`` BMCs on 127.0.0.1 from BMC_PORT_BASE up; listing in base/listing.json."""
    from anyrack.lab.emulator.process import config_text
    from anyrack.lab.emulator.spec import LabOptions, TreeSpec

    base.mkdir(parents=True, exist_ok=True)
    tree = Path(__file__).resolve().parents[3] / BMC_TREE
    options = LabOptions(port_base=BMC_PORT_BASE, state_dir=base / "state", username="admin",
                         password=BMC_PASSWORD)
    config = base / "lab.yaml"
    config.write_text(config_text([TreeSpec(path=tree, count=count)], options))
    (base / "listing.json").unlink(missing_ok=True)
    with (base / "bmc.log").open("w") as log:
        return subprocess.Popen([sys.executable, "-m", "anyrack.cli.lab", "bmc", "serve", "--config", str(config),
                                 "--listing", str(base / "listing.json")], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_bmcs(proc: subprocess.Popen[bytes], base: Path, timeout_s: float = 60) -> None:
    """Wait until the emulator wrote its listing."""
    deadline = time.monotonic() + timeout_s
    while not (base / "listing.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise ServiceError(what="BMC emulator", detail=(base / "bmc.log").read_text()[-1500:])
        time.sleep(0.1)
