"""The ``anyrack`` command. :func:`run` is the console script: it is importable without the rest of the
package, so that a Ctrl-C while Python is still importing prints one line, not a traceback."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Stopped(BaseException):  # noqa: N818 - a BaseException, like KeyboardInterrupt: click must not catch it
    """SIGINT or SIGTERM arrived while a command that does not handle signals itself was running."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    def report(self) -> int:
        """Print the one line and return the exit code (128 + the signal's number)."""
        sys.stderr.write(f"anyrack: interrupted by {signal.Signals(self.signum).name}\n")
        sys.stderr.flush()
        return 128 + self.signum


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Stopped` inside (commands with their own cleanup, such as discover,
    replace these handlers while they run); the previous handlers come back on the way out."""
    try:
        previous = {signum: signal.signal(signum, _raise_stopped) for signum in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread (a test calling main() from a worker): leave signals alone
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run() -> None:
    """Console script entry point: ``anyrack ...``."""
    try:
        with stop_on_signals():
            from anyrack.cli.main import main
        rc = main()
    except Stopped as stop:
        rc = stop.report()
    except KeyboardInterrupt:  # before stop_on_signals was in place
        rc = Stopped(signal.SIGINT).report()
    sys.exit(rc)
