"""FabricPlan → the text of every file that configures the fabric (pure; nothing is written).

Layout of ``anyrack fabric plan SITE --out DIR``::

    plan.json                               the plan, for machines
    cabling.csv                             one row per cable, for the people who plug them
    topology.svg                            switch tiers, rails in colour, nodes per unit
    switches/<switch>/frr.conf              RoCE: FRR config of each leaf and spine
    switches/<switch>/config_db.json        RoCE: SONiC ConfigDB (ports, interfaces, lossless QoS); FRR as above
    slurm/topology.conf                     Slurm tree topology (plus topology-block.conf for NVLink domains)
    opensm/<subnet>/                        InfiniBand, per subnet (rail plane): OpenSM primary/standby
                                            configs, root GUIDs, partitions, ibsim topology
    hosts/<node>.yml                        one file per host, read by role rdma_network: its rails, the
                                            lossless class, and the text of each file the role installs
                                            (``files``: destination → text): systemd-networkd .link/.network
                                            and netplan (RoCE), /etc/nccl.conf, enroot's environ.d NCCL file

Every file is deterministic (sorted, no timestamps). Templates live in ``fabric/templates/``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict

from anyrack.fabric.addressing import P2P_PREFIX
from anyrack.fabric.ib import render_ib
from anyrack.fabric.model import FabricNode, FabricPlan, Switch
from anyrack.fabric.sonic import render_config_db
from anyrack.fabric.svg import render_svg
from anyrack.fabric.text import header as text_header
from anyrack.fabric.text import template
from anyrack.site import hostlist


def header(plan: FabricPlan) -> str:
    return text_header(plan.site)


def render(plan: FabricPlan) -> dict[str, str]:
    """Every file of the plan: relative path → text."""
    files = {"plan.json": plan_json(plan), "cabling.csv": cabling_csv(plan), "topology.svg": render_svg(plan)}
    if plan.addressing is not None:
        for switch in plan.switches:
            if switch.role != "access":
                files[f"switches/{switch.name}/frr.conf"] = render_frr(plan, switch)
                files[f"switches/{switch.name}/config_db.json"] = render_config_db(plan, switch)
    files.update(render_slurm(plan))
    files.update(render_ib(plan))
    for node in plan.nodes:
        files[f"hosts/{node.name}.yml"] = render_host(plan, node)
    return files


def render_frr(plan: FabricPlan, switch: Switch) -> str:
    """FRR config of one leaf or spine: loopback, host /31s (leaf), eBGP unnumbered uplinks, ECMP."""
    uplinks = []
    for link in plan.uplinks_of[switch.name]:
        if switch.role == "leaf":
            uplinks.append({"local": link.leaf_interface, "peer": link.spine, "peer_interface": link.spine_interface})
        else:
            uplinks.append({"local": link.spine_interface, "peer": link.leaf, "peer_interface": link.leaf_interface})
    unit_name = plan.units[switch.unit].name if switch.unit is not None else ""
    return template("frr/frr.conf.j2").render(
        header=header(plan), switch=switch, unit_name=unit_name, uplinks=uplinks,
        host_nics=plan.nics_of.get(switch.name, []), leaf_block=plan.leaf_block(switch), p2p_prefix=P2P_PREFIX,
        peer_group="SPINES" if switch.role == "leaf" else "LEAVES",
    )


def host_files(plan: FabricPlan, node: FabricNode) -> dict[str, str]:
    """A node's rail files: destination path on the host → text."""
    common = {"header": header(plan), "node": node.name, "mtu": plan.mtu, "p2p_prefix": P2P_PREFIX,
              "fabric_cidr": plan.addressing.cidr if plan.addressing else None,
              "rail_blocks": plan.addressing.rail_blocks if plan.addressing else ()}
    files: dict[str, str] = {}
    if plan.type == "roce":  # InfiniBand rails carry no IP: nothing for the host network stack
        link, network = template("systemd-network/rail.link.j2"), template("systemd-network/rail.network.j2")
        for nic in node.nics:
            if nic.mac or nic.device:
                files[f"/etc/systemd/network/10-anyrack-{nic.interface}.link"] = link.render(common, nic=nic)
            files[f"/etc/systemd/network/20-anyrack-{nic.interface}.network"] = network.render(
                common, nic=nic, main_route=nic.index == 0, rail_block=common["rail_blocks"][nic.rail])
        files["/etc/netplan/60-anyrack-rails.yaml"] = template("netplan/60-anyrack-rails.yaml.j2").render(
            common, nics=node.nics)
    nccl = nccl_env(plan, node)
    files["/etc/nccl.conf"] = template("nccl/nccl.conf.j2").render(common, env=nccl)
    files[ENROOT_ENV] = "".join(f"{key}={value}\n" for key, value in nccl.items())
    return files


