"""Stack settings: the typed config of ``stacks/*/Pulumi.yaml``, read once and turned into a ``GpuCluster``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pulumi

from anyrack.errors import InputError
from anyrack.iac.components import Deployment, GpuCluster, Play
from anyrack.site import load_site


@dataclass(frozen=True)
class StackSettings:
    """Everything a stack reads from its config (see ``stacks/site/Pulumi.yaml`` for each key)."""

    site_file: Path
    racks: tuple[str, ...] = ()
    ansible: bool = False
    playbooks: tuple[str, ...] = ("playbooks/site.yml",)
    os_method: str = "pxe"
    os_image: str | None = None
    bios: dict[str, str] = field(default_factory=dict)
    ca_file: str | None = None
    facts_dir: Path | None = None
    base: Path = Path()
    """The stack's directory (the engine's working directory): resource inputs hold paths relative to it."""
    redeploy: dict[str, str] = field(default_factory=dict)
    rotate: str | None = None
    protect: bool = True
    deploy_batch: int = 32
    private_key: Path | None = None
    vars_files: tuple[Path, ...] = ()


def pairs(config: pulumi.Config, key: str) -> dict[str, str]:
    """An array setting of NAME=VALUE items as a dict."""
    found: dict[str, str] = {}
    for item in config.get_object(key) or []:
        name, sep, value = str(item).partition("=")
        if not sep:
            raise InputError(detail=f"{key}: {item!r} is not NAME=VALUE")
        found[name] = value
    return found


def read_settings(config: pulumi.Config, base: Path, racks: tuple[str, ...] | None = None,
                  playbooks: tuple[str, ...] = ("playbooks/site.yml",)) -> StackSettings:
    """The stack's settings; relative paths are relative to ``base`` (the stack's directory); ``playbooks``
    is the default of the ``playbooks`` setting."""
    bios, redeploy = pairs(config, "biosAttributes"), pairs(config, "redeploy")
    return StackSettings(
        site_file=(base / config.require("siteFile")).resolve(),
        racks=racks if racks is not None else tuple(config.get_object("racks") or ()),
        ansible=config.get_bool("ansible") or False,
        playbooks=tuple(config.get_object("playbooks") or playbooks),
        os_method=config.get("osMethod") or "pxe",
        os_image=config.get("osImage") or None,
        bios=bios,
        facts_dir=(base / config.get("factsDir")).resolve() if config.get("factsDir") else None,
        ca_file=(ca if ca.startswith("~") else str(base / ca)) if (ca := config.get("caFile") or "") else None,
        base=base,
        redeploy=redeploy,
        rotate=config.get("rotateBmcUser") or None,
        protect=config.get_bool("protect") if config.get_bool("protect") is not None else True,
        deploy_batch=config.get_int("deployBatch") or 32,
        private_key=(base / key).resolve() if (key := config.get("ansiblePrivateKey")) else None,
        vars_files=tuple((base / f).resolve() for f in config.get_object("ansibleVarsFiles") or ()),
    )


def passwords_from(credentials: list[str]) -> dict[str, pulumi.Output[str]]:
    """Secret ``bmc-password:<credential>`` config values (``pulumi config set --secret``), for credentials
    whose reference only Ansible can resolve (``{vault: ID}``); the others resolve from their reference."""
    config, found = pulumi.Config("bmc-password"), {}
    for name in credentials:
        value = config.get_secret(name)
        if value is not None:
            found[name] = value
    return found


CLUSTER_SECRETS = {"slurmDbPassword": "slurm_dbd_db_password", "mungeKey": "munge_key"}
"""Secret stack config → the Ansible variable it is given as (``pulumi config set --secret KEY …``)."""


def cluster_secrets() -> dict[str, pulumi.Output[str]]:
    """The cluster's generated secrets kept as Pulumi secrets, if the stack has them; without them the
    roles generate their own on the Ansible controller (``~/.local/state/anyrack``)."""
    config = pulumi.Config()
    return {var: value for key, var in CLUSTER_SECRETS.items() if (value := config.get_secret(key)) is not None}


def deploy(name: str, settings: StackSettings, root: Path,
           passwords: dict[str, pulumi.Output[str]] | None = None) -> GpuCluster:
    """The cluster of ``settings``; playbooks and ``roles/`` are found under ``root`` (the repository).

    Without ``passwords``, they are read from the ``bmc-password`` config namespace for every credential
    of the site file."""
    if passwords is None:
        passwords = passwords_from(list(load_site(settings.site_file).credentials))
    key = str(settings.private_key) if settings.private_key else None
    plays = [Play(str(root / p), roles=(str(root / "roles"),), private_key=key,
                  vars_files=tuple(str(f) for f in settings.vars_files), secret_vars=cluster_secrets())
             for p in settings.playbooks] if settings.ansible else []
    deployment = Deployment(bios=settings.bios, os_method=settings.os_method, os_image=settings.os_image,
                            ca_file=settings.ca_file, redeploy=settings.redeploy, rotate=settings.rotate,
                            protect=settings.protect, deploy_batch=settings.deploy_batch)
    return GpuCluster(name, settings.site_file, deployment, racks=settings.racks, plays=plays, passwords=passwords,
                      facts_dir=settings.facts_dir, base=settings.base)
