"""``anyrack deploy``: blank machines to an installed OS through their BMCs and the PXE server."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import click

from anyrack.cli.report import table
from anyrack.errors import InputError

_PATH = click.Path(path_type=Path)
CALLBACK_PORT = 8750


def local_address_in(cidrs: list[str]) -> str | None:
    """An address of this machine inside one of ``cidrs`` (where the nodes' ramdisks can reach it)."""
    out = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True).stdout or "[]"
    mine = [a["local"] for link in json.loads(out) for a in link.get("addr_info", [])]
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr)
        for addr in mine:
            if ipaddress.ip_address(addr) in net:
                return addr
    return None


def _callback(site, given: str | None) -> tuple[str, int]:  # noqa: ANN001
    if given:
        host, _, port = given.rpartition(":")
        if not host or not port.isdigit():
            raise InputError(detail=f"--callback {given!r}: expected ADDRESS:PORT")
        return host, int(port)
    nets = [n.cidr for n in (site.networks.provisioning, site.networks.management) if n is not None]
    host = local_address_in(nets)
    if host is None:
        raise InputError(detail=f"no address of this machine is in {', '.join(nets)}: the ramdisks could not call "
                                 "back; give --callback ADDRESS:PORT")
    return host, CALLBACK_PORT


def _check_media_url(via: str, url: str | None) -> None:
    if via != "virtual-media":
        if url:
            raise InputError(detail="--media-url is for --via virtual-media only")
        return
    if not url:
        raise InputError(detail="--via virtual-media needs --media-url (the ISO's URL, {node} for the node's name); "
                                "nothing was touched")
    if not url.startswith(("http://", "https://")) or "{node}" not in url:
        raise InputError(detail=f"--media-url {url!r}: expected an http(s) URL with {{node}} in it, "
                                "e.g. http://10.78.0.10:8080/media/{node}.iso")
    try:
        url.format(node="x")
    except (KeyError, IndexError, ValueError):
        raise InputError(detail=f"--media-url {url!r}: only {{node}} may stand in braces") from None


def _confirm(count: int, everything: bool, force: bool, yes: bool) -> None:
    """``--all`` and ``--force`` are confirmed on a terminal, and need ``--yes`` elsewhere."""
    if not (everything or force) or yes:
        return
    what = " and ".join(w for w, on in (("--all", everything), ("--force", force)) if on)
    if not sys.stdin.isatty():
        raise InputError(detail=f"{what} reimages nodes without asking: add --yes (not on a terminal, so "
                                "nobody can confirm); nothing was touched")
    click.confirm(f"Reimage {count} node(s){', forcing powered-on nodes off' if force else ''}?", abort=True,
                  err=True)


def _print_plan(plan: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(plan, indent=1))
        return
    click.echo(f"plan: {len(plan['nodes'])} node(s) of site {plan['site']}, at most {plan['concurrency']} in flight, "
               f"{plan['power_on']['per_rack']} power-on(s) per rack per {plan['power_on']['interval_s']:g} s; "
               "nothing was touched")
    for node in plan["nodes"]:
        click.echo(f"{node['node']} (rack {node['rack']}, {node['role']}, {node['bmc']}): {node['boot']}; "
                   f"if powered on: {node['if powered on']}")
        click.echo(f"  disk: {node['disk']}")
        if check := node.get("disk_check"):
            refused = ", REFUSED" if check["verdict"] in ("none", "several") else ""
            click.echo(f"  disk check ({check['verdict']}{refused}): {check['detail']}")
        click.echo(f"  stages: {' -> '.join(node['stages'])}")
    for name, why in plan["skipped"].items():
        click.echo(f"skipped: {name}: {why}")


def _facts(site, site_path: Path, given: Path | None, targets) -> dict:  # noqa: ANN001
    """The discovered facts of the targets with a root_device hint: from --facts, else facts/ beside the site
    file where it exists, else none (the ramdisk alone checks the hint)."""
    from anyrack.facts import load_facts_dir

    hinted = {n.name for n in targets.nodes if site.root_device_of(n) is not None}
    directory = given or site_path.parent / "facts"
    if not hinted or (given is None and not directory.is_dir()):
        return {}
    facts, _ = load_facts_dir(directory, hinted)
    return facts


@click.command("deploy")
@click.argument("path", type=_PATH)
@click.option("--limit", "-l", "limit", multiple=True, metavar="EXPR",
              help="Which nodes: names, host lists (gpu[001-032]), rack:NAME, role:NAME; comma-separated, repeatable.")
@click.option("--all", "everything", is_flag=True, help="Every node of the site (controller and login nodes only "
                                                        "when also named: use --limit for them).")
@click.option("--force", is_flag=True, help="Force nodes that are powered on off and reimage them (refused without).")
@click.option("--yes", is_flag=True, help="Confirm --all/--force without asking (needed when not on a terminal).")
@click.option("--plan", "show_plan", is_flag=True, help="Print which nodes, disks and stages would run; touch nothing.")
@click.option("--facts", "facts_dir", type=_PATH,
              help="Discovered facts (<node>.json) to check root_device hints against before any power action "
                   "[default: facts/ beside the site file, where it exists].")
@click.option("--retry-failed", is_flag=True, help="Only the nodes that failed (or never finished) in the last run.")
@click.option("--concurrency", type=click.IntRange(1, 10_000), help="Nodes in flight at once [default: the site "
                                                                     "file's deploy.concurrency, else 64].")
