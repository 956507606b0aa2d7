"""``anyrack firmware``: check discovered firmware against each SKU's golden BOM; update it through Redfish."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from anyrack import aio
from anyrack.bmc.firmware.kinds import KINDS
from anyrack.cli.params import PEM_FILE
from anyrack.errors import InputError
from anyrack.facts import load_facts_dir
from anyrack.inventory.firmware import Check, check_site, worst
from anyrack.site import load_site

if TYPE_CHECKING:
    from anyrack.bmc.firmware.rollout import Outcome

_PATH = click.Path(path_type=Path)
METHODS = ("multipart", "simple", "push")
"""MultipartHttpPushUri, SimpleUpdate, HttpPushUri (anyrack.bmc.firmware.update.METHODS)."""


@click.group()
def firmware() -> None:
    """Firmware per component: compliance with the SKU's golden BOM, and updates (docs/firmware.md)."""


def _cell(checks: list[Check]) -> str:
    return worst(checks) if checks else "-"


@firmware.command("check")
@click.argument("path", type=_PATH)
@click.option("--facts", "facts_dir", type=_PATH, help="Directory of discovered facts (<node>.json).")
@click.option("--live", is_flag=True, help="Read each node's FirmwareInventory from its BMC instead of facts.")
@click.option("--ca", "ca_file", type=PEM_FILE, help="CA bundle to verify the BMCs' TLS (--live).")
@click.option("--json", "as_json", is_flag=True, help="Print every node's components and verdicts as JSON.")
def check_cmd(path: Path, facts_dir: Path | None, live: bool, ca_file: str | None, as_json: bool) -> int:
    """Compare every node's firmware (from its facts) with its SKU's ``firmware`` BOM.

    One row per node, one column per component kind: ok, behind (older than wanted), ahead (newer than
    an exact version), unknown (not reported), - (the SKU names no version). Exit code 1 when any node
    is behind, 2 on bad input.

    \b
    Example:
      anyrack firmware check inventory/examples/hgx-rack/site.yaml --facts inventory/examples/hgx-rack/facts
      anyrack firmware check site.yaml --live --ca site-ca.pem
    """
    if (facts_dir is None) == (not live):
        raise InputError(detail="give either --facts DIR or --live")
    site = load_site(path)
    if live:
        from anyrack.bmc.firmware.live import read_site  # the HTTP client only when reading BMCs

        facts, failed = aio.run(read_site(site, ca_file=ca_file))
        warnings = [f"{node}: unread, its firmware is unknown: {cause}" for node, cause in sorted(failed.items())]
    else:
        facts, warnings = load_facts_dir(facts_dir, {n.name for n in site.nodes})  # type: ignore[arg-type]
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


@firmware.command("update")
@click.argument("path", type=_PATH)
@click.option("--limit", "-l", "limit", multiple=True, required=True, metavar="NODE",
              help="A node to update (repeatable); updated in site order, one at a time.")
@click.option("--bundle", required=True, metavar="FILE|URL",
              help="The bundle: a file (pushed) or an http(s) URL on the site's web server (pulled, or fetched "
                   "and pushed where the BMC cannot pull).")
@click.option("--component", type=click.Choice(KINDS), help="Refuse the bundle unless every target is of this kind.")
@click.option("--method", type=click.Choice(METHODS), help="Use this update method [default: the best advertised].")
@click.option("--apply-time", type=click.Choice(["Immediate", "OnReset"]), default="Immediate", show_default=True,
              help="@Redfish.OperationApplyTime; OnReset: anyrack resets the host to activate, then reads back.")
@click.option("--ca", "ca_file", type=PEM_FILE, help="CA bundle to verify the BMCs' TLS.")
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Seconds to wait for a node's task.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome per node as JSON.")
def update_cmd(path: Path, limit: tuple[str, ...], bundle: str, component: str | None, method: str | None,
               apply_time: str, ca_file: str | None, timeout: float, as_json: bool) -> int:
    """Update firmware on the --limit nodes through Redfish UpdateService, then read the version back.

    Before any write: the nodes exist, their credentials resolve, the bundle's manifest is read (a URL
    must answer), and per node the bundle's targets exist (of --component's kind) and the BMC advertises
    a method that can take it. A node whose update fails (task Exception, no end within --timeout, the
    version unchanged after it reported success) stops the run. Exit code 1 when a node failed.

    \b
    Example:
      anyrack firmware update site.yaml --limit gpu001 --bundle http://10.20.0.1/fw/gpu.bin --component gpu
    """
    from anyrack.bmc.firmware.rollout import pick, update_nodes  # the HTTP client only when updating
    from anyrack.bmc.firmware.update import load_bundle

    site = load_site(path)
    names = pick(site, list(limit))
    loaded = aio.run(load_bundle(bundle))

    def show(outcome: Outcome) -> None:
        if as_json:
            return
        if outcome.result is not None:
            r = outcome.result
            changes = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in sorted(r.versions.items()))
            notes = f" ({'; '.join(r.notes)})" if r.notes else ""
            click.echo(f"{outcome.node}: updated by {r.method} ({r.apply_time}): {changes}{notes}")
        else:
            click.echo(f"{outcome.node}: {outcome.status}: {outcome.cause}")

    outcomes = aio.run(update_nodes(site, names, loaded, component=component, method=method, apply_time=apply_time,
                                    ca_file=ca_file, timeout=timeout, progress=show))
    if as_json:
        click.echo(json.dumps([{"node": o.node, "status": o.status, "cause": o.cause or None,
                                "method": o.result.method if o.result else None,
                                "versions": {k: list(v) for k, v in o.result.versions.items()} if o.result else {},
                                "notes": o.result.notes if o.result else []} for o in outcomes],
                              indent=2, sort_keys=True))
    return 1 if any(o.status != "updated" for o in outcomes) else 0
