"""What the metal lab is made of: read from an optional ``lab.yaml``, consumed by the Vagrantfile
(``anyrack lab metal plan --json``), the lab's services and its generated site file.

Two kinds of machines: *installed* VMs from the box (the first one is the PXE/provisioning server and
the site's controller) and *bare-metal* VMs: an empty disk, network boot first, a Redfish BMC
(sushy-tools) and an IPMI BMC (virtualbmc) each, powered off until ``anyrack deploy`` boots them.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from anyrack.errors import InputError
from anyrack.lab.hostservices import LabNetwork, apt_cache_url
from anyrack.lab.metal.box import box_key
from anyrack.lockfile import exclusive

NETWORK = "anyrack-prov"
MGMT_NETWORK = "anyrack-mgmt"
MGMT_CIDR = "10.79.0.0/24"
BRIDGE = "anyrackpx0"
CIDR = "10.78.0.0/24"
POOL = "anyrack-metal"
BOX_NAME = "anyrack/debian12"
REDFISH_PORT_BASE = 8100
IPMI_PORT_BASE = 6230
CALLBACK_PORT = 8750
HTTP_PORT = 8080
MAC_PREFIX = "52:54:00:78:00"
DOMAIN_PREFIX = "anyrack-metal_"  # vagrant-libvirt names domains <project dir name>_<machine>


class MetalSpecError(InputError):
    template = "{path}: {key}: {detail}"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InstalledSpec(_Spec):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
    memory_mib: Annotated[int, Field(ge=512, le=65536)] = 1024
    cpus: Annotated[int, Field(ge=1, le=16)] = 1


class BareSpec(_Spec):
    count: Annotated[int, Field(ge=0, le=8)] = 1
    prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,20}$")] = "metal"
    memory_mib: Annotated[int, Field(ge=768, le=65536)] = 1536
    cpus: Annotated[int, Field(ge=1, le=16)] = 1
    disk_gib: Annotated[int, Field(ge=3, le=512)] = 4


class LabSpec(_Spec):
    installed: list[InstalledSpec] = Field(default_factory=lambda: [InstalledSpec(name="pxe1")], min_length=1)
    metal: BareSpec = Field(default_factory=BareSpec)
    box: str = BOX_NAME
    accel: Literal["auto", "kvm", "qemu"] = "auto"


@dataclass
class Machine:
    name: str
    kind: Literal["installed", "metal"]
    address: str
    mac: str
    memory_mib: int
    cpus: int
    disk_gib: int = 0
    redfish_port: int = 0
    ipmi_port: int = 0


@dataclass
class MetalPlan(LabNetwork):
    accel: str
    accel_reason: str
    box: str
    box_file: str
    """The locally built box ("" for a public box Vagrant fetches by name)."""
    ssh_key: str
    state_dir: str
    vm_dir: str
    """Files QEMU itself opens (it runs as libvirt's unprivileged user): emulator wrapper, disks, consoles."""
    emulator: str
    network: str = NETWORK
    mgmt_network: str = MGMT_NETWORK
    mgmt_cidr: str = MGMT_CIDR
    bridge: str = BRIDGE
    cidr: str = CIDR
    pool: str = POOL
    pool_dir: str = ""
    machines: list[Machine] = field(default_factory=list)

    @property
    def prefix(self) -> int:
        return ipaddress.ip_network(self.cidr).prefixlen

    def metal(self) -> list[Machine]:
        return [m for m in self.machines if m.kind == "metal"]

    def installed(self) -> list[Machine]:
        return [m for m in self.machines if m.kind == "installed"]

    def to_dict(self) -> dict:
        return {**asdict(self), "gateway": self.gateway, "prefix": self.prefix}


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local/state")
    return Path(base) / "anyrack" / "metal"


def vm_dir() -> Path:
    return Path(os.environ.get("ANYRACK_METAL_VM_DIR", "/var/lib/libvirt/anyrack-metal"))


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "anyrack" / "metal"


def lab_key(cache: Path) -> Path:
    """The lab's SSH key, made once: baked into the box, so it lives beside the box cache."""
    key = cache / "id_ed25519"
    if key.with_suffix(".pub").exists():
        return key
    with exclusive(cache / ".key.lock", what="metal lab SSH key"):  # Vagrant may ask from two processes
        if not key.with_suffix(".pub").exists():
            key.unlink(missing_ok=True)  # a half-made pair (killed between the two files) is made again
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "anyrack-metal", "-f", str(key)],
                           check=True)
    return key


