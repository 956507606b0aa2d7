"""Site file (and facts directory) → plan → files on disk; errors located by file, line and key.

These are the library entry points of ``anyrack fabric plan`` and ``anyrack fabric check``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from anyrack import document
from anyrack.errors import InvalidInput
from anyrack.fabric.lint import Finding, lint
from anyrack.fabric.plan import FabricPlan, PlanRefused, plan
from anyrack.fabric.render import render
from anyrack.fabric.svg import render_svg
from anyrack.facts import NodeFacts, load_facts_dir
from anyrack.filetree import SyncResult, sync_tree, write_atomic
from anyrack.site.checks import check_site
from anyrack.site.model import Site
from anyrack.validation import validate


def load_plan(path: Path | str, facts_dir: Path | None = None) -> tuple[Site, FabricPlan, list[str]]:
    """Load and check the site at ``path``, read facts if given, and plan its fabric.

    Returns the site, the plan and warnings about facts files of unknown nodes.

    Raises:
        InvalidInput: a bad site or facts file, or a fabric that cannot be built; every problem is
            located at the site key to change (file:line: key: message).
    """
    doc = document.load(path)
    site = validate(doc, Site)
    findings = check_site(site)
    if findings:
        raise InvalidInput(sorted((doc.problem(loc, msg) for loc, msg in findings), key=lambda p: p.line))
    facts: dict[str, NodeFacts] = {}
    warnings: list[str] = []
    if facts_dir is not None:
        facts, warnings = load_facts_dir(facts_dir, {n.name for n in site.nodes})
    try:
        return site, plan(site, facts), warnings
    except PlanRefused as err:
        raise InvalidInput([doc.problem(loc, msg) for loc, msg in err.findings]) from None


@dataclass(frozen=True)
class PlanResult:
    site: Site
    plan: FabricPlan
    warnings: list[str]
    findings: list[Finding]
    sync: SyncResult | None
    """What was written under ``out`` (None when no output directory was given)."""
    files: int


def write_plan(path: Path | str, facts_dir: Path | None = None, out: Path | None = None,
               svg: Path | None = None) -> PlanResult:
    """Plan the fabric of the site at ``path``; write every file under ``out`` and the picture to ``svg``.

    ``out`` is made to hold exactly the plan's files (stale ones removed); only a directory anyrack
    created is ever replaced. Without ``out`` and ``svg`` nothing is written.

    Raises:
        InvalidInput: see :func:`load_plan`.
        OutputError: ``out`` is not anyrack's, or a write failed.
    """
    site, planned, warnings = load_plan(path, facts_dir)
    sync, count = None, 0
    if out is not None:
        files = render(planned)
        sync, count = sync_tree(out, files), len(files)
    if svg is not None:
        write_atomic(svg, render_svg(planned))
    return PlanResult(site, planned, warnings, lint(planned, site), sync, count)


def check_plan(path: Path | str, facts_dir: Path | None = None) -> PlanResult:
    """Plan the fabric of the site at ``path`` and lint it; nothing is written."""
    return write_plan(path, facts_dir)
