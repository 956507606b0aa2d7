"""Declared (site file) against discovered (facts): serial, GPUs, MACs and firmware vs golden BOM.

A node with any *mismatch* is quarantined: the inventory puts it in the ``quarantine`` group instead
of its role group, so no playbook configures it until someone looks. What discovery could not see
is *unknown*, reported but not quarantined: a BMC that hides MACs must not block a rack.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Literal

from anyrack.facts import NodeFacts
from anyrack.inventory.firmware import check_node
from anyrack.site.model import Node, Site

Status = Literal["ok", "mismatch", "undiscovered"]


@dataclass(frozen=True)
class Finding:
    check: str
    declared: str
    discovered: str
    severity: Literal["mismatch", "unknown"] = "mismatch"


@dataclass(frozen=True)
class NodeReport:
    node: str
    status: Status
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def quarantined(self) -> bool:
        return self.status == "mismatch"

    def as_dict(self) -> dict:
        return {"node": self.node, "status": self.status, "findings": [asdict(f) for f in self.findings]}


def reconcile(site: Site, facts: dict[str, NodeFacts]) -> list[NodeReport]:
    """One report per node of ``site``, in site order."""
    reports = []
    for node in site.nodes:
        found = facts.get(node.name)
        if found is None:
            reports.append(NodeReport(node.name, "undiscovered"))
            continue
        findings = tuple(_compare(site, node, found))
        status: Status = "mismatch" if any(f.severity == "mismatch" for f in findings) else "ok"
        reports.append(NodeReport(node.name, status, findings))
    return reports


def _normal(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text).lower()


def gpu_model_matches(declared: str, reported: str) -> bool:
    """A SKU's GPU model matches when it is contained in the reported one, ignoring case, spaces, - and _.

    >>> gpu_model_matches("H100", "NVIDIA H100 80GB HBM3")
    True
    >>> gpu_model_matches("A100-SXM4", "NVIDIA A100-PCIE-40GB")
    False
    """
    return _normal(declared) in _normal(reported)


def _compare(site: Site, node: Node, found: NodeFacts) -> list[Finding]:
    sku = site.sku_of(node)
    out: list[Finding] = []
    if node.serial:
        serial = found.system.serial
        if not serial:
            out.append(Finding("serial", node.serial, "not reported", "unknown"))
        elif serial.strip().upper() != node.serial.strip().upper():
            out.append(Finding("serial", node.serial, serial))
    if len(found.gpus) != sku.gpu_count:
        severity = "unknown" if not found.gpus_complete and len(found.gpus) < sku.gpu_count else "mismatch"
        out.append(Finding("gpu_count", str(sku.gpu_count), str(len(found.gpus)), severity))
    if sku.gpu:
        wrong = sorted({g.model for g in found.gpus if not gpu_model_matches(sku.gpu.model, g.model)})
        if wrong:
            out.append(Finding("gpu_model", sku.gpu.model, ", ".join(wrong)))
    macs = found.macs
    if sku.macs is not None and len(macs) != sku.macs:
        severity = "unknown" if not found.nics_complete and len(macs) < sku.macs else "mismatch"
        out.append(Finding("mac_count", str(sku.macs), str(len(macs)), severity))
    if node.boot_mac and node.boot_mac not in macs:
        severity = "mismatch" if found.nics_complete else "unknown"
        out.append(Finding("boot_mac", node.boot_mac, ", ".join(macs) or "none reported", severity))
    for key, want in sorted(sku.bom.items()):
        have = found.firmware.get(key)
        if have is None:
            out.append(Finding(f"firmware.{key}", want, "not reported", "unknown"))
        elif have.strip() != want.strip():
            out.append(Finding(f"firmware.{key}", want, have))
    for check in check_node(sku.firmware, found):  # the golden firmware BOM, as `anyrack firmware check` judges it
        if check.verdict != "ok":
            where = check.kind if check.component == check.kind else f"{check.kind}[{check.component}]"
            out.append(Finding(f"component.{where}", check.wanted, f"{check.found or 'not reported'} ({check.verdict})",
                               "unknown" if check.verdict == "unknown" else "mismatch"))
    if found.problems:
        # What could not be read is unknown, never a mismatch: said once, with the first cause.
        first = found.problems[0]
        cause = f"{first.path}: {'HTTP ' + str(first.status) if first.status else first.message}"
        more = f" (and {len(found.problems) - 1} more)" if len(found.problems) > 1 else ""
        out.append(Finding("discovery", "every resource read", f"unreadable {cause}{more}", "unknown"))
    return out


def summary(reports: list[NodeReport]) -> dict[str, int]:
    """Counts of nodes per status."""
    counts = {"ok": 0, "mismatch": 0, "undiscovered": 0}
    for report in reports:
        counts[report.status] += 1
    return counts
