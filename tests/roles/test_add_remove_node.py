"""add_node.yml and remove_node.yml on the host lab: gpu3 joins the running cluster (no slurmd of the
cluster restarts), registers drained until burn-in passes (the acceptance gate), runs a job, and leaves
again; each playbook's second run changes nothing."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.roles


def _slurmd_started(lab, node: str) -> str:
    return lab.exec(node, "systemctl", "show", "slurmd", "-p", "ExecMainStartTimestampMonotonic").stdout.strip()


def _nodes(lab) -> dict[str, str]:
    rows = lab.exec("ctl1", "sinfo", "-h", "-N", "-o", "%N %t").stdout.split("\n")
    return dict(line.split() for line in rows if line.strip())


def _until(lab, want: dict[str, str], deadline_s: float = 60) -> dict[str, str]:
    end = time.monotonic() + deadline_s
    while (nodes := _nodes(lab)) != want and time.monotonic() < end:
        time.sleep(2)
    return nodes


def test_a_fourth_host_joins_runs_a_job_and_leaves(provisioned, lab, site_three) -> None:
    facts = str(lab.state_dir / "facts")
    before = {n: _slurmd_started(lab, n) for n in ("gpu1", "gpu2")}
    lab.cli("inventory", "generate", str(lab.state_dir / "site.yaml"), "--facts", facts)  # gpu3 in the site
    lab.exec("gpu3", "rm", "-rf", "/var/lib/anyrack/burnin")  # a new node: never burned in
    try:
        # without burn-in, gpu3 registers drained (slurmd answers: "drain", not "drain*") and takes no job
        joined = lab.playbook("add_node.yml", "-e", "anyrack_new_nodes=gpu3", "--skip-tags", "burnin")
        assert joined.returncode == 0, joined.stdout[-6000:]
        assert _until(lab, {"gpu1": "idle", "gpu2": "idle", "gpu3": "drain"}) == \
            {"gpu1": "idle", "gpu2": "idle", "gpu3": "drain"}
        assert "Reason=anyrack: burn-in pending " in lab.exec("ctl1", "scontrol", "show", "node", "gpu3",
                                                               "--oneliner").stdout
        # burn-in passes (no GPU in a lab host, none expected: lab-vars.yml) and resumes it
        burned = lab.playbook("burnin.yml", "--limit", "gpu3:ctl1")
        assert burned.returncode == 0, burned.stdout[-6000:]
        assert _until(lab, {"gpu1": "idle", "gpu2": "idle", "gpu3": "idle"}) == \
            {"gpu1": "idle", "gpu2": "idle", "gpu3": "idle"}
        assert {n: _slurmd_started(lab, n) for n in ("gpu1", "gpu2")} == before  # nobody else restarted
        # a node that passed is not drained again when slurmd starts anew
        lab.exec("gpu3", "systemctl", "stop", "slurmd")
        added = lab.playbook("add_node.yml", "-e", "anyrack_new_nodes=gpu3")
        assert added.returncode == 0, added.stdout[-6000:]
        assert lab.changed(added.stdout)["gpu3"] == 1, added.stdout[-4000:]  # slurmd started, nothing else
        assert _until(lab, {"gpu1": "idle", "gpu2": "idle", "gpu3": "idle"}) == \
            {"gpu1": "idle", "gpu2": "idle", "gpu3": "idle"}
        hosts = lab.exec("ctl1", "timeout", "90", "srun", "-N3", "hostname").stdout.split()
        assert sorted(hosts) == ["gpu1", "gpu2", "gpu3"]
        assert lab.exec("ctl1", "timeout", "60", "srun", "-w", "gpu3", "hostname").stdout.strip() == "gpu3"
        again = lab.playbook("add_node.yml", "-e", "anyrack_new_nodes=gpu3")
        assert again.returncode == 0 and set(lab.changed(again.stdout).values()) == {0}, again.stdout[-4000:]

        removed = lab.playbook("remove_node.yml", "-e", "anyrack_remove_nodes=gpu3")
        assert removed.returncode == 0, removed.stdout[-6000:]
        node = lab.exec("ctl1", "scontrol", "show", "node", "gpu3", "--oneliner").stdout
        assert "DOWN" in node and "Reason=anyrack: removed" in node
        assert lab.exec("gpu3", "systemctl", "is-active", "slurmd", check=False).stdout.strip() == "inactive"
        again = lab.playbook("remove_node.yml", "-e", "anyrack_remove_nodes=gpu3")
        assert again.returncode == 0 and set(lab.changed(again.stdout).values()) == {0}, again.stdout[-4000:]
    finally:
        # out of the site file and the inventory; slurm.yml drops it from slurm.conf
        lab.cli("inventory", "generate", str(site_three), "--facts", facts)
    dropped = lab.playbook("slurm.yml")
    assert dropped.returncode == 0, dropped.stdout[-6000:]
    deadline = time.monotonic() + 60
    while _nodes(lab) != {"gpu1": "idle", "gpu2": "idle"} and time.monotonic() < deadline:
        time.sleep(2)
    assert _nodes(lab) == {"gpu1": "idle", "gpu2": "idle"}
    assert sorted(lab.exec("ctl1", "timeout", "60", "srun", "-N2", "hostname").stdout.split()) == ["gpu1", "gpu2"]


def test_add_node_refuses_a_host_not_in_the_inventory(provisioned, lab) -> None:
    refused = lab.playbook("add_node.yml", "-e", "anyrack_new_nodes=gpu9")
    assert refused.returncode != 0
    assert "anyrack_new_nodes must name compute nodes of the generated inventory" in refused.stdout
    assert "got 'gpu9'" in refused.stdout
