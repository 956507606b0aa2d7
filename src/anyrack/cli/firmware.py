"""``anyrack firmware``: check discovered firmware against each SKU's golden BOM; update it through Redfish."""

from __future__ import annotations

import json
from pathlib import Path

import click

from anyrack.facts import load_facts_dir
from anyrack.inventory.firmware import Check, check_site, worst
from anyrack.site import load_site

_PATH = click.Path(path_type=Path)


@click.group()
def firmware() -> None:
    """Firmware per component: compliance with the SKU's golden BOM, and updates (docs/firmware.md)."""


def _cell(checks: list[Check]) -> str:
    return worst(checks) if checks else "-"


@firmware.command("check")
@click.argument("path", type=_PATH)
@click.option("--facts", "facts_dir", type=_PATH, required=True, help="Directory of discovered facts (<node>.json).")
@click.option("--json", "as_json", is_flag=True, help="Print every node's components and verdicts as JSON.")
def check_cmd(path: Path, facts_dir: Path, as_json: bool) -> int:
    """Compare every node's firmware (from its facts) with its SKU's ``firmware`` BOM.

    One row per node, one column per component kind: ok, behind (older than wanted), ahead (newer than
    an exact version), unknown (not reported), - (the SKU names no version). Exit code 1 when any node
    is behind, 2 on bad input.

    \b
    Example:
      anyrack firmware check inventory/examples/hgx-rack/site.yaml --facts inventory/examples/hgx-rack/facts
    """
    site = load_site(path)
    facts, warnings = load_facts_dir(facts_dir, {n.name for n in site.nodes})
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    result = check_site(site, facts)
    behind = sorted(n for n, checks in result.items() if worst(checks) == "behind")
    if as_json:
        click.echo(json.dumps({"nodes": {n: {"verdict": worst(c), "components": [x.as_dict() for x in c]}
                                          for n, c in result.items()}, "behind": behind}, indent=2, sort_keys=True))
        return 1 if behind else 0
    kinds = sorted({c.kind for checks in result.values() for c in checks})
    width = max([len(n) for n in result] + [4])
    click.echo(f"{'node':<{width}}  " + "  ".join(f"{k:<8}" for k in kinds))
    for node, checks in result.items():
        click.echo(f"{node:<{width}}  " + "  ".join(f"{_cell([c for c in checks if c.kind == k]):<8}" for k in kinds))
    for node, checks in result.items():
        for c in checks:
            if c.verdict in ("behind", "ahead"):
                click.echo(f"{node}: {c.kind} {c.component}: {c.found} is {c.verdict} of {c.wanted}")
    counts = {v: sum(1 for c in result.values() if worst(c) == v) for v in ("ok", "behind", "ahead", "unknown")}
    click.echo(f"firmware: {counts['ok']} ok, {counts['behind']} behind, {counts['ahead']} ahead, "
               f"{counts['unknown']} unknown")
    return 1 if behind else 0
