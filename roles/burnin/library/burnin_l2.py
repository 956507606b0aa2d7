#!/usr/bin/python
"""Ansible module: burn-in level 2 (minutes) — the DCGM diagnostic and nvbandwidth against the SKU's limits."""

from __future__ import annotations

import json
import re
from functools import partial

from ansible.module_utils.basic import AnsibleModule

try:  # the module as a collection plugin (anyrack.hpc.burnin_l2)
    from ansible_collections.anyrack.hpc.plugins.module_utils.burnin_common import find_tool, first_line, slurm_reason
except ImportError:  # the module from the burnin role's library/, beside its module_utils/
    from ansible.module_utils.burnin_common import find_tool, first_line, slurm_reason

DOCUMENTATION = r"""
---
module: burnin_l2
short_description: Level-2 burn-in of a node's GPUs (DCGM diagnostic, copy bandwidth)
description:
  - Runs C(dcgmi diag -r LEVEL -j) and compares every test's result; runs C(nvbandwidth -t TESTCASE) for
    host-to-device, device-to-host and (two GPUs or more) device-to-device copies and compares the lowest
    GPU or GPU pair with the SKU's minimum in GB/s.
  - A tool that is not installed fails its check; a SKU with no GPUs passes with every check n/a.
  - Stresses the GPUs for minutes; changes nothing on the node.
options:
  sku:
    description: The node's SKU as the inventory has it (anyrack_sku); gpu.count decides what runs.
    type: dict
    required: true
  thresholds:
    description: Limits (anyrack_sku.burnin); keys dcgm_diag_level (2) and nvbandwidth_min_gbytes_s (h2d, d2h, d2d).
    type: dict
    default: {}
  dcgmi:
    description: Name or path of dcgmi.
    type: str
    default: dcgmi
  nvbandwidth:
    description: Name or path of nvbandwidth.
    type: str
    default: nvbandwidth
author: anyrack
"""

RETURN = r"""
checks:
  description: One entry per check (dcgm_diag, nvbandwidth_h2d, nvbandwidth_d2h, nvbandwidth_d2d): name, ok, detail.
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
measurements:
  description: What the tools reported (DCGM tests and their status; GB/s per GPU or pair).
  returned: always
  type: dict
"""

DEFAULTS = {"dcgm_diag_level": 2, "nvbandwidth_min_gbytes_s": {}}
# direction -> nvbandwidth testcase (copy engine: what the hardware link gives, without SM kernels)
TESTCASES = {"h2d": "host_to_device_memcpy_ce", "d2h": "device_to_host_memcpy_ce",
             "d2d": "device_to_device_memcpy_read_ce"}
TOOL_DIRS = ["/usr/local/bin", "/usr/local/cuda/bin", "/usr/local/cuda/extras/demo_suite"]
_NUMBER = re.compile(r"^\d+(\.\d+)?$")


