"""Site model → :class:`FabricPlan`: cabling, addressing, ASNs, MTU, lossless class, partitions.

A pure function of the site (and, optionally, discovered facts for rail NIC MACs): the same input
always gives the same plan. Layout (docs/fabric.md has the picture):

- Fabric nodes are the nodes whose SKU has ``rdma.rails``, in site order; they fill scalable units of
  ``nodes_per_unit``. A unit has one leaf per rail; NIC ``j`` of rail ``r`` of the unit's ``p``-th node
  goes to port ``p × nics_per_rail + j + 1`` of the unit's rail-``r`` leaf; uplinks follow the host ports.
- Rails are split into spine groups (all rails in one group when the spines have the ports); every
  leaf of a group connects to every spine of the group with ``links_per_pair`` parallel links (one more
  to ``extra_links`` of them, rotated from leaf to leaf, when the uplinks do not divide evenly).
- RoCE: eBGP unnumbered between leaves and spines (spines of a group share one ASN, each leaf has its
  own), a /31 per host NIC, one /32 loopback per switch. InfiniBand: the same cabling, no IP.
- Every node also gets a BMC and a host port on its rack's access switch (BMC, management and
  provisioning networks).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping

from anyrack.document import Loc
from anyrack.fabric import ib
from anyrack.fabric.addressing import Addressing, plan_addresses
from anyrack.fabric.model import (
    AccessLink,
    FabricNode,
    FabricPlan,
    IbPartition,
    L2Network,
    Lossless,
    PlanRefused,
    RailNic,
    Switch,
    Unit,
    Uplink,
)
from anyrack.fabric.sizing import FABRIC, Sizing, SizingError, size_fabric
from anyrack.facts import NodeFacts
from anyrack.site import hostlist
from anyrack.site.model import Fabric, Node, Site

ROUTE_TABLE_BASE = 100
"""Host routing table of rail NIC n is ROUTE_TABLE_BASE + n (its policy rule has priority 900 + table)."""
ACCESS_PORTS = 48
DEFAULT_SOCKET_IFNAME = "^lo,docker,veth,virbr,rail"

__all__ = ["AccessLink", "FabricNode", "FabricPlan", "IbPartition", "L2Network", "Lossless", "PlanRefused", "RailNic",
           "Switch", "Unit", "Uplink", "plan", "port_name", "rail_interface"]


def port_name(fabric: Fabric, port: int) -> str:
    """Switch interface of front-panel ``port`` (1-based): ``swp1`` by default, ``Ethernet0`` style on request."""
    return f"{fabric.port_prefix}{fabric.port_start + (port - 1) * fabric.port_step}"


def rail_interface(rail: int, index: int, per_rail: int) -> str:
    return f"rail{rail}" if per_rail == 1 else f"rail{rail}n{index}"


def plan(site: Site, facts: Mapping[str, NodeFacts] | None = None) -> FabricPlan:
    """The fabric plan of ``site``.

    Raises:
        PlanRefused: no fabric, a node with fewer NICs than rails, not enough leaf or spine ports,
            address space exhausted, bad partitions; every finding names the site key to change.
    """
    fabric = site.networks.fabric
    if fabric is None:
        raise PlanRefused([(("networks",), "no networks.fabric: there is no fabric to plan")])
    members, per_rail = _members(site, fabric, facts or {})
    lane_rate, odd = divmod(fabric.port_speed_gbps, fabric.port_lanes)
    if odd or lane_rate not in (25, 50, 100, 200):
        raise PlanRefused([((*FABRIC, "port_lanes"), (
            f"{fabric.port_speed_gbps} Gb/s ports over {fabric.port_lanes} lanes is not a lane rate switches have "
            "(25, 50, 100 or 200 Gb/s per lane)"))])
    units = math.ceil(len(members) / fabric.nodes_per_unit)
    try:
        sizing = size_fabric(units, fabric.rails, fabric.nodes_per_unit * per_rail, fabric.leaf_ports,
                             fabric.spine_ports, fabric.oversubscription, fabric.spines)
        addressing = None
        if fabric.type == "roce":
            assert fabric.cidr is not None  # the model refuses roce without one
            addressing = plan_addresses(fabric.cidr, fabric.rails, units, fabric.nodes_per_unit * per_rail,
                                        units * fabric.rails, sizing.spines, fabric.loopback_cidr)
    except SizingError as err:
        raise PlanRefused([(err.loc, str(err))]) from None
    ib.check_lids(fabric, sizing, [node for node, _ in members], per_rail)
    _check_loopbacks(site, addressing)
    last_asn = fabric.asn_base + 100 + units * fabric.rails - 1
    if fabric.type == "roce" and last_asn > 4294967294:
        raise PlanRefused([((*FABRIC, "asn_base"), f"leaf ASNs would run to {last_asn}, past 4294967294")])
    width = max(2, len(str(units)))
    unit_names = [f"su{u + 1:0{width}d}" for u in range(units)]
    spines = _spines(fabric, sizing, addressing)
    leaves = [_leaf(fabric, sizing, addressing, unit_names[u], u, r) for u in range(units) for r in range(fabric.rails)]
    uplinks = _uplinks(fabric, sizing, spines, leaves)
    guids = {node.name: ib.port_guids((facts or {}).get(node.name), fabric.rails * per_rail)
             for node, _ in members} if fabric.type == "infiniband" else {}
    nodes = tuple(_node(fabric, addressing, node, i, per_rail, facts_macs, unit_names, guids.get(node.name))
                  for i, (node, facts_macs) in enumerate(members))
    unit_list = tuple(Unit(u, unit_names[u], tuple(n.name for n in nodes if n.unit == u),
                           tuple(leaves[u * fabric.rails + r].name for r in range(fabric.rails)))
                      for u in range(units))
    access_switches, access = _access(site)
    fabric_names = {n.name for n in nodes}
    return FabricPlan(
        site=site.site, type=fabric.type, rails=fabric.rails, nics_per_rail=per_rail,
        nodes_per_unit=fabric.nodes_per_unit, mtu=fabric.mtu, sizing=sizing, addressing=addressing,
        units=unit_list, switches=(*spines, *leaves, *access_switches), uplinks=uplinks, nodes=nodes,
        lossless=_lossless(fabric), partitions=_partitions(site, fabric, fabric_names),
        networks=_networks(site), access=access, nvlink_domains=_nvlink_domains(fabric, nodes),
        socket_ifname=fabric.nccl_socket_ifname or DEFAULT_SOCKET_IFNAME,
        outside=tuple(n.name for n in site.nodes if n.role == "compute" and n.name not in fabric_names),
        port_speed_gbps=fabric.port_speed_gbps, port_lanes=fabric.port_lanes, switch_hwsku=fabric.switch_hwsku,
        ib=ib.settings(fabric, [node for node, _ in members], [s.name for s in (*spines, *leaves)]),
    )


def _members(site: Site, fabric: Fabric, facts: Mapping[str, NodeFacts]
             ) -> tuple[list[tuple[Node, list[str] | None]], int]:
    """Fabric nodes with the MACs of their rail NICs (None when facts do not tell), and NICs per rail."""
    problems: list[tuple[Loc, str]] = []
    members: list[tuple[Node, list[str] | None]] = []
    per_rail_seen: dict[int, str] = {}
    for i, node in enumerate(site.nodes):
        sku = site.skus.get(node.sku)
        if sku is None or sku.rdma is None or sku.rdma.rails == 0:
            continue
        if sku.rdma.rails < fabric.rails:
            problems.append((("nodes", i), f"node {node.name!r} has {sku.rdma.rails} rail NICs (SKU {node.sku!r}) "
                                           f"but the fabric has {fabric.rails} rails"))
            continue
        per_rail_seen.setdefault(sku.rdma.nics_per_rail, node.sku)
        wanted = fabric.rails * sku.rdma.nics_per_rail
        # InfiniBand ports have no MAC (their port GUIDs are read by ib.port_guids)
        macs = _rail_macs(facts.get(node.name), sku.rdma.speed_gbps) if fabric.type == "roce" else None
        if macs is not None and len(macs) < wanted:
            found = facts[node.name]
            speed = f" at {sku.rdma.speed_gbps} Gb/s" if sku.rdma.speed_gbps else ""
            if found.nics_complete:
                problems.append((("nodes", i), f"node {node.name!r} has {len(macs)} NICs{speed} in its facts but "
                                               f"the fabric needs {wanted} ({fabric.rails} rails)"))
            macs = None
        members.append((node, macs[:wanted] if macs else None))
    if len(per_rail_seen) > 1:
        problems.append(((*FABRIC, "rails"), "fabric SKUs differ in rdma.nics_per_rail "
                                             f"({', '.join(sorted(per_rail_seen.values()))}); use one value"))
    per_rail = next(iter(per_rail_seen), 1)
    for key in ("host_devices", "hca_names"):
        given = getattr(fabric, key)
        if given and len(given) != fabric.rails * per_rail:
            problems.append(((*FABRIC, key), f"lists {len(given)} names; the fabric needs {fabric.rails * per_rail} "
                                             "(one per rail NIC, in rail order)"))
    if not members and not problems:
        problems.append((("skus",), "no node's SKU has rdma.rails: there is nothing on the fabric"))
    if problems:
        raise PlanRefused(problems)
    return members, per_rail


def _rail_macs(found: NodeFacts | None, speed_gbps: int | None) -> list[str] | None:
    """MACs of the rail NICs in facts order: NICs at the SKU's rail speed (all NICs when speeds are unknown)."""
    if found is None:
        return None
    nics = [n for n in found.nics if n.mac]
    if speed_gbps and any(n.speed_mbps for n in nics):
        nics = [n for n in nics if n.speed_mbps == speed_gbps * 1000]
    return [n.mac for n in nics if n.mac]


