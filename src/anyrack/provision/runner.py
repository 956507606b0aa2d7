"""Run one playbook through ansible-runner and keep the run's artifacts, without secrets.

Each run gets its own directory, ``<site dir>/.anyrack/runs/<UTC timestamp>-<playbook>/``, which is both
ansible-runner's private data directory and its artifact directory: ``command``, ``stdout``,
``status``, ``rc`` and ``job_events/`` land there. What does *not* land there:

* extra vars: they reach ``ansible-playbook`` as ``-e @FILE`` paths (the operator's files, and a
  temporary file outside the run directory for ``NAME=VALUE`` pairs, deleted after the run), never
  as ``env/extravars``; ``suppress_env_files`` keeps ``env/`` from being written at all;
* secret environment variables: the process environment is inherited (no ``envvars`` holding
  secrets), and the ``command`` record, where ansible-runner dumps the child's whole environment,
  gets the values of variables named like ``*PASSWORD*``/``*SECRET*``/``*TOKEN*``, and of any variable
  holding a secret the site file declares, replaced before it
  is written (:func:`_command_record_scrubbed`) and is checked again afterwards;
* facts: no jsonfile fact cache in the artifacts (facts of ``local`` hosts hold the controller's
  environment);
* what ``no_log`` hides and known secret values: every event passes :func:`~anyrack.provision.scrub.scrub_event`
  before it is printed or written, and ``stdout`` is written by anyrack from the scrubbed events
  (ansible-runner's own copy of the raw output is switched off).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from anyrack.provision.content import locate
from anyrack.provision.plan import Plan
from anyrack.provision.report import Failure, HostRecap, Progress, last_failures, recap
from anyrack.provision.scrub import REDACTED, SECRET_NAME, declared_values, scrub_env, scrub_event, secret_values

_TASK_LINE = re.compile(r"^ {6,}\S.*\tTAGS: ")


@dataclass
class Outcome:
    """What a run did: ansible-playbook's exit code, the per-host recap, the failures, where the artifacts are."""

    rc: int
    status: str
    run_dir: Path
    hosts: list[HostRecap]
    failures: list[Failure] = field(default_factory=list)
    """One per failed or unreachable host (its last failure)."""
    error: str = ""
    """Why the run failed when no host did (a playbook syntax error, a --limit matching nothing)."""

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.failures and all(h.healthy for h in self.hosts)


