"""Atomic writes: a failed write leaves the old file whole and no temporary file behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from anyrack import filetree
from anyrack.errors import OutputError
from anyrack.filetree import sync_tree, write_atomic


def test_write_only_when_changed(tmp_path: Path) -> None:
    path = tmp_path / "a/b.yml"
    assert write_atomic(path, "one\n") is True
    assert write_atomic(path, "one\n") is False
    assert write_atomic(path, "two\n") is True
    assert path.read_text() == "two\n" and oct(path.stat().st_mode & 0o777) == "0o644"


def test_failed_replace_keeps_old_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text("old\n")

    def broken(src: str, dst: str, **_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(filetree.os, "replace", broken)
    with pytest.raises(OutputError, match="hosts.yml: cannot write: No space left on device"):
        write_atomic(path, "new\n")
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["hosts.yml"]


def test_sync_removes_stale_and_empty_dirs(tmp_path: Path) -> None:
    root = tmp_path / "gen"
    sync_tree(root, {"a.yml": "a", "host_vars/x.yml": "x", "deep/er/y.yml": "y"})
    result = sync_tree(root, {"a.yml": "a2"})
    assert result.written == ("a.yml",) and result.removed == ("deep/er/y.yml", "host_vars/x.yml")
    assert sorted(os.listdir(root)) == [filetree.MARKER, "a.yml"]


def test_sync_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="exists and is not a directory"):
        sync_tree(tmp_path / "f", {"a": "b"})


def test_sync_failure_part_way_leaves_whole_files_and_no_temporaries(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "gen"
    sync_tree(root, {"a.yml": "a1", "b.yml": "b1", "c.yml": "c1"})
    real_replace, calls = os.replace, []

    def flaky(src: str, dst: str, **fds: int) -> None:
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        real_replace(src, dst, **fds)

    monkeypatch.setattr(filetree.os, "replace", flaky)
    with pytest.raises(OutputError, match="b.yml: cannot write: Input/output error"):
        sync_tree(root, {"a.yml": "a2", "b.yml": "b2", "c.yml": "c2"})
    assert [(root / n).read_text() for n in ("a.yml", "b.yml", "c.yml")] == ["a2", "b1", "c1"]
    assert sorted(os.listdir(root)) == [filetree.MARKER, "a.yml", "b.yml", "c.yml"]
