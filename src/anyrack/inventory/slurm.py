"""Slurm node definitions from the site's SKUs plus discovered facts, for slurm.conf and gres.conf.

Each compute node gets ``anyrack_slurm_node`` (host_vars); ``group_vars/all.yml`` carries
``anyrack_slurm.nodes``: nodes with the same definition joined under one host list
(``gpu[0001-0032]``). The roles write slurm.conf from these alone, never from a run's gathered facts,
so a ``--limit`` run leaves every other node's line as it was.
"""

from __future__ import annotations

from anyrack.site import hostlist
from anyrack.site.checks import group_name
from anyrack.site.model import CpuTopology, Node, Site
from anyrack.site.slurm import cpu_topology, gpu_cores, gpu_type

MEMORY_RESERVE = 0.05
"""Share of a SKU's memory left out of RealMemory: what firmware and the kernel keep (slurmd drains a node
whose RealMemory is above what it finds)."""


def slurm_node(site: Site, node: Node, gpus: int) -> dict:
    """The node's Slurm definition; ``gpus`` is the count to configure (discovered, else the SKU's).

    Without a CPU layout (see :func:`layout_warnings`) the entry has no sockets, cores or threads, and Slurm
    counts one CPU.

    Raises:
        ValueError: the SKU's GPU has no type (the site checks report this first).
    """
    sku = site.sku_of(node)
    topology = cpu_topology(sku)
    entry: dict = {"memory_mb": int(sku.memory_gib * 1024 * (1 - MEMORY_RESERVE)), "features": [], "gpus": 0}
    if topology:
        entry.update(sockets=topology.sockets, cores_per_socket=topology.cores_per_socket,
                     threads_per_core=topology.threads_per_core)
    if sku.gpu and gpus:
        kind = gpu_type(sku.gpu)
        if kind is None:
            raise ValueError(f"SKU {node.sku!r}: no GPU type")
        cores = gpu_cores(sku, topology or CpuTopology(sockets=1, cores_per_socket=1))
        entry.update(gpu_type=kind, gpus=gpus, gres_files=_gres_files(cores[:gpus]))
        entry["features"].append(kind)
    entry["features"] += [group_name("sku", node.sku), group_name("rack", node.rack)]
    return entry


def layout_warnings(site: Site) -> list[str]:
    """One line per compute SKU whose CPU layout cannot be read: its nodes get one CPU in slurm.conf."""
    compute = sorted({n.sku for n in site.nodes if n.role == "compute"})
    return [f"skus.{name}.cpu: cannot read a CPU layout from {site.skus[name].cpu!r}: slurm.conf gives its nodes "
            "one CPU (write '2x 56-core' or give cpu_topology: {sockets, cores_per_socket, threads_per_core})"
            for name in compute if cpu_topology(site.skus[name]) is None]


def _gres_files(cores: list[str]) -> list[dict[str, str]]:
    """GPUs in order with the same cores joined: ``[{"file": "/dev/nvidia[0-3]", "cores": "0-55"}, ...]``."""
    runs: list[list] = []
    for i, core in enumerate(cores):
        if runs and runs[-1][2] == core and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i, core])
    return [{"file": f"/dev/nvidia{a}" if a == b else f"/dev/nvidia[{a}-{b}]", "cores": c} for a, b, c in runs]


def cluster_nodes(definitions: dict[str, dict]) -> list[dict]:
    """Nodes with equal definitions under one host list, ordered by their first node's name.

    >>> cluster_nodes({"gpu2": {"gpus": 8}, "gpu1": {"gpus": 8}, "gpu3": {"gpus": 4}})
    [{'name': 'gpu[1-2]', 'gpus': 8}, {'name': 'gpu3', 'gpus': 4}]
    """
    groups: dict[str, tuple[dict, list[str]]] = {}
    for name in sorted(definitions):
        key = repr(sorted(definitions[name].items()))
        groups.setdefault(key, (definitions[name], []))[1].append(name)
    return [{"name": hostlist.compress(names), **entry} for entry, names in groups.values()]
