"""Generated files (fabric plan, Ansible inventory) written by Pulumi, re-written when their content changes.

The state holds where the files go, where they come from (paths relative to the stack's directory, the
working directory the engine gives the program and its providers) and a content hash, never the text:
the provider renders the files again from the site file when it writes them, and refuses if what it
renders is not what the preview hashed (the site file changed in between).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from anyrack.errors import InputError
from anyrack.filetree import sync_tree
from anyrack.iac.providers import in_stack

KINDS = ("inventory", "fabric")


def files_hash(files: dict[str, str]) -> str:
    """sha256 over the sorted (path, text) pairs."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\0{files[name]}\0".encode())
    return digest.hexdigest()


def render(kind: str, site_file: str, facts_dir: str | None = None) -> dict[str, str]:
    """The files of ``kind`` (``inventory`` or ``fabric``) for the site file, as ``anyrack`` renders them."""
    from anyrack.fabric import plan as plan_fabric
    from anyrack.fabric import render as render_fabric
    from anyrack.facts import load_facts_dir
    from anyrack.inventory import generate_inventory

    facts = Path(in_stack(facts_dir)) if facts_dir else None
    generated = generate_inventory(Path(in_stack(site_file)), facts, write=False)
    if kind == "inventory":
        return generated.files
    site = generated.site
    found = load_facts_dir(facts, {n.name for n in site.nodes})[0] if facts else None
    return render_fabric(plan_fabric(site, found))


class GeneratedFilesProvider(ResourceProvider):
    """Make ``out`` hold exactly the rendered files (anyrack's marker-guarded sync); read re-hashes the disk."""

    def _write(self, props: dict[str, Any]) -> dict[str, Any]:
        files = render(props["kind"], props["site"], props.get("facts"))
        if files_hash(files) != props["hash"]:
            raise InputError(detail=f"{props['out']}: {props['site']} changed since the program read it; "
                                    "run pulumi up again")
        sync_tree(Path(in_stack(props["out"])), files)
        return {k: props.get(k) for k in ("kind", "site", "facts", "out", "hash")} | {"count": len(files)}

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=props["out"], outs=self._write(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        root = Path(in_stack(props["out"]))
        names = render(props["kind"], props["site"], props.get("facts"))
        found = {n: (root / n).read_text() for n in names if (root / n).is_file()}
        return ReadResult(id_=id_, outs={**props, "hash": files_hash(found)})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("out", "hash", "kind", "site", "facts") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=["out"] if "out" in changed else [])

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._write(news))


class GeneratedFiles(Resource):
    """A directory holding exactly the ``kind`` files rendered from ``site`` (paths relative to the stack)."""

    hash: pulumi.Output[str]
    count: pulumi.Output[int]

    def __init__(self, name: str, out: str, kind: str, site: str, facts: str | None, files: dict[str, str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"GeneratedFiles kind must be one of {KINDS}, not {kind!r}")
        super().__init__(GeneratedFilesProvider(), name,
                         {"kind": kind, "site": site, "facts": facts, "out": out, "hash": files_hash(files),
                          "count": len(files)}, opts)
