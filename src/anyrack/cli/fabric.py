"""``anyrack fabric plan``, ``check`` and ``verify``: plan the fabric once, render every side, check the cables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # the planner and its templates load only when a fabric command runs
    from anyrack.fabric.load import PlanResult

_PATH = click.Path(path_type=Path)


@click.group()
def fabric() -> None:
    """Plan the GPU fabric (leaf/spine, rails, addressing) and render switch, host, Slurm and NCCL config."""


def _summary(result: PlanResult) -> dict:
    plan = result.plan
    roles = {role: sum(1 for s in plan.switches if s.role == role) for role in ("leaf", "spine", "access")}
    return {
        "site": plan.site, "type": plan.type, "rails": plan.rails, "nodes": len(plan.nodes),
        "units": len(plan.units), "leaves": roles["leaf"], "spines": roles["spine"],
        "spine_groups": plan.sizing.spine_groups, "access_switches": roles["access"],
        "cables": sum(len(n.nics) for n in plan.nodes) + len(plan.uplinks) + len(plan.access),
        "oversubscription": round(plan.sizing.oversubscription, 3),
    }


def _summary_line(summary: dict) -> str:
    return (f"{summary['site']}: {summary['type']} fabric, {summary['rails']} rails, {summary['nodes']} nodes in "
            f"{summary['units']} units; {summary['leaves']} leaves, {summary['spines']} spines "
            f"({summary['spine_groups']} group(s)), {summary['access_switches']} access switches, "
            f"{summary['cables']} cables; oversubscription {summary['oversubscription']:.2f}:1")


@fabric.command("plan")
@click.argument("path", type=_PATH)
@click.option("--facts", "facts_dir", type=_PATH, help="Discovered facts (<node>.json): rail NICs are renamed by MAC.")
@click.option("--out", type=_PATH, help="Write every file of the plan into this directory (anyrack's own only).")
@click.option("--svg", type=_PATH, help="Write the topology picture to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of text.")
def plan_cmd(path: Path, facts_dir: Path | None, out: Path | None, svg: Path | None, as_json: bool) -> None:
    """Plan the fabric of the site in PATH and, with --out, write its files.

    Files: switches/<switch>/frr.conf, hosts/<node>/etc/... (systemd-networkd, netplan, nccl.conf),
    slurm/topology.conf, opensm/<subnet>/ (InfiniBand), cabling.csv, topology.svg, plan.json.
    Exit code 2 with the site key to change when the fabric cannot be built.

    \b
    Examples:
      anyrack fabric plan inventory/examples/hgx-rack/site.yaml --svg /tmp/hgx.svg
      anyrack fabric plan inventory/examples/hgx-rack/site.yaml \\
          --facts inventory/examples/hgx-rack/facts --out inventory/examples/hgx-rack/fabric
    """
    from anyrack.fabric.load import write_plan

    result = write_plan(path, facts_dir, out, svg)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    summary = _summary(result)
    if as_json:
        sync = result.sync
        files = None if sync is None else {"written": list(sync.written), "unchanged": len(sync.unchanged),
                                           "removed": list(sync.removed)}
        click.echo(json.dumps({**summary, "out": str(out) if out else None, "files": files,
                               "svg": str(svg) if svg else None}, indent=2, sort_keys=True))
        return
    click.echo(_summary_line(summary))
    if result.sync is not None:
        sync = result.sync
        click.echo(f"{out}: {result.files} files; {len(sync.written)} written, {len(sync.unchanged)} unchanged, "
                   f"{len(sync.removed)} removed")
    if svg is not None:
        click.echo(f"{svg}: topology picture")


@fabric.command("check")
@click.argument("path", type=_PATH)
@click.option("--facts", "facts_dir", type=_PATH, help="Discovered facts (<node>.json).")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def check_cmd(path: Path, facts_dir: Path | None, as_json: bool) -> None:
    """Plan the fabric of the site in PATH and lint it: port budget, oversubscription, address overlaps.

    Exit code 0 when the plan is sound (warnings allowed), 1 when a lint finds an error, 2 when the
    fabric cannot be built at all (with the site key to change).

    \b
    Example:
      anyrack fabric check inventory/examples/hgx-rack/site.yaml
    """
    from anyrack.fabric.load import check_plan

    result = check_plan(path, facts_dir)
    errors = [f for f in result.findings if f.level == "error"]
    if as_json:
        click.echo(json.dumps({**_summary(result), "ok": not errors,
                               "findings": [vars(f) for f in result.findings]}, indent=2, sort_keys=True))
    else:
        click.echo(_summary_line(_summary(result)))
        for finding in result.findings:
            click.echo(str(finding))
    if errors:
        raise click.exceptions.Exit(1)


@fabric.command("verify")
@click.argument("plan_dir", metavar="PLAN", type=_PATH)
@click.option("--lldp", "lldp_dir", type=_PATH, help="Directory of <device>.json: `lldpcli -f json show neighbors`.")
@click.option("--ibnetdiscover", "ibnet", type=_PATH, help="ibnetdiscover output of one InfiniBand subnet.")
@click.option("--json", "as_json", is_flag=True, help="Print the miswires as JSON.")
def verify_cmd(plan_dir: Path, lldp_dir: Path | None, ibnet: Path | None, as_json: bool) -> None:
    """Compare the neighbours the fabric reports with the plan's cabling.csv (PLAN: what `plan --out` wrote).

    Lists each miswired cable: the link expected, the link seen, and the fix (the two plugs to swap
    when two cables traded ends). Exit code 0 when every checked cable is as planned, 1 when a cable
    is miswired or missing, 2 on bad input.

    \b
    Examples:
      anyrack fabric verify inventory/examples/hgx-rack/fabric --lldp /tmp/lldp
      anyrack fabric verify inventory/examples/hgx-rack/fabric --ibnetdiscover /tmp/rail0.ibnet
    """
    from anyrack.fabric.verify import verify_paths

    report = verify_paths(plan_dir, lldp_dir, ibnet)
    if as_json:
        click.echo(json.dumps({"checked": report.checked, "ok": not report.miswires,
                               "miswires": [vars(m) for m in report.miswires]}, indent=2, sort_keys=True))
    else:
        for miswire in report.miswires:
            click.echo(str(miswire))
        click.echo(f"{report.checked} cables checked, {len(report.miswires)} miswired")
    if report.miswires:
        raise click.exceptions.Exit(1)
