"""``anyrack lab metal``: VMs under libvirt/Vagrant, blank machines behind sushy-tools and virtualbmc.

``vagrant up`` / ``vagrant destroy -f`` in the repository drive the whole lab (the Vagrantfile calls
``prepare``, ``after-up`` and ``clean`` as triggers); ``up``/``down`` here run exactly those.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click

_PATH = click.Path(path_type=Path)
_CONFIG = click.option("--config", "config", type=_PATH, envvar="ANYRACK_METAL_CONFIG",
                       help="lab.yaml with machine counts and sizes [default: ./lab.yaml if present].")


def _plan(config: Path | None):  # noqa: ANN202
    from anyrack.lab.metal.plan import load_spec, make_plan

    return make_plan(load_spec(config or Path("lab.yaml")))


@click.group("metal")
def metal() -> None:
    """The metal lab: Vagrant + libvirt VMs, PXE, emulated BMCs (docs/lab.md)."""


@metal.command("plan")
@_CONFIG
@click.option("--json", "as_json", is_flag=True, help="Print JSON (what the Vagrantfile reads).")
def metal_plan(config: Path | None, as_json: bool) -> None:
    """Show the machines, addresses, MACs, BMC ports and the accelerator the lab will use."""
    plan = _plan(config)
    if as_json:
        click.echo(json.dumps(plan.to_dict(), indent=1))
        return
    click.echo(f"accel: {plan.accel_reason}")
    click.echo(f"network: {plan.network} ({plan.bridge}, {plan.cidr}, isolated)")
    for m in plan.machines:
        click.echo(f"{m.name:<10} {m.kind:<9} {m.address:<12} {m.mac}  redfish :{m.redfish_port}  ipmi :{m.ipmi_port}")


@metal.command("box")
@_CONFIG
def metal_box(config: Path | None) -> None:
    """Build (or reuse) the Debian 12 box: mmdebstrap + kernel + extlinux → qcow2 → vagrant-libvirt box."""
    from anyrack.lab.metal.lab import build_box

    built = build_box(_plan(config), click.echo)
    click.echo(f"box: {built.box}")
    click.echo(f"deploy image: {built.disk_gz} (sha256 {built.sha256[:16]}…)")


@metal.command("prepare")
@_CONFIG
def metal_prepare(config: Path | None) -> None:
    """Before `vagrant up`: libvirtd, network, pool, box, apt cache, site file and inventory."""
    from anyrack.lab.metal.lab import prepare

    site = prepare(_plan(config), click.echo)
    click.echo(f"site file: {site}")


@metal.command("after-up")
@_CONFIG
def metal_after_up(config: Path | None) -> None:
    """After `vagrant up`: a Redfish and an IPMI BMC per VM; bare-metal VMs powered off through them."""
    from anyrack.lab.metal.lab import after_up

    after_up(_plan(config), click.echo)


@metal.command("clean")
@_CONFIG
def metal_clean(config: Path | None) -> None:
    """After `vagrant destroy`: stop BMCs of gone VMs; with none left, remove network, pool, apt cache."""
    from anyrack.lab.metal.lab import clean

    clean(_plan(config), click.echo)


def _vagrant(args: list[str], directory: Path) -> None:
    env = {**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_DEFAULT_PROVIDER": "libvirt"}
    sys.exit(subprocess.call(["vagrant", *args], cwd=directory, env=env))


@metal.command("up")
@click.option("--dir", "directory", type=_PATH, default=Path("."), show_default=True,
              help="The directory holding the Vagrantfile.")
@click.argument("machines", nargs=-1)
def metal_up(directory: Path, machines: tuple[str, ...]) -> None:
    """`vagrant up` (the installed VMs are provisioned with the generated inventory)."""
    _vagrant(["up", *machines], directory)


@metal.command("down")
@click.option("--dir", "directory", type=_PATH, default=Path("."), show_default=True,
              help="The directory holding the Vagrantfile.")
def metal_down(directory: Path) -> None:
    """`vagrant destroy -f`: every VM, then network, pool, BMCs and apt cache."""
    _vagrant(["destroy", "-f"], directory)
