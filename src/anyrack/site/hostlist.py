"""Slurm host lists: ``gpu[001-003,007]`` ⇄ ``['gpu001', 'gpu002', 'gpu003', 'gpu007']``.

>>> expand("gpu[001-003,007]")
['gpu001', 'gpu002', 'gpu003', 'gpu007']
>>> compress(["gpu001", "gpu002", "gpu003", "gpu007", "ctl1"])
'ctl1,gpu[001-003,007]'
"""

from __future__ import annotations

import re
from collections import defaultdict

MAX_HOSTS = 100_000
MAX_DIGITS = 9
"""Longest number in a range: wider ones are refused before ``int()`` sees them."""
_RANGE = re.compile(r"([0-9]+)(?:-([0-9]+))?")
_TAIL_NUMBER = re.compile(r"^(.*?)(\d+)$")


class HostlistError(ValueError):
    """A host list expression that cannot be expanded."""


def expand(expr: str, limit: int = MAX_HOSTS) -> list[str]:
    """All host names in one expression (several may be joined by commas outside brackets).

    The number of names is computed from the ranges before any is built: an expression naming more
    than ``limit`` hosts (``gpu[0000000-9999999]``, or brackets multiplied: ``a[0-999][0-999]``) is
    refused without expanding it.
    """
    parts = [(part, _brackets(part)) for part in _split_top(expr)]
    total = sum(_product(ranges) for _, ranges in parts)
    if total > limit:
        raise HostlistError(f"{_show(expr)} names {total:,} hosts; the limit is {limit:,}")
    names: list[str] = []
    for part, ranges in parts:
        names.extend(_expand_one(part, ranges))
    return names


def count(expr: str) -> int:
    """How many names ``expr`` expands to, computed without expanding it."""
    return sum(_product(_brackets(part)) for part in _split_top(expr))


def _show(text: str, width: int = 60) -> str:
    """``text`` quoted for a message, cut to ``width`` characters (a hostile expression may be megabytes)."""
    return repr(text if len(text) <= width else text[: width - 3] + "...")


def _product(ranges: list[list[tuple[int, int, int]]]) -> int:
    total = 1
    for chunks in ranges:
        total *= sum(hi - lo + 1 for lo, hi, _ in chunks)
    return total


def _split_top(expr: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(expr):
        depth += ch == "["
        depth -= ch == "]"
        if depth < 0 or depth > 1:
            raise HostlistError(f"{_show(expr)}: unbalanced or nested brackets")
        if ch == "," and depth == 0:
            parts.append(expr[start:i])
            start = i + 1
    if depth:
        raise HostlistError(f"{_show(expr)}: '[' without ']'")
    parts.append(expr[start:])
    if any(not p.strip() for p in parts):
        raise HostlistError(f"{_show(expr)}: empty host name")
    return [p.strip() for p in parts]


def _brackets(part: str) -> list[list[tuple[int, int, int]]]:
    """Each bracket of ``part`` as its (low, high, zero-padded width) ranges, checked but not expanded."""
    out = []
    rest = part
    while "[" in rest:
        _, rest = rest.split("[", 1)
        body, rest = rest.split("]", 1)
        out.append([_range(chunk, part) for chunk in body.split(",")])
    return out


def _range(chunk: str, part: str) -> tuple[int, int, int]:
    m = _RANGE.fullmatch(chunk.strip())
    if not m:
        raise HostlistError(f"{_show(part)}: {_show(chunk)} is not a number or a range such as 001-016")
    lo, hi = m.group(1), m.group(2) or m.group(1)
    if max(len(lo), len(hi)) > MAX_DIGITS:
        raise HostlistError(f"{_show(part)}: {_show(chunk)} has numbers longer than {MAX_DIGITS} digits")
    if int(hi) < int(lo):
        raise HostlistError(f"{_show(part)}: range {_show(chunk)} runs backwards")
    width = len(lo) if lo.startswith("0") or len(lo) == len(hi) else 0
    return int(lo), int(hi), width


def _expand_one(part: str, ranges: list[list[tuple[int, int, int]]]) -> list[str]:
    pieces = re.split(r"\[[^\]]*\]", part)  # the text around the brackets
    names = [pieces[0]]
    for chunks, text in zip(ranges, pieces[1:], strict=True):
        items = [str(n).zfill(width) for lo, hi, width in chunks for n in range(lo, hi + 1)]
        names = [f"{name}{item}{text}" for name in names for item in items]
    return names


def compress(names: list[str]) -> str:
    """The shortest usual Slurm form of ``names`` (sorted, numeric runs bracketed)."""
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    plain: list[str] = []
    for name in sorted(set(names)):
        m = _TAIL_NUMBER.match(name)
        if m:
            groups[(m.group(1), len(m.group(2)))].append(int(m.group(2)))
        else:
            plain.append(name)
    out = list(plain)
    for (prefix, width), numbers in groups.items():
        numbers.sort()
        if len(numbers) == 1:
            out.append(f"{prefix}{numbers[0]:0{width}d}")
            continue
        runs: list[str] = []
        start = prev = numbers[0]
        for n in [*numbers[1:], None]:
            if n is not None and n == prev + 1:
                prev = n
                continue
            runs.append(f"{start:0{width}d}" if start == prev else f"{start:0{width}d}-{prev:0{width}d}")
            if n is not None:
                start = prev = n
        out.append(f"{prefix}[{','.join(runs)}]")
    return ",".join(sorted(out))
