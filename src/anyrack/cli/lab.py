"""``anyrack lab``: the test lab; ``anyrack lab bmc serve`` runs the BMC emulator."""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from anyrack.cli.metal import metal
from anyrack.errors import AnyrackError, InputError
from anyrack.lab.emulator.listing import BmcEntry
from anyrack.lab.emulator.quirks import QUIRK_NAMES, quirk_name
from anyrack.lab.emulator.spec import (
    FAULT_KINDS,
    LabOptions,
    LabSpecError,
    TreeSpec,
    load_config,
    parse_fault,
    parse_tree,
)
from anyrack.lab.emulator.tree import tree_root

_PATH = click.Path(path_type=Path)
_ARGV = "anyrack.lab.argv"


def default_state_dir() -> Path:
    """Where the lab keeps its CA and certificates between runs."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local/state")
    return Path(base) / "anyrack" / "lab"


class _KeepsArgv(click.Command):
    """A command that remembers its raw arguments, so --quirk/--fault can attach to the --tree before them."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_ARGV] = list(args)
        return super().parse_args(ctx, args)


def _ordered(argv: list[str]) -> list[tuple[str, str]]:
    """(option, value) pairs of --tree, --quirk and --fault in command-line order."""
    found, i = [], 0
    while i < len(argv):
        arg = argv[i]
        for name in ("--tree", "--quirk", "--fault"):
            if arg == name and i + 1 < len(argv):
                found.append((name, argv[i + 1]))
                i += 1
            elif arg.startswith(name + "="):
                found.append((name, arg.split("=", 1)[1]))
        i += 1
    return found


def trees_from_argv(argv: list[str]) -> tuple[list[TreeSpec], dict[str, float], list[str]]:
    """Trees with the quirks and faults that follow each; faults and quirks before any --tree apply to all."""
    trees: list[dict[str, Any]] = []
    lab_faults: dict[str, float] = {}
    lab_quirks: list[str] = []
    for option, value in _ordered(argv):
        if option == "--tree":
            path, count = parse_tree(value)
            trees.append({"path": Path(path), "count": count, "quirks": [], "faults": {}})
        elif option == "--quirk":
            (trees[-1]["quirks"] if trees else lab_quirks).append(quirk_name(value))
        else:
            kind, share = parse_fault(value)
            (trees[-1]["faults"] if trees else lab_faults)[kind] = share
    specs = [TreeSpec(path=t["path"], count=t["count"], quirks=tuple(lab_quirks + t["quirks"]), faults=t["faults"])
             for t in trees]
    return specs, lab_faults, lab_quirks


def _serves(entry: BmcEntry, spec: TreeSpec) -> bool:
    try:
        return entry.tree == str(tree_root(spec.path))
    except InputError:
        return False


def describe(trees: list[TreeSpec], entries: list[BmcEntry]) -> list[str]:
    """One line per tree: address range, count, quirks and how many BMCs have each fault."""
    lines, start = [], 0
    for spec in trees:
        group = [e for e in entries[start:start + spec.count] if _serves(e, spec)]
        if not group:
            lines.append(f"{spec.path}: refused (see the error above); the other trees are served")
            continue
        start += spec.count
        span = group[0].url if len(group) == 1 else f"{group[0].url} .. {group[-1].url}"
        faults = Counter(f for e in group for f in e.faults)
        quirks = ", ".join(dict.fromkeys(quirk_name(q).replace("_", "-") for q in spec.quirks)) or "none"
        if spec.bmc_quirks:
            quirks += f" (+ own quirks on {len(spec.bmc_quirks)} BMCs)"
        lines.append(f"{spec.path}: {len(group)} BMC{'s' if len(group) != 1 else ''} at {span}; quirks: {quirks}; "
                     f"faults: {', '.join(f'{k} x{n}' for k, n in sorted(faults.items())) or 'none'}")
    return lines


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def lab() -> None:
    """The test lab: emulated BMCs (and, later, hosts and switches)."""


@lab.group()
def bmc() -> None:
    """The BMC emulator: recorded Redfish trees served over HTTPS, many BMCs from one process."""


@bmc.command("serve", cls=_KeepsArgv)
@click.option("--tree", "tree_args", metavar="DIR[:COUNT]", multiple=True,
              help="A recorded tree (DMTF mockup layout) and how many BMCs serve it. Repeatable.")
@click.option("--quirk", "quirk_args", metavar="NAME", multiple=True,
              help=f"Switch a quirk on for the previous --tree (all trees if none yet): {', '.join(QUIRK_NAMES)}.")
@click.option("--fault", "fault_args", metavar="KIND:SHARE", multiple=True,
              help=f"Give a share of the previous --tree's BMCs (of all BMCs if none yet) a fault: "
                   f"{', '.join(FAULT_KINDS)}.")
@click.option("--config", "config", type=_PATH, help="A YAML file with trees and options (flags given override).")
@click.option("--port", type=int, default=8443, show_default=True, help="Port of every BMC address.")
@click.option("--port-base", type=int, help="All BMCs on 127.0.0.1, on ports from this one up.")
@click.option("--first-address", help="The first BMC's loopback address [default: 127.0.1.1; with --port-base "
                                      "127.0.0.1].")
@click.option("--state-dir", type=_PATH, help="Where the CA and certificates live [default: XDG state dir].")
@click.option("--username", default="admin", show_default=True, help="Default user on every BMC.")
@click.option("--password", help="Default user's password [default: a random one per BMC, see the listing].")
@click.option("--session-limit", type=int, default=8, show_default=True, help="Open sessions per BMC.")
@click.option("--power-delay", "power_delay_s", type=float, default=0.0, show_default=True,
              help="Seconds a power change reads PoweringOn/PoweringOff.")
