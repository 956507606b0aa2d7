"""Burn-in level 1: gpu_facts reports (tests/fixtures/nvidia-smi) against SKUs, and the role run by
ansible-playbook on this machine (no GPU): a SKU promising 8 GPUs fails, one promising none passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import load_module

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests/fixtures/nvidia-smi"
BIN = Path(sys.executable).parent


gpu_facts = load_module("gpu_facts", "gpu_facts")
burnin = load_module("burnin", "burnin_l1")
HGX = {"gpu": {"count": 8, "model": "H100", "nvswitch": True}, "bom": {"gpu_vbios": "96.00.74.00.0D"},
       "rdma": {"rails": 2, "nics_per_rail": 1}}
PORTS_UP = [("mlx5_0/1", "ACTIVE"), ("mlx5_1/1", "ACTIVE")]


def report(name: str, stderr: str = "") -> dict:
    return gpu_facts.parse((FIXTURES / name).read_text(), stderr)


def failed(results: list[dict]) -> dict[str, str]:
    return {r["name"]: r["detail"] for r in results if not r["ok"]}


def test_healthy_hgx_passes_every_check() -> None:
    results = burnin.checks(report("hgx-h100-8gpu.xml"), HGX, {}, PORTS_UP)
    assert failed(results) == {}
    assert [r["name"] for r in results] == ["gpu_count", "gpu_model", "gpu_vbios", "ecc_enabled", "ecc_uncorrected",
                                            "remapped_rows", "pcie_width", "nvlink_fabric", "rdma_ports"]
    assert burnin.reason(results) is None


def test_recorded_h100_passes_and_unrepairable_memory_fails() -> None:
    """The report recorded on a real H100 (driver 580, DTD v13), whose memory-health signals add a check,
    and the variant derived from it by hand with unrepairable memory."""
    sku = {"gpu": {"count": 1, "model": "H100"}, "bom": {"gpu_driver": "580.159.04", "gpu_vbios": "96.00.DA.00.0C"}}
    results = burnin.checks(report("h100-sxm-driver580.xml"), sku, {}, [])
    assert failed(results) == {}
    assert [r["name"] for r in results] == ["gpu_count", "gpu_model", "driver_version", "gpu_vbios", "ecc_enabled",
                                            "ecc_uncorrected", "remapped_rows", "memory_health", "pcie_width"]
    sick = burnin.checks(report("h100-sxm-driver580-unrepairable.xml"), sku, {}, [])
    assert failed(sick) == {"memory_health": "GPU 0 (00000000:00:06.0): unrepairable_memory"}
    assert burnin.reason(sick) == "anyrack: burn-in L1 memory_health: GPU 0 (00000000:00:06.0): unrepairable_memory"


def test_sram_threshold_of_an_older_report_fails_only_when_exceeded() -> None:
    # DTD v12 prints sram_threshold_exceeded but not the repair signals: the check is listed when it fails
    older = report("hgx-h100-8gpu.xml")
    older["gpus"][5]["memory_health"]["sram_threshold_exceeded"] = True
    older["gpus"][6]["memory_health"]["sram_threshold_exceeded"] = True
    assert failed(burnin.checks(older, HGX, {}, PORTS_UP)) == {
        "memory_health": "GPU 5 (00000000:AB:00.0): sram_threshold_exceeded (+1 more GPUs)"}


def test_gpu_off_the_bus_fails_the_count() -> None:
    stderr = (FIXTURES / "hgx-h100-gpu-off-bus.stderr").read_text()
    results = burnin.checks(report("hgx-h100-gpu-off-bus.xml", stderr), HGX, {}, PORTS_UP)
    assert failed(results) == {"gpu_count": "7 of 8 GPUs, 1 not readable"}
    assert burnin.reason(results) == "anyrack: burn-in L1 gpu_count: 7 of 8 GPUs, 1 not readable"


def test_ecc_remap_and_narrow_link_each_named() -> None:
    results = burnin.checks(report("hgx-h100-ecc-errors.xml"), HGX, {}, PORTS_UP)
    assert failed(results) == {
        "ecc_uncorrected": "GPU 3 (00000000:5D:00.0): 2 uncorrectable ECC errors (max 0)",
        "remapped_rows": "GPU 3 (00000000:5D:00.0): row remap pending or failed (reset the GPU)",
        "pcie_width": "GPU 6 (00000000:BA:00.0) at x8 of x16",
    }
    relaxed = burnin.checks(report("hgx-h100-ecc-errors.xml"), HGX,
                            {"ecc_uncorrected_max": 2, "allow_pending_remap": True, "pcie_full_width": False}, PORTS_UP)
    assert failed(relaxed) == {}


def test_bom_driver_vbios_model_and_rdma() -> None:
    sku = {**HGX, "gpu": {"count": 8, "model": "A100", "nvswitch": True},
           "bom": {"gpu_vbios": "96.00.89.00.01", "gpu_driver": "550.127.05"}}
    results = burnin.checks(report("hgx-h100-8gpu.xml"), sku, {}, [("mlx5_0/1", "ACTIVE"), ("mlx5_1/1", "DOWN")])
    assert failed(results) == {
        "gpu_model": "expected A100; GPU 0 (00000000:18:00.0) is NVIDIA H100 80GB HBM3",
        "driver_version": "driver 535.183.06, BOM 550.127.05",
        "gpu_vbios": "BOM 96.00.89.00.01; GPU 0 (00000000:18:00.0) has 96.00.74.00.0D",
        "rdma_ports": "1 of 2 RDMA ports ACTIVE; down: mlx5_1/1 DOWN",
    }


def test_rdma_ports_read_from_sysfs(tmp_path: Path) -> None:
    for device, state in (("mlx5_0", "4: ACTIVE"), ("mlx5_1", "1: DOWN")):
        port = tmp_path / device / "ports" / "1"
        port.mkdir(parents=True)
        (port / "state").write_text(state + "\n")
    assert burnin.rdma_ports(str(tmp_path)) == [("mlx5_0/1", "ACTIVE"), ("mlx5_1/1", "DOWN")]
    assert burnin.rdma_ports(str(tmp_path / "none")) == []


@pytest.mark.parametrize(("gpus", "passed"), [(8, False), (0, True)])
def test_role_under_ansible_without_a_gpu(tmp_path: Path, gpus: int, passed: bool) -> None:
    reports = tmp_path / "reports"
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{
        "name": "burn-in", "hosts": "localhost", "gather_facts": False,
        "roles": [{"role": "burnin", "vars": {
            "burnin_sku": {"gpu": {"count": gpus, "model": "H100"}}, "burnin_report_dir": str(reports),
            "burnin_gate": False}}]}]))
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
           "ANSIBLE_LOCALHOST_WARNING": "False", "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    runs = []
    for _ in range(2):
        done = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e",
                               "ansible_python_interpreter={{ ansible_playbook_python }}", str(playbook)],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        runs.append(json.loads(done.stdout)["stats"]["localhost"])
    assert runs[0]["failures"] == 0 and runs[0]["changed"] == 1  # the report directory, once
    assert runs[1]["changed"] == 0  # a check writes its report but changes nothing
    written = sorted(reports.glob("*-L1.json"))
    assert written and oct(reports.stat().st_mode & 0o777) == "0o750"
    doc = json.loads(written[-1].read_text())
    assert doc["node"] == "localhost" and doc["passed"] is passed
    if not passed:
        assert doc["reason"].startswith("anyrack: burn-in L1 gpu_count: 0 of 8 GPUs (")
