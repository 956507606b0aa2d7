"""gpu_facts: nvidia-smi's XML report → facts, on the reports in tests/fixtures/nvidia-smi, and the
module run by Ansible on this machine (no GPU, no nvidia-smi: zero GPUs, not an error)."""

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


def parse(name: str, stderr: str = "") -> dict:
    return gpu_facts.parse((FIXTURES / name).read_text(), stderr)


def test_eight_healthy_h100() -> None:
    facts = parse("hgx-h100-8gpu.xml")
    assert (facts["count"], facts["attached"], facts["missing"]) == (8, 8, 0)
    assert facts["model"] == "NVIDIA H100 80GB HBM3"
    assert (facts["driver_version"], facts["cuda_version"]) == ("535.183.06", "12.2")
    gpus = facts["gpus"]
    assert [g["index"] for g in gpus] == list(range(8))
    assert [g["serial"] for g in gpus] == [f"16543230{i:05d}" for i in range(1, 9)]
    assert len({g["uuid"] for g in gpus}) == 8 and all(g["uuid"].startswith("GPU-") for g in gpus)
    assert gpus[0]["bus_id"] == "00000000:18:00.0" and gpus[0]["module_id"] == 2
    assert all(g["architecture"] == "Hopper" and g["vbios"] == "96.00.74.00.0D" for g in gpus)
    assert all(g["ecc_mode"] is True and g["ecc_volatile"] == {"corrected": 0, "uncorrected": 0} for g in gpus)
    assert all(g["pcie"] == {"gen": 5, "max_gen": 5, "width": 16, "max_width": 16} for g in gpus)
    assert all(g["fabric"] == {"state": "Completed", "status": "Success"} for g in gpus)
    assert all(g["mig_mode"] is False and g["mig_devices"] == 0 for g in gpus)
    assert all(g["memory_mib"] == 81559 and g["persistence_mode"] is True for g in gpus)
    # DTD v12 has the SRAM error threshold flag, not the repair signals of v13
    assert all(g["memory_health"] == {"channel_repair_pending": None, "tpc_repair_pending": None,
                                      "unrepairable_memory": None, "sram_threshold_exceeded": False} for g in gpus)
    assert facts["errors"] == []


def test_recorded_h100_with_driver_580() -> None:
    """The one report recorded on a real GPU (DTD v13): module_id moved under platformInfo, memory-health
    signals added, no NVSwitch fabric (N/A)."""
    facts = parse("h100-sxm-driver580.xml")
    assert (facts["count"], facts["attached"], facts["missing"], facts["errors"]) == (1, 1, 0, [])
    assert facts["model"] == "NVIDIA H100 80GB HBM3"
    assert (facts["driver_version"], facts["cuda_version"]) == ("580.159.04", "13.0")
    gpu = facts["gpus"][0]
    assert (gpu["index"], gpu["bus_id"], gpu["module_id"]) == (0, "00000000:00:06.0", 4)
    assert (gpu["architecture"], gpu["vbios"]) == ("Hopper", "96.00.DA.00.0C")
    assert gpu["uuid"] == "GPU-00000000-0000-0000-0000-000000000000"  # scrubbed, as the serial
    assert gpu["pcie"] == {"gen": 5, "max_gen": 5, "width": 16, "max_width": 16}
    assert (gpu["ecc_mode"], gpu["ecc_pending"]) == (True, True)
    assert gpu["ecc_volatile"] == gpu["ecc_aggregate"] == {"corrected": 0, "uncorrected": 0}
    assert gpu["remapped_rows"] == {"corrected": 0, "uncorrected": 0, "pending": False, "failure": False}
    assert gpu["fabric"] == {"state": None, "status": None}
    assert gpu["memory_health"] == {"channel_repair_pending": False, "tpc_repair_pending": False,
                                    "unrepairable_memory": False, "sram_threshold_exceeded": False}
    assert (gpu["mig_mode"], gpu["mig_devices"], gpu["persistence_mode"]) == (False, 0, True)
    # the variant derived from it by hand
    sick = parse("h100-sxm-driver580-unrepairable.xml")["gpus"][0]["memory_health"]
    assert sick["unrepairable_memory"] is True and sick["channel_repair_pending"] is False


def test_gpu_fallen_off_the_bus_is_counted_missing() -> None:
    stderr = (FIXTURES / "hgx-h100-gpu-off-bus.stderr").read_text()
    facts = parse("hgx-h100-gpu-off-bus.xml", stderr)
    assert (facts["attached"], facts["count"], facts["missing"]) == (8, 7, 1)
    assert "00000000:AB:00.0" not in [g["bus_id"] for g in facts["gpus"]]
    assert facts["errors"] == ["Unable to determine the device handle for GPU0000:AB:00.0: Unknown Error"]