ENROOT_ENV = "/etc/enroot/environ.d/50-anyrack-nccl.env"
"""NCCL settings for jobs in enroot (pyxis) containers, which do not read the host's /etc/nccl.conf."""


def nccl_env(plan: FabricPlan, node: FabricNode) -> dict[str, str]:
    """NCCL's environment for ``node``: RDMA devices in rail order (exact names), socket interfaces, RoCE class."""
    env = {"NCCL_IB_HCA": "=" + ",".join(f"{nic.hca}:1" for nic in node.nics),
           "NCCL_SOCKET_IFNAME": plan.socket_ifname, "NCCL_CROSS_NIC": "0"}
    if plan.lossless is not None:
        env |= {"NCCL_IB_GID_INDEX": str(plan.lossless.gid_index), "NCCL_IB_TC": str(plan.lossless.traffic_class)}
    return env


def render_host(plan: FabricPlan, node: FabricNode) -> str:
    """``hosts/<node>.yml``: what role rdma_network reads for ``node`` (its vars and its files).

    Written by hand for speed (yaml.dump took 12 s for 1,250 hosts): each variable is one line of JSON
    (which YAML reads as a flow node), each file a literal block, so it reads like the file it holds.
    """
    lines = ["# " + header(plan)]
    for key, value in sorted(host_vars(plan, node).items()):
        if isinstance(value, list):
            lines += [f"{key}:", *(f"  - {json.dumps(item, sort_keys=True)}" for item in value)]
        else:
            lines.append(f"{key}: {json.dumps(value, sort_keys=True)}")
    lines.append("files:")
    for path, text in sorted(host_files(plan, node).items()):
        lines.append(f"  {json.dumps(path)}: {yaml_block(text)}")
    return "\n".join(lines) + "\n"


_PRINTABLE = "\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff"
_NOT_BLOCK = re.compile(f"[^\t\n{_PRINTABLE}]|[\ufeff\u2028\u2029]")  # PyYAML breaks lines at U+2028/9
_NOT_QUOTED = re.compile(f"[^{_PRINTABLE}]|[\"\\\\\ufeff\u2028\u2029]")


def yaml_block(text: str) -> str:
    """``text`` as the value of a key indented by 2: a literal block with its lines indented by 4 (an explicit
    indentation indicator, so leading spaces survive), or a double-quoted scalar where a block cannot hold it."""
    if not text.strip(" \n") or _NOT_BLOCK.search(text):
        return '"' + _NOT_QUOTED.sub(_escape, text) + '"'
    chomp = "-" if not text.endswith("\n") else "+" if text.endswith("\n\n") else ""
    body = text[:-1] if text.endswith("\n") else text
    return f"|2{chomp}\n" + "\n".join("    " + line if line else "" for line in body.split("\n"))


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    if c in "\"\\":
        return "\\" + c
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def host_vars(plan: FabricPlan, node: FabricNode) -> dict:
    """What role rdma_network reads for ``node`` besides the files."""
    rails = []
    for nic in node.nics:
        rails.append({k: v for k, v in {
            "rail": nic.rail, "index": nic.index, "interface": nic.interface, "hca": nic.hca, "mac": nic.mac,
            "device": nic.device, "address": nic.address, "prefix": P2P_PREFIX if nic.address else None,
            "gateway": nic.gateway, "table": nic.table or None, "leaf": nic.leaf, "leaf_port": nic.leaf_interface,
        }.items() if v is not None})
    data: dict = {"node": node.name, "type": plan.type, "mtu": plan.mtu, "unit": plan.units[node.unit].name,
                  "rails": rails}
    if plan.lossless is not None:
        data["lossless"] = {**asdict(plan.lossless), "traffic_class": plan.lossless.traffic_class}
    return data


