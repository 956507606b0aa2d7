"""Check everything ``anyrack provision`` is given before anything runs or is written.

:func:`plan` turns the operator's arguments into a :class:`Plan`: the site file loaded and checked, the
inventory directory, the playbook, the private key and the extra-vars files all found, and the
``KEY=VALUE`` extra vars parsed. Every problem is an :class:`~anyrack.errors.InputError` (exit code 2)
raised before the first byte is written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from anyrack.errors import InputError
from anyrack.provision.content import locate
from anyrack.site import load_site
from anyrack.site.model import SecretRef

_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class InventoryMissing(InputError):
    template = "{path}: no inventory here; run `anyrack inventory generate {site}` first (or give --inventory DIR)"


class UnknownPlaybook(InputError):
    template = "{path}: no such playbook (playbooks in {where}: {known})"


class BadExtraVars(InputError):
    template = "--extra-vars {item!r}: {detail}"


class MissingFile(InputError):
    template = "{option} {path}: {detail}"


class HostWithoutAddress(InputError):
    template = "{where}: {host}: no address (ansible_host); rerun `anyrack inventory generate` or give it one"


class InventoryUnreadable(InputError):
    template = "{path}: ansible-inventory cannot read it: {detail}"


@dataclass(frozen=True)
class Plan:
    """One provisioning run, checked: every path absolute and existing."""

    site_file: Path
    site: str
    playbook: Path
    inventory: Path
    runs_dir: Path
    """``<site dir>/.anyrack/runs``; each run gets a directory below it."""
    limit: str | None = None
    private_key: Path | None = None
    vars_files: tuple[Path, ...] = ()
    inline_vars: dict[str, str] = field(default_factory=dict)
    """``-e KEY=VALUE`` pairs; handed to Ansible through a temporary file, never through the artifacts."""
    check: bool = False
    secret_refs: tuple[SecretRef, ...] = ()
    """Every secret the site file declares (references only): the scrubber redacts their values."""


def _playbook(name: str, playbook_dir: Path) -> Path:
    where = playbook_dir.resolve()
    path = (where / name).resolve()
    if path.is_file() and path.is_relative_to(where) and path.suffix in (".yml", ".yaml"):
        return path
    known = sorted(p.name for p in where.glob("*.y*ml")) if where.is_dir() else []
    raise UnknownPlaybook(path=where / name, where=where, known=", ".join(known) or "none")


def _extra_vars(items: tuple[str, ...]) -> tuple[tuple[Path, ...], dict[str, str]]:
    files: list[Path] = []
    inline: dict[str, str] = {}
    for item in items:
        if item.startswith("@"):
            path = Path(item[1:]).expanduser()
            if not path.is_file():
                raise BadExtraVars(item=item, detail=f"{path} is not a file")
            files.append(path.resolve())
            continue
        key, sep, value = item.partition("=")
        if not sep or not _VAR_NAME.fullmatch(key):
            raise BadExtraVars(item=item, detail="expected @FILE or NAME=VALUE (NAME a variable name)")
        inline[key] = value
    return tuple(files), inline


def plan(site_file: Path, playbook: str = "site.yml", inventory: Path | None = None, limit: str | None = None,
         private_key: Path | None = None, extra_vars: tuple[str, ...] = (), check: bool = False,
         playbook_dir: Path | None = None) -> Plan:
    """Check the arguments of ``anyrack provision``; raises an InputError naming the bad file or option."""
    site = load_site(site_file)
    inventory = inventory if inventory is not None else site_file.parent / "generated"
    if not inventory.is_file() and not (inventory.is_dir() and any(inventory.iterdir())):
        raise InventoryMissing(path=inventory, site=site_file)
    book = _playbook(playbook, playbook_dir if playbook_dir is not None else locate().playbooks)
    if private_key is not None:
        private_key = private_key.expanduser()
        if not private_key.is_file():
            raise MissingFile(option="--private-key", path=private_key, detail="no such file")
        private_key = private_key.resolve()
    files, inline = _extra_vars(extra_vars)
    _check_addresses(inventory, limit)
    return Plan(site_file=site_file.resolve(), site=site.site, playbook=book, inventory=inventory.resolve(),
                runs_dir=site_file.resolve().parent / ".anyrack" / "runs", limit=limit or None,
                private_key=private_key, vars_files=files, inline_vars=inline, check=check,
                secret_refs=tuple(c.password for c in site.credentials.values()))


def _check_addresses(inventory: Path, limit: str | None) -> None:
    """Every host the run would touch has an address (or a local connection): a host without one
    would otherwise fail late, after the others were changed."""
    from anyrack.provision.runner import ansible_env, ansible_tool  # runner imports this module

    cmd = [ansible_tool("ansible-inventory"), "-i", str(inventory), "--list"]
    if limit:
        cmd += ["--limit", limit]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, **ansible_env()},
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise InventoryUnreadable(path=inventory, detail=str(err)) from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        raise InventoryUnreadable(path=inventory, detail=lines[-1] if lines else f"exit {proc.returncode}")
    hostvars = json.loads(proc.stdout).get("_meta", {}).get("hostvars", {})
    for host in sorted(hostvars):
        values = hostvars[host] or {}
        if values.get("ansible_host") or values.get("ansible_connection") == "local" or host == "localhost":
            continue
        own = inventory / "host_vars" / f"{host}.yml" if inventory.is_dir() else inventory
        raise HostWithoutAddress(where=own if own.exists() else inventory, host=host)
