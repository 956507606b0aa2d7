#!/usr/bin/env python3
"""Fabric planning at scale: a generated site of N 8-GPU nodes (8 rails, 40 racks) with facts (MACs).

Prints a table per N: load+check the site, read the facts, plan, lint, render every file in memory,
first write, rerun, and the whole `anyrack fabric plan --out` command (a fresh process), its wall
time and its CPU time (user + system: what the command costs when the machine is shared and busy).
Targets: N=1,250, 8 rails planned and rendered ≤ 5 s on a 2-core machine (issue "Network fabric");
the whole command ≤ 5 s (B2, issue 16).

    .venv/bin/python benchmarks/fabric_plan.py [--sizes 125,1250] [--repeat 3]
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from anyrack.fabric import lint, load_plan, render
from anyrack.filetree import sync_tree

sys.path.insert(0, str(Path(__file__).parent))
from site_generation import generated_site, size_runs  # noqa: E402 - the same generated site as the inventory benchmark

COMMAND = "import sys; from anyrack.cli.fabric import fabric; fabric(sys.argv[1:])"


def measure(n: int, repeat: int) -> tuple[dict[str, float], dict[str, int]]:
    best: dict[str, float] = {}
    counts: dict[str, int] = {}
    for _ in range(repeat):
        with generated_site(n, "anyrack-fabric-bench") as work:
            times: dict[str, float] = {}
            t0 = time.perf_counter()
            load_plan(work / "site.yaml")
            t1 = time.perf_counter()
            site, plan, _ = load_plan(work / "site.yaml", work / "facts")
            t2 = time.perf_counter()
            findings = lint(plan, site)
            t3 = time.perf_counter()
            files = render(plan)
            t4 = time.perf_counter()
            sync_tree(work / "out", files)
            t5 = time.perf_counter()
            again = sync_tree(work / "out", files)
            t6 = time.perf_counter()
            assert again.written == () and not [f for f in findings if f.level == "error"]
            times.update({
                "load+check site, plan": t1 - t0, "… with facts (MACs)": t2 - t1, "lint": t3 - t2,
                "render (in memory)": t4 - t3, "planned and rendered": t4 - t1,
                "write (first)": t5 - t4, "write (rerun)": t6 - t5,
            })
            shutil.rmtree(work / "out")
            t7, cpu = time.perf_counter(), _children_cpu()
            subprocess.run([sys.executable, "-c", COMMAND, "plan", str(work / "site.yaml"), "--facts",
                            str(work / "facts"), "--out", str(work / "out")], check=True, capture_output=True)
            times["anyrack fabric plan --out (command)"] = time.perf_counter() - t7
            times["… its CPU time (user + system)"] = _children_cpu() - cpu
            for key, value in times.items():
                best[key] = min(best.get(key, value), value)
            roles = [s.role for s in plan.switches]
            counts = {"nodes": len(plan.nodes), "units": len(plan.units), "leaves": roles.count("leaf"),
                      "spines": roles.count("spine"), "spine groups": plan.sizing.spine_groups,
                      "cables": sum(len(x.nics) for x in plan.nodes) + len(plan.uplinks) + len(plan.access),
                      "files": len(files)}
    return best, counts


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    sizes, repeat = size_runs(__doc__, "fabric plan")
    results = {n: measure(n, repeat) for n in sizes}
    print(f"\n| (seconds) | {' | '.join(f'N={n:,}' for n in sizes)} |")
    print(f"|---|{'---:|' * len(sizes)}")
    for key in results[sizes[0]][0]:
        print(f"| {key} | {' | '.join(f'{results[n][0][key]:.3f}' for n in sizes)} |")
    for key in results[sizes[0]][1]:
        print(f"| {key} | {' | '.join(f'{results[n][1][key]:,}' for n in sizes)} |")
    top = max(sizes)
    took = results[top][0]["planned and rendered"]
    print(f"\ntarget (N={top:,}, {8} rails, planned and rendered ≤ 5 s): {'met' if took <= 5 else 'NOT met'} "
          f"({took:.2f} s)")
    whole = results[top][0]["anyrack fabric plan --out (command)"]
    print(f"target (N={top:,}, the whole command ≤ 5 s): {'met' if whole <= 5 else 'NOT met'} ({whole:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
