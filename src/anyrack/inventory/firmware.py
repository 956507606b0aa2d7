"""Discovered firmware against a SKU's golden BOM: one verdict per node and component.

``ok`` (as wanted, or at least the minimum), ``behind`` (older than wanted: update it), ``ahead``
(newer than an exact version: not the validated baseline), ``unknown`` (the BMC did not say). The
inventory's quarantine (reconcile.py) and ``anyrack firmware check`` both use :func:`check_node`.

Versions compare token by token: runs of digits as numbers, runs of letters as text, separators
ignored (``2.19.1`` < ``2.19.10``, ``96.00.89.00.01`` < ``96.00.89.00.1C``). Two versions of different
shapes compare where they can and are otherwise equal only when written the same.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Literal

from anyrack.facts import NodeFacts
from anyrack.site.model import Site

Verdict = Literal["ok", "behind", "ahead", "unknown"]
_TOKEN = re.compile(r"[0-9]+|[A-Za-z]+")
_LEGACY = {"bmc": "bmc", "bios": "bios", "gpu": "gpu_vbios"}
"""Facts without components (written before them) still carry these in ``firmware``."""


def _tokens(version: str) -> list[tuple[int, int | str]]:
    return [(0, int(t)) if t.isdigit() else (1, t.lower()) for t in _TOKEN.findall(version)]


def compare_versions(have: str, want: str) -> int:
    """-1, 0 or 1 as ``have`` is older than, the same as or newer than ``want``.

    >>> compare_versions("2.19.1", "2.19.10"), compare_versions("7.10.30.00", "7.10.30.00")
    (-1, 0)
    """
    a, b = _tokens(have), _tokens(want)
    for x, y in zip(a, b, strict=False):
        if x != y:
            if x[0] != y[0]:  # a number against text: the version schemes differ; not comparable
                return 0 if have.strip() == want.strip() else (-1 if x[0] < y[0] else 1)
            return -1 if x[1] < y[1] else 1  # type: ignore[operator]
    return (len(a) > len(b)) - (len(a) < len(b))


def judge(want: str, have: str | None) -> Verdict:
    """The verdict for one component: ``want`` is ``'1.2'`` (exact) or ``'>=1.2'`` (minimum)."""
    if have is None or not have.strip():
        return "unknown"
    minimum = want.startswith(">=")
    order = compare_versions(have, want.removeprefix(">=").strip())
    if order < 0:
        return "behind"
    if order > 0 and not minimum:
        return "ahead"
    return "ok"


@dataclass(frozen=True)
class Check:
    kind: str
    component: str
    """The component's id (``FW_GPU_SXM_1``), or the kind when the BMC reports none of that kind."""
    wanted: str
    found: str | None
    verdict: Verdict
    model: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _normal(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text).lower()


def check_node(bom: dict[str, str | dict[str, str]], facts: NodeFacts | None) -> list[Check]:
    """Every component of ``facts`` that ``bom`` names, judged; a kind with no component is ``unknown``."""
    out: list[Check] = []
    for kind, wanted in sorted(bom.items()):
        wants = wanted if isinstance(wanted, dict) else {None: wanted}
        for model, want in sorted(wants.items(), key=lambda kv: kv[0] or ""):
            found = [] if facts is None else [
                c for c in facts.components
                if c.kind == kind and (model is None or _normal(model) in _normal(c.name))]
            if not found and facts is not None and model is None and not facts.components and kind in _LEGACY:
                have = facts.firmware.get(_LEGACY[kind])
                out.append(Check(kind, kind, want, have, judge(want, have)))
                continue
            if not found:
                out.append(Check(kind, kind, want, None, "unknown", model))
            out += [Check(kind, c.id, want, c.version, judge(want, c.version), model) for c in found]
    return out


def worst(checks: list[Check]) -> Verdict:
    """The node's verdict: behind before ahead before unknown before ok."""
    for verdict in ("behind", "ahead", "unknown"):
        if any(c.verdict == verdict for c in checks):
            return verdict  # type: ignore[return-value]
    return "ok"


def check_site(site: Site, facts: dict[str, NodeFacts]) -> dict[str, list[Check]]:
    """Every node of ``site`` (in site order) against its SKU's golden firmware; no facts: all unknown."""
    return {node.name: check_node(site.sku_of(node).firmware, facts.get(node.name)) for node in site.nodes}
