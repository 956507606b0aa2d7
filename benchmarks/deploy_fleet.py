#!/usr/bin/env python3
"""B6: a whole fleet deployed through every stage, with the site's limits on, against emulated BMCs.

N emulated BMCs (one recorded iDRAC tree, in this process's background thread, every request logged with
its arrival time: anyrack.lab.deploysim.TimedLab), an N-node site in racks of --per-rack with the deploy
limits (--concurrency nodes in flight, --power-per-rack power-ons per rack per --interval s). The deploy
ramdisk and the installed OS are SIMULATED (anyrack.lab.deploysim.DeploySim, a labelled stand-in: the
ramdisk's callback requests as the real script sends them after --boot-s, its write taking --write-s, its
power-off; the OS "answers SSH" --os-boot-s after a disk boot, through the stand-in SSH probe). Everything
else is the production deploy (anyrack.deploy.run.deploy: BMC sessions over HTTPS, boot overrides, power,
the callback server, the limits), in-process, as `anyrack deploy SITE --all --yes` runs it.

Printed: wall time, the floor the configuration itself puts on it (waves of --concurrency nodes each
taking the simulated times; each rack's power-ons spaced by the window), the overhead above that floor,
and from the emulator's log: peak BMCs in flight and the most power-ons per rack in any window. Exit 1
if a node failed, a limit was exceeded, or the overhead is above --target-overhead.

    .venv/bin/python benchmarks/deploy_fleet.py [--nodes 1250] [--per-rack 16] [--concurrency 200]
        [--power-per-rack 4] [--interval 5] [--boot-s 2] [--write-s 5] [--os-boot-s 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

from anyrack import aio
from anyrack.deploy.fleet import deploy
from anyrack.deploy.run import DeployOptions
from anyrack.deploy.targets import select
from anyrack.lab.deploysim import DeploySim, fleet_site, peak_in_flight, power_ons_per_window, timed_lab
from anyrack.lab.emulator import LabOptions, TreeSpec
from anyrack.site import load_site

ROOT = Path(__file__).resolve().parents[1]
TREE = ROOT / "tests/fixtures/redfish/dell/idrac9-r750"
PASSWORD = "bench-Pa55word-deploy"


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=1250)
    p.add_argument("--per-rack", type=int, default=16)
    p.add_argument("--concurrency", type=int, default=200)
    p.add_argument("--power-per-rack", type=int, default=4)
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--boot-s", type=float, default=2.0)
    p.add_argument("--write-s", type=float, default=5.0)
    p.add_argument("--os-boot-s", type=float, default=2.0)
    p.add_argument("--target-overhead", type=float, default=120.0)
    return p.parse_args()


def main() -> int:
    a = _args()
    os.environ["B6_BMC_PASSWORD"] = PASSWORD
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    started = time.monotonic()
    with timed_lab([TreeSpec(TREE, count=a.nodes)], LabOptions(password=PASSWORD)) as lab, \
            tempfile.TemporaryDirectory(prefix="anyrack-b6-") as work:
        emulator_s = time.monotonic() - started
        site_file = Path(work) / "site.yaml"
        site_file.write_text(json.dumps(fleet_site(lab.entries, a.per_rack, concurrency=a.concurrency,
                                                   power_per_rack=a.power_per_rack, interval_s=a.interval,
                                                   password_env="B6_BMC_PASSWORD")))
        site = load_site(site_file)
        targets = select(site, (), everything=True)
        keys = {(e.host, e.port): n for e, n in zip(lab.entries, targets.nodes, strict=True)}
        sim = DeploySim({k: (n.name, n.addresses.management) for k, n in keys.items()}, f"http://127.0.0.1:{port}",
                        boot_s=a.boot_s, write_s=a.write_s, os_boot_s=a.os_boot_s)
        sim.attach(lab)
        opts = DeployOptions(ca_file=lab.entries[0].ca, pxe_timeout=600, write_timeout=600, power_timeout=300,
                             boot_timeout=600, poll_s=1.0, ssh_poll_s=1.0, ssh_probe=sim.ssh_probe)
        progress: list[str] = []
        cpu0 = time.process_time()
        run = aio.run(deploy(site, targets.nodes, {"bmc": PASSWORD}, ("127.0.0.1", port), opts, progress.append,
                             journal_dir=Path(work)))
        cpu = time.process_time() - cpu0
        requests = list(lab.requests)
    failed = [r for r in run.results if not r.ok]
    peak_log = peak_in_flight([r for r in requests if r.bmc in keys])
    windows = power_ons_per_window(requests, {k: n.rack for k, n in keys.items()}, a.interval)
    sim_per_node = a.boot_s + a.write_s + a.os_boot_s
    waves = -(-a.nodes // a.concurrency)
    rack_floor = (-(-2 * min(a.per_rack, a.nodes) // a.power_per_rack) - 1) * a.interval
    floor = max(waves * sim_per_node, rack_floor)
    overhead = run.seconds - floor
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stages: dict[str, float] = {}
    for r in run.results:
        for k, v in r.stages.items():
            stages[k] = stages.get(k, 0.0) + v
    rows = [
        ("machine", f"{platform.machine()} {os.cpu_count()} CPU, load {os.getloadavg()[0]:.1f}, "
                    f"Python {platform.python_version()}"),
        ("nodes / racks", f"{a.nodes} / {len({n.rack for n in targets.nodes})} (controller skipped: "
                          f"{', '.join(targets.skipped)})"),
        ("limits", f"{a.concurrency} in flight; {a.power_per_rack} power-ons per rack per {a.interval:g} s"),
        ("simulated ramdisk / OS", f"boot {a.boot_s:g} s, write {a.write_s:g} s, OS to SSH {a.os_boot_s:g} s"),
        ("emulator start (N BMCs, TLS)", f"{emulator_s:.1f} s"),
        ("deploy wall time", f"{run.seconds:.1f} s (CPU {cpu:.1f} s, peak RSS {rss:.0f} MiB, emulator included)"),
        ("floor set by the configuration", f"{floor:.1f} s (waves {waves} x {sim_per_node:g} s; rack power-on "
                                           f"spacing {rack_floor:g} s)"),
        ("orchestration overhead", f"{overhead:.1f} s (target <= {a.target_overhead:g} s)"),
        ("nodes ok / failed", f"{len(run.results) - len(failed)} / {len(failed)}"),
        ("peak in flight: deploy / emulator log", f"{run.peak} / {peak_log} (limit {a.concurrency})"),
        ("most power-ons per rack in any window", f"{max(windows.values())} (limit {a.power_per_rack}; "
                                                  f"{len(windows)} racks)"),
        ("power-on requests / all BMC requests", f"{sum(r.reset == 'On' for r in requests)} / {len(requests)}"),
        ("seconds waited for rack windows (sum)", f"{run.power_on_wait_s:.0f}"),
        ("mean seconds per stage", ", ".join(f"{k} {v / len(run.results):.1f}" for k, v in stages.items())),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    for r in failed[:10]:
        print(f"FAILED {r.node} at {r.stage}: {r.detail}")
    ok = (not failed and peak_log <= a.concurrency and run.peak <= a.concurrency
          and max(windows.values()) <= a.power_per_rack and overhead <= a.target_overhead)
    print("result:", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
