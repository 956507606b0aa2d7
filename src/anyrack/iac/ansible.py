"""Ansible runs as a dynamic resource: a content hash decides when to re-run, one function runs it.

:func:`content_hash` covers the playbook, the roles and the generated inventory, so a change to any
of them changes the ``hash`` input and Pulumi re-runs the play (an update). :func:`run_playbook`
runs it through :mod:`anyrack.provision` (ansible-runner, the same path as ``anyrack provision``) and
reports the per-host recap's counts.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from anyrack.errors import AnyrackError
from anyrack.iac.providers import in_stack


class AnsibleRunFailed(AnyrackError):
    template = "ansible run {playbook} on {group}: {detail}"


@dataclass(frozen=True)
class RunResult:
    rc: int
    ok: int
    changed: int
    failed: int
    unreachable: int
    runner: str
    """Always ``ansible-runner``: kept in the outputs to say how the run was made."""
    tail: str = ""


def content_hash(*paths: Path | str) -> str:
    """sha256 over every file under ``paths`` (relative name and bytes, sorted); missing paths count too."""
    digest = hashlib.sha256()
    for root in sorted(Path(p) for p in paths):
        files = sorted(f for f in root.rglob("*") if f.is_file()) if root.is_dir() else [root]
        digest.update(f"root:{root.name}\n".encode())
        for f in files:
            name = f.relative_to(root).as_posix() if root.is_dir() else f.name
            digest.update(f"{name}\n".encode())
            digest.update(f.read_bytes() if f.exists() else b"<missing>")
    return digest.hexdigest()


def run_playbook(playbook: str, inventory: str, group: str = "all", extra_vars: dict[str, Any] | None = None,
                 runs_dir: str | None = None, private_key: str | None = None,
                 vars_files: tuple[str, ...] = ()) -> RunResult:
    """Apply ``playbook`` to ``group`` of ``inventory`` through anyrack.provision (ansible-runner, secrets
    scrubbed, artifacts kept under ``runs_dir``, default ``.anyrack/runs`` beside the inventory); never
    raises for a failed play (see ``rc``)."""
    from anyrack.provision.plan import Plan
    from anyrack.provision.runner import provision

    inventory_path = Path(inventory).resolve()
    runs = Path(runs_dir) if runs_dir else inventory_path.parent / ".anyrack/runs"
    plan = Plan(site_file=inventory_path, site=inventory_path.name, playbook=Path(playbook).resolve(),
                inventory=inventory_path, runs_dir=runs, limit=group,
                private_key=Path(private_key).resolve() if private_key else None,
                vars_files=tuple(Path(f).resolve() for f in vars_files),
                inline_vars={k: str(v) for k, v in (extra_vars or {}).items()})
    lines: list[str] = []
    outcome = provision(plan, lines.append)
    count = {k: sum(getattr(h, k) for h in outcome.hosts) for k in ("ok", "changed", "failed", "unreachable")}
    tail = "\n".join([*lines[-20:], *(f"{f.host}: {f.kind}: {f.msg}" for f in outcome.failures),
                      outcome.error, f"artifacts: {outcome.run_dir}"])
    return RunResult(outcome.rc, count["ok"], count["changed"], count["failed"], count["unreachable"],
                     "ansible-runner", tail.strip())


MUNGE_KEY = "munge_key"
"""A secret var holding the cluster's MUNGE key (base64): handed to the munge role as a key file."""


class PlaybookRunProvider(ResourceProvider):
    """Runs on create and whenever ``hash``, the playbook, group, extra vars or the names of the secret
    vars change; delete undoes nothing. ``secret_vars`` (Pulumi secrets: the slurmdbd password, the MUNGE
    key) reach Ansible through anyrack.provision's temporary vars file and are never outputs."""

    compared = ("playbook", "inventory", "group", "hash", "extra_vars", "private_key", "vars_files",
                "secret_names")

    def _run(self, props: dict[str, Any]) -> dict[str, Any]:
        key = props.get("private_key")
        secrets = {k: v for k, v in (props.get("secret_vars") or {}).items() if v}  # "": let the role generate
        with tempfile.TemporaryDirectory(prefix="anyrack-munge-") as keys:
            if MUNGE_KEY in secrets:  # the munge role reads the key from munge_key_dir/munge_key_name
                key_file = Path(keys) / "cluster.key"
                key_file.write_bytes(base64.b64decode(secrets.pop(MUNGE_KEY)))
                key_file.chmod(0o600)
                secrets |= {"munge_key_dir": keys, "munge_key_name": key_file.name}
            result = run_playbook(in_stack(props["playbook"]), in_stack(props["inventory"]),
                                  props.get("group") or "all", {**(props.get("extra_vars") or {}), **secrets},
                                  private_key=in_stack(key) if key else None,
                                  vars_files=tuple(in_stack(f) for f in props.get("vars_files") or ()))
        if result.rc != 0 or result.failed or result.unreachable:
            raise AnsibleRunFailed(playbook=props["playbook"], group=props.get("group") or "all",
                                   detail=f"rc={result.rc} failed={result.failed} unreachable={result.unreachable}"
                                          f" ({result.runner})\n{result.tail}")
        return {**{k: v for k, v in props.items() if k not in ("__provider", "secret_vars")}, "changed": result.changed,
                "failed": result.failed, "ok": result.ok, "runner": result.runner}

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"{props.get('group') or 'all'}:{props['playbook']}", outs=self._run(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in self.compared if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._run(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)


class PlaybookRun(Resource):
    """One ``ansible-playbook`` run; ``hash`` is computed now from the playbook, ``roles`` and inventory."""

    changed: pulumi.Output[int]
    failed: pulumi.Output[int]
    hash: pulumi.Output[str]

    def __init__(self, name: str, playbook: str, inventory: str, group: str = "all",
                 roles: list[str] | None = None, extra_vars: dict[str, Any] | None = None,
                 opts: pulumi.ResourceOptions | None = None, base: Path | str | None = None,
                 private_key: str | None = None, vars_files: list[str] | None = None,
                 secret_vars: Mapping[str, str | pulumi.Output[str]] | None = None) -> None:
        here = Path(base or ".")  # relative paths are relative to the stack's directory
        digest = content_hash(*(here / p for p in (playbook, inventory, *(roles or []), *(vars_files or []))))
        super().__init__(PlaybookRunProvider(), name,
                         {"playbook": playbook, "inventory": inventory, "group": group, "hash": digest,
                          "extra_vars": extra_vars or {}, "private_key": private_key, "vars_files": vars_files or [],
                          "secret_vars": pulumi.Output.secret(dict(secret_vars or {})),
                          "secret_names": sorted(secret_vars or {}),
                          "changed": None, "failed": None, "ok": None, "runner": None}, opts)
