"""Click parameter types that refuse hostile values at parse time (exit code 2, before any work starts).

* :data:`PEM_FILE`: a regular file of bounded size (a FIFO, ``/dev/zero`` or a directory is refused
  without being read or waited on);
* :func:`seconds` / :func:`count`: finite numbers in a range (``nan``, ``inf`` and negatives refused).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from anyrack.document import read_bytes
from anyrack.errors import InvalidInput

MAX_PEM_BYTES = 1024 * 1024
"""Largest CA bundle read (the whole Mozilla store is about 0.2 MiB)."""


class RegularFile(click.ParamType):
    """A path to a regular file of at most ``max_bytes``, checked by opening it (without blocking)."""

    name = "file"

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            read_bytes(Path(value), str(value), self.max_bytes)
        except InvalidInput as err:
            self.fail(err.problems[0].message if err.problems else str(err), param, ctx)
        return str(value)


PEM_FILE = RegularFile(MAX_PEM_BYTES)


class _FiniteRange(click.FloatRange):
    """A FloatRange that also refuses nan (which compares false with every bound, so passes FloatRange)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super(click.FloatRange, self).convert(value, param, ctx)  # the plain float conversion
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


def seconds(minimum: float, maximum: float, *, min_open: bool = False) -> click.FloatRange:
    """Finite seconds in [minimum, maximum] (or (minimum, maximum] with ``min_open``)."""
    return _FiniteRange(minimum, maximum, min_open=min_open)


def count(minimum: int, maximum: int) -> click.IntRange:
    """A whole number in [minimum, maximum]."""
    return click.IntRange(minimum, maximum)
