"""Port budget of a two-tier leaf/spine fabric: uplinks per leaf, spine groups, spines, links per pair.

Pure arithmetic over a few numbers, so that it can be reasoned about (and property-tested) alone:

>>> s = size_fabric(units=2, rails=8, host_ports=32, leaf_ports=64, spine_ports=64, oversubscription=1.0)
>>> (s.uplinks, s.spine_groups, s.spines_per_group, s.links_per_pair, s.extra_links)
(32, 1, 8, 4, 0)
>>> s = size_fabric(units=39, rails=8, host_ports=32, leaf_ports=64, spine_ports=64, oversubscription=1.0)
>>> (s.spine_groups, s.spines_per_group, s.links_per_pair, s.extra_links, s.spine_ports_used)
(8, 20, 1, 12, 63)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from anyrack.document import Loc

FABRIC: Loc = ("networks", "fabric")


class SizingError(ValueError):
    """The fabric cannot be built with these sizes; ``loc`` is the site key to change."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc


@dataclass(frozen=True)
class Sizing:
    """How many ports and switches a plan uses."""

    host_ports: int
    """Leaf ports facing hosts (nodes_per_unit × NICs per rail)."""
    uplinks: int
    """Leaf ports facing spines (spines_per_group × links_per_pair)."""
    leaf_ports: int
    spine_ports: int
    rails_per_group: int
    spine_groups: int
    """Rails are split into groups; each group's leaves (every unit) connect to that group's spines."""
    spines_per_group: int
    links_per_pair: int
    """Parallel links between one leaf and one spine of its group (at least)."""
    leaves_per_group: int
    oversubscription: float
    """Actual host-facing to uplink ratio."""
    extra_links: int = 0
    """Spines of its group to which a leaf runs one link more than ``links_per_pair``: uplinks that do not
    divide evenly over the spines. Rotated from leaf to leaf (:meth:`links`), so spines stay within one port."""

    @property
    def spines(self) -> int:
        return self.spine_groups * self.spines_per_group

    @property
    def spine_ports_used(self) -> int:
        """Ports used on the busiest spine."""
        return self.leaves_per_group * self.links_per_pair + -(-self.leaves_per_group * self.extra_links
                                                                // self.spines_per_group)

    def links(self, leaf_in_group: int, spine_in_group: int) -> int:
        """Cables between the ``leaf_in_group``-th leaf and the ``spine_in_group``-th spine of a group."""
        rotated = (spine_in_group - leaf_in_group * self.extra_links) % self.spines_per_group
        return self.links_per_pair + (rotated < self.extra_links)

    def group_of(self, rail: int) -> int:
        return rail // self.rails_per_group


def size_fabric(units: int, rails: int, host_ports: int, leaf_ports: int, spine_ports: int,
                oversubscription: float, spines: int | None = None) -> Sizing:
    """Uplinks, spine groups and spines for ``units`` scalable units of ``rails`` leaves each.

    Raises:
        SizingError: not enough leaf ports, spines too small for a two-tier fabric, or a spine count
            that cannot be split evenly over the spine groups.
    """
    wanted = math.ceil(host_ports / oversubscription - 1e-9)
    if host_ports + wanted > leaf_ports:
        raise SizingError((*FABRIC, "leaf_ports"), (
            f"a leaf needs {host_ports} host ports + {wanted} uplinks = {host_ports + wanted} ports at "
            f"oversubscription {oversubscription:g}:1 but has {leaf_ports}; lower nodes_per_unit, raise "
            "oversubscription or use larger leaves"))
    if units > spine_ports:
        raise SizingError((*FABRIC, "spine_ports"), (
            f"{units} units need at least {units} ports on every spine (one per unit and rail) but spines "
            f"have {spine_ports}; a fabric this large needs a third switch tier (not supported) or larger spines"))
    limit = spine_ports // units
    rails_per_group = max(d for d in range(1, rails + 1) if rails % d == 0 and d <= limit)
    groups = rails // rails_per_group
    leaves = units * rails_per_group
    if spines is not None:
        if spines % groups:
            raise SizingError((*FABRIC, "spines"), (
                f"{spines} spines cannot be split over {groups} spine groups ({rails_per_group} rails each, "
                f"as {spine_ports}-port spines take {limit} units × rails); use a multiple of {groups}"))
        return _check(host_ports, leaf_ports, spine_ports, rails_per_group, groups, leaves, spines // groups, wanted)
    # The fewest spines whose ports hold every uplink of the group: ceil(leaves × uplinks / spine ports). Uplinks
    # that do not divide evenly over them go one more to some spines, rotated so no spine is over its ports.
    return _check(host_ports, leaf_ports, spine_ports, rails_per_group, groups, leaves,
                  max(1, math.ceil(leaves * wanted / spine_ports)), wanted)


def _check(host_ports: int, leaf_ports: int, spine_ports: int, rails_per_group: int, groups: int, leaves: int,
           per_group: int, wanted: int) -> Sizing:
    links, extra = (wanted // per_group, wanted % per_group) if per_group <= wanted else (1, 0)
    uplinks = per_group * links + extra
    if host_ports + uplinks > leaf_ports:
        raise SizingError((*FABRIC, "spines"), (
            f"{per_group} spines per group need {uplinks} uplinks on each leaf (one or more per spine), "
            f"but a leaf has {leaf_ports - host_ports} ports left after {host_ports} host ports; use fewer spines"))
    sizing = Sizing(host_ports=host_ports, uplinks=uplinks, leaf_ports=leaf_ports, spine_ports=spine_ports,
                    rails_per_group=rails_per_group, spine_groups=groups, spines_per_group=per_group,
                    links_per_pair=links, leaves_per_group=leaves, oversubscription=host_ports / uplinks,
                    extra_links=extra)
    if sizing.spine_ports_used > spine_ports:
        raise SizingError((*FABRIC, "spines"), (
            f"each spine would need up to {sizing.spine_ports_used} ports ({leaves} leaves × {uplinks} uplinks over "
            f"{per_group} spines) but has {spine_ports}; use more spines or larger ones"))
    return sizing