def render_slurm(plan: FabricPlan) -> dict[str, str]:
    """``slurm/topology.conf`` (tree) and, when NVLink domains are declared, ``slurm/topology-block.conf``."""
    units = [{"name": u.name, "leaves": u.leaves, "hostlist": hostlist.compress(list(u.nodes))} for u in plan.units]
    files = {"slurm/topology.conf": template("slurm/topology.conf.j2").render(
        header=header(plan), units=units, top="spines", unit_hostlist=hostlist.compress([u.name for u in plan.units]),
        spines=[s.name for s in plan.switches if s.role == "spine"])}
    if plan.nvlink_domains:
        width = max(2, len(str(len(plan.nvlink_domains))))
        blocks = [{"name": f"nvl{i + 1:0{width}d}", "hostlist": hostlist.compress(list(d))}
                  for i, d in enumerate(plan.nvlink_domains)]
        files["slurm/topology-block.conf"] = template("slurm/topology-block.conf.j2").render(
            header=header(plan), blocks=blocks, domain_nodes=max(len(d) for d in plan.nvlink_domains))
    return files


CABLING_COLUMNS = ("cable", "kind", "a_device", "a_port", "a_interface", "b_device", "b_port", "b_interface",
                   "rail", "unit", "rack")


def cabling_csv(plan: FabricPlan) -> str:
    """One row per cable: rail NICs to leaves, leaves to spines, BMC and host ports to access switches."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CABLING_COLUMNS)
    rows = []
    for node in plan.nodes:
        unit = plan.units[node.unit].name
        for nic in node.nics:
            rows.append(("rail", nic.leaf, nic.leaf_port, nic.leaf_interface, node.name, "", nic.interface,
                         nic.rail, unit, node.rack))
    for link in plan.uplinks:
        leaf = plan.by_name[link.leaf]
        rows.append(("uplink", link.leaf, link.leaf_port, link.leaf_interface, link.spine, link.spine_port,
                     link.spine_interface, leaf.rail, plan.units[leaf.unit or 0].name, ""))
    for acc in plan.access:
        rows.append(("bmc" if acc.kind == "bmc" else "host", acc.switch, acc.port, "", acc.node, "",
                     acc.kind, "", "", plan.by_name[acc.switch].rack))
    width = len(str(len(rows)))
    for i, row in enumerate(rows):
        writer.writerow((f"C{i + 1:0{width}d}", *row))
    return out.getvalue()


def plan_json(plan: FabricPlan) -> str:
    """The whole plan as JSON (sorted keys): sizing, addressing, switches, units, nodes, partitions."""
    addressing = None
    if plan.addressing is not None:
        a = plan.addressing
        addressing = {"cidr": a.cidr, "rail_blocks": list(a.rail_blocks), "leaf_prefix": a.leaf_prefix,
                      "loopbacks": a.loopbacks, "host_link_prefix": P2P_PREFIX}
    sizing = asdict(plan.sizing) | {"spines": plan.sizing.spines, "spine_ports_used": plan.sizing.spine_ports_used}
    doc = {
        "site": plan.site, "type": plan.type, "rails": plan.rails, "nics_per_rail": plan.nics_per_rail,
        "nodes_per_unit": plan.nodes_per_unit, "mtu": plan.mtu, "sizing": sizing, "addressing": addressing,
        "lossless": asdict(plan.lossless) if plan.lossless else None,
        "switches": [_clean(vars(s)) for s in plan.switches],
        "units": [{"name": u.name, "nodes": list(u.nodes), "leaves": list(u.leaves)} for u in plan.units],
        "nodes": [{"name": n.name, "rack": n.rack, "unit": plan.units[n.unit].name, "position": n.position,
                   "nics": [_clean(vars(nic)) for nic in n.nics]} for n in plan.nodes],
        "uplinks": [vars(u) for u in plan.uplinks],
        "partitions": [{"name": p.name, "pkey": p.pkey, "nodes": list(p.nodes)} for p in plan.partitions],
        "networks": [_clean(vars(n)) for n in plan.networks],
        "access": [_clean({**vars(a), "networks": list(a.networks)}) for a in plan.access],
        "nvlink_domains": [list(d) for d in plan.nvlink_domains], "nccl_socket_ifname": plan.socket_ifname,
        "outside": list(plan.outside),
    }
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def _clean(mapping: dict) -> dict:
    return {k: v for k, v in mapping.items() if v is not None and not k.startswith("_")}
