"""libvirt for the metal lab: the daemon, the QEMU wrapper, the provisioning network and the pool.

Everything here is idempotent (``prepare`` twice is fine) and ``remove`` takes away exactly what
``prepare`` made: the lab's network, its bridge, its storage pool and the volumes in it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from anyrack.errors import AnyrackError
from anyrack.lab.metal.plan import DOMAIN_PREFIX, MetalPlan

URI = "qemu:///system"
QEMU = "/usr/bin/qemu-system-x86_64"
# TCG keeps a 1 GiB translation cache per guest by default; 256 MiB is plenty for these guests and
# lets 3-4 of them share a small machine.
WRAPPER = """#!/bin/sh
# anyrack metal lab: QEMU with a smaller TCG translation cache (libvirt passes "-accel tcg")
prev=""
for a in "$@"; do
  shift
  if [ "$prev" = "-accel" ] && [ "$a" = "tcg" ]; then a="tcg,tb-size=256"; fi
  set -- "$@" "$a"
  prev="$a"
done
exec {qemu} "$@"
"""

Progress = Callable[[str], None]


class VirtError(AnyrackError):
    template = "metal lab: {what}: {detail}"


def missing_prerequisites() -> list[str]:
    tools = {"virsh": "libvirt-clients", "libvirtd": "libvirt-daemon-system", "vagrant": "vagrant", "tini": "tini",
             QEMU: "qemu-system-x86", "qemu-img": "qemu-utils"}
    return [f"{tool} (Debian package {pkg})" for tool, pkg in tools.items() if shutil.which(tool) is None]


def virsh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["virsh", "-q", "-c", URI, *args], text=True, capture_output=True)
    if check and proc.returncode != 0:
        raise VirtError(what=f"virsh {' '.join(args[:2])}", detail=(proc.stderr or proc.stdout).strip())
    return proc


def ensure_libvirtd(progress: Progress = print, timeout_s: float = 30) -> None:
    """Start virtlogd and libvirtd by hand where no init system runs them (as in a container)."""
    # libvirt writes <bridge>.macs here for every network, DHCP or not; a hand-started daemon may lack it
    Path("/var/lib/libvirt/dnsmasq").mkdir(parents=True, exist_ok=True)
    if virsh("version", check=False).returncode == 0:
        return
    # Under tini as a subreaper: where PID 1 is no init it never reaps the QEMU processes libvirtd
    # daemonizes (capability probes, guests); libvirtd then waits on their zombies (virDomainDefineXML
    # hung for minutes here, in qemuProcessQMPFree, until they were reaped).
    for daemon in ("virtlogd", "libvirtd"):
        if subprocess.run(["pgrep", "-x", daemon], capture_output=True).returncode != 0:
            subprocess.Popen(["tini", "-s", "--", daemon], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
            progress(f"libvirt: started {daemon} (under tini, reaping its children)")
    deadline = time.monotonic() + timeout_s
    while virsh("version", check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise VirtError(what="libvirtd", detail=f"not answering on {URI} after {timeout_s:.0f} s")
        time.sleep(0.5)


def write_wrapper(plan: MetalPlan) -> Path:
    path = Path(plan.emulator)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o755)  # QEMU runs as libvirt's user: it must reach the wrapper, disks and consoles
    text = WRAPPER.replace("{qemu}", QEMU)
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(path)
    return path


def network_xml(plan: MetalPlan) -> str:
    """Isolated: no forward element, no DHCP (the PXE server's dnsmasq answers), no DNS."""
    return (f"<network>\n  <name>{plan.network}</name>\n  <bridge name='{plan.bridge}' stp='off'/>\n"
            f"  <dns enable='no'/>\n  <ip address='{plan.gateway}' prefix='{plan.prefix}'/>\n</network>\n")


def ensure_network(plan: MetalPlan, progress: Progress = print) -> None:
    if virsh("net-info", plan.network, check=False).returncode != 0:
        xml = Path(plan.state_dir) / "network.xml"
        xml.write_text(network_xml(plan))
        virsh("net-define", str(xml))
        progress(f"libvirt: network {plan.network} ({plan.bridge}, {plan.gateway}/{plan.prefix}, isolated)")
    if "Active:         yes" not in virsh("net-info", plan.network).stdout:
        virsh("net-start", plan.network)


def ensure_pool(plan: MetalPlan, progress: Progress = print) -> None:
    if virsh("pool-info", plan.pool, check=False).returncode != 0:
        Path(plan.pool_dir).mkdir(parents=True, exist_ok=True)
        virsh("pool-define-as", plan.pool, "dir", "--target", plan.pool_dir)
        progress(f"libvirt: storage pool {plan.pool} in {plan.pool_dir}")
    if "State:          running" not in virsh("pool-info", plan.pool).stdout:
        virsh("pool-start", plan.pool)


def domain(machine: str) -> str:
    return DOMAIN_PREFIX + machine


def domains() -> list[str]:
    """The lab's libvirt domains (defined, running or not)."""
    out = virsh("list", "--all", "--name", check=False).stdout
    return [d for d in out.split() if d.startswith(DOMAIN_PREFIX)]


def domain_uuid(name: str) -> str:
    return virsh("domuuid", name).stdout.strip()


def remove(plan: MetalPlan, progress: Progress = print, keep: Sequence[str] = ()) -> None:
    """Remove the network and the pool (with its volumes) unless domains of the lab still exist."""
    if left := [d for d in domains() if d not in keep]:
        progress(f"libvirt: {len(left)} lab domain(s) left ({', '.join(left)}): network and pool kept")
        return
    for net in (plan.network, plan.mgmt_network):
        if virsh("net-info", net, check=False).returncode == 0:
            virsh("net-destroy", net, check=False)
            virsh("net-undefine", net)
            progress(f"libvirt: network {net} removed")
    if virsh("pool-info", plan.pool, check=False).returncode == 0:
        for vol in virsh("vol-list", plan.pool, "--name", check=False).stdout.split():
            virsh("vol-delete", vol, "--pool", plan.pool, check=False)
        virsh("pool-destroy", plan.pool, check=False)
        virsh("pool-undefine", plan.pool)
        shutil.rmtree(plan.pool_dir, ignore_errors=True)
        progress(f"libvirt: pool {plan.pool} removed")
