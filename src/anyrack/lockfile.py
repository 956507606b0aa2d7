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
        said = f"{what}: waiting for another anyrack process ({path})"
        if not acquire(fd, wait, (lambda: progress(said)) if progress else None):
            raise Busy(what=what, path=str(path))
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def acquire(fd: int, wait: float | None, on_wait: Callable[[], object] | None = None) -> bool:
    """Take an exclusive ``flock`` on the open descriptor ``fd``, waiting up to ``wait`` seconds (``None``: as
    long as it takes); ``on_wait`` is called once if another process holds it. False if it never came."""
    deadline = None if wait is None else time.monotonic() + wait
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if on_wait and not told:
                on_wait()
                told = True
            time.sleep(0.05)
