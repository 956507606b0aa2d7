"""``anyrack provision``: run a playbook over the generated inventory through ansible-runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from anyrack.cli.report import table

if TYPE_CHECKING:  # ansible-runner loads only when a run starts
    from anyrack.provision import Outcome, Plan

_PATH = click.Path(path_type=Path)


def _print_text(outcome: Outcome) -> None:
    from anyrack.provision.report import COLUMNS

    if outcome.hosts:
        click.echo("PLAY RECAP")
        rows = [(h.host, *(str(getattr(h, c)) for c in COLUMNS)) for h in outcome.hosts]
        click.echo(table(rows, ("host", *COLUMNS)))
    for failure in outcome.failures:
        click.echo(failure.line(), err=True)
    if outcome.error:
        click.echo(f"provision: {outcome.error}", err=True)
    click.echo(f"artifacts: {outcome.run_dir}")


def _as_json(plan: Plan, outcome: Outcome) -> str:
    return json.dumps({
        "site": plan.site, "site_file": str(plan.site_file), "playbook": str(plan.playbook),
        "inventory": str(plan.inventory), "limit": plan.limit, "check": plan.check,
        "ok": outcome.ok, "rc": outcome.rc, "status": outcome.status, "error": outcome.error or None,
        "hosts": [h.as_dict() for h in outcome.hosts],
        "failures": [{"host": f.host, "kind": f.kind, "task": f.task, "msg": f.msg} for f in outcome.failures],
        "artifacts": str(outcome.run_dir),
    }, indent=2, sort_keys=True)


@click.command("provision")
@click.argument("path", type=_PATH)
@click.option("--playbook", default="site.yml", show_default=True, help="Playbook to run, in the playbook directory.")
@click.option("--playbook-dir", type=_PATH,
              help="Directory of playbooks [default: the anyrack.hpc collection's, checkout or installed].")
@click.option("--limit", "-l", metavar="PATTERN", help="Ansible host pattern: only these hosts or groups.")
@click.option("--inventory", "-i", "inventory", type=_PATH,
              help="Inventory directory [default: generated/ beside the site file].")
@click.option("--private-key", type=_PATH, help="SSH private key for the hosts.")
@click.option("--extra-vars", "-e", "extra_vars", multiple=True, metavar="@FILE|NAME=VALUE",
              help="Extra variables (repeatable). Secrets belong in a file (@FILE): only its path is recorded.")
@click.option("--check", is_flag=True, help="Check mode: report what would change, change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON (progress goes to stderr).")
def provision_cmd(path: Path, playbook: str, playbook_dir: Path | None, limit: str | None, inventory: Path | None,
                  private_key: Path | None, extra_vars: tuple[str, ...], check: bool, as_json: bool) -> None:
    """Run a playbook (default site.yml) over the site's generated inventory, through ansible-runner.

    Prints one line per task and every host failure as it happens, then a recap per host and the
    run's artifact directory (<site dir>/.anyrack/runs/<UTC time>-<playbook>/: command, stdout,
    job_events/). Exit code 0 when every host is ok, 1 when a host failed or was unreachable (one
    line each), 2 for bad input (nothing is run or written).

    \b
    Examples:
      anyrack inventory generate inventory/dc1/site.yaml --facts inventory/dc1/facts
      anyrack provision inventory/dc1/site.yaml --private-key ~/.ssh/dc1 -e @dc1-secrets.yml
      anyrack provision inventory/dc1/site.yaml --limit rack_r01 --check
    """
    from anyrack.provision import plan, provision

    checked = plan(path, playbook=playbook, inventory=inventory, limit=limit, private_key=private_key,
                   extra_vars=extra_vars, check=check, playbook_dir=playbook_dir)
    outcome = provision(checked, echo=lambda line: click.echo(line, err=as_json))
    if as_json:
        click.echo(_as_json(checked, outcome))
    else:
        _print_text(outcome)
    if not outcome.ok:
        raise click.exceptions.Exit(1)
