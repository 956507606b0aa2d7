"""The records a fabric plan is made of: frozen, plain, no behaviour beyond lookups."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from anyrack.document import Loc, format_key
from anyrack.errors import InputError
from anyrack.fabric.addressing import Addressing
from anyrack.fabric.sizing import Sizing


class PlanRefused(InputError):
    """The site asks for a fabric that cannot be built; each finding names the site key to change."""

    template = "{detail}"

    def __init__(self, findings: list[tuple[Loc, str]]) -> None:
        self.findings = list(findings)
        super().__init__(detail="\n".join(f"{format_key(loc)}: {msg}" for loc, msg in self.findings))


@dataclass(frozen=True)
class Switch:
    name: str
    role: Literal["spine", "leaf", "access"]
    ports: int
    asn: int | None = None
    loopback: str | None = None
    unit: int | None = None
    rail: int | None = None
    group: int | None = None
    rack: str | None = None


@dataclass(frozen=True)
class Uplink:
    """One cable between a leaf and a spine."""

    leaf: str
    leaf_port: int
    leaf_interface: str
    spine: str
    spine_port: int
    spine_interface: str


@dataclass(frozen=True)
class RailNic:
    """One host NIC on a rail, its leaf port and (RoCE) its /31."""

    node: str
    rail: int
    index: int
    """NIC number within the rail (0 unless nics_per_rail > 1)."""
    interface: str
    """Host interface name: ``rail<r>`` (``rail<r>n<j>`` when nics_per_rail > 1)."""
    hca: str
    """RDMA device name, for NCCL_IB_HCA."""
    leaf: str
    leaf_port: int
    leaf_interface: str
    mac: str | None = None
    """From facts: the NIC is renamed to ``interface`` by MAC."""
    device: str | None = None
    """From networks.fabric.host_devices when there is no MAC: renamed from this kernel name."""
    address: str | None = None
    gateway: str | None = None
    table: int = 0
    guid: str | None = None
    """InfiniBand port GUID, from facts."""


@dataclass(frozen=True)
class FabricNode:
    name: str
    rack: str
    unit: int
    position: int
    nics: tuple[RailNic, ...]


@dataclass(frozen=True)
class Unit:
    index: int
    name: str
    nodes: tuple[str, ...]
    leaves: tuple[str, ...]
    """Rail order."""


@dataclass(frozen=True)
class AccessLink:
    """A node's BMC or host management port on its rack's access switch."""

    node: str
    kind: Literal["bmc", "host"]
    switch: str
    port: int
    networks: tuple[str, ...]
    address: str | None


@dataclass(frozen=True)
class L2Network:
    name: str
    cidr: str
    vlan: int | None
    mtu: int
    gateway: str | None


@dataclass(frozen=True)
class Lossless:
    """The RoCE lossless class: PFC on one priority, DSCP → traffic class, ECN marking, CNPs."""

    pfc_priority: int
    dscp: int
    cnp_dscp: int
    cnp_priority: int
    ecn_min_kbytes: int
    ecn_max_kbytes: int
    gid_index: int
    mtu: int
    """Rail MTU: switch ports (SONiC PORT.mtu, headroom sizing) and host rail interfaces alike."""

    @property
    def traffic_class(self) -> int:
        """The IP ToS byte RDMA traffic carries (DSCP << 2), as NCCL_IB_TC wants it."""
        return self.dscp << 2


@dataclass(frozen=True)
class IbPartition:
    name: str
    pkey: int
    nodes: tuple[str, ...]
    """Empty for the default partition, which holds every port."""


@dataclass(frozen=True)
class IbSettings:
    """InfiniBand subnet management (see :mod:`anyrack.fabric.ib`)."""

    routing: Literal["ftree", "updn"]
    lmc: int
    sm_nodes: tuple[str, ...]
    """Primary and standby subnet manager nodes (the same on every subnet, on its rails' ports)."""
    switch_guids: tuple[tuple[str, str], ...]
    """Planned switch name → node GUID, where the site gives it."""


@dataclass(frozen=True)
class FabricPlan:
    site: str
    type: Literal["roce", "infiniband"]
    rails: int
    nics_per_rail: int
    nodes_per_unit: int
    mtu: int
    sizing: Sizing
    addressing: Addressing | None
    units: tuple[Unit, ...]
    switches: tuple[Switch, ...]
    """Spines, then leaves (unit-major, rail order), then access switches."""
    uplinks: tuple[Uplink, ...]
    nodes: tuple[FabricNode, ...]
    lossless: Lossless | None
    partitions: tuple[IbPartition, ...]
    networks: tuple[L2Network, ...]
    access: tuple[AccessLink, ...]
    nvlink_domains: tuple[tuple[str, ...], ...]
    socket_ifname: str
    outside: tuple[str, ...] = field(default=())
    """Compute nodes that have no rails (not on the fabric)."""
    port_speed_gbps: int = 400
    port_lanes: int = 4
    switch_hwsku: str = "generic"
    ib: IbSettings | None = None
    """InfiniBand subnet management; None on RoCE."""

    @cached_property
    def by_name(self) -> dict[str, Switch]:
        return {s.name: s for s in self.switches}

    @cached_property
    def uplinks_of(self) -> dict[str, list[Uplink]]:
        """Switch name → its uplinks (leaf or spine side), in port order."""
        out: dict[str, list[Uplink]] = {s.name: [] for s in self.switches if s.role != "access"}
        for link in self.uplinks:
            out[link.leaf].append(link)
            out[link.spine].append(link)
        for name, links in out.items():
            links.sort(key=lambda u, n=name: u.leaf_port if u.leaf == n else u.spine_port)
        return out

    @cached_property
    def nics_of(self) -> dict[str, list[RailNic]]:
        """Leaf name → its host NICs, in port order."""
        out: dict[str, list[RailNic]] = {s.name: [] for s in self.switches if s.role == "leaf"}
        for node in self.nodes:
            for nic in node.nics:
                out[nic.leaf].append(nic)
        for nics in out.values():
            nics.sort(key=lambda n: n.leaf_port)
        return out

    def leaf_block(self, switch: Switch) -> str | None:
        if self.addressing is None or switch.role != "leaf":
            return None
        return self.addressing.leaf_block(switch.rail or 0, switch.unit or 0)
