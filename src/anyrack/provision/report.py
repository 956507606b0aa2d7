"""What an operator sees of a run: one line per task, failures as they happen, a recap per host.

:class:`Progress` is ansible-runner's ``event_handler``: it reads each event as the run goes, prints
through the ``echo`` it was given, and keeps the failures and the closing stats for :func:`recap`.
It only reads what the runner's callback already censored (``no_log`` results arrive as
``{"censored": ...}``), so it prints nothing a playbook hid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

COLUMNS = ("ok", "changed", "failed", "unreachable", "skipped")
_STATS_KEYS = {"ok": "ok", "changed": "changed", "failed": "failures", "unreachable": "dark", "skipped": "skipped"}
_FACTS_ACTIONS = {"gather_facts", "setup", "ansible.builtin.gather_facts", "ansible.builtin.setup"}
_MSG_MAX = 400


@dataclass(frozen=True)
class Failure:
    """A host that failed a task (not ``ignore_errors``) or could not be reached."""

    host: str
    kind: str
    """``failed`` or ``unreachable``."""
    task: str
    msg: str

    def line(self) -> str:
        return f"{self.host}: {self.kind}: {self.msg}" + (f" (task: {self.task})" if self.task else "")


@dataclass(frozen=True)
class HostRecap:
    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0

    @property
    def healthy(self) -> bool:
        return not self.failed and not self.unreachable

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def result_msg(res: dict[str, Any] | None) -> str:
    """The module's message on one line: ``msg``, else stderr, else the censoring note, else a placeholder."""
    res = res or {}
    msg = res.get("msg") or res.get("stderr") or res.get("reason") or res.get("censored") or "no message"
    if not isinstance(msg, str):
        msg = str(msg)
    text = " ".join(msg.split())
    return text if len(text) <= _MSG_MAX else text[:_MSG_MAX - 3] + "..."


@dataclass
class Progress:
    """ansible-runner ``event_handler``: prints task starts and host failures, keeps the stats."""

    echo: Callable[[str], None]
    total: int | None = None
    """Tasks the playbook lists (``--list-tasks``); ``None`` when unknown."""
    started: int = 0
    failures: list[Failure] = field(default_factory=list)
    stats: dict[str, Any] | None = None

    def __call__(self, event: dict[str, Any]) -> bool:
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind in ("playbook_on_task_start", "playbook_on_handler_task_start"):
            self._task(data, handler=kind == "playbook_on_handler_task_start")
        elif kind == "runner_on_failed":
            failure = Failure(str(data.get("host")), "failed", str(data.get("task") or ""), result_msg(data.get("res")))
            if data.get("ignore_errors"):
                self.echo(f"  {failure.host}: failed (ignored): {failure.msg}")
            else:
                self.failures.append(failure)
                self.echo(f"  {failure.line()}")
        elif kind == "runner_on_unreachable":
            failure = Failure(str(data.get("host")), "unreachable", str(data.get("task") or ""),
                              result_msg(data.get("res")))
            self.failures.append(failure)
            self.echo(f"  {failure.line()}")
        elif kind == "playbook_on_stats":
            self.stats = data
        return True  # keep every event in the artifacts

    def _task(self, data: dict[str, Any], handler: bool) -> None:
        name = str(data.get("task") or data.get("name") or "?")
        if handler:
            self.echo(f"[handler] TASK {name}")
        elif data.get("task_action") in _FACTS_ACTIONS and name == "Gathering Facts":
            self.echo(f"[facts] TASK {name}")
        else:
            self.started += 1
            of = f"/{max(self.total, self.started)}" if self.total is not None else ""
            self.echo(f"[{self.started}{of}] TASK {name}")


def recap(stats: dict[str, Any] | None) -> list[HostRecap]:
    """Per-host counts from the ``playbook_on_stats`` event (or ``Runner.stats``), sorted by host."""
    stats = stats or {}
    hosts: set[str] = set(stats.get("processed") or {})
    for key in _STATS_KEYS.values():
        hosts |= set(stats.get(key) or {})
    return [HostRecap(host, **{col: int((stats.get(key) or {}).get(host, 0)) for col, key in _STATS_KEYS.items()})
            for host in sorted(hosts)]


def last_failures(failures: list[Failure]) -> list[Failure]:
    """One failure per host, the last one it had (the one that stopped it), in host order."""
    last: dict[str, Failure] = {}
    for failure in failures:
        last[failure.host] = failure
    return [last[host] for host in sorted(last)]