class _JsonScrubbingCommand:
    """Stands in for ``json`` inside ``ansible_runner.runner``: the ``command`` record is dumped scrubbed."""

    def __init__(self, real: Any, secrets: frozenset[str]) -> None:
        self._real = real
        self._secrets = secrets

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def dump(self, obj: Any, fp: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(obj, dict) and set(obj) == {"command", "cwd", "env"} and isinstance(obj["env"], Mapping):
            obj = {**obj, "env": scrub_env(obj["env"], self._secrets)}
        self._real.dump(obj, fp, *args, **kwargs)


@contextmanager
def _command_record_scrubbed(secrets: frozenset[str]) -> Iterator[None]:
    """ansible-runner writes ``<artifacts>/command`` with the child's full environment before it starts the
    child, from the same dict it starts it with; this scrubs the written copy only."""
    import ansible_runner.runner as module

    real = getattr(module, "json", None)
    if real is None:  # another ansible-runner layout: _check_command_record still scrubs afterwards
        yield
        return
    module.json = _JsonScrubbingCommand(real, secrets)
    try:
        yield
    finally:
        module.json = real


def _check_command_record(run_dir: Path, secrets: frozenset[str]) -> None:
    """Scrub ``command`` again if a secret value got into it anyway (a changed ansible-runner)."""
    path = run_dir / "command"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    env = record.get("env") or {}
    if any((SECRET_NAME.search(k) or v in secrets) and v != REDACTED for k, v in env.items()):
        record["env"] = scrub_env(env, secrets)
        path.write_text(json.dumps(record))


def _run_dir(plan: Plan, now: datetime) -> Path:
    plan.runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stem = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{plan.playbook.stem}"
    for n in range(1, 1000):
        path = plan.runs_dir / (stem if n == 1 else f"{stem}-{n}")
        try:
            path.mkdir(mode=0o700)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(plan.runs_dir / stem)


def _write_settings(run_dir: Path) -> None:
    """``env/settings``: ansible-runner's raw copy of the output off, since anyrack writes ``stdout`` from the
    scrubbed events. (ansible-runner 2.4 ignores a ``settings=`` argument when this file is missing.)"""
    (run_dir / "env").mkdir(mode=0o700)
    (run_dir / "env" / "settings").write_text(json.dumps({"suppress_output_file": True}) + "\n")


def ansible_env() -> dict[str, str]:
    """Variables (none secret) that point Ansible at anyrack's config, roles and collections (the checkout's, or
    the installed wheel's: :func:`anyrack.provision.content.locate`)."""
    bindir = str(Path(sys.executable).parent)
    content = locate()
    return {
        "ANSIBLE_CONFIG": str(content.config),
        "ANSIBLE_ROLES_PATH": str(content.roles),
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(map(str, content.collections_path)),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def _args(plan: Plan, vars_files: list[Path]) -> list[str]:
    """ansible-playbook's options besides the inventory and the playbook."""
    args: list[str] = []
    if plan.limit:
        args += ["--limit", plan.limit]
    if plan.private_key:
        args += ["--private-key", str(plan.private_key)]
    for path in vars_files:
        args += ["-e", f"@{path}"]
    if plan.check:
        args.append("--check")
    return args


def ansible_tool(name: str) -> str:
    """An Ansible command from the running interpreter's venv, else from PATH."""
    exe = Path(sys.executable).parent / name
    return str(exe) if exe.exists() else name


def count_tasks(plan: Plan, vars_files: list[Path]) -> int | None:
    """How many tasks ``ansible-playbook --list-tasks`` lists (roles included); ``None`` if it cannot say."""
    cmd = [ansible_tool("ansible-playbook"), "--list-tasks", "-i", str(plan.inventory),
           *_args(plan, vars_files),
           str(plan.playbook)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False,
                              env={**os.environ, **ansible_env()})
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return sum(1 for line in proc.stdout.splitlines() if _TASK_LINE.match(line))


def _final_failures(seen: list[Failure], hosts: list[HostRecap]) -> list[Failure]:
    """The failure that stopped each host the recap counts as failed or unreachable (a failure a ``rescue``
    recovered from is not one); without a recap, every failure seen."""
    if not hosts:
        return last_failures(seen)
    bad = {h.host: h for h in hosts if not h.healthy}
    found = [f for f in last_failures(seen) if f.host in bad]
    missing = [Failure(h, "unreachable" if bad[h].unreachable else "failed", "", "no message in the events")
               for h in sorted(set(bad) - {f.host for f in found})]
    return sorted(found + missing, key=lambda f: f.host)


def _error_tail(run_dir: Path) -> str:
    """The last meaningful line ansible-playbook printed (an ERROR! line if there is one)."""
    try:
        lines = [ln.strip() for ln in (run_dir / "stdout").read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    errors = [ln for ln in lines if ln.startswith(("ERROR!", "[ERROR]"))]
    return (errors[0] if errors else lines[-1] if lines else "")[:400]


def provision(plan: Plan, echo: Callable[[str], None], now: datetime | None = None) -> Outcome:
    """Run ``plan.playbook`` over ``plan.inventory``; progress goes to ``echo``. Never raises for a failed play."""
    import ansible_runner

    run_dir = _run_dir(plan, now or datetime.now(UTC))
    with tempfile.TemporaryDirectory(prefix="anyrack-vars-") as tmp:
        vars_files = list(plan.vars_files)
        if plan.inline_vars:
            inline = Path(tmp) / "extra-vars.json"
            fd = os.open(inline, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(plan.inline_vars, handle)
            vars_files.append(inline)
        progress = Progress(echo=echo, total=count_tasks(plan, vars_files))
        secrets = secret_values(os.environ, vars_files) | declared_values(plan.secret_refs)
        _write_settings(run_dir)
        log_fd = os.open(run_dir / "stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(log_fd, "w") as log, _command_record_scrubbed(secrets):

            def on_event(event: dict[str, Any]) -> bool:
                scrub_event(event, secrets)
                if event.get("stdout"):
                    log.write(event["stdout"].replace("\r\n", "\n") + "\n")
                return progress(event)

            run = ansible_runner.run(
                private_data_dir=str(run_dir), artifact_dir=str(run_dir.parent), ident=run_dir.name,
                playbook=str(plan.playbook), cmdline=shlex.join(_args(plan, vars_files)),
                inventory=str(plan.inventory), roles_path=str(locate().roles), envvars=ansible_env(),
                suppress_env_files=True, fact_cache_type="none", quiet=True, event_handler=on_event,
            )
    _check_command_record(run_dir, secrets)
    rc = run.rc if isinstance(run.rc, int) else 1
    hosts = recap(progress.stats or run.stats)
    outcome = Outcome(rc=rc, status=str(run.status), run_dir=run_dir, hosts=hosts,
                      failures=_final_failures(progress.failures, hosts))
    if rc != 0 and not outcome.failures:
        outcome.error = _error_tail(run_dir) or f"ansible-playbook exited with {rc}"
    return outcome
