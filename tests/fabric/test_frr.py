"""The generated fabric routes for real: FRR 8.4 in network namespaces, built from one plan.

Plan: 2 spines, 2 units × 2 rails = 4 leaves, 4 hosts with 2 rail NICs each (tests/fabric/site.yaml).
Switches run the generated frr.conf; hosts' rails are configured from the generated .network files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from anyrack.fabric import load_plan
from anyrack.fabric.plan import FabricPlan
from anyrack.fabric.render import render

from .conftest import ROOT, SITE, NetnsLab, run, wait_for

pytestmark = pytest.mark.fabric

CONVERGE_S = 30


@pytest.fixture(scope="module")
def plan() -> FabricPlan:
    return load_plan(SITE)[1]


@pytest.fixture(scope="module")
def lab(netns_lab, plan: FabricPlan) -> NetnsLab:
    lab = netns_lab(plan)
    wait_for(lambda: not _not_established(lab), CONVERGE_S, "BGP sessions not Established")
    return lab


def _sessions(lab: NetnsLab, switch: str) -> dict[str, str]:
    summary = lab.vtysh_json(switch, "show bgp ipv4 unicast summary json")
    return {peer: data.get("state", "?") for peer, data in summary.get("peers", {}).items()}


def _not_established(lab: NetnsLab) -> dict[str, dict[str, str]]:
    bad = {}
    for name, links in lab.plan.uplinks_of.items():
        wanted = {link.leaf_interface if link.leaf == name else link.spine_interface for link in links}
        states = _sessions(lab, name)
        if set(states) != wanted or any(s != "Established" for s in states.values()):
            bad[name] = states
    return bad


def _other_unit_blocks(plan: FabricPlan, leaf: str) -> list[str]:
    unit = plan.by_name[leaf].unit
    return [plan.leaf_block(s) or "" for s in plan.switches if s.role == "leaf" and s.unit != unit]


def _kernel_paths(lab: NetnsLab, switch: str, prefix: str) -> set[str]:
    routes = json.loads(run("ip", "-j", "-n", lab.ns(switch), "route", "show", prefix) or "[]")
    paths = set()
    for route in routes:
        hops = route.get("nexthops") or [route]
        paths |= {hop["dev"] for hop in hops if "dev" in hop}
    return paths


def _frr_paths(lab: NetnsLab, switch: str, prefix: str) -> set[str]:
    entries = lab.vtysh_json(switch, f"show ip route {prefix} json").get(prefix, [])
    return {hop["interfaceName"] for e in entries if e.get("selected") for hop in e.get("nexthops", [])
            if hop.get("active") and "interfaceName" in hop}


def _uplink_ifs(plan: FabricPlan, leaf: str) -> set[str]:
    return {link.leaf_interface for link in plan.uplinks_of[leaf]}


def test_every_switch_config_passes_vtysh_dry_run(plan: FabricPlan, tmp_path: Path) -> None:
    if shutil.which("vtysh") is None:
        pytest.skip("vtysh is not installed (Debian package 'frr')")
    hgx = load_plan(ROOT / "inventory/examples/hgx-rack/site.yaml")[1]
    configs = {f"{p.site}/{k}": v for p in (plan, hgx) for k, v in render(p).items() if k.endswith("frr.conf")}
    assert len(configs) == 6 + 12
    for name, text in configs.items():
        path = tmp_path / name.replace("/", "_")
        path.write_text(text)
        done = subprocess.run(["vtysh", "-C", "-f", str(path)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"
    bad = tmp_path / "bad.conf"
    bad.write_text(configs["frr-lab/switches/spine01/frr.conf"].replace("maximum-paths 64", "maximum-paths lots"))
    assert subprocess.run(["vtysh", "-C", "-f", str(bad)], capture_output=True).returncode == 2


def test_every_bgp_session_is_established(lab: NetnsLab) -> None:
    assert _not_established(lab) == {}
    assert sum(len(_sessions(lab, s.name)) for s in lab.plan.switches if s.role == "spine") == 8


def test_each_leaf_has_ecmp_to_the_other_unit_via_both_spines(lab: NetnsLab) -> None:
    for leaf in (s.name for s in lab.plan.switches if s.role == "leaf"):
        uplinks = _uplink_ifs(lab.plan, leaf)
        assert len(uplinks) == 2
        for block in _other_unit_blocks(lab.plan, leaf):
            wait_for(lambda b=block, lf=leaf, u=uplinks: _frr_paths(lab, lf, b) == u, 10, f"{leaf}: {block} not ECMP")
            assert _kernel_paths(lab, leaf, block) == uplinks, f"{leaf}: kernel route to {block}"


def _ping(lab: NetnsLab, pairs: list[tuple[str, str, str]]) -> list[str]:
    """Ping each (host, source address, destination) at once; return the failures."""
    procs = [(pair, subprocess.Popen(["ip", "netns", "exec", lab.ns(pair[0]), "ping", "-c", "1", "-W", "2", "-I",
                                      pair[1], pair[2]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
             for pair in pairs]
    return [f"{host} {src} -> {dst}" for (host, src, dst), proc in procs if proc.wait(timeout=10) != 0]


def _same_rail_pairs(plan: FabricPlan) -> list[tuple[str, str, str]]:
    pairs = []
    for a in plan.nodes:
        for b in plan.nodes:
            if a.unit != b.unit:
                pairs += [(a.name, na.address or "", nb.address or "") for na, nb in zip(a.nics, b.nics, strict=True)]
    return pairs


def test_every_rail_nic_pings_the_same_rail_on_the_other_unit(lab: NetnsLab) -> None:
    pairs = _same_rail_pairs(lab.plan)
    assert len(pairs) == 4 * 2 * 2  # 4 hosts × 2 hosts in the other unit × 2 rails
    assert _ping(lab, pairs) == []


def test_traffic_leaves_by_the_nic_it_came_for(lab: NetnsLab) -> None:
    """From rail 1's address, even a rail-0 destination is routed out of rail1 (its own table)."""
    node, other = lab.plan.nodes[0], lab.plan.nodes[-1]
    rail0, rail1 = node.nics
    target = other.nics[0].address or ""
    out = run("ip", "-n", lab.ns(node.name), "route", "get", target, "from", rail1.address or "")
    assert f"dev {rail1.interface}" in out and f"via {rail1.gateway}" in out
    assert _ping(lab, [(node.name, rail1.address or "", target)]) == []
    assert f"dev {rail0.interface}" in run("ip", "-n", lab.ns(node.name), "route", "get", target, "from",
                                            rail0.address or "")


