#!/usr/bin/env python3
"""B7: the engine-shaped harness's preview and no-change up of a whole-site stack against emulated BMCs.

Starts N emulated BMCs (one recorded tree, every request logged), writes an N-node site file (40
nodes a rack), runs stacks/site's own program under Pulumi's runtime (mocks) and drives its
registrations through ``python -m pulumi.dynamic`` over gRPC with tests/iac/engine.py, as ``pulumi up``
would: a first up (every node's BMC user, boot override, OS deploy, power; the inventory), then a
preview (the program again, then Check + Diff for every resource, timed apart) and a second up with
the config unchanged. Prints the time
of each phase, the provider calls made, and the BMC requests of the preview and second up (the
emulator's own log).

Targets (issue #22): N=1,250, preview ≤ 60 s on this machine; the second up: zero creates, updates,
replaces and deletes, and no request to any BMC that writes.

    .venv/bin/python benchmarks/pulumi_preview.py [--nodes 1250] [--parallel 32]
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import tempfile
import time
from pathlib import Path

import pulumi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/iac/engine.py: the harness the iac tier uses

from tests.iac.bmclab import recording_lab, write_site  # noqa: E402
from tests.iac.engine import changes, engine, run_program  # noqa: E402

from anyrack.lab.emulator import LabOptions, TreeSpec  # noqa: E402

STACK = ROOT / "stacks/site"
TREE = ROOT / "tests/fixtures/redfish/dell/idrac9-r750"
PASSWORD = "bench-bmc-password"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1250)
    parser.add_argument("--parallel", type=int, default=32, help="engine parallelism (pulumi up --parallel)")
    args = parser.parse_args()
    os.environ.update(ANYRACK_LAB_BMC_PASSWORD=PASSWORD, ANYRACK_OPS_PASSWORD="bench-ops-password")
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="anyrack-b7-") as tmp:
        t0 = time.perf_counter()
        with recording_lab([TreeSpec(TREE, count=args.nodes)], LabOptions(password=PASSWORD)) as (lab, entries):
            times["emulator start (N BMCs, TLS)"] = time.perf_counter() - t0
            site = write_site(Path(tmp) / "inv/site.yaml", [e.url for e in entries], racks=-(-args.nodes // 40))
            config = {"siteFile": os.path.relpath(site, STACK), "caFile": os.path.relpath(entries[0].ca, STACK)}

            def program() -> None:
                for key, value in config.items():
                    pulumi.runtime.set_config(f"anyrack-site:{key}", value)
                runpy.run_path(str(STACK / "__main__.py"), run_name="__main__")

            with engine(STACK, "anyrack-site", args.parallel) as e:
                t = time.perf_counter()
                regs = run_program(program, "anyrack-site", "b7")
                times["program (registrations)"] = time.perf_counter() - t
                t = time.perf_counter()
                first = e.up(regs)
                times["first up (creates)"] = time.perf_counter() - t
                created = sum(s.op == "create" for s in first)
                lab.requests.clear()
                t = time.perf_counter()
                again_regs = run_program(program, "anyrack-site", "b7", preview=True)
                times["preview: program (registrations)"] = time.perf_counter() - t
                t = time.perf_counter()
                preview = e.preview(again_regs)
                times["preview: Check + Diff of every resource"] = time.perf_counter() - t
                before = dict(e.calls)
                t = time.perf_counter()
                again = e.up(run_program(program, "anyrack-site", "b7"))
                times["second up (no change)"] = time.perf_counter() - t
                made = {k: e.calls.get(k, 0) - before.get(k, 0) for k in ("Check", "Diff", "Create", "Update",
                                                                           "Delete", "Read")}
                requests, writes = len(lab.requests), len(lab.writes())
    custom = sum(r.custom for r in regs)
    took = times["preview: Check + Diff of every resource"]
    print(f"\n| B7, N={args.nodes:,} nodes, parallel {args.parallel} | seconds |\n|---|---:|")
    for key, value in times.items():
        print(f"| {key} | {value:.1f} |")
    print(f"\nresources: {len(regs):,} registered, {custom:,} dynamic; first up created {created:,}")
    print(f"preview: {len(changes(preview))} changes; second up: {len(changes(again))} changes, provider calls {made}")
    print(f"BMC requests during preview + second up: {requests} (writes: {writes})")
    ok = (times["preview: Check + Diff of every resource"] <= 60 and not changes(preview) and not changes(again)
          and made["Create"] == made["Update"] == made["Delete"] == 0 and writes == 0)
    print(f"target (N=1,250: Check + Diff ≤ 60 s; second up no change, no BMC write): {'met' if ok else 'NOT met'}"
          f"; preview with the program: {times['preview: program (registrations)'] + took:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
