#!/usr/bin/python
"""Ansible module: burn-in level 3 (long) — NCCL all-reduce across the node's GPUs against the SKU's limits."""

from __future__ import annotations

import re
from functools import partial

from ansible.module_utils.basic import AnsibleModule

try:  # the module as a collection plugin (anyrack.hpc.burnin_l3)
    from ansible_collections.anyrack.hpc.plugins.module_utils.burnin_common import find_tool, first_line, slurm_reason
except ImportError:  # the module from the burnin role's library/, beside its module_utils/
    from ansible.module_utils.burnin_common import find_tool, first_line, slurm_reason

DOCUMENTATION = r"""
---
module: burnin_l3
short_description: Level-3 burn-in of a node's GPUs (NCCL all-reduce bus bandwidth)
description:
  - Runs nccl-tests' C(all_reduce_perf -b MIN -e MAX -f 2 -g GPUS) inside the node and compares the bus
    bandwidth at the largest size with the SKU's minimum in GB/s; any wrong value fails.
  - HPL is not run; a SKU asking for it gets an "hpl" entry saying "not run".
  - all_reduce_perf not installed fails the check; a SKU with fewer than two GPUs passes with every check n/a.
options:
  sku:
    description: The node's SKU as the inventory has it (anyrack_sku); gpu.count is the -g argument.
    type: dict
    required: true
  thresholds:
    description: Limits (anyrack_sku.burnin); nccl_busbw_min_gbytes_s, nccl_min_bytes (8), nccl_max_bytes (8G), hpl.
    type: dict
    default: {}
  all_reduce_perf:
    description: Name or path of nccl-tests' all_reduce_perf.
    type: str
    default: all_reduce_perf
author: anyrack
"""

RETURN = r"""
checks:
  description: One entry per check (nccl_all_reduce, nccl_correctness, and hpl when asked for), with name, ok, detail.
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
  description: The all_reduce_perf table (per size, out-of-place and in-place), its average bus bandwidth.
  returned: always
  type: dict
"""

DEFAULTS = {"nccl_busbw_min_gbytes_s": None, "nccl_min_bytes": 8, "nccl_max_bytes": 8 * 2**30, "hpl": False}
TOOL_DIRS = ["/usr/local/bin", "/opt/nccl-tests/build", "/usr/local/nccl-tests/build"]
_FAILURE = re.compile(r"\b(Test (NCCL |CUDA )?failure|NCCL failure|CUDA failure|NCCL WARN)\b")
_FLOAT = re.compile(r"^\d+(\.\d+)?([eE][-+]?\d+)?$")


def _number(text):
    """A table cell as a float, or None for N/A and the like."""
    return float(text) if _FLOAT.match(text) else None


def parse_nccl(text):
    """all_reduce_perf's output → {rows: [{size, out: {time_us, algbw, busbw, wrong}, in: {...}}],
    avg_busbw, out_of_bounds, errors}.

    Rows are the table lines (size, count, type, redop, [root,] then out-of-place and in-place time,
    algbw, busbw, #wrong); read from the right, so the root column that newer versions print does not
    matter. ``out_of_bounds`` is the count from "# Out of bounds values : N OK|FAILED"; ``errors`` are
    lines that name an NCCL or CUDA failure. Raises ValueError when there is no table and no error.
    """
    rows, avg, oob, errors = [], None, None, []
    for line in text.splitlines():
        stripped = line.strip()
        avg_match = re.match(r"^#\s*Avg bus bandwidth\s*:\s*(\S+)", stripped)
        oob_match = re.match(r"^#\s*Out of bounds values\s*:\s*(\d+)", stripped)
        if avg_match:
            avg = _number(avg_match[1])
        elif oob_match:
            oob = int(oob_match[1])
        elif _FAILURE.search(stripped):
            errors.append(stripped[:200])
        elif stripped and not stripped.startswith("#"):
            cells = stripped.split()
            if len(cells) < 12 or not cells[0].isdigit():
                continue
            tail = cells[-8:]
            values = [_number(c) for c in tail]
            rows.append({"size": int(cells[0]),
                         "out": {"time_us": values[0], "algbw": values[1], "busbw": values[2],
                                 "wrong": values[3] if tail[3] != "N/A" else None},
                         "in": {"time_us": values[4], "algbw": values[5], "busbw": values[6],
                                "wrong": values[7] if tail[7] != "N/A" else None}})
    if not rows and not errors:
        raise ValueError("no result table in the output")
    return {"rows": rows, "avg_busbw": avg, "out_of_bounds": oob, "errors": errors}


