"""Advisory locks on a file (``flock``), for work that two processes must not do at once.

The lock is the kernel's: it goes when the holder exits, crashed or not, so a stale lock file is never
a problem (the file itself stays; it holds nothing).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from anyrack.errors import AnyrackError


class Busy(AnyrackError):
    """Another process holds the lock and did not let go in time."""

    template = "{what} is busy: another anyrack process holds {path}; try again when it has finished"
    exit_code = 2


@contextlib.contextmanager
def exclusive(path: Path, *, what: str, wait: float | None = None,
              progress: Callable[[str], object] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block.

    ``wait`` is how long to wait for another holder, in seconds (``None``: as long as it takes); past it
    :class:`Busy` is raised. ``progress`` is told once that we wait, and for whom.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        deadline = None if wait is None else time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise Busy(what=what, path=str(path)) from None
                if progress and not told:
                    progress(f"{what}: waiting for another anyrack process ({path})")
                    told = True
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
