"""A small fleet through every deploy stage with the site's limits on, checked from the BMCs' side.

12 emulated BMCs in 3 racks of 4; the deploy ramdisk and the installed OS are SIMULATED
(anyrack.lab.deploysim: the ramdisk's callback requests as the real script sends them, its power-off,
and a stand-in for the SSH hostname probe) because no machine boots here. The deploy itself (stages,
callback server, BMC requests over HTTPS, limits) is the production code. B6 (benchmarks/deploy_fleet.py)
is the same at 1,250 nodes.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from tests.bmc.test_deploy import DELL, _deploy_cli

from anyrack import aio
from anyrack.deploy.fleet import deploy, failed_last_time, save_report
from anyrack.deploy.run import DeployOptions
from anyrack.deploy.targets import select
from anyrack.lab import LabOptions, TreeSpec
from anyrack.lab.deploysim import DeploySim, fleet_site, peak_in_flight, power_ons_per_window, timed_lab
from anyrack.site import load_site

pytestmark = pytest.mark.bmc
PASSWORD = "fleet-test-pw"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_limits_hold_hints_choose_the_disk_and_failed_nodes_are_retried(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_BMC_PASSWORD", PASSWORD)
    with timed_lab([TreeSpec(DELL, count=12)], LabOptions(password=PASSWORD)) as lab:
        doc = fleet_site(lab.entries, 4, concurrency=4, power_per_rack=2, interval_s=1.0,
                         password_env="FLEET_BMC_PASSWORD")
        doc["nodes"][1]["root_device"] = {"serial": "S6EWNA0T100002"}  # one of the ramdisk's two disks
        doc["nodes"][2]["root_device"] = {"model": "M.2 boot"}  # both: refused before anything is written
        (tmp_path / "site.yaml").write_text(json.dumps(doc))
        site = load_site(tmp_path / "site.yaml")
        targets = select(site, (), everything=True)  # the controller (no BMC here) is left out
        keys = {(e.host, e.port): n for e, n in zip(lab.entries, targets.nodes, strict=True)}
        port = free_port()
        sim = DeploySim({k: (n.name, n.addresses.management) for k, n in keys.items()}, f"http://127.0.0.1:{port}",
                        boot_s=0.1, write_s=0.2, os_boot_s=0.1, fail={"n0007": "sha256 mismatch"})
        sim.attach(lab)
        opts = DeployOptions(ca_file=lab.entries[0].ca, pxe_timeout=30, write_timeout=30, power_timeout=15,
                             boot_timeout=30, poll_s=0.2, ssh_poll_s=0.2, ssh_probe=sim.ssh_probe)
        lines: list[str] = []
        run = aio.run(deploy(site, targets.nodes, {"bmc": PASSWORD}, ("127.0.0.1", port), opts, lines.append,
                             journal_dir=tmp_path))
        requests = list(lab.requests)
    by_node = {r.node: r for r in run.results}
    assert [n for n, r in by_node.items() if not r.ok] == ["n0003", "n0007"]
    assert sim.written["n0002"] == "/dev/nvme1n1" and sim.written["n0001"] == "/dev/nvme0n1"  # hint; default
    assert sim.answers["n0002"][0] == "start:go /dev/nvme1n1" and "n0003" not in sim.written
    assert (by_node["n0003"].stage, by_node["n0003"].detail) == (
        "pxe", "the ramdisk's disks: root_device {model=M.2 boot} matches 2 of 2 disks; nothing written; matches: "
        "/dev/nvme0n1 (894 GiB, solid-state, model M.2 boot, serial S6EWNA0T100001); /dev/nvme1n1 (894 GiB, "
        "solid-state, model M.2 boot, serial S6EWNA0T100002); powered off")
    failed = by_node["n0007"]
    assert (failed.stage, failed.detail) == ("write", "the ramdisk failed at write: sha256 mismatch")
    assert list(by_node["n0001"].stages) == ["bmc", "boot-override", "power-on", "pxe", "write", "power-off",
                                             "boot-disk", "ssh"]
    assert sim.answers["n0001"] == ["start:go", "writing:ok", "written:ok"]
    # the limits, from the emulator's own request log: 4 nodes in flight, 2 power-ons per rack per second
    assert run.peak == 4 and peak_in_flight(requests) == 4
    windows = power_ons_per_window(requests, {k: n.rack for k, n in keys.items()}, 1.0)
    assert windows == {"r001": 2, "r002": 2, "r003": 2}
    assert sum(r.reset == "On" for r in requests) == run.power_ons == 10 * 2 + 2
    assert "deploy: 10 ok, 2 failed (pxe 1, write 1) in" in lines[-1]
    assert "peak 4 of 4 in flight; 22 power-ons" in lines[-1]
    # --retry-failed: the report names the one failed node; an interrupted run's journal names the unfinished
    reports = tmp_path / "site-reports"
    save_report(reports, site, run)
    assert failed_last_time(reports) == ["n0003", "n0007"] and not (reports / ".deploy-journal").exists()
    assert failed_last_time(tmp_path) == ["n0003", "n0007"]  # the run's journal alone (no report): the node not done ok
    (reports / ".deploy-journal").write_text('{"planned": ["n0001", "n0002"]}\n{"node": "n0001", "ok": true}\n')
    assert failed_last_time(reports) == ["n0002"]
    (reports / ".deploy-journal").unlink()
    (tmp_path / ".anyrack").mkdir()
    (reports).rename(tmp_path / ".anyrack/deploy")
    plan = _deploy_cli(tmp_path / "site.yaml", PASSWORD, "--retry-failed", "--plan", "--json")
    assert plan.returncode == 0, plan.stderr
    assert [n["node"] for n in json.loads(plan.stdout)["nodes"]] == ["n0003", "n0007"]
