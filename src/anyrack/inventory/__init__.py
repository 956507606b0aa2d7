"""Site model + discovered facts → Ansible inventory, with reconciliation of declared vs discovered."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from anyrack.facts import NodeFacts, load_facts_dir
from anyrack.filetree import SyncResult, sync_tree
from anyrack.inventory.generate import render
from anyrack.inventory.reconcile import NodeReport, reconcile, summary
from anyrack.inventory.slurm import layout_warnings
from anyrack.site import Site, load_site

__all__ = ["Generated", "NodeFacts", "NodeReport", "default_out", "generate_inventory", "reconcile"]


@dataclass(frozen=True)
class Generated:
    site: Site
    out: Path
    reports: list[NodeReport]
    files: dict[str, str]
    groups: dict[str, list[str]]
    sync: SyncResult | None
    warnings: list[str]

    @property
    def counts(self) -> dict[str, int]:
        return summary(self.reports)


def default_out(site_path: Path) -> Path:
    """``inventory/<site>/site.yaml`` → ``inventory/<site>/generated``."""
    return site_path.parent / "generated"


def generate_inventory(site_path: Path, facts_dir: Path | None = None, out: Path | None = None,
                       write: bool = True) -> Generated:
    """Load and check the site and facts, reconcile, render, then (if ``write``) sync ``out``.

    Every input is read and checked before the first file is written: bad input writes nothing.
    """
    site = load_site(site_path)
    facts, warnings = load_facts_dir(facts_dir, {n.name for n in site.nodes}) if facts_dir else ({}, [])
    reports = reconcile(site, facts)
    rendered = render(site, facts, reports)
    out = out or default_out(site_path)
    result = sync_tree(out, rendered.files) if write else None
    return Generated(site, out, reports, rendered.files, rendered.groups, result, warnings + layout_warnings(site))
