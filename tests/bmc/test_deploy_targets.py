"""`anyrack deploy` touches only the nodes it is told to: proven on the emulator's request log.

Three emulated BMCs (node1 a controller, node2 and node3 compute; the emulator starts them powered on),
each CLI run a real subprocess over HTTPS. Requests are counted by the emulator itself (RecordingLab).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.bmc.test_deploy import DELL, _deploy_cli, _site
from tests.iac.bmclab import recording_lab

from anyrack.lab import LabOptions, TreeSpec

pytestmark = pytest.mark.bmc


@pytest.fixture(scope="module")
def three():  # noqa: ANN201
    with recording_lab([TreeSpec(DELL, count=3)], LabOptions(password="deploy-targets-pw")) as got:
        yield got


def test_refusals_before_any_request(three, tmp_path: Path) -> None:  # noqa: ANN001
    lab, entries = three
    site = _site(tmp_path, entries)
    lab.requests.clear()
    cases = {(): "say which nodes to deploy: --limit EXPR",
             ("--limit", "gpu[1-9]"): "--limit 'gpu[1-9]' matches no node of site t",
             ("--limit", "node2,rack:r9"): "--limit 'rack:r9' matches no node",
             ("--limit", "node2", "--all"): "--limit and --all exclude each other",
             ("--all",): "--all reimages nodes without asking: add --yes",
             ("--limit", "node2", "--force"): "--force reimages nodes without asking: add --yes",
             ("--limit", "role:compute", "--via", "virtual-media"): "--via virtual-media needs --media-url"}
    for args, message in cases.items():
        done = _deploy_cli(site, entries[0].password, *args, "--callback", "127.0.0.1:0")
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr.splitlines()[-1], (args, done.stderr)
        assert "nothing was touched" in done.stderr
    assert lab.requests == []  # not one request reached any BMC, not even a session login
    assert not (tmp_path / ".anyrack").exists()


def test_plan_names_nodes_disks_and_stages_and_touches_nothing(three, tmp_path: Path) -> None:  # noqa: ANN001
    lab, entries = three
    site = _site(tmp_path, entries)
    lab.requests.clear()
    done = _deploy_cli(site, entries[0].password, "--all", "--plan", "--json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert [n["node"] for n in plan["nodes"]] == ["node2", "node3"]  # --all leaves the controller out
    assert plan["skipped"] == {"node1": "role controller: deployed only when named (--limit node1)"}
    assert plan["nodes"][0]["stages"] == ["bmc", "boot-override", "power-on", "pxe", "write", "power-off",
                                          "boot-disk", "ssh"]
    assert plan["nodes"][0]["boot"] == "network boot, MAC 52:54:00:00:00:02"
    assert plan["nodes"][0]["disk"].startswith("no root_device hint")
    named = _deploy_cli(site, entries[0].password, "--limit", "node[1-2]", "--plan", "--via", "virtual-media",
                        "--media-url", "http://10.99.0.1:8080/media/{node}.iso")
    assert named.returncode == 0, named.stderr
    assert "node1 (rack r1, controller, redfish+" in named.stdout  # named: the controller is in
    assert "  stages: bmc -> media -> boot-override -> power-on -> media-boot -> write" in named.stdout
    assert "virtual CD http://10.99.0.1:8080/media/node2.iso" in named.stdout
    assert lab.requests == [] and not (tmp_path / ".anyrack").exists()


def test_a_powered_on_node_is_refused_without_force(three, tmp_path: Path) -> None:  # noqa: ANN001
    lab, entries = three
    site = _site(tmp_path, entries)
    lab.requests.clear()
    done = _deploy_cli(site, entries[0].password, "--limit", "role:compute", "--callback", "127.0.0.1:0")
    assert done.returncode == 1, done.stdout + done.stderr
    for node in ("node2", "node3"):
        assert f"{node}: FAILED at bmc: the node is powered on: refused" in done.stdout
    assert "node1" not in done.stdout
    assert lab.writes() == []  # it read the power state and changed nothing
    hosts = {h for h, _m, _p in lab.requests}
    assert hosts == {f"{e.host}:{e.port}" for e in entries[1:]}  # the controller's BMC was never asked


def test_root_device_hints_show_in_the_plan_and_an_empty_one_is_bad_input(
        three, tmp_path: Path) -> None:  # noqa: ANN001
    lab, entries = three
    site = _site(tmp_path, entries)
    doc = yaml.safe_load(site.read_text())
    doc["skus"]["s"]["root_device"] = {"model": "M.2 boot", "size_gb": 480}
    doc["nodes"][2]["root_device"] = {"serial": "S6EWNA0T123456"}
    site.write_text(yaml.safe_dump(doc))
    lab.requests.clear()
    shown = _deploy_cli(site, entries[0].password, "--limit", "role:compute", "--plan")
    assert shown.returncode == 0, shown.stderr
    assert "  disk: root_device (sku s): model=M.2 boot, size_gb=480" in shown.stdout
    assert "  disk: root_device (node): serial=S6EWNA0T123456" in shown.stdout
    doc["nodes"][1]["root_device"] = {}
    site.write_text(yaml.safe_dump(doc))
    empty = _deploy_cli(site, entries[0].password, "--limit", "node2", "--plan")
    assert empty.returncode == 2 and "root_device" in empty.stderr and "give at least one of serial" in empty.stderr
    assert lab.requests == []


def test_a_root_device_hint_is_checked_against_the_discovered_disks_before_any_power_action(
        three, tmp_path: Path) -> None:  # noqa: ANN001
    """The recorded iDRAC 9 tree has three identical 1.92 TB NVMe drives: a hint by model matches all three
    (refused, naming them), one by serial matches one (shown in the plan)."""
    lab, entries = three
    site = _site(tmp_path, entries)
    env = {**os.environ, "T_BMC_PASSWORD": entries[0].password}
    found = subprocess.run([sys.executable, "-m", "anyrack.cli.main", "discover", str(site)], text=True,
                           capture_output=True, env=env, timeout=120)
    assert found.returncode == 0, found.stderr
    facts = json.loads((tmp_path / "facts" / "node2.json").read_text())
    assert [d["serial"] for d in facts["disks"]] == ["61P0A06CTCD8", "61M0A08ZTCD8", "61X0A002TCD8"]
    doc = yaml.safe_load(site.read_text())
    doc["nodes"][1]["root_device"] = {"model": "Dell Ent NVMe CM6 RI 1.92TB"}
    doc["nodes"][2]["root_device"] = {"serial": "61M0A08ZTCD8"}
    site.write_text(yaml.safe_dump(doc))
    lab.requests.clear()

    planned = _deploy_cli(site, entries[0].password, "--limit", "node2,node3", "--plan")
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert "  disk check (several, REFUSED): root_device {model=Dell Ent NVMe CM6 RI 1.92TB} matches 3 of 3 " \
           "discovered disks: drive Disk.Bay.2:Enclosure.Internal.0-1 (1788 GiB, solid-state" in planned.stdout
    assert "  disk check (one): root_device {serial=61M0A08ZTCD8} matches 1 of 3 discovered disks: " \
           "drive Disk.Bay.1:Enclosure.Internal.0-1 (1788 GiB" in planned.stdout
    refusal = planned.stderr.splitlines()[-1]
    assert "node2: root_device {model=Dell Ent NVMe CM6 RI 1.92TB} matches 3 of 3" in refusal
    assert all(s in refusal for s in ("61P0A06CTCD8", "61M0A08ZTCD8", "61X0A002TCD8")) and "node3" not in refusal
    one = _deploy_cli(site, entries[0].password, "--limit", "node3", "--plan", "--json", "--facts",
                      str(tmp_path / "facts"))
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["nodes"][0]["disk_check"]["matched"] == ["Disk.Bay.1:Enclosure.Internal.0-1"]
    run = _deploy_cli(site, entries[0].password, "--limit", "node2", "--force", "--yes", "--callback",
                      "127.0.0.1:0")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "node2: root_device {model=Dell Ent NVMe CM6 RI 1.92TB} matches 3 of 3" in run.stderr
    assert lab.requests == [] and not (tmp_path / ".anyrack").exists()  # not a request: no power action
