"""The fabric plan's topology.conf on the lab controller: Slurm takes it (scontrol show topology lists
the plan's switches), and slurm.yml without a plan removes it again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.roles


def _fabric_site(site_three: Path, out: Path) -> Path:
    """The lab's site with a 2-rail RoCE fabric: one node per scalable unit, so two units under two spines."""
    doc = yaml.safe_load(site_three.read_text())
    doc["networks"]["fabric"] = {"type": "roce", "rails": 2, "cidr": "100.64.0.0/16", "nodes_per_unit": 1,
                                 "leaf_ports": 4, "spine_ports": 4, "spines": 2, "host_devices": ["rail0", "rail1"]}
    doc["skus"]["lab-rdma"] = {**doc["skus"]["lab-small"], "rdma": {"rails": 2, "speed_gbps": 100}}
    for node in doc["nodes"]:
        if node["role"] == "compute":
            node["sku"] = "lab-rdma"
    path = out / "site-fabric.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_slurm_takes_the_fabric_plans_topology(provisioned, lab, site_three, tmp_path: Path) -> None:
    plan = tmp_path / "plan"
    lab.cli("fabric", "plan", str(_fabric_site(site_three, tmp_path)), "--out", str(plan))
    topology = plan / "slurm/topology.conf"
    planned = re.findall(r"^SwitchName=(\S+)", topology.read_text(), re.M)
    assert planned == ["su01", "su02", "spines"]
    try:
        done = lab.playbook("slurm.yml", "-e", f"slurm_controller_topology_file={topology}")
        assert done.returncode == 0, done.stdout[-6000:]
        assert "TopologyPlugin=topology/tree" in lab.exec("ctl1", "cat", "/etc/slurm/slurm.conf").stdout
        shown = lab.exec("ctl1", "scontrol", "show", "topology").stdout
        switches = dict(re.findall(r"SwitchName=(\S+) Level=(\d+)", shown))
        assert switches == {"su01": "0", "su02": "0", "spines": "1"}, shown
        assert re.search(r"SwitchName=su01 .*Nodes=gpu1", shown) and re.search(r"SwitchName=su02 .*Nodes=gpu2", shown)
        # a job across both units still runs: the tree only orders the choice of nodes
        nodes = lab.exec("ctl1", "timeout", "60", "srun", "-N2", "hostname").stdout.split()
        assert sorted(nodes) == ["gpu1", "gpu2"]
    finally:
        back = lab.playbook("slurm.yml")
    assert back.returncode == 0, back.stdout[-6000:]
    assert lab.exec("ctl1", "test", "-e", "/etc/slurm/topology.conf", check=False).returncode != 0
    assert "TopologyPlugin" not in lab.exec("ctl1", "cat", "/etc/slurm/slurm.conf").stdout
