"""InfiniBand: one subnet per spine group (a rail plane), its subnet managers, and a topology to simulate it.

The rails of a spine group share spines, so they are one subnet; every other pair of rails is cabled
apart and needs a subnet manager of its own. With one rail per spine group (the rail-plane layout)
the 8 rails of an HGX fabric are 8 subnets. Each subnet gets, under ``opensm/<subnet>/``:

- ``primary.conf`` and ``standby.conf``: OpenSM on a host port of the first node of the first unit
  (priority 15) and of the first node of the last unit (priority 14; it takes over when the primary
  stops answering), routing engine ``ftree`` (or ``updn``), LMC, root GUID file, partitions;
- ``root_guids.conf``: the subnet's spines' node GUIDs (from ``networks.fabric.ib_switch_guids``);
- ``partitions.conf``: the default partition and one per keyed Slurm partition, members by port GUID
  (from facts ``nics[].port_guid``);
- ``ibsim.net``: the subnet for ``ibsim`` (ibnetdiscover's format), node descriptions as the real
  fabric has them: switches by planned name, host ports as ``<node> <hca>``. Devices whose GUID the
  site and facts do not give get a planned, locally administered GUID (``0x02…``).

A subnet has 49151 unicast LIDs (0x0001–0xBFFF); each host port takes 2**lmc, each switch one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from anyrack.document import Loc
from anyrack.fabric.model import FabricPlan, IbSettings, PlanRefused, RailNic, Switch
from anyrack.fabric.sizing import FABRIC, Sizing
from anyrack.fabric.text import header, template
from anyrack.facts import NodeFacts
from anyrack.site import hostlist
from anyrack.site.model import Fabric, Node

UNICAST_LIDS = 0xBFFF
PRIMARY_PRIORITY, STANDBY_PRIORITY = 15, 14
CONF_DIR = "/etc/opensm"
"""Where the subnet directories are installed (the paths inside the .conf files)."""
_KIND = {"spine": 1, "leaf": 2, "host": 3}


@dataclass(frozen=True)
class Subnet:
    name: str
    """``rail<r>`` (``rails<a>-<b>`` when a spine group holds several rails)."""
    index: int
    rails: tuple[int, ...]
    spines: tuple[Switch, ...]
    leaves: tuple[Switch, ...]
    ports: tuple[RailNic, ...]
    """Host ports, node order."""
    managers: tuple[RailNic, ...]
    """Primary, then standby subnet manager port."""

    def lids(self, lmc: int) -> int:
        """Unicast LIDs the subnet takes: 2**lmc per host port, one per switch."""
        return len(self.ports) * (1 << lmc) + len(self.spines) + len(self.leaves)


def settings(fabric: Fabric, members: Sequence[Node], switches: Sequence[str]) -> IbSettings | None:
    """The IB settings of the plan (None on RoCE); refuses SM nodes off the fabric and GUIDs of unplanned switches."""
    if fabric.type != "infiniband":
        for key in ("ib_sm_nodes", "ib_switch_guids"):
            if getattr(fabric, key):
                raise PlanRefused([((*FABRIC, key), "is for an infiniband fabric")])
        return None
    names = [n.name for n in members]
    unplanned = sorted(set(fabric.ib_switch_guids) - set(switches))
    if unplanned:
        raise PlanRefused([((*FABRIC, "ib_switch_guids", unplanned[0]), "is not a planned leaf or spine (the plan "
                                                                         f"has {switches[0]} … {switches[-1]})")])
    if fabric.ib_sm_nodes:
        wrong = [n for n in fabric.ib_sm_nodes if n not in names]
        if wrong:
            raise PlanRefused([((*FABRIC, "ib_sm_nodes"), f"{', '.join(wrong)} is not a fabric node "
                                                          "(a node whose SKU has rdma.rails)")])
        if len(set(fabric.ib_sm_nodes)) < len(fabric.ib_sm_nodes):
            raise PlanRefused([((*FABRIC, "ib_sm_nodes"), "the standby SM needs a node of its own")])
        sm = tuple(fabric.ib_sm_nodes)
    else:
        last_unit = names[(len(names) - 1) // fabric.nodes_per_unit * fabric.nodes_per_unit]
        sm = tuple(dict.fromkeys([names[0], last_unit if last_unit != names[0] else names[min(1, len(names) - 1)]]))
    return IbSettings(routing=fabric.ib_routing, lmc=fabric.ib_lmc, sm_nodes=sm,
                      switch_guids=tuple(sorted(fabric.ib_switch_guids.items())))


def port_guids(found: NodeFacts | None, wanted: int) -> list[str] | None:
    """The node's IB port GUIDs in facts order (rail order), when facts list at least ``wanted``."""
    if found is None:
        return None
    guids = [f"{int(n.port_guid, 16):#018x}" for n in found.nics if n.port_guid]
    return guids[:wanted] if len(guids) >= wanted else None


