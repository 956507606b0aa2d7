"""Ansible runs as a dynamic resource: a content hash decides when to re-run, one function runs it.

:func:`content_hash` covers the playbook, the roles and the generated inventory, so a change to any
of them changes the ``hash`` input and Pulumi re-runs the play (an update). :func:`run_playbook`
uses ansible-runner when it is importable, else ``ansible-playbook`` from the running interpreter's
directory (the venv), and reports the PLAY RECAP's counts.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from anyrack.errors import AnyrackError

_RECAP = re.compile(r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                    r"\s+failed=(?P<failed>\d+)", re.M)


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
    """``ansible-runner`` or ``ansible-playbook`` (the subprocess fallback)."""
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


def parse_recap(text: str) -> dict[str, int]:
    """Sum the PLAY RECAP counts over hosts: ok, changed, failed, unreachable."""
    sums = dict.fromkeys(("ok", "changed", "failed", "unreachable"), 0)
    for m in _RECAP.finditer(text):
        for key in sums:
            sums[key] += int(m.group(key))
    return sums


def run_playbook(playbook: str, inventory: str, group: str = "all", extra_vars: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None) -> RunResult:
    """Apply ``playbook`` to ``group`` of ``inventory``; never raises for a failed play (see ``rc``)."""
    bindir = str(Path(sys.executable).parent)
    environ = {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '')}", "ANSIBLE_NOCOLOR": "1",
               **(env or {})}
    try:
        import ansible_runner  # type: ignore[import-not-found]
    except ImportError:
        ansible_runner = None
    if ansible_runner is not None:
        with tempfile.TemporaryDirectory(prefix="anyrack-runner-") as data:
            run = ansible_runner.run(private_data_dir=data, playbook=str(Path(playbook).resolve()),
                                     inventory=str(Path(inventory).resolve()), limit=group,
                                     extravars=extra_vars or {}, envvars=environ, quiet=True)
            stats = run.stats or {}
            count = {k: sum((stats.get(k) or {}).values()) for k in ("ok", "changed", "failures", "dark")}
            return RunResult(run.rc, count["ok"], count["changed"], count["failures"], count["dark"], "ansible-runner",
                             run.stdout.read()[-2000:] if run.stdout else "")
    exe = shutil.which("ansible-playbook", path=environ["PATH"]) or "ansible-playbook"
    cmd = [exe, "-i", inventory, "-l", group, playbook]
    for key, value in (extra_vars or {}).items():
        cmd += ["-e", f"{key}={value}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=environ, check=False)
    text = proc.stdout + proc.stderr
    sums = parse_recap(text)
    return RunResult(proc.returncode, sums["ok"], sums["changed"], sums["failed"], sums["unreachable"],
                     "ansible-playbook", text[-2000:])


class PlaybookRunProvider(ResourceProvider):
    """Runs on create and whenever ``hash``, the playbook, group or extra vars change; delete undoes nothing."""

    compared = ("playbook", "inventory", "group", "hash", "extra_vars")

    def _run(self, props: dict[str, Any]) -> dict[str, Any]:
        result = run_playbook(props["playbook"], props["inventory"], props.get("group") or "all",
                              props.get("extra_vars") or {})
        if result.rc != 0 or result.failed or result.unreachable:
            raise AnsibleRunFailed(playbook=props["playbook"], group=props.get("group") or "all",
                                   detail=f"rc={result.rc} failed={result.failed} unreachable={result.unreachable}"
                                          f" ({result.runner})\n{result.tail}")
        return {**{k: v for k, v in props.items() if k != "__provider"}, "changed": result.changed,
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
                 opts: pulumi.ResourceOptions | None = None) -> None:
        digest = content_hash(playbook, inventory, *(roles or []))
        super().__init__(PlaybookRunProvider(), name,
                         {"playbook": playbook, "inventory": inventory, "group": group, "hash": digest,
                          "extra_vars": extra_vars or {}, "changed": None, "failed": None, "ok": None,
                          "runner": None}, opts)
