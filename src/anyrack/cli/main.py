"""The ``anyrack`` command: argument parsing and printing only; each command calls one library function."""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import click

from anyrack import __version__
from anyrack.cli import Stopped, stop_on_signals
from anyrack.cli.bmc import bmc, discover_cmd
from anyrack.cli.deploy import deploy_cmd
from anyrack.cli.fabric import fabric
from anyrack.cli.firmware import firmware
from anyrack.cli.lab import lab
from anyrack.cli.provision import provision_cmd
from anyrack.cli.report import print_reports, site_summary
from anyrack.errors import AnyrackError, InvalidInput
from anyrack.inventory import generate_inventory
from anyrack.site import load_site

_PATH = click.Path(path_type=Path)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``anyrack 0.1.0, collection anyrack.hpc 0.1.0 (package: /…/anyrack/ansible/…)``."""
    if not value or ctx.resilient_parsing:
        return
    from anyrack.provision.content import COLLECTION, locate

    try:
        content = locate()
        collection = f"{content.version} ({content.source}: {content.collection})"
    except AnyrackError as err:
        collection = f"missing ({err})"
    click.echo(f"anyrack {__version__}, collection {COLLECTION} {collection}")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the versions of anyrack and of the Ansible collection it runs, then exit.")
def cli(debug: bool) -> None:
    """Take racks of bare-metal GPU servers from any vendor to a validated Slurm cluster.

    \b
    Examples:
      anyrack site validate inventory/examples/lab/site.yaml
      anyrack inventory generate inventory/examples/hgx-rack/site.yaml \\
          --facts inventory/examples/hgx-rack/facts
    """


@cli.group()
def site() -> None:
    """Check site files (racks, SKUs, nodes, networks, partitions)."""


@site.command("validate")
@click.argument("path", type=_PATH)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of text.")
def site_validate(path: Path, as_json: bool) -> None:
    """Load PATH, check every field and every cross-reference, and print a summary.

    Exit code 0 when the site is valid, 2 with one line per problem (file:line: key: message) when not.

    \b
    Example:
      anyrack site validate inventory/examples/hgx-rack/site.yaml
    """
    loaded = load_site(path)
    summary = site_summary(loaded)
    if as_json:
        click.echo(json.dumps({"valid": True, "file": str(path), **summary}, indent=2, sort_keys=True))
    else:
        click.echo(f"{path}: valid site {loaded.site!r}: " + ", ".join(f"{v} {k}" for k, v in summary.items()))


@cli.group()
def inventory() -> None:
    """Generate the Ansible inventory from a site file and discovered facts."""


@inventory.command("generate")
@click.argument("path", type=_PATH)
@click.option("--facts", "facts_dir", type=_PATH, help="Directory of discovered facts (<node>.json).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output directory [default: generated/ beside the site file].")
@click.option("--json", "as_json", is_flag=True, help="Print the reconciliation report as JSON.")
def inventory_generate(path: Path, facts_dir: Path | None, out: Path | None, as_json: bool) -> None:
    """Write hosts.yml, host_vars/ and group_vars/ for the site in PATH.

    Nodes whose discovered facts contradict the site file (serial, GPU count or model, MACs,
    firmware vs the SKU's golden BOM) go into the 'quarantine' group instead of their role group.
    Rerunning with the same input writes nothing; a removed node's files are deleted.

    \b
    Examples:
      anyrack inventory generate inventory/examples/lab/site.yaml
      anyrack inventory generate inventory/examples/hgx-rack/site.yaml \\
          --facts inventory/examples/hgx-rack/facts --json
      ansible-inventory -i inventory/examples/hgx-rack/generated --graph
    """
    result = generate_inventory(path, facts_dir, out)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    sync = result.sync
    assert sync is not None
    counts = result.counts
    if as_json:
        click.echo(json.dumps({
            "site": result.site.site, "out": str(result.out), "groups": sorted(result.groups),
            "files": {"written": list(sync.written), "unchanged": len(sync.unchanged), "removed": list(sync.removed)},
            "summary": counts, "nodes": [r.as_dict() for r in result.reports],
        }, indent=2, sort_keys=True))
        return
    print_reports(result.reports)
    click.echo(
        f"{result.out}: {len(result.site.nodes)} hosts in {len(result.groups)} groups; "
        f"{len(sync.written)} files written, {len(sync.unchanged)} unchanged, {len(sync.removed)} removed"
    )
    click.echo(f"reconciliation: {counts['ok']} ok, {counts['mismatch']} quarantined, "
               f"{counts['undiscovered']} undiscovered")


cli.add_command(bmc)
cli.add_command(deploy_cmd)
cli.add_command(discover_cmd)
cli.add_command(fabric)
cli.add_command(firmware)
cli.add_command(lab)
cli.add_command(provision_cmd)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failure, 2 bad input or usage, 75 output directory busy,
    128 + N stopped by signal N: 130 Ctrl-C, 143 SIGTERM)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        with stop_on_signals():
            rc = cli.main(args=args, prog_name="anyrack", standalone_mode=False)
        return rc if isinstance(rc, int) else 0
    except Stopped as stop:
        return stop.report()
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except click.Abort:
        click.echo("anyrack: aborted", err=True)
        return 130
    except AnyrackError as err:
        if debug:
            traceback.print_exc()
        click.echo(str(err), err=True)
        if isinstance(err, InvalidInput) and len(err.problems) > 1:
            click.echo(f"anyrack: {len(err.problems)} problems; nothing was written", err=True)
        return err.exit_code
    except Exception as err:  # noqa: BLE001 - last resort: one line, traceback on demand
        if debug:
            raise
        click.echo(f"anyrack: internal error: {type(err).__name__}: {err} (rerun with --debug)", err=True)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