def nccl_checks(parsed, minimum, max_bytes=None):
    """Bus bandwidth at the largest size measured (the lower of out-of-place and in-place) against
    ``minimum`` GB/s, and the correctness of every value."""
    rows = parsed["rows"]
    out = []
    if not rows:
        out.append({"name": "nccl_all_reduce", "ok": False, "detail": f"no result: {parsed['errors'][0]}"})
    else:
        last = max(rows, key=lambda r: r["size"])
        bws = [b for b in (last["out"]["busbw"], last["in"]["busbw"]) if b is not None]
        low = min(bws) if bws else None
        # sizes double from min_bytes, so the last one is within a factor of two of max_bytes unless the run stopped
        short = f" (asked up to {max_bytes} B)" if max_bytes and last["size"] * 2 <= max_bytes else ""
        avg = f", average {parsed['avg_busbw']:g}" if parsed["avg_busbw"] is not None else ""
        limit = f"minimum {minimum:g}" if minimum else "no minimum set"
        if low is None:
            out.append({"name": "nccl_all_reduce", "ok": False, "detail": f"no bus bandwidth at {last['size']} B"})
        else:
            out.append({"name": "nccl_all_reduce", "ok": (not minimum or low >= minimum) and not short,
                        "detail": f"busbw {low:.2f} GB/s at {last['size']} B{short}{avg} ({limit})"})
    wrong = [r for r in rows if any((r[side]["wrong"] or 0) > 0 for side in ("out", "in"))]
    if parsed["errors"]:
        out.append({"name": "nccl_correctness", "ok": False, "detail": parsed["errors"][0]})
    elif wrong:
        more = f" (+{len(wrong) - 1} more sizes)" if len(wrong) > 1 else ""
        out.append({"name": "nccl_correctness", "ok": False, "detail": f"wrong values at {wrong[0]['size']} B{more}"})
    elif parsed["out_of_bounds"]:
        out.append({"name": "nccl_correctness", "ok": False,
                    "detail": f"{parsed['out_of_bounds']} bus bandwidth values out of bounds"})
    else:
        out.append({"name": "nccl_correctness", "ok": True, "detail": "no wrong values"})
    return out


# the Slurm node reason for this level's first failed check, or None
reason = partial(slurm_reason, level=3)


def run(module, sku, thresholds):
    """(checks, measurements) for this node."""
    limits = {**DEFAULTS, **(thresholds or {})}
    gpus = int((sku.get("gpu") or {}).get("count") or 0)
    hpl = [{"name": "hpl", "ok": True, "detail": "not run: anyrack does not run HPL (hpl: true is recorded only)"}] \
        if limits["hpl"] else []
    if gpus < 2:
        return [{"name": n, "ok": True, "detail": f"n/a: the SKU has {gpus} GPU{'s' if gpus != 1 else ''}"}
                for n in ("nccl_all_reduce", "nccl_correctness")] + hpl, {}
    name = module.params["all_reduce_perf"]
    tool = find_tool(module, name, TOOL_DIRS)
    if not tool:
        missing = f"{name} is not installed (nccl-tests); level 3 cannot run"
        return [{"name": "nccl_all_reduce", "ok": False, "detail": missing},
                {"name": "nccl_correctness", "ok": False, "detail": missing}] + hpl, {}
    argv = [tool, "-b", str(limits["nccl_min_bytes"]), "-e", str(limits["nccl_max_bytes"]), "-f", "2",
            "-g", str(gpus)]
    rc, out, err = module.run_command(argv)
    try:
        parsed = parse_nccl(out + "\n" + err)
    except ValueError as exc:
        detail = f"no usable result ({exc}; rc {rc}: {first_line(err, out)})"
        return [{"name": "nccl_all_reduce", "ok": False, "detail": detail},
                {"name": "nccl_correctness", "ok": False, "detail": detail}] + hpl, {}
    if rc != 0 and not parsed["errors"]:
        parsed["errors"].append(f"all_reduce_perf exited with rc {rc}: {first_line(err, out)}")
    checks = nccl_checks(parsed, limits["nccl_busbw_min_gbytes_s"], int(limits["nccl_max_bytes"]))
    return checks + hpl, {"nccl_all_reduce": {"argv": argv[1:], **parsed}}


def main():
    module = AnsibleModule(argument_spec={
        "sku": {"type": "dict", "required": True}, "thresholds": {"type": "dict", "default": {}},
        "all_reduce_perf": {"type": "str", "default": "all_reduce_perf"}}, supports_check_mode=True)
    results, measurements = run(module, module.params["sku"], module.params["thresholds"])
    module.exit_json(changed=False, checks=results, passed=all(r["ok"] for r in results), reason=reason(results),
                     measurements=measurements)


if __name__ == "__main__":
    main()
