#!/usr/bin/python
"""Ansible module: GPU facts from ``nvidia-smi -q -x``."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: gpu_facts
short_description: GPU facts from nvidia-smi's XML report
description:
  - Runs C(nvidia-smi -q -x) and returns what anyrack's checks need, per GPU and in total.
  - A host without nvidia-smi, or whose driver is not loaded (no GPU, or a module that cannot
    load), reports zero GPUs and says why; it is not an error.
  - A GPU the driver counts but cannot read (e.g. fallen off the bus) is reported in C(missing)
    with nvidia-smi's own message.
  - Reads reports of DTD v13 (R580 drivers) and older. The memory-health signals of v13 (channel
    and TPC repair pending, unrepairable memory, SRAM error threshold exceeded) are null where the driver
    does not print them.
options:
  nvidia_smi:
    description: The nvidia-smi command (a name on PATH or a path).
    type: str
    default: nvidia-smi
  xml:
    description: Parse this XML text instead of running nvidia-smi (for checks of recorded reports).
    type: str
author: anyrack
"""

RETURN = r"""
gpu_facts:
  description: count, model, driver and CUDA versions, the GPUs, and why a host reports none.
  returned: always
  type: dict
"""

_ABSENT = {"", "n/a", "[n/a]", "none", "not supported", "[not supported]", "unknown error"}


def _text(node, path):
    """Text at ``path`` below ``node``, or None for absent, N/A and Not Supported."""
    found = node.find(path) if node is not None else None
    if found is None or found.text is None:
        return None
    text = found.text.strip()
    return None if text.lower() in _ABSENT else text


def _int(node, path):
    text = _text(node, path)
    match = re.match(r"^\s*(\d+)", text or "")
    return int(match.group(1)) if match else None


def _enabled(node, path):
    text = _text(node, path)
    return None if text is None else text.lower() == "enabled"


def _yes(node, path):
    text = _text(node, path)
    return None if text is None else text.lower() == "yes"


def _ecc_counts(gpu, scope):
    """Corrected/uncorrected ECC error counts in ``volatile`` or ``aggregate`` (DTD v12 and older)."""
    base = gpu.find(f"ecc_errors/{scope}")
    if base is None:
        return {"corrected": None, "uncorrected": None}
    if base.find("single_bit") is not None:  # DTD up to v11: single_bit/double_bit totals
        return {"corrected": _int(base, "single_bit/total"), "uncorrected": _int(base, "double_bit/total")}
    corrected = [_int(base, t) for t in ("sram_correctable", "dram_correctable")]
    uncorrected = [_int(base, t) for t in ("sram_uncorrectable", "sram_uncorrectable_parity",
                                           "sram_uncorrectable_secded", "dram_uncorrectable")]
    known_c, known_u = [v for v in corrected if v is not None], [v for v in uncorrected if v is not None]
    return {"corrected": sum(known_c) if known_c else None, "uncorrected": sum(known_u) if known_u else None}


def _first(*values):
    return next((v for v in values if v is not None), None)