def _json_object(text):
    """The one JSON object in ``text`` (dcgmi may print warning lines around it); ValueError if none."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the output")
    try:
        data = json.loads(text[start:end + 1])
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise ValueError("the JSON output is not an object")
    return data


def parse_dcgm(text):
    """``dcgmi diag -j`` output → {version, runtime_error, tests: [{category, name, status, gpu, warnings}]}.

    One entry per test and result (a result is one GPU, or all GPUs for the deployment tests). Reads the
    DCGM 4 layout ("DCGM Diagnostic", results by entity_id) and the DCGM 3 one ("DCGM GPU Diagnostic",
    results by gpu_id/gpu_ids). Raises ValueError on anything else.
    """
    data = _json_object(text)
    root = data.get("DCGM Diagnostic", data.get("DCGM GPU Diagnostic"))
    if not isinstance(root, dict):
        raise ValueError("no 'DCGM Diagnostic' object in the JSON output")
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    out = {"version": meta.get("version") or root.get("version"), "runtime_error": root.get("runtime_error"),
           "tests": []}
    categories = root.get("test_categories") or []
    if not isinstance(categories, list):
        raise ValueError("test_categories is not a list")
    for category in categories:
        for test in (category or {}).get("tests") or []:
            if not isinstance(test, dict) or "name" not in test:
                continue
            results = test.get("results") or [{"status": (test.get("test_summary") or {}).get("status")}]
            for result in results:
                if not isinstance(result, dict):
                    continue
                gpu = result.get("entity_id", result.get("gpu_id", result.get("gpu_ids")))
                warnings = [w.get("warning") or w.get("message") if isinstance(w, dict) else str(w)
                            for w in result.get("warnings") or []]
                out["tests"].append({"category": category.get("category"), "name": test["name"],
                                     "status": str(result.get("status") or "").strip().lower(),
                                     "gpu": None if gpu is None else str(gpu), "warnings": [w for w in warnings if w]})
    if not out["tests"] and not out["runtime_error"]:
        raise ValueError("the diagnostic reported no tests")
    return out


def dcgm_check(parsed, level):
    """One check for the whole diagnostic: a runtime error or any test that failed fails it."""
    if parsed["runtime_error"]:
        return {"name": "dcgm_diag", "ok": False, "detail": f"-r {level}: {parsed['runtime_error']}"}
    failed = [t for t in parsed["tests"] if t["status"] in ("fail", "failed", "error")]
    if failed:
        first = failed[0]
        where = f" on GPU {first['gpu']}" if first["gpu"] is not None and "," not in first["gpu"] else ""
        why = f": {first['warnings'][0]}" if first["warnings"] else ""
        more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
        return {"name": "dcgm_diag", "ok": False, "detail": f"-r {level}: {first['name']} failed{where}{why}{more}"}
    names = sorted({t["name"] for t in parsed["tests"]})
    warned = sorted({t["name"] for t in parsed["tests"] if t["status"] in ("warn", "warning")})
    note = f"; warnings from {', '.join(warned)}" if warned else ""
    return {"name": "dcgm_diag", "ok": True, "detail": f"-r {level}: {len(names)} tests passed or skipped{note}"}


def parse_nvbandwidth(text):
    """nvbandwidth's text output → {testcase: {status, message, description, matrix}}.

    ``matrix`` maps (row, column) → GB/s for every cell that holds a number ("N/A" cells, e.g. a GPU
    with itself, are left out). A testcase nvbandwidth waived or could not run has status "waived" or
    "error" and its message; nvbandwidth says so before any "Running" line, so that one is keyed None.
    Raises ValueError when the output names no testcase and no status.
    """
    cases, current, header = {}, None, None
    for line in text.splitlines():
        stripped = line.strip()
        running = re.match(r"^Running (\S+?)\.?$", stripped)
        if running:
            current = cases.setdefault(running[1], {"status": "ok", "message": None, "description": None,
                                                    "matrix": {}})
            header = None
            continue
        status = re.match(r"^(Waived|ERROR|Error)\s*:\s*(.*)$", stripped)
        if status:  # a testcase waived (or not found) before it runs has no "Running" line: key None
            case = current if current is not None else cases.setdefault(None, {"matrix": {}, "description": None})
            case["status"] = "waived" if status[1] == "Waived" else "error"
            case["message"] = status[2].strip() or ("the test does not apply to this node" if status[1] == "Waived"
                                                    else "error")
            continue
        if current is None or not stripped:
            continue
        if "bandwidth (GB/s)" in stripped:
            current["description"] = stripped
        elif current["description"] and header is None and all(c.isdigit() for c in stripped.split()):
            header = [int(c) for c in stripped.split()]
        elif header is not None and re.match(r"^\d+\s", stripped):
            row, *cells = stripped.split()
            for column, cell in zip(header, cells, strict=False):
                if _NUMBER.match(cell):
                    current["matrix"][(int(row), column)] = float(cell)
        elif stripped.startswith("SUM ") or stripped.startswith("NOTE"):
            header = None
    if not cases:
        raise ValueError("no 'Running <testcase>' line in the output")
    return cases


def bandwidth_check(direction, case, minimum):
    """The lowest GPU (or GPU pair for d2d) of one nvbandwidth testcase against ``minimum`` GB/s."""
    name = f"nvbandwidth_{direction}"
    if case is None:
        return {"name": name, "ok": False, "detail": f"{TESTCASES[direction]} did not run"}
    if case["status"] != "ok":
        return {"name": name, "ok": False, "detail": f"{TESTCASES[direction]} {case['status']}: {case['message']}"}
    cells = {k: v for k, v in case["matrix"].items() if direction != "d2d" or k[0] != k[1]}
    if not cells:
        return {"name": name, "ok": False, "detail": f"{TESTCASES[direction]} printed no bandwidth"}
    (row, column), low = min(cells.items(), key=lambda item: item[1])
    where = f"GPU {row} <- GPU {column}" if direction == "d2d" else f"GPU {column}"
    limit = f"minimum {minimum:g}" if minimum else "no minimum set"
    return {"name": name, "ok": not minimum or low >= minimum,
            "detail": f"lowest {low:.2f} GB/s ({where}; {limit})"}


# the Slurm node reason for this level's first failed check, or None
reason = partial(slurm_reason, level=2)


def run(module, sku, thresholds):
    """(checks, measurements) for this node."""
    limits = {**DEFAULTS, **(thresholds or {})}
    gpus = int((sku.get("gpu") or {}).get("count") or 0)
    directions = ["h2d", "d2h"] + (["d2d"] if gpus > 1 else [])
    names = ["dcgm_diag"] + [f"nvbandwidth_{d}" for d in directions]
    if gpus == 0:
        return [{"name": n, "ok": True, "detail": "n/a: the SKU has no GPUs"} for n in names], {}
    checks, measurements = [], {}
    level = int(limits["dcgm_diag_level"])
    dcgmi = find_tool(module, module.params["dcgmi"], TOOL_DIRS)
    if not dcgmi:
        checks.append({"name": "dcgm_diag", "ok": False, "detail": f"{module.params['dcgmi']} is not installed "
                       "(DCGM); level 2 cannot run"})
    else:
        rc, out, err = module.run_command([dcgmi, "diag", "-r", str(level), "-j"])
        try:
            parsed = parse_dcgm(out)
        except ValueError as exc:
            checks.append({"name": "dcgm_diag", "ok": False,
                           "detail": f"-r {level} gave no usable result ({exc}; rc {rc}: {first_line(err, out)})"})
        else:
            measurements["dcgm_diag"] = parsed
            checks.append(dcgm_check(parsed, level))
    nvbandwidth = find_tool(module, module.params["nvbandwidth"], TOOL_DIRS)
    mins = limits.get("nvbandwidth_min_gbytes_s") or {}
    for direction in directions:
        name = f"nvbandwidth_{direction}"
        if not nvbandwidth:
            checks.append({"name": name, "ok": False,
                           "detail": f"{module.params['nvbandwidth']} is not installed; level 2 cannot run"})
            continue
        testcase = TESTCASES[direction]
        rc, out, err = module.run_command([nvbandwidth, "-t", testcase])
        try:
            cases = parse_nvbandwidth(out)
            case = cases.get(testcase, cases.get(None))
        except ValueError as exc:
            checks.append({"name": name, "ok": False,
                           "detail": f"{testcase} gave no usable result ({exc}; rc {rc}: {first_line(err, out)})"})
            continue
        if case and rc != 0 and case["status"] == "ok" and not case["matrix"]:
            case = {**case, "status": "error", "message": f"rc {rc}: {first_line(err, out)}"}
        if case:
            measurements[name] = {f"{r}->{c}": v for (r, c), v in sorted(case["matrix"].items())}
        checks.append(bandwidth_check(direction, case, mins.get(direction)))
    return checks, measurements


def main():
    module = AnsibleModule(argument_spec={
        "sku": {"type": "dict", "required": True}, "thresholds": {"type": "dict", "default": {}},
        "dcgmi": {"type": "str", "default": "dcgmi"}, "nvbandwidth": {"type": "str", "default": "nvbandwidth"}},
        supports_check_mode=True)
    results, measurements = run(module, module.params["sku"], module.params["thresholds"])
    module.exit_json(changed=False, checks=results, passed=all(r["ok"] for r in results), reason=reason(results),
                     measurements=measurements)


if __name__ == "__main__":
    main()
