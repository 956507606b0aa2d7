"""Write generated files safely: each file atomically, unchanged files untouched, stale files removed.

A reader (Ansible, an operator's editor, a crash) sees either the old or the new content of a file,
never half of one. A directory is only synchronised if anyrack created it (a marker file says so),
so a mistyped ``--out`` cannot delete someone's files.

Inside the output tree nothing is reached through a path: every directory is opened relative to its
parent's descriptor with ``O_NOFOLLOW``, and files are created, replaced and removed relative to
their directory's descriptor. A symbolic link planted in an output tree (``host_vars -> /etc``) is
therefore never followed: it is refused before anything is written. The operator's ``--out`` itself
may be a link. One writer at a time holds an advisory lock (``flock``) on the output directory.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from anyrack.errors import OutputBusy, OutputError
from anyrack.lockfile import acquire

MARKER = ".anyrack-generated"
_MARKER_TEXT = "This directory is written by anyrack; files here are replaced on every run.\n"
LOCK_WAIT_S = 30.0
"""How long a second writer waits for the first to finish before it gives up with :class:`OutputBusy`."""
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


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


def write_atomic(path: Path, text: str, mode: int = 0o644) -> bool:
    """Replace ``path`` with ``text`` atomically; return False (and touch nothing) if it already holds it."""
    data = text.encode()
    if _unchanged(path, data):
        return False
    tmp = _stage(path, data, mode, fsync=True)
    try:
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(path=str(path), reason=err.strerror or str(err)) from None
    return True


@contextmanager
def locked(root: Path, wait_s: float = LOCK_WAIT_S) -> Iterator[int]:
    """Create ``root`` if needed and hold an exclusive ``flock`` on it; yields the directory's descriptor.

    Raises:
        OutputError: ``root`` exists and is not a directory.
        OutputBusy: another process held the lock for ``wait_s`` seconds.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(path=str(root), reason="exists and is not a directory") from None
    except OSError as err:
        raise OutputError(path=str(root), reason=err.strerror or str(err)) from None
    try:
        if not acquire(fd, wait_s):
            raise OutputBusy(path=str(root), waited=f"{wait_s:g}")
        yield fd
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class _Tree:
    """Directories of one output tree, each opened from its parent's descriptor without following links."""

    def __init__(self, root: Path, root_fd: int) -> None:
        self.root = root
        self.fds: dict[str, int] = {"": root_fd}

    def close(self) -> None:
        for rel, fd in self.fds.items():
            if rel:
                os.close(fd)

    def _refuse(self, rel: str, why: str) -> OutputError:
        return OutputError(path=str(self.root / rel), reason=why)

    def dir_fd(self, rel_dir: str, create: bool) -> int | None:
        """The descriptor of ``rel_dir`` ('' is the root); None if it is missing and not ``create``."""
        if rel_dir in self.fds:
            return self.fds[rel_dir]
        parent, _, name = rel_dir.rpartition("/")
        parent_fd = self.dir_fd(parent, create)
        if parent_fd is None:
            return None
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            if not create:
                return None
            try:
                os.mkdir(name, 0o755, dir_fd=parent_fd)
                fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
            except OSError as err:
                raise self._refuse(rel_dir, err.strerror or str(err)) from None
        except OSError as err:
            if err.errno in (errno.ELOOP, errno.ENOTDIR):
                raise self._refuse(rel_dir, "is a symbolic link or not a directory; anyrack never follows links "
                                            "inside its output (remove it and rerun)") from None
            raise self._refuse(rel_dir, err.strerror or str(err)) from None
        self.fds[rel_dir] = fd
        return fd

    def unchanged(self, rel: str, data: bytes) -> bool:
        dir_rel, _, name = rel.rpartition("/")
        fd = self.dir_fd(dir_rel, create=False)
        if fd is None:
            return False
        try:
            handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
        except OSError:  # missing, a link, unreadable: replaced by the new file
            return False
        with os.fdopen(handle, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return False
            return f.read(len(data) + 1) == data

    def stage(self, rel: str, data: bytes, mode: int = 0o644) -> str:
        """Write ``data`` to a new temporary file in ``rel``'s directory; returns its name there."""
        dir_rel, _, name = rel.rpartition("/")
        dfd = self.dir_fd(dir_rel, create=True)
        tmp = f".{name[:64]}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                         dir_fd=dfd)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                os.fchmod(handle.fileno(), mode)
        except OSError as err:
            self.discard(rel, tmp)
            raise self._refuse(rel, err.strerror or str(err)) from None
        return tmp

    def replace(self, tmp: str, rel: str) -> None:
        """Rename ``tmp`` over ``rel`` in the same directory (a link at ``rel`` is replaced, not followed)."""
        dir_rel, _, name = rel.rpartition("/")
        dfd = self.fds[dir_rel]
        try:
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except OSError as err:
            self.discard(rel, tmp)
            raise self._refuse(rel, err.strerror or str(err)) from None

    def discard(self, rel: str, tmp: str) -> None:
        dfd = self.fds.get(rel.rpartition("/")[0])
        if dfd is not None:
            with suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)

    def prune(self, keep: set[str], rel_dir: str = "") -> list[str]:
        """Remove every file or link under ``rel_dir`` not in ``keep``, and directories left empty."""
        fd = self.fds[rel_dir] if rel_dir in self.fds else self.dir_fd(rel_dir, create=False)
        assert fd is not None
        removed: list[str] = []
        with os.scandir(fd) as entries:
            listed = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
        for name, is_dir in listed:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if is_dir:
                removed += self.prune(keep, rel)
                if not os.listdir(self.fds[rel]):
                    os.close(self.fds.pop(rel))
                    os.rmdir(name, dir_fd=fd)
            elif rel not in keep:
                os.unlink(name, dir_fd=fd)
                removed.append(rel)
        return removed


