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
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
_TAIL_NUMBER = re.compile(r"^(.*?)(\d+)$")


class HostlistError(ValueError):
    """A host list expression that cannot be expanded."""


def expand(expr: str) -> list[str]:
    """All host names in one expression (several may be joined by commas outside brackets)."""
    names: list[str] = []
    for part in _split_top(expr):
        names.extend(_expand_one(part))
        if len(names) > MAX_HOSTS:
            raise HostlistError(f"{expr!r} names more than {MAX_HOSTS:,} hosts")
    return names


def _split_top(expr: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(expr):
        depth += ch == "["
        depth -= ch == "]"
        if depth < 0 or depth > 1:
            raise HostlistError(f"{expr!r}: unbalanced or nested brackets")
        if ch == "," and depth == 0:
            parts.append(expr[start:i])
            start = i + 1
    if depth:
        raise HostlistError(f"{expr!r}: '[' without ']'")
    parts.append(expr[start:])
    if any(not p.strip() for p in parts):
        raise HostlistError(f"{expr!r}: empty host name")
    return [p.strip() for p in parts]


def _expand_one(part: str) -> list[str]:
    if "[" not in part:
        return [part]
    prefix, rest = part.split("[", 1)
    body, suffix = rest.split("]", 1)
    if "[" in suffix:
        return [f"{prefix}{a}{b}" for a in _ranges(body, part) for b in _expand_one(suffix)]
    return [f"{prefix}{item}{suffix}" for item in _ranges(body, part)]


def _ranges(body: str, part: str) -> list[str]:
    out: list[str] = []
    for chunk in body.split(","):
        m = _RANGE.match(chunk.strip())
        if not m:
            raise HostlistError(f"{part!r}: {chunk!r} is not a number or a range such as 001-016")
        lo, hi = m.group(1), m.group(2) or m.group(1)
        if int(hi) < int(lo):
            raise HostlistError(f"{part!r}: range {chunk!r} runs backwards")
        if int(hi) - int(lo) > MAX_HOSTS:
            raise HostlistError(f"{part!r}: range {chunk!r} is larger than {MAX_HOSTS:,}")
        width = len(lo) if lo.startswith("0") or len(lo) == len(hi) else 0
        out.extend(str(n).zfill(width) for n in range(int(lo), int(hi) + 1))
    return out


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