@click.option("--latency-ms", type=int, default=0, show_default=True, help="Added to every response.")
@click.option("--seed", type=int, default=0, show_default=True, help="Chooses which BMCs get the faults.")
@click.option("--listing", type=_PATH, help="Write the BMCs (URL, credentials, CA, tree, faults, quirks) as JSON.")
@click.pass_context
def bmc_serve(ctx: click.Context, tree_args: tuple[str, ...], quirk_args: tuple[str, ...],
              fault_args: tuple[str, ...], config: Path | None, listing: Path | None, **flags: Any) -> None:
    """Serve emulated BMCs until SIGINT/SIGTERM.

    \b
    Examples:
      anyrack lab bmc serve --tree tests/fixtures/redfish/VENDOR/MODEL:100 --listing bmcs.json
      anyrack lab bmc serve --tree A:10 --quirk etag-required --fault timeout:0.1 \\
          --tree B:5 --port-base 9000 --seed 3
      anyrack lab bmc serve --config lab.yaml --listing bmcs.json
    """
    trees, lab_faults, _quirks = trees_from_argv(ctx.meta.get(_ARGV, []))
    if config is not None:
        file_trees, options = load_config(config)
        trees = file_trees + trees
        given = {k: v for k, v in flags.items() if ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE}
        options = replace(options, **given, faults={**options.faults, **lab_faults})
    else:
        options = LabOptions(**flags, faults=lab_faults)
    if not trees:
        raise LabSpecError(what="lab bmc serve", reason="no --tree given (or trees in --config)")
    if options.state_dir is None:
        options = replace(options, state_dir=default_state_dir())

    def ready(entries: list[BmcEntry]) -> None:
        for line in describe(trees, entries):
            click.echo(line)
        click.echo(f"CA: {entries[0].ca}")
        if listing is not None:
            click.echo(f"listing: {listing}")
        click.echo(f"serving {len(entries)} BMCs; Ctrl-C to stop", err=True)

    from anyrack.lab.emulator.server import run_lab  # the HTTP server and TLS stack, only when serving

    run_lab(trees, options, listing=listing, on_ready=ready)


# --- the host lab: Debian 12 nspawn containers on a private bridge -----------------------------------

@lab.command("up")
@click.option("--hosts", "count", type=click.IntRange(1, 60), default=3, show_default=True,
              help="How many hosts: ctl1 (controller) and gpu1.. (computes).")
@click.option("--state-dir", type=_PATH, help="Where the lab keeps its key, overlays and state [default: XDG state].")
@click.option("--cache-dir", type=_PATH, help="Where built images are cached [default: XDG cache].")
@click.option("--no-bmc", is_flag=True, help="Do not serve emulated BMCs.")
def lab_up(count: int, state_dir: Path | None, cache_dir: Path | None, no_bmc: bool) -> None:
    """Boot Debian 12 hosts (systemd-nspawn) with sshd, a sudo user and emulated BMCs; write a site file.

    \b
    Example:
      anyrack lab up --hosts 3 && anyrack lab status
    """
    from anyrack.lab import hosts

    state = hosts.up(count, state_dir=state_dir, cache_dir=cache_dir, bmcs=not no_bmc, progress=click.echo)
    click.echo(f"ssh: ssh -i {hosts.key_path(Path(state.state_dir))} {hosts.LAB_USER}@{state.hosts[0].address}")


@lab.command("status")
@click.option("--state-dir", type=_PATH, help="The lab's state dir [default: XDG state].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def lab_status(state_dir: Path | None, as_json: bool) -> None:
    """List the lab's hosts: name, role, address, state."""
    import json

    from anyrack.lab import hosts

    rows = hosts.status(state_dir)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no host lab running")
        return
    click.echo(f"{'NAME':<10} {'ROLE':<12} {'ADDRESS':<15} STATE")
    for row in rows:
        click.echo(f"{row['name']:<10} {row['role']:<12} {row['address']:<15} {row['state']}")


@lab.command("down")
@click.option("--state-dir", type=_PATH, help="The lab's state dir [default: XDG state].")
def lab_down(state_dir: Path | None) -> None:
    """Stop the hosts, BMCs and apt cache; remove overlays and the bridge."""
    from anyrack.lab import hosts

    if not hosts.down(state_dir=state_dir, progress=click.echo):
        click.echo("no host lab running")


@lab.command("exec", context_settings={"ignore_unknown_options": True})
@click.option("--state-dir", type=_PATH, help="The lab's state dir [default: XDG state].")
@click.argument("node")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def lab_exec(state_dir: Path | None, node: str, command: tuple[str, ...]) -> None:
    """Run COMMAND as root inside host NODE: anyrack lab exec gpu1 -- hostname."""
    from anyrack.lab import hosts

    state = hosts.load_state(state_dir)
    if state is None:
        raise click.ClickException("no host lab running")
    sys.exit(hosts.exec_command(state, node, command))


lab.add_command(metal)


def main(argv: list[str] | None = None) -> int:
    """``python -m anyrack.cli.lab``: run the group with one-line errors; returns the exit code."""
    try:
        lab.main(args=sys.argv[1:] if argv is None else argv, prog_name="anyrack lab", standalone_mode=False)
        return 0
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except AnyrackError as err:
        click.echo(str(err), err=True)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