def sync_tree(root: Path, files: dict[str, str], wait_s: float = LOCK_WAIT_S) -> SyncResult:
    """Make ``root`` hold exactly ``files`` (relative path → text), plus the marker, under ``root``'s lock.

    Raises:
        OutputError: ``root`` is not a directory, exists, is not empty and was not created by anyrack, a
            directory inside it is a symbolic link, or a write failed.
        OutputBusy: another anyrack run held the lock on ``root`` for ``wait_s`` seconds.
    """
    for rel in files:
        if rel.startswith("/") or any(part in ("", ".", "..") for part in rel.split("/")):
            raise OutputError(path=str(root / rel), reason="not a plain relative path inside the output")
    if root.exists() and not root.is_dir():
        raise OutputError(path=str(root), reason="exists and is not a directory")
    with locked(root, wait_s) as root_fd:
        tree = _Tree(root, root_fd)
        try:
            return _sync(tree, files)
        finally:
            tree.close()


def _sync(tree: _Tree, files: dict[str, str]) -> SyncResult:
    names = os.listdir(tree.fds[""])
    if names and MARKER not in names:
        raise OutputError(path=str(tree.root), reason=f"directory is not empty and has no {MARKER} marker; "
                                                      "anyrack only replaces directories it created")
    for rel in sorted(files):  # every directory is checked before the first byte is written
        tree.dir_fd(rel.rpartition("/")[0], create=False)
    if not tree.unchanged(MARKER, _MARKER_TEXT.encode()):
        tree.replace(tree.stage(MARKER, _MARKER_TEXT.encode()), MARKER)
    written: list[str] = []
    unchanged: list[str] = []
    staged: list[tuple[str, str]] = []
    try:
        for rel in sorted(files):
            data = files[rel].encode()
            if tree.unchanged(rel, data):
                unchanged.append(rel)
            else:
                staged.append((tree.stage(rel, data), rel))
        # One flush for the whole tree instead of one fsync per file (24,000 files for a large fabric):
        # every new file is on disk before any of them replaces an old one.
        if staged:
            os.sync()
        for tmp, rel in staged:
            tree.replace(tmp, rel)
            written.append(rel)
    finally:
        for tmp, rel in staged[len(written):]:  # a failure part-way: old files stay whole, temporaries go
            tree.discard(rel, tmp)
    removed = tree.prune(set(files) | {MARKER})
    return SyncResult(tuple(written), tuple(unchanged), tuple(sorted(removed)))
