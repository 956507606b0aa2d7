"""Write generated files safely: each file atomically, unchanged files untouched, stale files removed.

A reader (Ansible, an operator's editor, a crash) sees either the old or the new content of a file,
never half of one. A directory is only synchronised if anyrack created it (a marker file says so),
so a mistyped ``--out`` cannot delete someone's files.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from anyrack.errors import OutputError

MARKER = ".anyrack-generated"
_MARKER_TEXT = "This directory is written by anyrack; files here are replaced on every run.\n"


@dataclass(frozen=True)
class SyncResult:
    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]


def _unchanged(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except FileNotFoundError:
        return False
    except OSError as err:
        raise OutputError(path=str(path), reason=err.strerror or str(err)) from None


def _stage(path: Path, data: bytes, mode: int, fsync: bool) -> str:
    """Write ``data`` to a temporary file beside ``path``; returns its name (removed again on failure)."""
    fd, tmp = -1, ""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        return tmp
    except OSError as err:
        if fd >= 0:
            os.close(fd)
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise OutputError(path=str(path), reason=err.strerror or str(err)) from None


def _replace(tmp: str, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(path=str(path), reason=err.strerror or str(err)) from None


def write_atomic(path: Path, text: str, mode: int = 0o644) -> bool:
    """Replace ``path`` with ``text`` atomically; return False (and touch nothing) if it already holds it."""
    data = text.encode()
    if _unchanged(path, data):
        return False
    _replace(_stage(path, data, mode, fsync=True), path)
    return True


def sync_tree(root: Path, files: dict[str, str]) -> SyncResult:
    """Make ``root`` hold exactly ``files`` (relative path → text), plus the marker.

    Raises:
        OutputError: ``root`` exists, is not empty and was not created by anyrack, or a write failed.
    """
    if root.exists() and not root.is_dir():
        raise OutputError(path=str(root), reason="exists and is not a directory")
    if root.is_dir() and any(root.iterdir()) and not (root / MARKER).is_file():
        raise OutputError(path=str(root), reason=f"directory is not empty and has no {MARKER} marker; "
                                                 "anyrack only replaces directories it created")
    write_atomic(root / MARKER, _MARKER_TEXT)
    written: list[str] = []
    unchanged: list[str] = []
    staged: list[tuple[str, str]] = []
    try:
        for rel in sorted(files):
            data = files[rel].encode()
            if _unchanged(root / rel, data):
                unchanged.append(rel)
            else:
                staged.append((_stage(root / rel, data, 0o644, fsync=False), rel))
        # One flush for the whole tree instead of one fsync per file (24,000 files for a large fabric):
        # every new file is on disk before any of them replaces an old one.
        if staged:
            os.sync()
        for tmp, rel in staged:
            _replace(tmp, root / rel)
            written.append(rel)
    finally:
        for tmp, _ in staged[len(written):]:  # a failure part-way: old files stay whole, temporaries go
            Path(tmp).unlink(missing_ok=True)
    removed = []
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for filename in filenames:
            rel = os.path.relpath(os.path.join(dirpath, filename), root)
            if rel != MARKER and rel not in files:
                os.unlink(os.path.join(dirpath, filename))
                removed.append(rel)
        for dirname in dirnames:
            full = os.path.join(dirpath, dirname)
            if not os.listdir(full):
                os.rmdir(full)
    return SyncResult(tuple(written), tuple(unchanged), tuple(sorted(removed)))