def detect_accel(cpuinfo: str | None = None, kvm_device: str = "/dev/kvm") -> tuple[str, str]:
    """KVM where the CPU offers hardware virtualisation and /dev/kvm is there; QEMU TCG otherwise.

    A /dev/kvm without vmx/svm in the CPU flags is a paravirtual KVM (as in a cloud micro-VM) that
    cannot run a full Debian guest ("KVM internal error ... emulation failure"): TCG it is.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    flags = {f for line in cpuinfo.splitlines() if line.startswith("flags") for f in line.split(":", 1)[1].split()}
    if not os.path.exists(kvm_device):
        return "qemu", f"no {kvm_device}: QEMU TCG (software emulation, ~10x slower)"
    if not flags & {"vmx", "svm"}:
        return "qemu", f"{kvm_device} exists but the CPU has no vmx/svm flag: QEMU TCG (software emulation)"
    return "kvm", "KVM (hardware virtualisation)"


def load_spec(path: Path | None) -> LabSpec:
    if path is None or not path.exists():
        return LabSpec()
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return LabSpec.model_validate(data)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        raise MetalSpecError(path=str(path), key=where, detail=str(err).splitlines()[0]) from None
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise MetalSpecError(path=str(path), key=key, detail=first["msg"]) from None


def make_plan(spec: LabSpec, *, state: Path | None = None, cache: Path | None = None,
              cpuinfo: str | None = None) -> MetalPlan:
    state, cache = state or state_dir(), cache or cache_dir()
    accel, reason = detect_accel(cpuinfo) if spec.accel == "auto" else (spec.accel, f"{spec.accel} (lab.yaml)")
    box, box_file = spec.box, ""
    if spec.box == BOX_NAME:  # built here: named by its content, so a rebuilt box is a new Vagrant box
        apt_url = apt_cache_url(str(next(ipaddress.ip_network(CIDR).hosts())))
        key = box_key(lab_key(cache).with_suffix(".pub").read_text(), apt_url=apt_url)
        box, box_file = f"{BOX_NAME}-{key}", str(cache / f"debian-bookworm-{key}" / "anyrack-debian12.box")
    plan = MetalPlan(accel=accel, accel_reason=reason, box=box, box_file=box_file, ssh_key=str(lab_key(cache)),
                     state_dir=str(state), vm_dir=str(vm_dir()), emulator=str(vm_dir() / "qemu-system-x86_64"),
                     pool_dir=str(vm_dir() / "pool"))
    hosts = list(ipaddress.ip_network(CIDR).hosts())
    for i, vm in enumerate(spec.installed):
        plan.machines.append(Machine(vm.name, "installed", str(hosts[1 + i]), f"{MAC_PREFIX}:{2 + i:02x}",
                                     vm.memory_mib, vm.cpus))
    for i in range(spec.metal.count):
        plan.machines.append(Machine(f"{spec.metal.prefix}{i + 1}", "metal", str(hosts[10 + i]),
                                     f"{MAC_PREFIX}:{0x11 + i:02x}", spec.metal.memory_mib, spec.metal.cpus,
                                     spec.metal.disk_gib))
    for i, vm in enumerate(plan.machines):  # every machine has a BMC, as in a real rack
        vm.redfish_port, vm.ipmi_port = REDFISH_PORT_BASE + i, IPMI_PORT_BASE + i
    return plan