def check_lids(fabric: Fabric, sizing: Sizing, members: Sequence[Node], per_rail: int) -> None:
    """Refuse a subnet that needs more unicast LIDs than there are, naming the key to change."""
    if fabric.type != "infiniband":
        return
    units = -(-len(members) // fabric.nodes_per_unit)
    switches = sizing.spines_per_group + units * sizing.rails_per_group
    per_port = 1 << fabric.ib_lmc
    ports_per_node = sizing.rails_per_group * per_rail
    need = len(members) * ports_per_node * per_port + switches
    if need <= UNICAST_LIDS:
        return
    fit = (UNICAST_LIDS - switches) // (ports_per_node * per_port)
    loc: Loc = (*FABRIC, "ib_lmc") if fabric.ib_lmc else (*FABRIC, "rails")
    raise PlanRefused([(loc, f"an InfiniBand subnet of {len(members)} nodes × {ports_per_node} ports × {per_port} "
                             f"LIDs (lmc {fabric.ib_lmc}) + {switches} switches needs {need} LIDs; a subnet has "
                             f"{UNICAST_LIDS}, enough for {fit} nodes (node {members[fit].name!r} is the first "
                             "past it): lower ib_lmc, or split the rails into more spine groups or the site "
                             "into several fabrics")])


def subnets(plan: FabricPlan) -> list[Subnet]:
    """The plan's InfiniBand subnets, one per spine group (empty on RoCE)."""
    if plan.ib is None:
        return []
    s = plan.sizing
    out = []
    for g in range(s.spine_groups):
        rails = tuple(r for r in range(plan.rails) if s.group_of(r) == g)
        spines = tuple(w for w in plan.switches if w.role == "spine" and w.group == g)
        leaves = tuple(w for w in plan.switches if w.role == "leaf" and w.group == g)
        ports = tuple(nic for node in plan.nodes for nic in node.nics if nic.rail in rails)
        managers = tuple(next(nic for nic in ports if nic.node == name) for name in plan.ib.sm_nodes)
        name = f"rail{rails[0]}" if len(rails) == 1 else f"rails{rails[0]}-{rails[-1]}"
        out.append(Subnet(name, g, rails, spines, leaves, ports, managers))
    return out


def planned_guid(subnet: int, kind: str, index: int) -> int:
    """A locally administered node GUID for a device the site and facts give none for (simulation only)."""
    return (0x02 << 56) | (subnet << 40) | (_KIND[kind] << 32) | (index << 4)


def describe(nic: RailNic) -> str:
    """The node description a host port's HCA announces: ``<node> <hca>``."""
    return f"{nic.node} {nic.hca}"


def findings(plan: FabricPlan) -> list[tuple[str, str]]:
    """(level, message) about the subnets, for ``fabric check``."""
    nets = subnets(plan)
    if plan.ib is None or not nets:
        return []
    out: list[tuple[str, str]] = []
    lids = max(n.lids(plan.ib.lmc) for n in nets)
    out.append(("info", f"{len(nets)} subnet(s), each with its own subnet manager pair: "
                        f"{', '.join(n.name for n in nets)}; {plan.ib.routing} routing, lmc {plan.ib.lmc}; "
                        f"{lids} of {UNICAST_LIDS} LIDs per subnet; SMs on "
                        f"{' (primary), '.join(plan.ib.sm_nodes)}{' (standby)' if len(plan.ib.sm_nodes) > 1 else ''}"))
    if len(nets) < plan.rails:
        out.append(("warning", f"{plan.rails} rails share spines in {len(nets)} subnet(s) (a subnet per rail "
                               "plane needs spines per rail: lower spine_ports use or set spines)"))
    if len(plan.ib.sm_nodes) < 2:
        out.append(("warning", "one fabric node only: no standby subnet manager"))
    known = dict(plan.ib.switch_guids)
    unknown = [w.name for n in nets for w in n.spines if w.name not in known]
    if unknown:
        names = ", ".join(unknown[:3]) + (", …" if len(unknown) > 3 else "")
        out.append(("warning", f"no GUID for {len(unknown)} spine(s) ({names}): root_guids.conf is incomplete and "
                               "OpenSM finds the roots itself; set networks.fabric.ib_switch_guids"))
    missing = sum(1 for n in nets for p in n.ports if p.guid is None)
    if missing:
        out.append(("warning", f"{missing} host port(s) have no port GUID in facts: partitions list no members for "
                               "them and the SM ports are bound to the first active port"))
    return out


def render_ib(plan: FabricPlan) -> dict[str, str]:
    """``opensm/<subnet>/{primary,standby}.conf, root_guids.conf, partitions.conf, ibsim.net``."""
    if plan.ib is None:
        return {}
    known = {name: f"{int(g, 16):#018x}" for name, g in plan.ib.switch_guids}
    files: dict[str, str] = {}
    for net in subnets(plan):
        base = f"opensm/{net.name}"
        roots = [(w.name, known.get(w.name)) for w in net.spines]
        common = {"header": header(plan.site), "subnet": net, "rails": ", ".join(map(str, net.rails)),
                  "routing": plan.ib.routing, "lmc": plan.ib.lmc, "dir": f"{CONF_DIR}/{net.name}",
                  "roots_known": all(g for _, g in roots)}
        for role, nic, priority in zip(("primary", "standby"), net.managers, (PRIMARY_PRIORITY, STANDBY_PRIORITY),
                                       strict=False):
            files[f"{base}/{role}.conf"] = template("opensm/opensm.conf.j2").render(
                common, role=role, nic=nic, priority=priority, guid=nic.guid or "0x0000000000000000")
        files[f"{base}/root_guids.conf"] = template("opensm/root_guids.conf.j2").render(common, roots=roots)
        files[f"{base}/partitions.conf"] = _partitions(plan, net)
        files[f"{base}/ibsim.net"] = _ibsim(plan, net, known)
    return files


def _partitions(plan: FabricPlan, net: Subnet) -> str:
    by_node: dict[str, list[RailNic]] = {}
    for nic in net.ports:
        by_node.setdefault(nic.node, []).append(nic)
    parts = []
    for p in plan.partitions:
        if p.name == "Default":
            continue
        ports = [nic for name in p.nodes for nic in by_node.get(name, [])]
        guids = [nic.guid for nic in ports if nic.guid]
        parts.append({"name": p.name, "pkey": p.pkey, "nodes": p.nodes, "hostlist": hostlist.compress(list(p.nodes)),
                      "guids": guids if len(guids) == len(ports) else ()})
    return template("opensm/partitions.conf.j2").render(header=header(plan.site), partitions=parts,
                                                         rails=len(net.rails))


def _ibsim(plan: FabricPlan, net: Subnet, known: Mapping[str, str]) -> str:
    """The subnet in ibnetdiscover's format, as ibsim reads it: every switch and host port, both cable ends."""
    links: dict[str, list[tuple[int, str, int]]] = {}

    def cable(a: str, a_port: int, b: str, b_port: int) -> None:
        links.setdefault(a, []).append((a_port, b, b_port))
        links.setdefault(b, []).append((b_port, a, a_port))

    for nic in net.ports:
        cable(nic.leaf, nic.leaf_port, describe(nic), 1)
    leaves = {w.name for w in net.leaves}
    for up in plan.uplinks:
        if up.leaf in leaves:
            cable(up.leaf, up.leaf_port, up.spine, up.spine_port)
    records = []
    for i, switch in enumerate((*net.spines, *net.leaves)):
        guid = known.get(switch.name) or f"{planned_guid(net.index, switch.role, i):#018x}"
        records.append((f"switchguid={guid}", f'Switch\t{switch.ports} "{switch.name}"', links.get(switch.name, [])))
    for i, nic in enumerate(net.ports):
        port = int(nic.guid, 16) if nic.guid else planned_guid(net.index, "host", i) + 1
        records.append((f"caguid={port - 1:#018x}", f'Hca\t1 "{describe(nic)}"', links[describe(nic)]))
    out = [f"# {header(plan.site)}", f"# InfiniBand subnet {net.name} for ibsim (ibnetdiscover format): "
           f"{len(net.spines) + len(net.leaves)} switches, {len(net.ports)} host ports.", ""]
    for guid_line, head, ports in records:
        out += [guid_line, head, *(f'[{p}]\t"{peer}"[{q}]' for p, peer, q in sorted(ports)), ""]
    return "\n".join(out)