def test_ecc_errors_remapped_rows_and_a_narrow_link() -> None:
    gpus = parse("hgx-h100-ecc-errors.xml")["gpus"]
    bad = gpus[3]
    assert bad["ecc_volatile"] == {"corrected": 12, "uncorrected": 2}
    assert bad["ecc_aggregate"] == {"corrected": 57, "uncorrected": 2}
    assert bad["remapped_rows"] == {"corrected": 1, "uncorrected": 1, "pending": True, "failure": False}
    assert gpus[6]["pcie"]["width"] == 8 and gpus[6]["pcie"]["max_width"] == 16
    healthy = [g for i, g in enumerate(gpus) if i != 3]
    assert all(g["ecc_volatile"]["uncorrected"] == 0 and not g["remapped_rows"]["pending"] for g in healthy)


def test_mig_mode_and_instances() -> None:
    gpus = parse("hgx-h100-mig.xml")["gpus"]
    assert [(g["mig_mode"], g["mig_devices"]) for g in gpus[:3]] == [(True, 7), (True, 7), (False, 0)]


def test_older_report_with_single_and_double_bit_totals() -> None:
    # DTD v11 and older count ECC errors as single_bit/double_bit totals; N/A fields stay None.
    xml = ("<nvidia_smi_log><driver_version>470.256.02</driver_version><attached_gpus>1</attached_gpus>"
           "<gpu id='00000000:3B:00.0'><product_name>Tesla V100-SXM2-32GB</product_name><serial>N/A</serial>"
           "<ecc_mode><current_ecc>Enabled</current_ecc></ecc_mode><ecc_errors><volatile><single_bit>"
           "<total>3</total></single_bit><double_bit><total>0</total></double_bit></volatile></ecc_errors>"
           "</gpu></nvidia_smi_log>")
    facts = gpu_facts.parse(xml)
    assert facts["cuda_version"] is None and facts["count"] == 1
    gpu = facts["gpus"][0]
    assert gpu["serial"] is None and gpu["ecc_volatile"] == {"corrected": 3, "uncorrected": 0}
    assert gpu["pcie"] == {"gen": None, "max_gen": None, "width": None, "max_width": None}


def test_module_under_ansible_without_a_gpu(tmp_path: Path) -> None:
    """The module and the role, run by ansible-playbook on this machine (no GPU, no nvidia-smi).

    The third case needs a driver that is installed but not loaded, which cannot exist here: a
    stand-in nvidia-smi prints nvidia-smi's own message for that case (tests/fixtures) and exits 9.
    """
    stand_in = tmp_path / "nvidia-smi"
    stand_in.write_text(f"#!/bin/sh\ncat '{FIXTURES / 'no-driver.stdout'}'\nexit 9\n")
    stand_in.chmod(0o755)
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{
        "name": "gpu facts", "hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "role", "ansible.builtin.include_role": {"name": "gpu_facts"}},
            {"name": "show", "ansible.builtin.debug": {"var": "gpu_facts_report"}},
            {"name": "recorded", "gpu_facts": {"xml": (FIXTURES / "hgx-h100-8gpu.xml").read_text()},
             "register": "recorded"},
            {"name": "not loaded", "gpu_facts": {"nvidia_smi": str(stand_in)}, "register": "not_loaded"},
        ]}]))
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
           "ANSIBLE_LIBRARY": str(ROOT / "roles/gpu_facts/library"), "ANSIBLE_LOCALHOST_WARNING": "False",
           "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    done = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e",
                           "ansible_python_interpreter={{ ansible_playbook_python }}", str(playbook)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    tasks = {t["task"]["name"]: t["hosts"]["localhost"] for t in json.loads(done.stdout)["plays"][0]["tasks"]}
    absent = tasks["show"]["gpu_facts_report"]
    if not absent["driver_loaded"] and absent["reason"] == "nvidia-smi is not installed":
        assert absent["count"] == 0 and absent["gpus"] == []
    else:  # a machine with a GPU: the real report
        assert absent["count"] == len(absent["gpus"]) > 0
    assert tasks["recorded"]["gpu_facts"]["count"] == 8 and tasks["recorded"]["changed"] is False
    not_loaded = tasks["not loaded"]["gpu_facts"]
    assert not_loaded["count"] == 0 and not_loaded["driver_loaded"] is False
    assert "couldn't communicate with the NVIDIA driver" in not_loaded["reason"]


@pytest.mark.parametrize("broken", ["<nvidia_smi_log><gpu>", "not xml at all"])
def test_unparsable_report_fails_loudly(broken: str) -> None:
    import xml.etree.ElementTree as ET

    with pytest.raises(ET.ParseError):
        gpu_facts.parse(broken)