def _leaves_without_ecmp(lab: NetnsLab) -> dict[tuple[str, str], set[str]]:
    plan = lab.plan
    out = {}
    for leaf in (s.name for s in plan.switches if s.role == "leaf"):
        for block in _other_unit_blocks(plan, leaf):
            paths = _kernel_paths(lab, leaf, block)
            if paths != _uplink_ifs(plan, leaf):
                out[(leaf, block)] = paths
    return out


@pytest.mark.parametrize("side", ["spine", "leaf"])
def test_ecmp_comes_back_after_a_link_flap(lab: NetnsLab, side: str) -> None:
    """A flap seen from the spine side is the one that left FRR 8.4's kernel nexthop group with one path."""
    plan = lab.plan
    leaf = plan.units[0].leaves[0]
    link = plan.uplinks_of[leaf][0]
    switch, interface = (link.spine, link.spine_interface) if side == "spine" else (leaf, link.leaf_interface)
    block = plan.leaf_block(plan.by_name[plan.units[1].leaves[0]]) or ""
    run("ip", "-n", lab.ns(switch), "link", "set", interface, "down")
    try:
        wait_for(lambda: _kernel_paths(lab, leaf, block) == _uplink_ifs(plan, leaf) - {link.leaf_interface}, 15,
                 f"{leaf}: {block} still uses {link.leaf_interface} after the link went down")
    finally:
        run("ip", "-n", lab.ns(switch), "link", "set", interface, "up")
    wait_for(lambda: not _not_established(lab), CONVERGE_S, "sessions not back after the flap")
    wait_for(lambda: not _leaves_without_ecmp(lab), 15, "kernel ECMP not back after the flap")
    assert _frr_paths(lab, leaf, block) == _uplink_ifs(plan, leaf)
    assert _ping(lab, _same_rail_pairs(plan)) == []
