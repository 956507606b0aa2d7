"""The one exception family.

Every error anyrack raises on purpose derives from :class:`AnyrackError`. Each subclass is a message
template with named fields; the CLI catches the base class, prints ``str(err)`` (one line per problem)
and exits with ``err.exit_code``.
"""

from __future__ import annotations

from dataclasses import dataclass


class AnyrackError(Exception):
    """Base class. ``template`` is formatted with the keyword fields given to the constructor."""

    template = "{detail}"
    exit_code = 1

    def __init__(self, **fields: object) -> None:
        self.fields = fields
        super().__init__(self.template.format(**fields))


class InputError(AnyrackError):
    """The operator's input is wrong (a file, a flag); nothing was written. Exit code 2."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an input file, located by file, line and key."""

    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class InvalidInput(InputError):
    """One or more located problems in an input file (site file, facts file)."""

    template = "{detail}"

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("InvalidInput needs at least one problem")
        self.problems = list(problems)
        super().__init__(detail="\n".join(str(p) for p in self.problems))


class OutputError(AnyrackError):
    """Writing a generated file failed; what was there before is intact."""

    template = "{path}: cannot write: {reason}"


class OutputBusy(AnyrackError):
    """Another anyrack run holds the output directory's lock. Exit code 75 (EX_TEMPFAIL: try again)."""

    template = "{path}: busy: another anyrack run is writing this directory (waited {waited} s); try again"
    exit_code = 75


class Interrupted(AnyrackError):
    """The run was stopped by a signal; it cleaned up first. Exit code 128 + the signal's number."""

    template = "{what}: interrupted by {signal}; {detail}"

    def __init__(self, signum: int, **fields: object) -> None:
        import signal

        super().__init__(signal=signal.Signals(signum).name, **fields)
        self.exit_code = 128 + signum


class Unsupported(AnyrackError):
    """The transport or BMC cannot do this verb."""

    template = "{what} is not supported by {by}"


class BmcError(AnyrackError):
    """A BMC could not do what was asked; names the node and gives the BMC's own message."""

    template = "{node}: {detail}"


class BmcUnreachable(BmcError):
    """No answer (connection refused, reset, timeout, TLS failure) after the retries."""


class BmcAuthFailed(BmcError):
    """The BMC refused the credentials (401/403), or has no free session."""


class BmcVerifyFailed(BmcError):
    """The BMC accepted a write but reading it back shows the old value (a silent revert)."""

    template = "{node}: {what} was accepted but reads back as {actual!r}, not {wanted!r} (the BMC reverted it)"
