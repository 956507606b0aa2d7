#!/usr/bin/env python3
"""Fabric sizing sweep: spines the planner builds for N 8-rail nodes, beside the port-count minimum.

Pure arithmetic (anyrack.fabric.sizing), no site file: 32 nodes per scalable unit, one 400G NIC per rail,
non-blocking. The port-count minimum is ceil(leaves × uplinks per leaf / spine ports): the fewest spines
whose ports can take every uplink. docs/fabric.md has the table beside NVIDIA's DGX SuperPOD figures.

    .venv/bin/python benchmarks/fabric_sizing.py
"""

from __future__ import annotations

import math
import sys

from anyrack.fabric.sizing import SizingError, size_fabric

RAILS, PER_UNIT = 8, 32
ROWS = [  # nodes, leaf ports, spine ports, note
    (32, 64, 64, "1 SU"), (64, 64, 64, "2 SU"), (128, 64, 64, "4 SU"), (256, 64, 64, "8 SU"),
    (512, 64, 64, "16 SU"), (1016, 64, 64, "32 SU (-8 nodes)"), (1024, 64, 64, "32 SU"),
    (1250, 64, 64, "this centre"), (2048, 64, 64, "64 SU"), (2080, 64, 64, "65 SU"),
    (2500, 64, 128, "64×800G spines as 128×400G"), (4096, 64, 128, "128 SU, 128×400G spines"),
]


def main() -> int:
    print("| nodes | SUs | leaves | spines (groups × per group) | port-count minimum | over minimum | "
          "spine ports used | note |")
    print("|---:|---:|---:|---|---:|---:|---:|---|")
    for nodes, leaf_ports, spine_ports, note in ROWS:
        units = math.ceil(nodes / PER_UNIT)
        leaves = units * RAILS
        try:
            s = size_fabric(units, RAILS, PER_UNIT, leaf_ports, spine_ports, 1.0)
        except SizingError as err:
            print(f"| {nodes:,} | {units} | {leaves} | refused: {err} | | | | {note} |")
            continue
        minimum = math.ceil(leaves * s.uplinks / spine_ports)
        print(f"| {nodes:,} | {units} | {leaves} | {s.spines} ({s.spine_groups} × {s.spines_per_group}) | {minimum} | "
              f"{100 * (s.spines - minimum) / minimum:.1f} % | {s.spine_ports_used} of {spine_ports} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
