"""slurm.conf's node definitions on the lab come from the generated inventory: the SKU's CPU layout, memory
and features reach slurmctld, and a --limit run (controller plus one compute) leaves the file as it was."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.roles


def _node(lab, name: str) -> dict[str, str]:
    shown = lab.exec("ctl1", "scontrol", "show", "node", name, "--oneliner").stdout
    return dict(re.findall(r"(\w+)=(\S+)", shown))


def test_nodes_are_one_compressed_line_from_the_sku(provisioned, lab) -> None:
    from anyrack.lab.hostsite import cpu_layout

    cpu = cpu_layout()
    conf = lab.exec("ctl1", "cat", "/etc/slurm/slurm.conf").stdout
    lines = [line for line in conf.splitlines() if line.startswith("NodeName=")]
    # the lab's SKU: 2 GiB (RealMemory leaves 5 % out), this machine's CPU layout, an H100 per node
    assert lines == [f"NodeName=gpu[1-2] Sockets={cpu['sockets']} CoresPerSocket={cpu['cores_per_socket']} "
                     f"ThreadsPerCore={cpu['threads_per_core']} RealMemory=1945 "
                     "Features=h100,sku_lab_small,rack_lab State=UNKNOWN"], conf
    for name in ("gpu1", "gpu2"):
        node = _node(lab, name)
        assert (node["Sockets"], node["CoresPerSocket"], node["ThreadsPerCore"], node["RealMemory"]) == (
            str(cpu["sockets"]), str(cpu["cores_per_socket"]), str(cpu["threads_per_core"]), "1945")
        assert node["AvailableFeatures"] == "h100,sku_lab_small,rack_lab"
        assert "DRAIN" not in node["State"], node  # the definition matches what slurmd finds


def test_limit_to_one_compute_leaves_slurm_conf_as_it_was(provisioned, lab) -> None:
    """The old slurm.conf took CPUs and memory from this run's facts: gpu2, not in the run, fell back to
    CPUs=1 RealMemory=1024. Now nothing in the file depends on which hosts a run reaches."""
    before = lab.exec("ctl1", "cat", "/etc/slurm/slurm.conf").stdout
    done = lab.playbook("slurm.yml", "--limit", "ctl1,gpu1")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert lab.changed(done.stdout) == {"ctl1": 0, "gpu1": 0}, done.stdout[-4000:]
    assert lab.exec("ctl1", "cat", "/etc/slurm/slurm.conf").stdout == before
