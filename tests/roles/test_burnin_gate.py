"""The burn-in acceptance gate on the host lab (no GPU here): a compute whose SKU promises 8 GPUs is
drained with the failed check as the reason and stays drained; with its SKU corrected to 0 GPUs it
passes, burn-in resumes it, and it runs a job. A second run with nothing new changes nothing."""

from __future__ import annotations

import json
import re
import time

import pytest

pytestmark = pytest.mark.roles


def _node(lab, name: str) -> str:
    return lab.exec("ctl1", "scontrol", "show", "node", name, "--oneliner").stdout


def _idle(lab, name: str, deadline_s: float = 60) -> str:
    end = time.monotonic() + deadline_s
    while True:
        state = re.search(r"State=(\S+)", _node(lab, name)).group(1)
        if state == "IDLE" or time.monotonic() > end:
            return state
        time.sleep(2)


def test_gate_drains_a_node_short_of_gpus_and_resumes_it_once_it_passes(provisioned, lab) -> None:
    promise8 = json.dumps({"burnin_sku": {"gpu": {"count": 8, "model": "H100"}}})
    failing = lab.playbook("burnin.yml", "-e", promise8, "--limit", "gpu1:ctl1")
    assert failing.returncode == 0, failing.stdout[-4000:]
    node = _node(lab, "gpu1")
    assert "DRAIN" in node
    assert "Reason=anyrack: burn-in L1 gpu_count: 0 of 8 GPUs (nvidia-smi is not installed)" in node
    assert "gpu1: anyrack: burn-in L1 gpu_count" in failing.stdout  # the controller's summary names it
    again = lab.playbook("burnin.yml", "-e", promise8, "--limit", "gpu1:ctl1")
    assert lab.changed(again.stdout) == {"ctl1": 0, "gpu1": 0} and "DRAIN" in _node(lab, "gpu1")

    report = lab.exec("gpu1", "sh", "-c", "cat $(ls /var/lib/anyrack/burnin/*-L1.json | tail -1)").stdout
    assert json.loads(report)["passed"] is False

    corrected = lab.playbook("burnin.yml", "-e", json.dumps({"burnin_sku": {"gpu": {"count": 0}}}),
                             "--limit", "gpu1:ctl1")
    assert corrected.returncode == 0, corrected.stdout[-4000:]
    assert _idle(lab, "gpu1") == "IDLE"
    assert lab.exec("ctl1", "timeout", "60", "srun", "-w", "gpu1", "hostname").stdout.strip() == "gpu1"


def test_gate_leaves_a_node_drained_by_someone_else_alone(provisioned, lab) -> None:
    lab.exec("ctl1", "scontrol", "update", "NodeName=gpu2", "State=DRAIN", "Reason=operator: cable check")
    try:
        passing = lab.playbook("burnin.yml", "-e", json.dumps({"burnin_sku": {"gpu": {"count": 0}}}),
                               "--limit", "gpu2:ctl1")
        assert passing.returncode == 0, passing.stdout[-4000:]
        assert "Reason=operator: cable check" in _node(lab, "gpu2")
    finally:
        lab.exec("ctl1", "scontrol", "update", "NodeName=gpu2", "State=RESUME")
    assert _idle(lab, "gpu2") == "IDLE"
