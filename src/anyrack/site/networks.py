"""The site's networks: BMC, management, provisioning, and the GPU fabric (sizes, lossless class, InfiniBand)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from anyrack.site.fields import Cidr, HostName, IPAddress, Model, Name


class Network(Model):
    cidr: Cidr
    gateway: IPAddress | None = None
    vlan: Annotated[int, Field(ge=1, le=4094)] | None = None
    mtu: Annotated[int, Field(ge=576, le=9216)] = 1500


class Fabric(Model):
    """The GPU fabric: ``rails`` parallel networks; each RDMA node has one NIC on every rail.

    The sizes below drive :mod:`anyrack.fabric.plan` (see docs/fabric.md); every one has a default, so a
    fabric needs only ``type``, ``rails`` and (for RoCE) ``cidr``.
    """

    type: Literal["roce", "infiniband"]
    rails: Annotated[int, Field(ge=1, le=16)]
    cidr: Cidr | None = None
    mtu: Annotated[int, Field(ge=1024, le=9216)] = 4096
    # --- sizes: scalable units, switch radix, oversubscription
    nodes_per_unit: Annotated[int, Field(ge=1, le=512)] = 32
    """Nodes per scalable unit; a unit has one leaf per rail, and node i's NIC r goes to the rail-r leaf."""
    leaf_ports: Annotated[int, Field(ge=2, le=1024)] = 64
    spine_ports: Annotated[int, Field(ge=2, le=1024)] = 64
    spines: Annotated[int, Field(ge=1, le=4096)] | None = None
    """Spine count; computed from ports and oversubscription when not given."""
    oversubscription: Annotated[float, Field(ge=1.0, le=16.0)] = 1.0
    """Leaf host-facing to uplink bandwidth ratio (1.0: non-blocking)."""
    # --- addressing and routing (RoCE)
    asn_base: Annotated[int, Field(ge=1, le=4294967294)] = 4200000000
    """Spine group g uses asn_base + g; leaf i uses asn_base + 100 + i (private 32-bit ASNs by default)."""
    loopback_cidr: Cidr | None = None
    """Switch loopbacks; default: the last block of ``cidr`` after the rail blocks."""
    port_prefix: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,11}$")] = "swp"
    port_start: Annotated[int, Field(ge=0, le=1024)] = 1
    port_step: Annotated[int, Field(ge=1, le=16)] = 1
    """Switch interface of front-panel port p (1-based): port_prefix + (port_start + (p - 1) * port_step)."""
    port_speed_gbps: Literal[100, 200, 400, 800, 1600] = 400
    port_lanes: Literal[1, 2, 4, 8] = 4
    """Switch port speed and SerDes lanes (SONiC PORT); the planner checks the lane rate."""
    switch_hwsku: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")] = "generic"
    # --- host side
    host_devices: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,15}$")]] = Field(default_factory=list)
    """Kernel names of the rail NICs in rail order, for nodes whose facts give no MACs."""
    hca_names: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,63}$")]] = Field(default_factory=list)
    """RDMA device names in rail order for NCCL_IB_HCA; default: each rail's RDMA device is named like its NIC."""
    nccl_socket_ifname: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    """NCCL_SOCKET_IFNAME; default: every interface but loopback, containers' and the rails."""
    nvlink_domain_nodes: Annotated[int, Field(ge=2, le=576)] | None = None
    """Nodes per multi-node NVLink domain (rack-scale NVLink); adds a Slurm block topology."""
    # --- lossless class (RoCE)
    roce_pfc_priority: Annotated[int, Field(ge=0, le=7)] = 3
    roce_dscp: Annotated[int, Field(ge=0, le=63)] = 26
    roce_cnp_dscp: Annotated[int, Field(ge=0, le=63)] = 48
    roce_cnp_priority: Annotated[int, Field(ge=0, le=7)] = 6
    roce_ecn_min_kbytes: Annotated[int, Field(ge=1, le=1_000_000)] = 150
    roce_ecn_max_kbytes: Annotated[int, Field(ge=1, le=1_000_000)] = 1500
    roce_gid_index: Annotated[int, Field(ge=0, le=255)] = 3
    # --- InfiniBand
    ib_pkeys: dict[Name, Annotated[int, Field(ge=0x0001, le=0x7FFE)]] = Field(default_factory=dict)
    """Slurm partition name → partition key; each becomes an IB partition of that Slurm partition's nodes."""
    ib_routing: Literal["ftree", "updn"] = "ftree"
    """OpenSM routing engine of every InfiniBand subnet (one subnet per spine group: per rail plane)."""
    ib_lmc: Annotated[int, Field(ge=0, le=7)] = 0
    """OpenSM LMC: each host port takes 2**ib_lmc LIDs (multipath); the LID space is 49151 per subnet."""
    ib_sm_nodes: list[HostName] = Field(default_factory=list, max_length=2)
    """Fabric nodes whose rail ports run the primary and the standby subnet manager of every subnet;
    default: the first node of the first unit and the first node of the last unit."""
    ib_switch_guids: dict[Name, Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{1,16}$")]] = Field(default_factory=dict)
    """Planned switch name (spine01, leaf-su01-r0) → its node GUID, as printed on the switch: spines' GUIDs
    make OpenSM's root GUID file."""

    @model_validator(mode="after")
    def _addressing(self) -> Fabric:
        if self.type == "roce" and self.cidr is None:
            raise ValueError("a roce fabric needs a cidr to address its rails")
        if self.roce_ecn_min_kbytes > self.roce_ecn_max_kbytes:
            raise ValueError("roce_ecn_min_kbytes is above roce_ecn_max_kbytes")
        if self.roce_dscp == self.roce_cnp_dscp or self.roce_pfc_priority == self.roce_cnp_priority:
            raise ValueError("RoCE data and CNP traffic need different DSCP values and priorities")
        return self


class Networks(Model):
    bmc: Network
    management: Network
    provisioning: Network | None = None
    fabric: Fabric | None = None
