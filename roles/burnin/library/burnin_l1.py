#!/usr/bin/python
"""Ansible module: burn-in level 1 (seconds) — the node against its SKU and golden BOM."""

from __future__ import annotations

import glob
import os
from functools import partial

from ansible.module_utils.basic import AnsibleModule

try:  # the module as a collection plugin (anyrack.hpc.burnin_l1)
    from ansible_collections.anyrack.hpc.plugins.module_utils.burnin_common import slurm_reason
except ImportError:  # the module from the burnin role's library/, beside its module_utils/
    from ansible.module_utils.burnin_common import slurm_reason

DOCUMENTATION = r"""
---
module: burnin_l1
short_description: Level-1 burn-in checks of a node against its SKU
description:
  - Compares a gpu_facts report and the node's RDMA ports with what the SKU promises (GPU count and
    model, VBIOS and driver from the golden BOM, ECC, remapped rows, memory health, PCIe link, NVLink
    fabric, RDMA ports up) and returns one result per check.
  - The memory-health check (a channel or TPC repair pending, unrepairable memory, the SRAM error
    threshold exceeded) is listed when the report has the repair signals (drivers with DTD v13, R580
    on), and for older reports only when it fails (their SRAM threshold flag says Yes).
  - Read-only; takes seconds.
options:
  report:
    description: The gpu_facts report of this node.
    type: dict
    required: true
  sku:
    description: The node's SKU as the inventory has it (anyrack_sku).
    type: dict
    required: true
  thresholds:
    description: Limits; keys ecc_uncorrected_max (0), allow_pending_remap (false), pcie_full_width (true).
    type: dict
    default: {}
  rdma_sysfs:
    description: Where the kernel lists RDMA devices.
    type: path
    default: /sys/class/infiniband
author: anyrack
"""

RETURN = r"""
checks:
  description: One entry per check, with name, ok and detail.
  returned: always
  type: list
passed:
  description: Whether every check passed.
  returned: always
  type: bool
reason:
  description: The Slurm node reason for the first failed check, or null.
  returned: always
  type: str
"""

DEFAULTS = {"ecc_uncorrected_max": 0, "allow_pending_remap": False, "pcie_full_width": True}
REPAIR_SIGNALS = ("channel_repair_pending", "tpc_repair_pending", "unrepairable_memory")


def _where(gpu):
    return f"GPU {gpu.get('index')} ({gpu.get('bus_id')})"


def rdma_ports(sysfs):
    """(device/port, state) for every RDMA port the kernel lists, e.g. ('mlx5_0/1', 'ACTIVE')."""
    found = []
    for path in sorted(glob.glob(os.path.join(sysfs, "*", "ports", "*", "state"))):
        parts = path.split(os.sep)
        try:
            with open(path, encoding="ascii") as handle:
                state = handle.read().strip()  # e.g. "4: ACTIVE"
        except OSError:
            state = "unreadable"
        found.append((f"{parts[-4]}/{parts[-2]}", state.split(":", 1)[-1].strip().upper()))
    return found


