"""Read a YAML (or JSON) file into plain data plus the line of every key.

Operators' files are read defensively: a missing file, a directory, a FIFO or device, a huge file, bytes
that are not UTF-8, tabs, duplicate keys, several documents and alias bombs each become one located
:class:`~anyrack.errors.Problem`, never a traceback or a hang. Later validation steps ask
:meth:`Document.line_of` for the line of any key path, so every error can cite ``file:line: key``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from anyrack.errors import InvalidInput, Problem

MAX_BYTES = 16 * 1024 * 1024
"""Largest input file read. A 1,250-node site file is about 0.5 MiB."""

MAX_VALUES = 1_000_000
"""Most YAML values a file may expand to once aliases are followed (defuses alias bombs)."""

Loc = tuple[str | int, ...]

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


def format_key(loc: Loc) -> str:
    """``('nodes', 3, 'bmc')`` → ``nodes[3].bmc``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True)
class Document:
    """Plain data read from ``name`` and the 1-based line of each key path in it."""

    name: str
    data: Any
    lines: dict[Loc, int] = field(repr=False)

    def line_of(self, loc: Loc) -> int:
        """The line of ``loc``, or of its nearest ancestor that has one (1 for the root)."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)

    def written(self, loc: Loc) -> Loc:
        """``loc`` cut where the file holds a plain value.

        A short form the model expanded (``bmc: URL`` → ``bmc.url``; ``nodes: 'a[1-2]'`` → ``nodes[0]``)
        is cited as the operator wrote it.
        """
        data = self.data
        for depth, part in enumerate(loc):
            if isinstance(data, dict) and part in data:
                data = data[part]
            elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
                data = data[part]
            elif isinstance(data, dict | list):
                return loc  # a missing key or an index past the end: cite it as named
            else:
                return loc[:depth]
        return loc

    def problem(self, loc: Loc, message: str) -> Problem:
        """A problem located at ``loc`` (as written in the file) in this document."""
        loc = self.written(loc)
        return Problem(self.name, self.line_of(loc), format_key(loc), message)


def _fail(name: str, message: str, line: int = 0, key: str = "") -> InvalidInput:
    return InvalidInput([Problem(name, line, key, message)])


def _kind(mode: int) -> str:
    for test, what in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "not a regular file"


def read_bytes(path: Path, name: str | None = None, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes``; anything else is one located problem.

    The file is opened without blocking and checked on the open descriptor before a byte is read: a
    FIFO, a device (``/dev/zero``), a socket or a directory is refused, never waited on or read forever.
    """
    name = name or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise _fail(name, "no such file") from None
    except PermissionError:
        raise _fail(name, "permission denied") from None
    except IsADirectoryError:
        raise _fail(name, "is a directory, not a file") from None
    except OSError as err:
        raise _fail(name, f"cannot read: {err.strerror or err}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _fail(name, "is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise _fail(name, f"is {_kind(info.st_mode)}; give a regular file")
        if info.st_size > max_bytes:
            raise _fail(name, f"file is {info.st_size / 2**20:.1f} MiB; the limit is {max_bytes // 2**20} MiB")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as handle:
            fd = -1
            raw = handle.read(max_bytes + 1)
    except OSError as err:
        raise _fail(name, f"cannot read: {err.strerror or err}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(raw) > max_bytes:  # grew between stat and read
        raise _fail(name, f"file is larger than the {max_bytes // 2**20} MiB limit")
    return raw


def read_text(path: Path, name: str | None = None, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of ``path``; every way this can go wrong is one located problem."""
    name = name or str(path)
    raw = read_bytes(path, name, max_bytes)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise _fail(
            name, f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at column {col}); save the file as UTF-8", line
        ) from None


def parse(text: str, name: str) -> Document:
    """Parse one YAML document held in ``text``; ``name`` is used in error messages."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as err:
        # For an unclosed bracket or quote, or a key without ':', the context mark is where the mistake is;
        # otherwise the problem mark (where the parser stopped) is.
        context = str(err.context or "")
        use_context = err.context_mark and any(w in context for w in ("flow", "quoted", "simple key"))
        mark = err.context_mark if use_context else (err.problem_mark or err.context_mark)
        line = mark.line + 1 if mark else 0
        lines = text.splitlines()
        source_line = lines[line - 1] if 0 < line <= len(lines) else ""
        raise _fail(name, _describe_yaml_error(err, source_line), line) from None
    except yaml.YAMLError as err:
        raise _fail(name, f"not valid YAML: {err}") from None
    finally:
        loader.dispose()
    if root is None:
        raise _fail(name, "file is empty; expected a YAML mapping")
    _check_expansion(root, name)
    builder = _Builder(name, loader)
    builder.lines[()] = root.start_mark.line + 1
    data = builder.build(root, ())
    return Document(name, data, builder.lines)


def load(path: Path | str, name: str | None = None) -> Document:
    """Read and parse ``path``. ``name`` (default: the path as given) is used in messages."""
    path = Path(path)
    name = name or str(path)
    return parse(read_text(path, name), name)


def _describe_yaml_error(err: yaml.MarkedYAMLError, source_line: str) -> str:
    problem = (err.problem or str(err)).strip()
    if "\t" in source_line[: len(source_line) - len(source_line.lstrip())] or "tab" in problem:
        return "tab character where YAML needs spaces; indent with spaces only"
    if "another document" in problem or "single document" in str(err.context):
        return "more than one YAML document in the file; keep one (remove the extra '---')"
    context = f" ({err.context.strip()})" if err.context else ""
    return f"not valid YAML: {problem}{context}"


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        yield from node.value
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value


def _check_expansion(root: yaml.Node, name: str) -> None:
    """Refuse files whose aliases expand past MAX_VALUES, or loop, before building anything."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        nid = id(node)
        if done:
            open_nodes.discard(nid)
            sizes[nid] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[nid] > MAX_VALUES:
                raise _fail(
                    name,
                    f"aliases expand to more than {MAX_VALUES:,} values (an alias bomb?); "
                    "write the data out instead",
                    node.start_mark.line + 1,
                )
            continue
        if nid in sizes:
            continue
        if nid in open_nodes:
            raise _fail(name, "an alias refers to the mapping or list that contains it", node.start_mark.line + 1)
        open_nodes.add(nid)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


class _Builder:
    """Turns composed YAML nodes into dicts, lists and scalars, recording key lines."""

    def __init__(self, name: str, loader: Any) -> None:
        self.name = name
        self.loader = loader
        self.lines: dict[Loc, int] = {}

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        if isinstance(node, yaml.ScalarNode):
            try:
                return self.loader.construct_object(node, deep=True)
            except yaml.YAMLError as err:
                raise _fail(self.name, f"bad value: {getattr(err, 'problem', err)}", node.start_mark.line + 1,
                            format_key(loc)) from None
        if isinstance(node, yaml.SequenceNode):
            out = []
            for index, item in enumerate(node.value):
                self.lines[(*loc, index)] = item.start_mark.line + 1
                out.append(self.build(item, (*loc, index)))
            return out
        return self._mapping(node, loc)

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict:
        out: dict = {}
        explicit = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                explicit.append((key_node, value_node))
                continue
            # '<<: *defaults' first, so that keys written out in this mapping win (YAML merge semantics)
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    raise _fail(self.name, "'<<' merges a mapping or a list of mappings",
                                source.start_mark.line + 1, format_key(loc))
                for key, value in self._mapping(source, loc).items():
                    out.setdefault(key, value)
        seen: dict[Any, int] = {}
        for key_node, value_node in explicit:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise _fail(self.name, "a key must be a plain value, not a list or mapping", line, format_key(loc))
            key = self.build(key_node, loc)
            if not isinstance(key, str | int) or isinstance(key, bool):
                key = str(key_node.value)
            if key in seen:
                raise _fail(self.name, f"duplicate key (first set on line {seen[key]}); keep one",
                            line, format_key((*loc, key)))
            seen[key] = line
            self.lines[(*loc, key)] = line
            out[key] = self.build(value_node, (*loc, key))
        return out
