"""A site as Slurm sees it: each SKU's CPU layout, GPU type (the GRES type) and each GPU's nearest cores,
and how many controllers run slurmctld.

Pure functions over the site model; the inventory generator turns them into node definitions and the
site checks report what cannot be derived.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from anyrack.document import Loc
from anyrack.site.model import CpuTopology, GpuSpec, Site, Sku

# words in a GPU model that never name its type
_VENDOR_WORDS = {"nvidia", "amd", "intel", "tesla", "instinct", "geforce", "radeon", "data", "center", "gpu"}
# a GPU type is letters then digits, maybe a letter suffix: h100, b200, gh200, a100, l40s, mi250x, mi300x
_TYPE = re.compile(r"^[a-z]{1,3}\d{2,4}[a-z]{0,2}$")
_SOCKETS_CORES = re.compile(r"^\s*(\d+)\s*x\s*(\d+)[- ]core\b", re.I)
_CORES = re.compile(r"^\s*(\d+)[- ]core\b", re.I)
_VCPUS = re.compile(r"^\s*(\d+)\s*v?cpus?\b", re.I)
MAX_CONTROLLERS = 1
"""slurmctld hosts supported: every controller writes itself as SlurmctldHost, so two would be two clusters
(split brain) until primary + backup with a shared StateSaveLocation exist."""


def gpu_type(spec: GpuSpec) -> str | None:
    """The Slurm GRES type of a GPU: the SKU's ``slurm_type``, else derived from its model; None if neither.

    >>> gpu_type(GpuSpec(model="NVIDIA H100 80GB HBM3", count=8))
    'h100'
    >>> gpu_type(GpuSpec(model="Instinct MI250X", count=8))
    'mi250x'
    >>> gpu_type(GpuSpec(model="A100-SXM4-80GB", count=4)), gpu_type(GpuSpec(model="RTX 6000 Ada", count=4))
    ('a100', None)
    """
    if spec.slurm_type:
        return spec.slurm_type
    for word in re.split(r"[\s_\-/]+", spec.model.lower()):
        if word not in _VENDOR_WORDS and _TYPE.match(word):
            return word
    return None


def cpu_topology(sku: Sku) -> CpuTopology | None:
    """The SKU's ``cpu_topology``, else read from its ``cpu`` text; None when the text says too little.

    >>> cpu_topology(Sku(cpu="2x 56-core x86", memory_gib=1))
    CpuTopology(sockets=2, cores_per_socket=56, threads_per_core=1)
    >>> cpu_topology(Sku(cpu="2 vCPU", memory_gib=1)).cores_per_socket, cpu_topology(Sku(cpu="x86", memory_gib=1))
    (2, None)
    """
    if sku.cpu_topology:
        return sku.cpu_topology
    if m := _SOCKETS_CORES.match(sku.cpu):
        return CpuTopology(sockets=int(m[1]), cores_per_socket=int(m[2]))
    if m := _CORES.match(sku.cpu) or _VCPUS.match(sku.cpu):
        return CpuTopology(sockets=1, cores_per_socket=int(m[1]))
    return None


def parse_cores(text: str) -> list[int]:
    """``"0-3,8"`` → ``[0, 1, 2, 3, 8]``."""
    out: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        out.extend(range(int(first), int(last or first) + 1))
    return out


def format_cores(cores: list[int]) -> str:
    """``[0, 1, 2, 3, 8]`` → ``"0-3,8"`` (sorted, ranges joined)."""
    runs: list[list[int]] = []
    for core in sorted(set(cores)):
        if runs and core == runs[-1][1] + 1:
            runs[-1][1] = core
        else:
            runs.append([core, core])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def gpu_cores(sku: Sku, topology: CpuTopology) -> list[str]:
    """Per GPU, the core list closest to it: the SKU's ``gpu.cores``, else the GPUs split evenly over the
    sockets in order (GPU 0..n/2-1 on socket 0 for two sockets: the HGX layout).

    >>> gpu_cores(Sku(cpu="2x 4-core", memory_gib=1, gpu={"model": "H100", "count": 4}),
    ...           CpuTopology(sockets=2, cores_per_socket=4))
    ['0-3', '0-3', '4-7', '4-7']
    """
    if not sku.gpu or not sku.gpu.count:
        return []
    if sku.gpu.cores:
        return [format_cores(parse_cores(c)) for c in sku.gpu.cores]
    per = topology.cores_per_socket
    sockets = [min(i * topology.sockets // sku.gpu.count, topology.sockets - 1) for i in range(sku.gpu.count)]
    return [format_cores(list(range(s * per, (s + 1) * per))) for s in sockets]


def check_slurm(site: Site) -> Iterator[tuple[Loc, str]]:
    """Findings for what Slurm cannot run: more controllers than supported, a GPU without a type, or
    ``gpu.cores`` of the wrong length or naming cores the SKU does not have."""
    controllers = [i for i, n in enumerate(site.nodes) if n.role == "controller"]
    for i in controllers[MAX_CONTROLLERS:]:
        yield ("nodes", i, "role"), (f"{len(controllers)} controllers, {MAX_CONTROLLERS} supported: each would "
                                     "run its own slurmctld (split brain); HA controllers are not supported yet")
    for name, sku in site.skus.items():
        topology = cpu_topology(sku)
        if not sku.gpu or not sku.gpu.count:
            continue
        if gpu_type(sku.gpu) is None:
            yield ("skus", name, "gpu", "model"), (f"cannot derive a Slurm GPU type from {sku.gpu.model!r}: "
                                                   "set gpu.slurm_type (e.g. h100)")
        if sku.gpu.cores is None or topology is None:
            continue
        if len(sku.gpu.cores) != sku.gpu.count:
            yield ("skus", name, "gpu", "cores"), (f"{len(sku.gpu.cores)} core lists for {sku.gpu.count} GPUs: "
                                                   "give one per GPU")
        total = topology.sockets * topology.cores_per_socket
        for i, text in enumerate(sku.gpu.cores):
            outside = [c for c in parse_cores(text) if c >= total]
            if outside:
                yield ("skus", name, "gpu", "cores", i), (f"core {outside[0]} is outside the SKU's cores 0-{total - 1} "
                                                          f"({topology.sockets} sockets x {topology.cores_per_socket})")
