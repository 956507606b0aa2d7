"""Generated files (fabric plan, Ansible inventory) written by Pulumi, re-written when their content changes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from anyrack.filetree import sync_tree


def files_hash(files: dict[str, str]) -> str:
    """sha256 over the sorted (path, text) pairs."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\0{files[name]}\0".encode())
    return digest.hexdigest()


class GeneratedFilesProvider(ResourceProvider):
    """Make ``out`` hold exactly ``files`` (anyrack's marker-guarded sync); read re-hashes what is on disk."""

    def _write(self, props: dict[str, Any]) -> dict[str, Any]:
        sync_tree(Path(props["out"]), dict(props["files"]))
        return {"out": props["out"], "hash": props["hash"], "count": len(props["files"]), "files": props["files"]}

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=props["out"], outs=self._write(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        root = Path(props["out"])
        found = {n: (root / n).read_text() for n in props.get("files", {}) if (root / n).is_file()}
        return ReadResult(id_=id_, outs={**props, "hash": files_hash(found)})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("out", "hash") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=["out"] if "out" in changed else [])

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._write(news))


class GeneratedFiles(Resource):
    """A directory holding exactly ``files`` (relative path → text)."""

    hash: pulumi.Output[str]
    count: pulumi.Output[int]

    def __init__(self, name: str, out: str, files: dict[str, str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(GeneratedFilesProvider(), name,
                         {"out": out, "files": files, "hash": files_hash(files), "count": len(files)}, opts)
