"""Plain-text tables and summaries for the terminal (no colour codes: logs and CI read them too)."""

from __future__ import annotations

from collections import Counter

import click

from anyrack.inventory.reconcile import NodeReport
from anyrack.site.model import Site


def site_summary(site: Site) -> dict[str, int]:
    """Counts an operator checks at a glance after validating a site."""
    roles = Counter(n.role for n in site.nodes)
    return {
        "racks": len(site.racks),
        "skus": len(site.skus),
        "nodes": len(site.nodes),
        "controllers": roles["controller"],
        "logins": roles["login"],
        "computes": roles["compute"],
        "gpus": sum(site.sku_of(n).gpu_count for n in site.nodes),
        "partitions": len(site.slurm.partitions),
    }


def table(rows: list[tuple[str, ...]], head: tuple[str, ...]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [head, *rows]]
    return "\n".join(lines)


def print_reports(reports: list[NodeReport]) -> None:
    """One row per finding (and one per clean node), mismatches first."""
    order = {"mismatch": 0, "undiscovered": 1, "ok": 2}
    rows: list[tuple[str, ...]] = []
    for report in sorted(reports, key=lambda r: (order[r.status], r.node)):
        if not report.findings:
            rows.append((report.node, report.status, "", "", ""))
        for finding in report.findings:
            status = report.status if finding.severity == "mismatch" else "unknown"
            rows.append((report.node, status, finding.check, finding.declared, finding.discovered))
    if len(rows) > 40:
        hidden = sum(1 for r in rows if r[1] == "ok")
        rows = [r for r in rows if r[1] != "ok"]
        click.echo(table(rows, ("node", "status", "check", "declared", "discovered")) if rows else "")
        click.echo(f"... and {hidden} nodes ok")
        return
    click.echo(table(rows, ("node", "status", "check", "declared", "discovered")))
