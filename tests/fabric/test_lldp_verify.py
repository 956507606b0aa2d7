"""``anyrack fabric verify --lldp`` on the FRR tier's fabric with real lldpd in every switch and host namespace.

The namespaces and veths are the FRR tier's (``NetnsLab.build``; no FRR is started: LLDP needs only the
links). One lldpd per namespace (its own control socket, system name = the planned device name, port ID
= interface name, 1 s transmit interval) announces on the device's cabled interfaces; ``lldpcli -f json
show neighbors`` of each is the verify input. Once cabled as planned (nothing reported), once with two
spine uplinks swapped on purpose (exactly those two reported, with the swap that fixes them).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from anyrack.cli.main import main
from anyrack.fabric import load_plan
from anyrack.fabric.model import FabricPlan
from anyrack.fabric.render import render
from anyrack.fabric.verify import read_lldp_dir, verify

from .conftest import SITE, NetnsLab, missing_tools, run, wait_for

pytestmark = pytest.mark.fabric


def _lldpd_lab(plan: FabricPlan, labs: list[NetnsLab]) -> NetnsLab:
    """Namespaces and veths for ``plan``, an lldpd in each; returns once every cabled port has a neighbour."""
    lab = NetnsLab(plan)
    labs.append(lab)
    lab.build()
    ports: dict[str, list[str]] = {}
    for up in plan.uplinks:
        ports.setdefault(up.leaf, []).append(up.leaf_interface)
        ports.setdefault(up.spine, []).append(up.spine_interface)
    for node in plan.nodes:
        for nic in node.nics:
            ports.setdefault(nic.leaf, []).append(nic.leaf_interface)
            ports.setdefault(node.name, []).append(nic.interface)
    for device, ifaces in ports.items():
        home = lab.work / f"lldp-{device}"
        home.mkdir()
        (home / "lldpd.conf").write_text(f"configure system hostname {device}\nconfigure lldp portidsubtype ifname\n"
                                         "configure lldp tx-interval 1\n")
        with open(home / "lldpd.out", "w") as out:
            lab.daemons.append(subprocess.Popen(
                ["ip", "netns", "exec", lab.ns(device), "lldpd", "-d", "-u", str(home / "ctl"), "-O",
                 str(home / "lldpd.conf"), "-I", ",".join(ifaces)], stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True))
    wait_for(lambda: all(len(_neighbours(lab, d)) == len(i) for d, i in ports.items()), 20,
             "lldpd: not every cabled port sees a neighbour")
    return lab


def _neighbours(lab: NetnsLab, device: str) -> dict:
    home = lab.work / f"lldp-{device}"
    if not (home / "ctl").exists():
        return {}
    out = subprocess.run(["ip", "netns", "exec", lab.ns(device), "lldpcli", "-u", str(home / "ctl"), "-f", "json",
                          "show", "neighbors"], capture_output=True, text=True, timeout=10)
    if out.returncode != 0 or not out.stdout.strip():
        return {}
    interfaces = (json.loads(out.stdout).get("lldp") or {}).get("interface") or []
    return interfaces if isinstance(interfaces, dict) else {k: v for e in interfaces for k, v in e.items()}


def _dump(lab: NetnsLab, into: Path) -> Path:
    into.mkdir()
    for device in sorted({*(u.leaf for u in lab.plan.uplinks), *(u.spine for u in lab.plan.uplinks),
                          *(n.name for n in lab.plan.nodes)}):
        home = lab.work / f"lldp-{device}"
        (into / f"{device}.json").write_text(run("ip", "netns", "exec", lab.ns(device), "lldpcli", "-u",
                                                 str(home / "ctl"), "-f", "json", "show", "neighbors"))
    return into


@pytest.fixture(scope="module")
def plan() -> FabricPlan:
    return load_plan(SITE)[1]


@pytest.fixture(scope="module")
def labs() -> Iterator[list[NetnsLab]]:
    reason = missing_tools() or (None if shutil.which("lldpd") and shutil.which("lldpcli") else
                                 "lldpd missing (Debian package lldpd)")
    if reason:
        pytest.skip(reason)
    made: list[NetnsLab] = []
    try:
        yield made
    finally:
        left = [ns for lab in made for ns in lab.close()]
        assert left == [], f"network namespaces left behind: {left}"


def _swap_uplinks(plan: FabricPlan) -> FabricPlan:
    """leaf-su01-r0's two uplinks cabled to each other's spine port: two cables swapped on purpose."""
    links = list(plan.uplinks)
    i, j = [k for k, u in enumerate(links) if u.leaf == "leaf-su01-r0"][:2]
    a, b = links[i], links[j]
    links[i] = dataclasses.replace(a, spine=b.spine, spine_port=b.spine_port, spine_interface=b.spine_interface)
    links[j] = dataclasses.replace(b, spine=a.spine, spine_port=a.spine_port, spine_interface=a.spine_interface)
    return dataclasses.replace(plan, uplinks=tuple(links))


def test_verify_lldp_finds_nothing_on_the_fabric_as_planned(labs: list[NetnsLab], plan: FabricPlan,
                                                           tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lab = _lldpd_lab(plan, labs)
    seen = _dump(lab, tmp_path / "lldp")
    report = verify(lab.files["cabling.csv"], lab.files["plan.json"], lldp=read_lldp_dir(seen))
    assert report.miswires == []
    assert report.checked == len(plan.uplinks) + sum(len(n.nics) for n in plan.nodes) == 16
    (tmp_path / "plan").mkdir()
    for name in ("cabling.csv", "plan.json"):
        (tmp_path / "plan" / name).write_text(lab.files[name])
    assert main(["fabric", "verify", str(tmp_path / "plan"), "--lldp", str(seen)]) == 0
    assert capsys.readouterr().out.strip() == "16 cables checked, 0 miswired"


def test_verify_lldp_finds_exactly_the_two_swapped_cables(labs: list[NetnsLab], plan: FabricPlan,
                                                          tmp_path: Path) -> None:
    lab = _lldpd_lab(_swap_uplinks(plan), labs)
    seen = _dump(lab, tmp_path / "lldp")
    files = render(plan)  # the planned cabling, which the lab does not have
    report = verify(files["cabling.csv"], files["plan.json"], lldp=read_lldp_dir(seen))
    first, second = [u for u in plan.uplinks if u.leaf == "leaf-su01-r0"][:2]
    assert [(m.expected, m.seen) for m in report.miswires] == [
        (f"leaf-su01-r0 {first.leaf_interface} — {first.spine} {first.spine_interface}",
         f"leaf-su01-r0 {first.leaf_interface} — {second.spine} {second.spine_interface}"),
        (f"leaf-su01-r0 {second.leaf_interface} — {second.spine} {second.spine_interface}",
         f"leaf-su01-r0 {second.leaf_interface} — {first.spine} {first.spine_interface}"),
    ]
    assert {m.fix for m in report.miswires} == {
        f"swap the plugs in leaf-su01-r0 {first.leaf_interface} and leaf-su01-r0 {second.leaf_interface} "
        f"(cables {report.miswires[0].cable} and {report.miswires[1].cable})"}
