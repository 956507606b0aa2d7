"""Lint a fabric plan: port budget, oversubscription, address overlaps, MTU, who is on the fabric.

:func:`~anyrack.fabric.plan.plan` refuses what cannot be built; this recounts the finished plan
independently (every port used once and within its switch, every address used once and inside its
block) and reports what is legal but worth a look (a partly filled unit, an MTU that halves the RDMA
MTU, compute nodes off the fabric).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from anyrack.fabric import ib
from anyrack.fabric.model import FabricPlan
from anyrack.site.model import Site

Level = Literal["error", "warning", "info"]
ROCE_HEADERS = 96
"""Bytes a RoCE packet carries beyond its RDMA payload (GRH, UDP, BTH, extended headers, ICRC), as the kernel counts."""


@dataclass(frozen=True)
class Finding:
    level: Level
    topic: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.topic}: {self.message}"


def lint(plan: FabricPlan, site: Site) -> list[Finding]:
    """Every finding about ``plan`` (of ``site``), errors first within each topic."""
    infiniband = [Finding(level, "infiniband", msg) for level, msg in ib.findings(plan)]  # type: ignore[arg-type]
    return [*_ports(plan), *_oversubscription(plan), *_addresses(plan, site), *_mtu(plan), *_nodes(plan), *infiniband]


def rdma_mtu(mtu: int) -> int:
    """The RDMA MTU RoCE gets on an interface of ``mtu`` bytes.

    >>> rdma_mtu(4200), rdma_mtu(4096), rdma_mtu(9000)
    (4096, 2048, 4096)
    """
    return max((m for m in (4096, 2048, 1024, 512, 256) if m <= mtu - ROCE_HEADERS), default=0)


def _ports(plan: FabricPlan) -> list[Finding]:
    out: list[Finding] = []
    used: Counter[tuple[str, int]] = Counter()
    for node in plan.nodes:
        used.update((nic.leaf, nic.leaf_port) for nic in node.nics)
    for link in plan.uplinks:
        used[(link.leaf, link.leaf_port)] += 1
        used[(link.spine, link.spine_port)] += 1
    for acc in plan.access:
        used[(acc.switch, acc.port)] += 1
    for (switch, port), count in sorted(used.items()):
        if count > 1:
            out.append(Finding("error", "ports", f"{switch} port {port} is cabled {count} times"))
    highest: dict[str, int] = {}
    for name, port in used:
        highest[name] = max(highest.get(name, 0), port)
    for switch in plan.switches:
        if highest.get(switch.name, 0) > switch.ports:
            level: Level = "warning" if switch.role == "access" else "error"
            out.append(Finding(level, "ports", f"{switch.name} needs port {highest[switch.name]} but has "
                                               f"{switch.ports}" + (" (use two access switches in this rack)"
                                                                    if switch.role == "access" else "")))
    s = plan.sizing
    leaf_used = s.host_ports + s.uplinks
    out.append(Finding("info", "ports", f"leaf: {s.host_ports} host + {s.uplinks} uplink ports of {s.leaf_ports} "
                                        f"({100 * leaf_used // s.leaf_ports}%); spine: {s.spine_ports_used} of "
                                        f"{s.spine_ports} ({100 * s.spine_ports_used // s.spine_ports}%)"))
    for unit in plan.units:
        if len(unit.nodes) < plan.nodes_per_unit:
            free = (plan.nodes_per_unit - len(unit.nodes)) * plan.nics_per_rail
            out.append(Finding("warning", "ports", f"{unit.name} has {len(unit.nodes)} of {plan.nodes_per_unit} "
                                                   f"nodes ({free} host ports free on each of its leaves)"))
    return out


def _oversubscription(plan: FabricPlan) -> list[Finding]:
    s = plan.sizing
    return [Finding("info", "oversubscription",
                    f"{s.oversubscription:.2f}:1 ({s.host_ports} host ports over {s.uplinks} uplinks: "
                    f"{s.spines_per_group} spines × {s.links_per_pair} links per leaf"
                    f"{f' (+1 to {s.extra_links} of them)' if s.extra_links else ''}; {s.spine_groups} spine "
                    f"group(s) of {s.rails_per_group} rail(s))")]


def _addresses(plan: FabricPlan, site: Site) -> list[Finding]:
    a = plan.addressing
    if a is None:
        return [Finding("info", "addresses", "InfiniBand: no IP addressing on the fabric")]
    out: list[Finding] = []
    seen: dict[str, str] = {}

    def take(address: str | None, who: str) -> None:
        if address is None:
            return
        if address in seen:
            out.append(Finding("error", "addresses", f"{address} is used by {seen[address]} and {who}"))
        else:
            seen[address] = who

    for node in site.nodes:
        take(node.addresses.management, f"{node.name} management")
        take(node.addresses.provisioning, f"{node.name} provisioning")
    lo_net = ipaddress.ip_network(a.loopbacks)
    for switch in plan.switches:
        take(switch.loopback, f"{switch.name} loopback")
        if switch.loopback and ipaddress.ip_address(switch.loopback) not in lo_net:
            out.append(Finding("error", "addresses", f"{switch.name} loopback {switch.loopback} is outside {lo_net}"))
    rails = [ipaddress.ip_network(b) for b in a.rail_blocks]
    for node in plan.nodes:
        for nic in node.nics:
            take(nic.address, f"{node.name} {nic.interface}")
            take(nic.gateway, f"{nic.leaf} {nic.leaf_interface}")
            if nic.address and ipaddress.ip_address(nic.address) not in rails[nic.rail]:
                out.append(Finding("error", "addresses", f"{node.name} {nic.interface} {nic.address} is outside "
                                                         f"rail {nic.rail}'s block {rails[nic.rail]}"))
    blocks = [*rails, lo_net]
    others = [(n.name, ipaddress.ip_network(n.cidr)) for n in plan.networks]
    for i, block in enumerate(blocks):
        clash = [str(b) for b in blocks[:i] if b.overlaps(block)] + [f"networks.{name}" for name, net in others
                                                                    if net.overlaps(block)]
        if clash:
            out.append(Finding("error", "addresses", f"{block} overlaps {', '.join(clash)}"))
    if not any(f.level == "error" for f in out):
        out.append(Finding("info", "addresses", f"{len(seen)} addresses, none used twice; rails "
                                                f"{', '.join(a.rail_blocks)}; leaf blocks /{a.leaf_prefix}; "
                                                f"loopbacks {a.loopbacks}"))
    return out


def _mtu(plan: FabricPlan) -> list[Finding]:
    if plan.type != "roce":
        return []
    got = rdma_mtu(plan.mtu)
    if got < 4096:
        return [Finding("warning", "mtu", f"mtu {plan.mtu} leaves RoCE an RDMA MTU of {got}; use at least "
                                          f"{4096 + ROCE_HEADERS} (4200 is usual) for 4096")]
    return [Finding("info", "mtu", f"mtu {plan.mtu}: RDMA MTU {got}")]


def _nodes(plan: FabricPlan) -> list[Finding]:
    out: list[Finding] = []
    if plan.outside:
        out.append(Finding("warning", "nodes", f"{len(plan.outside)} compute node(s) have no rails and are not on "
                                               f"the fabric or in topology.conf: {', '.join(plan.outside[:5])}"
                                               + (", ..." if len(plan.outside) > 5 else "")))
    if plan.type == "infiniband" and plan.nodes and plan.nodes[0].nics[0].hca == plan.nodes[0].nics[0].interface:
        out.append(Finding("warning", "nodes", "NCCL_IB_HCA lists rail<r> RDMA devices; set networks.fabric.hca_names "
                                               "to the HCA names in rail order (InfiniBand ports have no rail netdev "
                                               "to rename them by)"))
    by_mac = sum(1 for n in plan.nodes if n.nics and n.nics[0].mac)
    by_name = sum(1 for n in plan.nodes if n.nics and n.nics[0].device)
    rest = len(plan.nodes) - by_mac - by_name
    out.append(Finding("info", "nodes", f"{len(plan.nodes)} nodes: rail NICs named by MAC on {by_mac}, by kernel "
                                        f"name on {by_name}, expected to be named rail<r> already on {rest}"))
    return out
