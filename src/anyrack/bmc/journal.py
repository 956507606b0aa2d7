"""The run journal of a discovery: which nodes a run set out to do and which it finished.

``<out>/.discovery-journal`` is written line by line as the run goes (one JSON object per line, each
line flushed to the kernel as soon as a node finishes), and removed once the run's report is written.
A journal still present therefore means the last run was interrupted or killed (SIGKILL, a power cut);
:meth:`Journal.unfinished` then names every node it did not finish successfully, so that
``anyrack discover --retry-failed`` retries them instead of saying there is nothing to retry.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

NAME = ".discovery-journal"


class _Outcome(Protocol):
    node: str
    ok: bool


class Journal:
    """Opened at the start of a run (replacing an older journal); :meth:`finish` removes it."""

    def __init__(self, out: Path, nodes: list[str], name: str = NAME) -> None:
        self.path = out / name
        tmp = out / f".{name}.new"
        with open(tmp, "w", encoding="utf-8") as handle:  # the planned nodes, then renamed into place whole
            handle.write(json.dumps({"planned": nodes}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)

    def record(self, outcome: _Outcome) -> None:
        """One finished node; a single ``write`` of a whole line, so a kill leaves whole lines only."""
        if self._fd is not None:
            os.write(self._fd, (json.dumps({"node": outcome.node, "ok": outcome.ok}) + "\n").encode())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def finish(self) -> None:
        """The run completed and its report is written: the journal is no longer needed."""
        self.close()
        self.path.unlink(missing_ok=True)

    @staticmethod
    def unfinished(out: Path, name: str = NAME) -> set[str] | None:
        """Nodes the interrupted last run did not finish successfully; None if that run completed."""
        try:
            lines = (out / name).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return None
        planned: set[str] = set()
        done: set[str] = set()
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:  # a torn last line: that node did not finish
                continue
            if not isinstance(entry, dict):
                continue
            if isinstance(entry.get("planned"), list):
                planned.update(str(n) for n in entry["planned"])
            elif entry.get("ok") is True:
                done.add(str(entry.get("node")))
        return planned - done