@click.option("--callback", metavar="ADDRESS:PORT",
              help=f"Where the ramdisks report [default: this machine's address on the provisioning network, "
                   f"port {CALLBACK_PORT}]; must match the PXE server's pxe_server_callback.")
@click.option("--via", type=click.Choice(["pxe", "virtual-media"]), default="pxe", show_default=True,
              help="How the deploy ramdisk boots: network boot (DHCP, iPXE) or the node's ISO as the BMC's "
                   "virtual CD (no DHCP or TFTP; pxe_server_virtual_media builds the ISOs).")
@click.option("--media-url", metavar="URL",
              help="With --via virtual-media: the ISO's URL, {node} standing for the node's name, e.g. "
                   "http://10.78.0.10:8080/media/{node}.iso (the PXE server's <root>/media/<node>.iso).")
@click.option("--ssh-user", default="root", show_default=True, help="User the deployed OS accepts.")
@click.option("--ssh-key", type=_PATH, help="Private key for that user.")
@click.option("--ca-file", type=_PATH, help="CA bundle for the BMCs' certificates.")
@click.option("--pxe-timeout", default=300.0, show_default=True, help="Seconds for the ramdisk to call back.")
@click.option("--write-timeout", default=1500.0, show_default=True, help="Seconds to write the image.")
@click.option("--boot-timeout", default=900.0, show_default=True, help="Seconds from power-on to SSH.")
@click.option("--retries", type=click.IntRange(0, 5), default=0, show_default=True,
              help="Repeat a failed attempt this many times (a refused boot override is never retried).")
@click.option("--json", "as_json", is_flag=True, help="Print the per-node report as JSON.")
def deploy_cmd(path: Path, limit: tuple[str, ...], everything: bool, force: bool, yes: bool, show_plan: bool,
               facts_dir: Path | None, retry_failed: bool, concurrency: int | None, callback: str | None, via: str,
               media_url: str | None, ssh_user: str, ssh_key: Path | None, ca_file: Path | None, pxe_timeout: float,
               write_timeout: float, boot_timeout: float, retries: int, as_json: bool) -> None:
    """Deploy the OS onto the site's nodes: one-time network boot through each node's BMC, power on, PXE,
    image written by the deploy ramdisk, boot from disk, until the node answers on SSH as itself.

    \b
    Nothing is deployed unless named: --limit EXPR or --all; a node found powered on is refused unless
    --force; --all and --force ask on a terminal (--yes elsewhere). --plan shows what would run.

    \b
    Example (the metal lab):
      anyrack deploy ~/.local/state/anyrack/metal/site.yaml --limit metal1 \\
          --ssh-user anyrack --ssh-key ~/.cache/anyrack/metal/id_ed25519
    Through the BMC's virtual media instead (no DHCP or TFTP):
      anyrack deploy SITE --limit metal1 --via virtual-media \\
          --media-url 'http://10.78.0.10:8080/media/{node}.iso' ...
    Then hand the nodes to the playbooks: anyrack provision SITE --limit NODE.
    """
    from anyrack import aio
    from anyrack.bmc.discover import resolve_passwords
    from anyrack.deploy.fleet import deploy, failed_last_time, save_report
    from anyrack.deploy.run import DeployOptions
    from anyrack.deploy.targets import check_boot_macs, check_hints, plan, refuse_bad_hints, select
    from anyrack.site import load_site

    _check_media_url(via, media_url)
    site = load_site(path)
    reports = path.parent / ".anyrack" / "deploy"
    if retry_failed:
        if limit or everything:
            raise InputError(detail="--retry-failed picks the nodes itself: no --limit or --all with it")
        if not (limit := tuple(failed_last_time(reports))):
            click.echo(f"{reports}: no failed nodes recorded; nothing to retry", err=True)
            return
        limit = (",".join(limit),)
        click.echo(f"retrying the last run's failed nodes: {limit[0]}", err=as_json)
    targets = select(site, limit, everything)
    check_boot_macs(targets, via)
    checks = check_hints(site, targets, _facts(site, path, facts_dir, targets))
    if show_plan:
        _print_plan(plan(site, targets, via, media_url, force, checks), as_json)
    refuse_bad_hints(checks)
    if show_plan:
        return
    nodes = targets.nodes
    passwords = resolve_passwords(site, nodes)
    where = _callback(site, callback)
    _confirm(len(nodes), everything, force, yes)
    for name, why in targets.skipped.items():
        click.echo(f"{name}: skipped: {why}", err=as_json)
    opts = DeployOptions(pxe_timeout=pxe_timeout, write_timeout=write_timeout, boot_timeout=boot_timeout,
                         retries=retries, ssh_user=ssh_user, ssh_key=str(ssh_key) if ssh_key else None,
                         ca_file=str(ca_file) if ca_file else None, via=via, media_url=media_url, force=force)
    reports.mkdir(parents=True, exist_ok=True)
    run = aio.run(deploy(site, nodes, passwords, where, opts, lambda line: click.echo(line, err=as_json),
                         journal_dir=reports, concurrency=concurrency))
    results = run.results
    out = save_report(reports, site, run)
    if as_json:
        click.echo(out.read_text().rstrip())
    else:
        rows = [(r.node, "ok" if r.ok else "FAILED", r.stage, f"{r.seconds:.0f}", r.detail[:90]) for r in results]
        click.echo(table(rows, ("node", "result", "stage", "seconds", "detail")))
        click.echo(run.summary())
        click.echo(f"report: {out}")
    sys.exit(0 if all(r.ok for r in results) else 1)
