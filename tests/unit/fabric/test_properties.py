"""Properties of the planner over random valid sites (hypothesis): no address used twice, every NIC
cabled exactly once, every rail reachable, ports within budget, determinism; refusals only for
the documented reasons.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter, defaultdict

import pytest

from anyrack.fabric import lint, plan, render
from anyrack.fabric.model import FabricPlan
from anyrack.fabric.plan import PlanRefused

from .conftest import build_site, generated_site

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed (dev dependency)")
st = hypothesis.strategies
given, settings = hypothesis.given, hypothesis.settings

sizes = st.fixed_dictionaries({
    "nodes": st.integers(1, 120),
    "rails": st.integers(1, 8),
    "per_rail": st.integers(1, 2),
    "nodes_per_unit": st.integers(1, 32),
    "spine_ports": st.sampled_from([16, 32, 64, 128]),
    "oversubscription": st.sampled_from([1.0, 1.5, 2.0, 3.0]),
    "type": st.sampled_from(["roce", "roce", "infiniband"]),
})


def _site(s: dict, leaf_ports: int | None = None):
    host = s["nodes_per_unit"] * s["per_rail"]
    fabric = {"nodes_per_unit": s["nodes_per_unit"], "spine_ports": s["spine_ports"],
              "oversubscription": s["oversubscription"],
              "leaf_ports": leaf_ports or host + math.ceil(host / s["oversubscription"]) + 2}
    data = generated_site(s["nodes"], s["rails"], s["per_rail"], **fabric)
    if s["type"] == "infiniband":
        data["networks"]["fabric"].update(type="infiniband")
        del data["networks"]["fabric"]["cidr"]
    return build_site(data)


def _plan_or_refusal(s: dict) -> FabricPlan | None:
    try:
        return plan(_site(s))
    except PlanRefused as err:
        units = math.ceil(s["nodes"] / s["nodes_per_unit"])
        assert units > s["spine_ports"] and err.findings[0][0][-1] == "spine_ports", err  # the only expected one
        return None


@settings(max_examples=60, deadline=None, database=None)
@given(sizes)
def test_no_address_is_used_twice(s: dict) -> None:
    p = _plan_or_refusal(s)
    if p is None or p.addressing is None:
        return
    used = [nic.address for n in p.nodes for nic in n.nics] + [nic.gateway for n in p.nodes for nic in n.nics]
    used += [sw.loopback for sw in p.switches if sw.loopback]
    assert len(used) == len(set(used))
    fabric = ipaddress.ip_network(p.addressing.cidr)
    assert all(ipaddress.ip_address(a) in fabric for a in used)
    for n in p.nodes:  # each /31 pairs a leaf and its host
        for nic in n.nics:
            assert int(ipaddress.ip_address(nic.address)) ^ 1 == int(ipaddress.ip_address(nic.gateway))
            assert ipaddress.ip_address(nic.address) in ipaddress.ip_network(p.addressing.rail_blocks[nic.rail])
    assert not [f for f in lint(p, _site(s)) if f.level == "error"]


@settings(max_examples=60, deadline=None, database=None)
@given(sizes)
def test_every_nic_is_cabled_exactly_once_within_port_budgets(s: dict) -> None:
    p = _plan_or_refusal(s)
    if p is None:
        return
    nics = [(nic.node, nic.interface) for n in p.nodes for nic in n.nics]
    assert len(nics) == len(set(nics)) == s["nodes"] * s["rails"] * s["per_rail"]
    ports = Counter((nic.leaf, nic.leaf_port) for n in p.nodes for nic in n.nics)
    ports.update((u.leaf, u.leaf_port) for u in p.uplinks)
    ports.update((u.spine, u.spine_port) for u in p.uplinks)
    assert max(ports.values()) == 1
    size = {sw.name: sw.ports for sw in p.switches}
    assert all(1 <= port <= size[switch] for switch, port in ports)
    assert p.sizing.oversubscription <= s["oversubscription"] + 1e-9
    for n in p.nodes:
        assert {nic.leaf for nic in n.nics} == set(p.units[n.unit].leaves)  # NIC r goes to its unit's rail-r leaf
        assert all(p.by_name[nic.leaf].rail == nic.rail for nic in n.nics)


@settings(max_examples=60, deadline=None, database=None)
@given(sizes)
def test_every_rail_is_reachable(s: dict) -> None:
    """Over the cables alone, each rail NIC reaches the same rail's NIC on every other node."""
    p = _plan_or_refusal(s)
    if p is None:
        return
    graph: dict[str, set[str]] = defaultdict(set)
    for u in p.uplinks:
        graph[u.leaf].add(u.spine)
        graph[u.spine].add(u.leaf)
    for n in p.nodes:
        for nic in n.nics:
            graph[f"{n.name}/{nic.interface}"].add(nic.leaf)
            graph[nic.leaf].add(f"{n.name}/{nic.interface}")
    for rail in range(p.rails):
        members = {f"{n.name}/{nic.interface}" for n in p.nodes for nic in n.nics if nic.rail == rail}
        start = next(iter(members))
        seen, todo = {start}, [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        assert members <= seen
    for leaf in (sw for sw in p.switches if sw.role == "leaf"):  # every leaf has all its group's spines
        assert len({u.spine for u in p.uplinks_of[leaf.name]}) == p.sizing.spines_per_group


@settings(max_examples=15, deadline=None, database=None)
@given(sizes)
def test_plan_and_render_are_deterministic(s: dict) -> None:
    p = _plan_or_refusal(s)
    if p is None:
        return
    again = plan(_site(s))
    assert again == p
    assert render(again) == render(p)


@settings(max_examples=40, deadline=None, database=None)
@given(sizes, st.integers(1, 8))
def test_too_few_leaf_ports_is_refused_at_leaf_ports(s: dict, short: int) -> None:
    host = s["nodes_per_unit"] * s["per_rail"]
    needed = host + math.ceil(host / s["oversubscription"] - 1e-9)
    if needed - short < 2:
        return
    with pytest.raises(PlanRefused) as err:
        plan(_site(s, leaf_ports=needed - short))
    assert err.value.findings[0][0] == ("networks", "fabric", "leaf_ports")


@settings(max_examples=80, deadline=None, database=None)
@given(sizes)
def test_spine_count_is_near_the_port_count_minimum(s: dict) -> None:
    """The fewest spines whose ports hold every uplink, within 10 % (or, for tiny fabrics, the one spine per
    spine group that rounding each group up can add); no spine port over-subscribed."""
    p = _plan_or_refusal(s)
    if p is None:
        return
    z = p.sizing
    leaves = sum(1 for sw in p.switches if sw.role == "leaf")
    minimum = math.ceil(leaves * z.uplinks / z.spine_ports)
    assert z.spines <= max(minimum * 1.1, minimum + z.spine_groups - 1), (z, minimum)
    per_spine = Counter(u.spine for u in p.uplinks)
    assert max(per_spine.values()) <= z.spine_ports and len(per_spine) == z.spines
    assert max(per_spine.values()) - min(per_spine.values()) <= 1  # balanced within one port
    per_leaf = Counter(u.leaf for u in p.uplinks)
    assert set(per_leaf.values()) == {z.uplinks}
