"""``anyrack bmc ...`` (one BMC by URL) and ``anyrack discover`` (every node of a site)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from anyrack import aio
from anyrack.cli.params import PEM_FILE, count, seconds
from anyrack.errors import InputError
from anyrack.site import load_site

if TYPE_CHECKING:  # the BMC stack (aiohttp, TLS) loads only when a bmc command runs
    from anyrack.bmc.api import Controller
    from anyrack.bmc.discover import Outcome, Progress

_PATH = click.Path(path_type=Path)
_OUT_DIR = click.Path(file_okay=False, path_type=Path)
TIMEOUT = seconds(0, 3600, min_open=True)


def bmc_options(func: Callable) -> Callable:
    """URL and credential options shared by every ``anyrack bmc`` command."""
    options = [
        click.argument("url"),
        click.option("--user", "-u", required=True, help="BMC user name."),
        click.option("--password-env", required=True, metavar="VAR",
                     help="Environment variable holding the password (never on the command line)."),
        click.option("--ca", "ca_file", type=PEM_FILE, help="CA bundle to verify TLS."),
        click.option("--insecure", is_flag=True, help="Do not verify TLS for this BMC (warned)."),
        click.option("--profile", help="Vendor profile; default: detected from the service root."),
        click.option("--system", help="Redfish system id of the host, on a BMC that manages several."),
        click.option("--allow-http", is_flag=True, help="Allow redfish+http (the password goes in clear; warned)."),
        click.option("--timeout", type=TIMEOUT, default=30.0, show_default=True, help="Seconds per request."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def run_verb(url: str, user: str, password_env: str, ca_file: str | None, insecure: bool, profile: str | None,
             timeout: float, verb: Callable[[Controller], Any], system: str | None = None,
             allow_http: bool = False) -> Any:
    """Open the BMC, run ``verb`` on it, always close it."""
    if insecure and ca_file:
        raise InputError(detail="--insecure and --ca contradict each other: --ca verifies TLS against a CA, "
                                "--insecure turns verification off; give one")
    password = os.environ.get(password_env)
    if not password:
        raise InputError(detail=f"--password-env: environment variable {password_env} is not set")

    from anyrack.bmc import connect

    async def go() -> Any:
        async with connect(url, user, password, ca_file=ca_file, insecure=insecure, profile=profile,
                           timeout=timeout, system=system, allow_http=allow_http) as controller:
            return await verb(controller)

    return aio.run(go())


def emit(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str) if as_json else text(data))


@click.group("bmc")
def bmc() -> None:
    """Talk to one BMC by URL (redfish+https://HOST[:PORT] or ipmi://HOST[:PORT]).

    \b
    Example:
      ANYRACK_BMC_PASSWORD=... anyrack bmc inventory redfish+https://10.10.0.21 \\
          --user root --password-env ANYRACK_BMC_PASSWORD --ca site-ca.pem --json
    """


@bmc.command("inventory")
@bmc_options
@click.option("--node", default="node", show_default=True, help="Node name recorded in the facts.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole facts document as JSON.")
def bmc_inventory(node: str, as_json: bool, **conn: Any) -> None:
    """Print what the BMC reports: vendor, model, serial, profile, firmware, power, GPUs, NICs."""
    facts = run_verb(**conn, verb=lambda c: c.inventory(node))
    summary = {
        "vendor": facts.system.manufacturer, "model": facts.system.model, "serial": facts.system.serial,
        "profile": facts.bmc.profile, "bmc_firmware": facts.bmc.firmware, "bios_version": facts.system.bios_version,
        "power_state": facts.system.power_state,
        "gpus": [{"model": g.model, "serial": g.serial} for g in facts.gpus],
        "nics": [{"name": n.name, "mac": n.mac} for n in facts.nics],
    }
    if as_json:
        click.echo(json.dumps({**summary, "facts": json.loads(facts.to_json())}, indent=2, sort_keys=True))
        return
    for key, value in summary.items():
        if key == "gpus":
            value = f"{len(value)}" + "".join(f"\n  {g['model']}  {g['serial'] or '-'}" for g in value)
        elif key == "nics":
            value = f"{len(value)}" + "".join(f"\n  {n['name']}  {n['mac'] or '-'}" for n in value)
        click.echo(f"{key}: {value if value is not None else '-'}")


@bmc.command("power")
@bmc_options
@click.argument("action", type=click.Choice(["status", "on", "off", "graceful_off", "cycle", "reset",
                                             "graceful_restart"]))
@click.option("--wait", type=seconds(0, 3600), default=0, help="Seconds to wait for the final state (verified).")
def bmc_power(action: str, wait: float, **conn: Any) -> None:
    """Show or change the power state; the actions the BMC allows are read from it."""
    verb = (lambda c: c.power_state()) if action == "status" else (lambda c: c.power(action, wait))
    click.echo(run_verb(**conn, verb=verb))


@bmc.command("boot")
@bmc_options
@click.argument("target", type=click.Choice(["show", "none", "pxe", "http", "cd", "disk", "bios", "usb"]))
@click.option("--persistent", is_flag=True, help="Every boot, not only the next one.")
@click.option("--mode", type=click.Choice(["uefi", "legacy"]), help="Boot mode, where the BMC takes one.")
@click.option("--json", "as_json", is_flag=True)
def bmc_boot(target: str, persistent: bool, mode: str | None, as_json: bool, **conn: Any) -> None:
    """Show or set the boot override (verified by reading back)."""
    verb = (lambda c: c.boot_override()) if target == "show" else \
        (lambda c: c.set_boot_override(target, persistent, mode))
    emit(asdict(run_verb(**conn, verb=verb)), as_json,
         lambda d: f"{d['target']} ({'continuous' if d['persistent'] else 'once'}, mode {d['mode'] or '-'})")


@bmc.command("media")
@bmc_options
@click.argument("action", type=click.Choice(["status", "insert", "eject"]))
@click.argument("image", required=False)
@click.option("--json", "as_json", is_flag=True)
def bmc_media(action: str, image: str | None, as_json: bool, **conn: Any) -> None:
    """Virtual media: status, insert IMAGE_URL, eject."""
    if action == "insert" and not image:
        raise InputError(detail="media insert: give the image URL")
    verbs = {"status": lambda c: c.media_status(), "insert": lambda c: c.insert_media(image),
             "eject": lambda c: c.eject_media()}
    emit(asdict(run_verb(**conn, verb=verbs[action])), as_json,
         lambda d: f"{d['slot']}: {'inserted ' + str(d['image']) if d['inserted'] else 'empty'}")


@bmc.command("bios")
@bmc_options
@click.argument("settings", nargs=-1, metavar="[NAME=VALUE]...")
@click.option("--json", "as_json", is_flag=True)
def bmc_bios(settings: tuple[str, ...], as_json: bool, **conn: Any) -> None:
    """Show BIOS attributes, or stage NAME=VALUE changes (applied at the next reset)."""
    changes: dict[str, object] = {}
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep:
            raise InputError(detail=f"{item!r}: expected NAME=VALUE")
        changes[name] = int(value) if value.isdigit() else value
    verb = (lambda c: c.set_bios(changes)) if changes else (lambda c: c.bios())
    state = run_verb(**conn, verb=verb)
    emit(asdict(state), as_json, lambda d: "\n".join(
        [f"{k} = {v}" + (f"  (pending: {d['pending'][k]})" if k in d["pending"] else "")
         for k, v in sorted(d["current"].items())]))


def _progress_printer(stream: Any) -> Callable[[Progress, Outcome], None]:
    tty = stream.isatty()

    def show(progress: Progress, outcome: Outcome) -> None:
        if not outcome.ok:
            click.echo(("\r\033[K" if tty else "") + f"failed: {outcome.cause}", err=True)
        if tty or progress.done % max(progress.total // 20, 1) == 0 or progress.done == progress.total:
            width = 30
            filled = width * progress.done // max(progress.total, 1)
            line = (f"[{'#' * filled}{'.' * (width - filled)}] {progress.done}/{progress.total} "
                    f"({progress.failed} failed, {progress.elapsed:.0f}s)")
            click.echo(("\r" + line) if tty else line, err=True, nl=not tty)
        if tty and progress.done == progress.total:
            click.echo("", err=True)

    return show


@click.command("discover")
@click.argument("path", type=_PATH)
@click.option("--out", type=_OUT_DIR, help="Facts directory [default: facts/ beside the site file].")
@click.option("--ca", "ca_file", type=PEM_FILE, help="Site CA bundle for TLS.")
@click.option("--limit", "only", multiple=True, metavar="NODE", help="Only these nodes (repeatable).")
@click.option("--retry-failed", is_flag=True, help="Only the nodes that failed in the last run into --out.")
@click.option("--concurrency", type=count(1, 65536), default=256, show_default=True, help="BMCs worked on at once.")
@click.option("--timeout", type=TIMEOUT, default=30.0, show_default=True, help="Seconds per request.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome per node as JSON.")
def discover_cmd(path: Path, out: Path | None, ca_file: str | None, only: tuple[str, ...], retry_failed: bool,
                 concurrency: int, timeout: float, as_json: bool) -> None:
    """Inventory every node of the site through its BMC; one facts file per node.

    Failures are reported per BMC with their cause and do not stop the others; the exit code is 1
    if any node failed. Then: anyrack inventory generate PATH --facts OUT.

    \b
    Example:
      anyrack discover inventory/dc1/site.yaml --ca inventory/dc1/bmc-ca.pem
      anyrack discover inventory/dc1/site.yaml --retry-failed
    """
    from anyrack.bmc.discover import discover, failed_last_time

    site = load_site(path)
    out = out or path.parent / "facts"
    nodes = list(only) or None
    if retry_failed:
        nodes = failed_last_time(out)
        if not nodes:
            click.echo(f"{out}: no failed nodes recorded; nothing to retry", err=True)
            return
    unknown = sorted(set(nodes or []) - {n.name for n in site.nodes})
    if unknown:
        raise InputError(detail=f"--limit: no node {unknown[0]!r} in {path}")
    result = aio.run(discover(site, out, nodes=nodes, ca_file=ca_file, concurrency=concurrency, timeout=timeout,
                                  on_progress=_progress_printer(sys.stderr)))
    if as_json:
        click.echo(json.dumps([asdict(o) for o in result.outcomes], indent=2))
    ok = len(result.outcomes) - len(result.failed)
    click.echo(f"{out}: {ok} nodes discovered, {len(result.failed)} failed, in {result.seconds:.1f} s")
    for url, systems in sorted(result.undeclared.items()):
        click.echo(f"{url}: manages host systems no node declares (bmc.system): {', '.join(systems)}")
    if result.failed:
        raise click.exceptions.Exit(1)