def checks(report, sku, thresholds, ports):
    """The level-1 results: a list of {name, ok, detail}."""
    limits = {**DEFAULTS, **(thresholds or {})}
    gpu_sku = sku.get("gpu") or {}
    bom = sku.get("bom") or {}
    gpus = report.get("gpus") or []
    want = int(gpu_sku.get("count") or 0)
    out = []

    def check(name, ok, detail):
        out.append({"name": name, "ok": bool(ok), "detail": detail})

    why = f" ({report['reason']})" if report.get("reason") else ""
    lost = f", {report['missing']} not readable" if report.get("missing") else ""
    check("gpu_count", report.get("count", 0) == want, f"{report.get('count', 0)} of {want} GPUs{lost}{why}")
    if want == 0:
        return out + _rdma(sku, ports)
    model = str(gpu_sku.get("model") or "")
    wrong = [g for g in gpus if model.lower() not in str(g.get("model") or "").lower()]
    check("gpu_model", not wrong, f"expected {model}" + (f"; {_where(wrong[0])} is {wrong[0].get('model')}"
                                                         if wrong else ""))
    if bom.get("gpu_driver"):
        have = report.get("driver_version")
        check("driver_version", have == str(bom["gpu_driver"]), f"driver {have}, BOM {bom['gpu_driver']}")
    if bom.get("gpu_vbios"):
        off = [g for g in gpus if g.get("vbios") != str(bom["gpu_vbios"])]
        found = f"; {_where(off[0])} has {off[0].get('vbios')}" if off else ""
        check("gpu_vbios", not off, f"BOM {bom['gpu_vbios']}{found}")
    ecc_off = [g for g in gpus if g.get("ecc_mode") is False]
    check("ecc_enabled", not ecc_off, f"{_where(ecc_off[0])} has ECC off" if ecc_off else "on for every GPU")
    bad = [g for g in gpus if ((g.get("ecc_volatile") or {}).get("uncorrected") or 0) > limits["ecc_uncorrected_max"]]
    check("ecc_uncorrected", not bad, f"{_where(bad[0])}: {bad[0]['ecc_volatile']['uncorrected']} uncorrectable "
          f"ECC errors (max {limits['ecc_uncorrected_max']})" if bad else "none")
    rows = [g for g in gpus if (g.get("remapped_rows") or {}).get("failure")
            or ((g.get("remapped_rows") or {}).get("pending") and not limits["allow_pending_remap"])]
    check("remapped_rows", not rows, f"{_where(rows[0])}: row remap pending or failed (reset the GPU)" if rows
          else "none pending")
    out.extend(_memory_health(gpus))
    narrow = [g for g in gpus if limits["pcie_full_width"] and (g.get("pcie") or {}).get("width")
              and (g.get("pcie") or {}).get("max_width") and g["pcie"]["width"] < g["pcie"]["max_width"]]
    check("pcie_width", not narrow, f"{_where(narrow[0])} at x{narrow[0]['pcie']['width']} of "
          f"x{narrow[0]['pcie']['max_width']}" if narrow else "every GPU at full width")
    if gpu_sku.get("nvswitch"):
        down = [g for g in gpus if (g.get("fabric") or {}).get("state") != "Completed"
                or (g.get("fabric") or {}).get("status") not in (None, "Success")]
        check("nvlink_fabric", not down, f"{_where(down[0])}: fabric {(down[0].get('fabric') or {}).get('state')}"
              if down else "every GPU registered with the NVLink fabric")
    return out + _rdma(sku, ports)


def _memory_health(gpus):
    """The memory_health check: any GPU with a repair pending, unrepairable memory or its SRAM error
    threshold exceeded fails it.

    The repair signals come with DTD v13 (R580 drivers); sram_threshold_exceeded is older. A report
    without the repair signals gets the check only when it fails, so older reports keep their checks.
    """
    health = [(g, g.get("memory_health") or {}) for g in gpus]
    sick = [(g, [k for k, v in h.items() if v]) for g, h in health]
    sick = [(g, signals) for g, signals in sick if signals]
    if sick:
        (first, signals), more = sick[0], f" (+{len(sick) - 1} more GPUs)" if len(sick) > 1 else ""
        return [{"name": "memory_health", "ok": False, "detail": f"{_where(first)}: {', '.join(signals)}{more}"}]
    if any(h.get(k) is not None for _gpu, h in health for k in REPAIR_SIGNALS):
        return [{"name": "memory_health", "ok": True,
                 "detail": "no repair pending, no unrepairable memory, SRAM errors under the threshold"}]
    return []


def _rdma(sku, ports):
    rdma = sku.get("rdma") or {}
    want = int(rdma.get("rails") or 0) * int(rdma.get("nics_per_rail") or 1)
    if not want:
        return []
    active = [name for name, state in ports if state == "ACTIVE"]
    down = [f"{name} {state}" for name, state in ports if state != "ACTIVE"]
    detail = f"{len(active)} of {want} RDMA ports ACTIVE" + (f"; down: {', '.join(down[:4])}" if down else "")
    return [{"name": "rdma_ports", "ok": len(active) >= want, "detail": detail}]


# the Slurm node reason for this level's first failed check, or None
reason = partial(slurm_reason, level=1)


def main():
    module = AnsibleModule(argument_spec={
        "report": {"type": "dict", "required": True}, "sku": {"type": "dict", "required": True},
        "thresholds": {"type": "dict", "default": {}},
        "rdma_sysfs": {"type": "path", "default": "/sys/class/infiniband"}}, supports_check_mode=True)
    results = checks(module.params["report"], module.params["sku"], module.params["thresholds"],
                     rdma_ports(module.params["rdma_sysfs"]))
    module.exit_json(changed=False, checks=results, passed=all(r["ok"] for r in results), reason=reason(results))


if __name__ == "__main__":
    main()