def _gpu(gpu):
    pci = gpu.find("pci")
    link = "pci_gpu_link_info"
    mig_devices = gpu.findall("mig_devices/mig_device")
    return {
        "index": _int(gpu, "minor_number"),
        "bus_id": gpu.get("id") or _text(pci, "pci_bus_id"),
        "model": _text(gpu, "product_name"),
        "architecture": _text(gpu, "product_architecture"),
        "uuid": _text(gpu, "uuid"),
        "serial": _text(gpu, "serial"),
        "vbios": _text(gpu, "vbios_version"),
        # DTD v12 and older: gpu_module_id; v13 (R580): platformInfo/module_id
        "module_id": _first(_int(gpu, "gpu_module_id"), _int(gpu, "platformInfo/module_id")),
        "persistence_mode": _enabled(gpu, "persistence_mode"),
        "ecc_mode": _enabled(gpu, "ecc_mode/current_ecc"),
        "ecc_pending": _enabled(gpu, "ecc_mode/pending_ecc"),
        "ecc_volatile": _ecc_counts(gpu, "volatile"),
        "ecc_aggregate": _ecc_counts(gpu, "aggregate"),
        "remapped_rows": {
            "corrected": _int(gpu, "remapped_rows/remapped_row_corr"),
            "uncorrected": _int(gpu, "remapped_rows/remapped_row_unc"),
            "pending": (_text(gpu, "remapped_rows/remapped_row_pending") or "").lower() == "yes",
            "failure": (_text(gpu, "remapped_rows/remapped_row_failure") or "").lower() == "yes",
        },
        # DTD v13 (R580) and later; older drivers do not print them (None)
        "memory_health": {
            "channel_repair_pending": _yes(gpu, "ecc_errors/channel_repair_pending"),
            "tpc_repair_pending": _yes(gpu, "ecc_errors/tpc_repair_pending"),
            "unrepairable_memory": _yes(gpu, "ecc_errors/unrepairable_memory"),
            "sram_threshold_exceeded": _yes(gpu, "ecc_errors/aggregate/sram_threshold_exceeded"),
        },
        "pcie": {
            "gen": _int(pci, f"{link}/pcie_gen/current_link_gen"),
            "max_gen": _int(pci, f"{link}/pcie_gen/max_link_gen"),
            "width": _int(pci, f"{link}/link_widths/current_link_width"),
            "max_width": _int(pci, f"{link}/link_widths/max_link_width"),
        },
        # NVLink through NVSwitches: the GPU's fabric registration (Hopper and later with Fabric Manager)
        "fabric": {"state": _text(gpu, "fabric/state"), "status": _text(gpu, "fabric/status")},
        "mig_mode": _enabled(gpu, "mig_mode/current_mig"),
        "mig_pending": _enabled(gpu, "mig_mode/pending_mig"),
        "mig_devices": len(mig_devices),
        "memory_mib": _int(gpu, "fb_memory_usage/total"),
    }


def parse(xml_text, stderr=""):
    """Facts from nvidia-smi's XML report (and its stderr, where it names GPUs it could not read)."""
    root = ET.fromstring(xml_text)
    gpus = [_gpu(g) for g in root.findall("gpu")]
    attached = _int(root, "attached_gpus")
    attached = len(gpus) if attached is None else attached
    problems = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    models = sorted({g["model"] for g in gpus if g["model"]})
    return {
        "driver_loaded": True,
        "reason": None,
        "driver_version": _text(root, "driver_version"),
        "cuda_version": _text(root, "cuda_version"),
        "attached": attached,
        "count": len(gpus),
        "missing": max(attached - len(gpus), 0),
        "errors": problems,
        "model": models[0] if len(models) == 1 else (", ".join(models) or None),
        "gpus": gpus,
    }


def none(reason):
    """Facts of a host with no readable GPU."""
    return {"driver_loaded": False, "reason": reason, "driver_version": None, "cuda_version": None,
            "attached": 0, "count": 0, "missing": 0, "errors": [], "model": None, "gpus": []}


def main():
    module = AnsibleModule(argument_spec={"nvidia_smi": {"type": "str", "default": "nvidia-smi"},
                                          "xml": {"type": "str"}}, supports_check_mode=True)
    if module.params["xml"] is not None:
        facts = parse(module.params["xml"])
    else:
        command = shutil.which(module.params["nvidia_smi"])
        if command is None:
            module.exit_json(changed=False, gpu_facts=none("nvidia-smi is not installed"))
        rc, out, err = module.run_command([command, "-q", "-x"])
        if "<nvidia_smi_log" not in out:
            # e.g. rc 9: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"
            why = (err or out).strip().splitlines()
            module.exit_json(changed=False, gpu_facts=none(why[0] if why else f"nvidia-smi exited {rc}"))
        try:
            facts = parse(out, err)
        except ET.ParseError as exc:
            module.fail_json(msg=f"nvidia-smi -q -x printed XML that does not parse: {exc}")
    module.exit_json(changed=False, gpu_facts=facts)


if __name__ == "__main__":
    main()
