"""An SVG picture of a fabric plan for people: spines on top, one box per scalable unit below with its
rail leaves in colour, a line per leaf-to-spine connection, and the node count of each unit.

Spines are drawn one by one up to :data:`MAX_SPINES_DRAWN`; beyond that, one box per spine group.
"""

from __future__ import annotations

from anyrack.fabric.model import FabricPlan
from anyrack.fabric.text import header, template

RAIL_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd")
MAX_SPINES_DRAWN = 16
LEAF, GAP, PAD = 14, 4, 12
SPINE_Y, UNIT_Y = 70, 230


def rail_colour(rail: int) -> str:
    return RAIL_COLOURS[rail % len(RAIL_COLOURS)]


def render_svg(plan: FabricPlan) -> str:
    """The picture, as SVG text (deterministic)."""
    unit_w = plan.rails * (LEAF + GAP) - GAP + 2 * PAD
    unit_w = max(unit_w, 96)
    width = max(860, 32 + len(plan.units) * (unit_w + 16))
    boxes, lines, texts = [], [], []
    spines = [s for s in plan.switches if s.role == "spine"]
    sizing = plan.sizing
    if len(spines) <= MAX_SPINES_DRAWN:
        tops = [(s.name, s.group, f"{s.name} (group {s.group}, ASN {s.asn})" if s.asn else s.name) for s in spines]
    else:
        tops = [(f"group {g}: {sizing.spines_per_group} spines", g,
                 f"spine group {g}: {sizing.spines_per_group} spines, rails {g * sizing.rails_per_group}-"
                 f"{(g + 1) * sizing.rails_per_group - 1}") for g in range(sizing.spine_groups)]
    spine_w = min(120, (width - 32) // max(1, len(tops)) - 8)
    step = (width - 32) / max(1, len(tops))
    top_x: dict[int, list[float]] = {}
    for i, (name, group, tip) in enumerate(tops):
        x = round(16 + i * step + (step - spine_w) / 2)
        boxes.append({"x": x, "y": SPINE_Y, "w": spine_w, "h": 28, "fill": "#dddddd", "tip": tip})
        texts.append({"x": x + spine_w // 2, "y": SPINE_Y + 18, "anchor": "middle", "text": name, "small": True})
        top_x.setdefault(group or 0, []).append(x + spine_w / 2)
    for u, unit in enumerate(plan.units):
        x0 = 16 + u * (unit_w + 16)
        boxes.append({"x": x0, "y": UNIT_Y, "w": unit_w, "h": 64, "fill": "#f4f4f4",
                      "tip": f"{unit.name}: {len(unit.nodes)} nodes"})
        for r, leaf in enumerate(unit.leaves):
            lx = x0 + PAD + r * (LEAF + GAP)
            boxes.append({"x": lx, "y": UNIT_Y + 8, "w": LEAF, "h": LEAF, "fill": rail_colour(r), "tip": leaf})
            for sx in top_x.get(sizing.group_of(r), []):
                lines.append({"x1": lx + LEAF // 2, "y1": UNIT_Y + 8, "x2": round(sx), "y2": SPINE_Y + 28,
                              "colour": rail_colour(r)})
        texts.append({"x": x0 + unit_w // 2, "y": UNIT_Y + 42, "anchor": "middle", "text": unit.name, "small": False})
        texts.append({"x": x0 + unit_w // 2, "y": UNIT_Y + 56, "anchor": "middle",
                      "text": f"{len(unit.nodes)} nodes", "small": True})
    legend_y = UNIT_Y + 96
    for r in range(plan.rails):
        lx = 16 + r * 64
        boxes.append({"x": lx, "y": legend_y, "w": LEAF, "h": LEAF, "fill": rail_colour(r), "tip": f"rail {r}"})
        texts.append({"x": lx + LEAF + 4, "y": legend_y + 11, "anchor": "start", "text": f"rail {r}", "small": True})
    leaves = sum(1 for s in plan.switches if s.role == "leaf")
    access = sum(1 for s in plan.switches if s.role == "access")
    title = f"{plan.site}: {plan.type} fabric, {plan.rails} rails, {len(plan.nodes)} nodes"
    subtitle = (f"{len(plan.units)} units of up to {plan.nodes_per_unit} nodes · {leaves} leaves · {len(spines)} "
                f"spines in {sizing.spine_groups} group(s) · oversubscription {sizing.oversubscription:.2f}:1 · "
                f"{access} access switches")
    return template("svg/topology.svg.j2").render(
        header=header(plan.site), width=width, height=legend_y + 40, title=title, subtitle=subtitle,
        boxes=boxes, lines=lines, texts=texts)
