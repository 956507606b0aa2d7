"""The metal lab's life cycle around Vagrant: ``prepare`` (before ``vagrant up``), ``after_up`` (BMCs,
bare-metal VMs powered off through them) and ``clean`` (after ``vagrant destroy``).

The Vagrantfile calls these through ``anyrack lab metal ...`` triggers, so plain ``vagrant up`` and
``vagrant destroy -f`` build and remove the whole lab: network, pool, apt cache, BMC processes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

from anyrack import aio
from anyrack.filetree import write_atomic
from anyrack.lab.hostimage import MIRROR
from anyrack.lab.hostservices import pid_running, start_apt_cache
from anyrack.lab.metal import bmcs, box, virt
from anyrack.lab.metal.plan import MetalPlan, cache_dir, lab_key
from anyrack.lab.metal.site import SITE, VARS, site_text, vars_text
from anyrack.lockfile import exclusive

Progress = Callable[[str], None]


def key_path() -> Path:
    return lab_key(cache_dir())


def build_box(plan: MetalPlan, progress: Progress = print) -> box.Box:
    built = box.build(cache_dir(), key_path().with_suffix(".pub").read_text(), progress, apt_url=plan.apt_url)
    if plan.box_file and Path(plan.box_file) != built.box:
        raise virt.VirtError(what="box", detail=f"built {built.box}, but the plan expects {plan.box_file}")
    return built


def _apt_cache(plan: MetalPlan, progress: Progress) -> None:
    pidfile = Path(plan.state_dir) / "acng.pid"
    if pidfile.exists() and pid_running(int(pidfile.read_text() or 0)):
        return
    apt = cache_dir().parent / "apt"
    proc = start_apt_cache(Path(plan.state_dir) / "acng", plan.gateway, MIRROR, apt)
    write_atomic(pidfile, f"{proc.pid}\n")
    progress(f"apt: apt-cacher-ng on {plan.gateway}")


def prepare(plan: MetalPlan, progress: Progress = print) -> Path:
    """Everything the VMs need before Vagrant creates them; returns the lab's site file.

    ``vagrant up`` brings the machines up in parallel and runs its ``before :up`` trigger once per
    machine: the second run waits for the first (a lock in the state directory) and then finds
    everything in place, instead of building the same box into the same directory at the same time.
    """
    with exclusive(Path(plan.state_dir) / "prepare.lock", what="metal lab prepare", progress=progress):
        return _prepare(plan, progress)


def _prepare(plan: MetalPlan, progress: Progress) -> Path:
    if missing := virt.missing_prerequisites() + box.missing_prerequisites():
        raise virt.VirtError(what="prerequisites", detail="; ".join(missing))
    state = Path(plan.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    progress(f"accel: {plan.accel_reason}")
    built = build_box(plan, progress)
    virt.ensure_libvirtd(progress)
    virt.write_wrapper(plan)
    virt.ensure_network(plan, progress)
    virt.ensure_pool(plan, progress)
    _apt_cache(plan, progress)
    site = state / SITE
    write_atomic(site, site_text(plan, bmcs.password_file(plan)))
    write_atomic(state / VARS, vars_text(plan, built, key_path()))
    from anyrack.inventory import generate_inventory

    generate_inventory(site, out=state / "generated")
    return site


async def _power_off(plan: MetalPlan, names: list[str], progress: Progress) -> None:
    from anyrack.bmc import connect

    password = bmcs.password_file(plan).read_text().strip()
    for vm in plan.metal():
        if vm.name not in names:
            continue
        async with connect(f"redfish+https://127.0.0.1:{vm.redfish_port}", bmcs.USER, password, node=vm.name,
                           insecure=True, timeout=30) as bmc:
            if await bmc.power_state() != "Off":
                await bmc.power("off", wait=60)
            progress(f"{vm.name}: powered off through its BMC (bare metal waits for `anyrack deploy`)")


def after_up(plan: MetalPlan, progress: Progress = print) -> None:
    """Start the BMCs of new domains; power the bare-metal ones off through them (one trigger at a time)."""
    with exclusive(Path(plan.state_dir) / "prepare.lock", what="metal lab after-up", progress=progress):
        _after_up(plan, progress)


def _after_up(plan: MetalPlan, progress: Progress) -> None:
    bmcs.start(plan, progress)
    existing = set(virt.domains())
    aio.run(_power_off(plan, [m.name for m in plan.metal() if virt.domain(m.name) in existing], progress))


def clean(plan: MetalPlan, progress: Progress = print) -> bool:
    """BMCs of destroyed domains go; with no domain left, the network, pool, apt cache and state too."""
    existing = set(virt.domains())
    bmcs.stop(plan, progress, only={m.name for m in plan.machines if virt.domain(m.name) not in existing})
    if existing:
        return False
    bmcs.stop(plan, progress)
    pidfile = Path(plan.state_dir) / "acng.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(int(pidfile.read_text()), signal.SIGTERM)
        pidfile.unlink()
    virt.remove(plan, progress)
    for name in ("generated", "acng", "bmc", "vbmc", SITE, VARS, "network.xml", "bmcs.json"):
        path = Path(plan.state_dir) / name
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    shutil.rmtree(plan.vm_dir, ignore_errors=True)
    progress("metal lab: removed")
    return True
