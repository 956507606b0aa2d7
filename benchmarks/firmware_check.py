#!/usr/bin/env python3
"""B8: ``anyrack firmware check SITE --live`` of N emulated BMCs (default 1,500), timed from outside.

Starts the BMC emulator as a subprocess (as benchmarks/discovery.py does: its own process and CPU),
N BMCs split over the four fixture trees of the discovery benchmark, every request delayed by
--latency-ms; writes a lab site whose SKU carries a golden firmware BOM (``bmc: ">=1"``, ``bios``,
``gpu``: minimums every tree meets or cannot say), then runs the command as an operator would (a fresh
process: interpreter start, imports, site load, every BMC's FirmwareInventory read, the comparison) and
prints wall time, BMCs/s, CPU seconds and peak RSS of that process, the emulator's CPU in the same
interval, and the verdict counts (a run where any BMC could not be read is reported, never as met).

Target (issue 19, B8): N = 1,500, ≤ 30 s wall on this 2-core machine.

    .venv/bin/python benchmarks/firmware_check.py [--bmcs 1500] [--latency-ms 0] [--state-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from discovery import (  # noqa: E402 - the sibling benchmark's process and emulator helpers
    PASSWORD,
    PASSWORD_ENV,
    anyrack_command,
    cpu_of,
    emulator_pid,
    fleet,
    run_measured,
    terminate_on_signal,
)

from anyrack.lab.emulator import LabOptions, spawn_lab  # noqa: E402
from anyrack.lab.sitefile import lab_site  # noqa: E402

TARGET_S = 30.0
BOM = {"bmc": ">=1", "bios": ">=1", "gpu": ">=1"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bmcs", type=int, default=1500)
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every emulated response")
    parser.add_argument("--state-dir", type=Path, help="emulator CA/certificates (reused between runs)")
    parser.add_argument("--step-timeout", type=float, default=300)
    args = parser.parse_args()
    _counts, specs = fleet("firmware check", args.bmcs, args.latency_ms)
    options = LabOptions(password=PASSWORD, latency_ms=args.latency_ms, state_dir=args.state_dir)
    with terminate_on_signal(), tempfile.TemporaryDirectory(prefix="anyrack-bench-firmware-") as tmp:
        work = Path(tmp)
        with spawn_lab(specs, options, listing=work / "listing.json", timeout_s=args.step_timeout) as entries:
            emu = emulator_pid()
            doc = yaml.safe_load(lab_site(entries, password_env=PASSWORD_ENV))
            doc["skus"]["emulated"]["firmware"] = BOM
            site = work / "site.yaml"
            site.write_text(yaml.safe_dump(doc, sort_keys=False, width=200))
            cmd = [*anyrack_command(), "firmware", "check", str(site), "--live", "--ca", entries[0].ca, "--json"]
            before = cpu_of(emu)
            run = run_measured(cmd, env={**os.environ, PASSWORD_ENV: PASSWORD}, timeout=args.step_timeout)
            emu_cpu = cpu_of(emu) - before
    try:
        report = json.loads(run.stdout)
    except ValueError:
        print(f"no JSON from the command (rc {run.rc}):\n{run.stderr[-2000:]}")
        return 1
    verdicts: dict[str, int] = {}
    for node in report["nodes"].values():
        verdicts[node["verdict"]] = verdicts.get(node["verdict"], 0) + 1
    unread = run.stderr.count(": unread, its firmware is unknown")
    components = sum(len(n["components"]) for n in report["nodes"].values())
    met = run.wall <= TARGET_S and unread == 0 and run.rc in (0, 1)
    print("| BMCs | wall s | BMCs/s | CPU s (command) | peak RSS MiB | emulator CPU s | judged components | "
          "verdicts | unread | target ≤ 30 s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.bmcs:,} | {run.wall:.1f} | {args.bmcs / run.wall:.0f} | {run.cpu:.1f} | {run.max_rss_mib:.0f} | "
          f"{emu_cpu:.1f} | {components:,} | {', '.join(f'{k} {v}' for k, v in sorted(verdicts.items()))} | "
          f"{unread} | {'met' if met else 'NOT met'} |")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