def _check_loopbacks(site: Site, addressing: Addressing | None) -> None:
    fabric = site.networks.fabric
    if addressing is None or fabric is None or fabric.loopback_cidr is None:
        return
    lo = ipaddress.ip_network(fabric.loopback_cidr)
    for key in ("bmc", "management", "provisioning"):
        net = getattr(site.networks, key)
        if net is not None and ipaddress.ip_network(net.cidr).overlaps(lo):
            raise PlanRefused([((*FABRIC, "loopback_cidr"), f"{lo} overlaps networks.{key} ({net.cidr})")])


def _spines(fabric: Fabric, sizing: Sizing, addressing: Addressing | None) -> list[Switch]:
    width = max(2, len(str(sizing.spines)))
    return [Switch(name=f"spine{s + 1:0{width}d}", role="spine", ports=fabric.spine_ports,
                   asn=fabric.asn_base + s // sizing.spines_per_group if addressing else None,
                   loopback=addressing.spine_loopback(s) if addressing else None, group=s // sizing.spines_per_group)
            for s in range(sizing.spines)]


def _leaf(fabric: Fabric, sizing: Sizing, addressing: Addressing | None, unit_name: str, unit: int,
          rail: int) -> Switch:
    index = unit * fabric.rails + rail
    return Switch(name=f"leaf-{unit_name}-r{rail}", role="leaf", ports=fabric.leaf_ports,
                  asn=fabric.asn_base + 100 + index if addressing else None,
                  loopback=addressing.leaf_loopback(index) if addressing else None,
                  unit=unit, rail=rail, group=sizing.group_of(rail))


def _uplinks(fabric: Fabric, sizing: Sizing, spines: list[Switch], leaves: list[Switch]) -> tuple[Uplink, ...]:
    """Leaves in unit order, each to every spine of its group; a spine's ports fill in the order its leaves come."""
    links = []
    used: dict[str, int] = {}
    for leaf in leaves:
        assert leaf.unit is not None and leaf.rail is not None and leaf.group is not None
        in_group = leaf.unit * sizing.rails_per_group + leaf.rail % sizing.rails_per_group
        group = spines[leaf.group * sizing.spines_per_group:(leaf.group + 1) * sizing.spines_per_group]
        leaf_port = sizing.host_ports
        for s, spine in enumerate(group):
            for _ in range(sizing.links(in_group, s)):
                leaf_port += 1
                spine_port = used[spine.name] = used.get(spine.name, 0) + 1
                links.append(Uplink(leaf.name, leaf_port, port_name(fabric, leaf_port), spine.name, spine_port,
                                    port_name(fabric, spine_port)))
    return tuple(links)


def _node(fabric: Fabric, addressing: Addressing | None, node: Node, i: int, per_rail: int,
          macs: list[str] | None, unit_names: list[str], guids: list[str] | None = None) -> FabricNode:
    unit, position = divmod(i, fabric.nodes_per_unit)
    nics = []
    for rail in range(fabric.rails):
        leaf = f"leaf-{unit_names[unit]}-r{rail}"
        for j in range(per_rail):
            n = rail * per_rail + j
            link = position * per_rail + j
            name = rail_interface(rail, j, per_rail)
            leaf_side, host_side = addressing.host_link(rail, unit, link) if addressing else (None, None)
            nics.append(RailNic(
                node=node.name, rail=rail, index=j, interface=name,
                hca=fabric.hca_names[n] if fabric.hca_names else name, leaf=leaf, leaf_port=link + 1,
                leaf_interface=port_name(fabric, link + 1), mac=macs[n] if macs else None,
                device=fabric.host_devices[n] if fabric.host_devices and not macs else None,
                address=host_side, gateway=leaf_side, table=ROUTE_TABLE_BASE + n if addressing else 0,
                guid=guids[n] if guids else None,
            ))
    return FabricNode(node.name, node.rack, unit, position, tuple(nics))


def _lossless(fabric: Fabric) -> Lossless | None:
    if fabric.type != "roce":
        return None
    return Lossless(pfc_priority=fabric.roce_pfc_priority, dscp=fabric.roce_dscp, cnp_dscp=fabric.roce_cnp_dscp,
                    cnp_priority=fabric.roce_cnp_priority, ecn_min_kbytes=fabric.roce_ecn_min_kbytes,
                    ecn_max_kbytes=fabric.roce_ecn_max_kbytes, gid_index=fabric.roce_gid_index,
                    mtu=fabric.mtu)


def _partitions(site: Site, fabric: Fabric, members: set[str]) -> tuple[IbPartition, ...]:
    if fabric.type != "infiniband":
        if fabric.ib_pkeys:
            raise PlanRefused([((*FABRIC, "ib_pkeys"), "partition keys are for an infiniband fabric")])
        return ()
    slurm = {p.name: p for p in site.slurm.partitions}
    problems: list[tuple[Loc, str]] = []
    seen: dict[int, str] = {}
    out = [IbPartition("Default", 0x7FFF, ())]
    for name, pkey in sorted(fabric.ib_pkeys.items(), key=lambda kv: kv[1]):
        loc = (*FABRIC, "ib_pkeys", name)
        if name not in slurm:
            problems.append((loc, f"{name!r} is not a Slurm partition (slurm.partitions)"))
        elif pkey in seen:
            problems.append((loc, f"pkey {pkey:#06x} is already used by {seen[pkey]!r}"))
        else:
            seen[pkey] = name
            names = [n for expr in slurm[name].nodes for n in hostlist.expand(expr)]
            out.append(IbPartition(name, pkey, tuple(n for n in dict.fromkeys(names) if n in members)))
    if problems:
        raise PlanRefused(problems)
    return tuple(out)


def _networks(site: Site) -> tuple[L2Network, ...]:
    nets = site.networks
    return tuple(L2Network(key, net.cidr, net.vlan, net.mtu, net.gateway)
                 for key in ("bmc", "management", "provisioning") if (net := getattr(nets, key)) is not None)


def _access(site: Site) -> tuple[list[Switch], tuple[AccessLink, ...]]:
    """One access switch per rack: each node's BMC port and host port, in rack-unit order."""
    host_nets = ("management", "provisioning") if site.networks.provisioning else ("management",)
    switches, links = [], []
    by_rack: dict[str, list[Node]] = {r.name: [] for r in site.racks}
    for node in site.nodes:
        by_rack.setdefault(node.rack, []).append(node)
    for rack, nodes in by_rack.items():
        if not nodes:
            continue
        name = f"access-{rack}"
        switches.append(Switch(name=name, role="access", ports=ACCESS_PORTS, rack=rack))
        for k, node in enumerate(sorted(nodes, key=lambda n: n.u)):
            bmc_ip = node.bmc.host if _is_ip(node.bmc.host) else None
            links.append(AccessLink(node.name, "host", name, 2 * k + 1, host_nets, node.addresses.management))
            links.append(AccessLink(node.name, "bmc", name, 2 * k + 2, ("bmc",), bmc_ip))
    return switches, tuple(links)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _nvlink_domains(fabric: Fabric, nodes: tuple[FabricNode, ...]) -> tuple[tuple[str, ...], ...]:
    """NVLink domains: each rack's fabric nodes, in site order, cut into domains of nvlink_domain_nodes."""
    size = fabric.nvlink_domain_nodes
    if not size:
        return ()
    by_rack: dict[str, list[str]] = {}
    for node in nodes:
        by_rack.setdefault(node.rack, []).append(node.name)
    return tuple(tuple(names[i:i + size]) for names in by_rack.values() for i in range(0, len(names), size))
