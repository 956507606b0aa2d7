"""The host lab's site file and container-safe playbook settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from anyrack.lab.hosts import LabState

BMC_PORT_BASE = 8441
BMC_GPU_MODEL = "NVIDIA H100 PCIe"

# Extra vars for playbooks run against the lab (`-e @STATE_DIR/lab-vars.yml`): what containers cannot do.
# {apt} is the lab's apt cache (LabState.apt_url), the only way the hosts reach Debian.
_LAB_VARS = """\
# written by `anyrack lab up`: container-safe settings for playbooks/site.yml
# containers mount the v1 cgroup controllers read-only: track processes without cgroups
slurm_controller_options:
  ProctrackType: proctrack/linuxproc
  TaskPlugin: task/affinity
# the emulated GPUs have no /dev/nvidia* files: slurmd would report 0 and drain the node
slurm_controller_gres_gpu: false
slurm_node_gpus: 0
ansible_user: anyrack
ansible_python_interpreter: /usr/bin/python3
# the hosts reach Debian only through the lab's apt cache; their kernel is the machine's, whose headers
# Debian does not ship (and no module loads in a container anyway)
nvidia_driver_debian_mirror: {apt}/debian
nvidia_driver_debian_security_mirror: {apt}/debian-security
nvidia_driver_kernel_headers: false
# the GPUs are the emulated BMCs' only (the SKU says what they report): burn-in finds none in a container
burnin_sku: {{gpu: {{count: 0}}}}
"""


def lab_vars(state: LabState) -> str:
    """The text of STATE_DIR/lab-vars.yml for this lab."""
    return _LAB_VARS.format(apt=state.apt_url)


def cpu_layout(sys_cpu: Path = Path("/sys/devices/system/cpu")) -> dict[str, int]:
    """This machine's sockets, cores per socket and threads per core (what slurmd in every container sees)."""
    threads: dict[tuple[str, str], int] = {}
    for cpu in sys_cpu.glob("cpu[0-9]*/topology"):
        key = ((cpu / "physical_package_id").read_text().strip(), (cpu / "core_id").read_text().strip())
        threads[key] = threads.get(key, 0) + 1
    if not threads:
        return {"sockets": 1, "cores_per_socket": os.cpu_count() or 1, "threads_per_core": 1}
    sockets = len({s for s, _ in threads})
    return {"sockets": sockets, "cores_per_socket": len(threads) // sockets, "threads_per_core": min(threads.values())}


def site_text(state: LabState) -> str:
    """The lab site file: the hosts with their management addresses and emulated BMCs."""
    nodes = [{"name": h.name, "rack": "lab", "u": i + 1, "sku": "lab-small", "role": h.role,
              "bmc": {"url": f"redfish+https://127.0.0.1:{BMC_PORT_BASE + i}", "insecure": True},
              "addresses": {"management": h.address}} for i, h in enumerate(state.hosts)]
    computes = [h.name for h in state.hosts if h.role == "compute"]
    doc = {
        "version": 1, "site": "lab", "description": "anyrack host lab (written by `anyrack lab up`)",
        "domain": "lab.anyrack.test",
        "defaults": {"bmc_credential": "lab-bmc"},
        "credentials": {"lab-bmc": {"username": "admin", "password": {"env": "ANYRACK_LAB_BMC_PASSWORD"}}},
        "networks": {"bmc": {"cidr": "127.0.0.0/8"}, "management": {"cidr": state.cidr, "gateway": state.gateway}},
        "racks": [{"name": "lab", "height": 42}],
        # what the emulated BMC (BMC_TREE) reports, so reconciliation passes and the nodes get role groups
        "skus": {"lab-small": {"cpu": "2 vCPU", "cpu_topology": cpu_layout(), "memory_gib": 2, "macs": 7,
                               "gpu": {"model": BMC_GPU_MODEL, "count": 1}}},
        "nodes": nodes,
        "slurm": {"cluster_name": "lab", "partitions": [
            {"name": "batch", "nodes": ",".join(computes), "default": True, "max_time": "1:00:00"}]},
    }
    return yaml.safe_dump(doc, sort_keys=False, width=200)


