"""The planner: layout, sizing, addressing, facts, refusals located at the site key to change, lint."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from anyrack.errors import InvalidInput
from anyrack.fabric import lint, load_plan, plan
from anyrack.fabric.addressing import plan_addresses
from anyrack.fabric.lint import rdma_mtu
from anyrack.fabric.plan import PlanRefused
from anyrack.fabric.sizing import SizingError, size_fabric
from anyrack.facts import load_facts_dir

from .conftest import HGX, HGX_FACTS, SMALL, build_site, generated_site, site_data, with_fabric


def test_small_plan_layout() -> None:
    _, p, _ = load_plan(SMALL)
    assert [u.name for u in p.units] == ["su01", "su02"]
    assert [u.nodes for u in p.units] == [("gpu1", "gpu2"), ("gpu3", "gpu4")]
    assert [s.name for s in p.switches if s.role != "access"] == [
        "spine01", "spine02", "leaf-su01-r0", "leaf-su01-r1", "leaf-su02-r0", "leaf-su02-r1"]
    gpu3 = p.nodes[2]
    assert [(n.interface, n.leaf, n.leaf_interface, n.address, n.gateway, n.table) for n in gpu3.nics] == [
        ("rail0", "leaf-su02-r0", "swp1", "100.64.0.5", "100.64.0.4", 100),
        ("rail1", "leaf-su02-r1", "swp1", "100.64.64.5", "100.64.64.4", 101),
    ]
    assert {s.name: s.asn for s in p.switches if s.asn} == {
        "spine01": 4200000000, "spine02": 4200000000, "leaf-su01-r0": 4200000100, "leaf-su01-r1": 4200000101,
        "leaf-su02-r0": 4200000102, "leaf-su02-r1": 4200000103}
    assert [(u.leaf, u.leaf_interface, u.spine, u.spine_interface) for u in p.uplinks_of["leaf-su02-r1"]] == [
        ("leaf-su02-r1", "swp3", "spine01", "swp4"), ("leaf-su02-r1", "swp4", "spine02", "swp4")]
    assert p.lossless is not None and p.lossless.traffic_class == 104
    assert p.outside == ()


def test_hgx_with_facts_matches_rail_nics_by_mac() -> None:
    site, p, warnings = load_plan(HGX, HGX_FACTS)
    assert warnings == []
    by_name = {n.name: n for n in p.nodes}
    assert [n.mac for n in by_name["gpu001"].nics][:2] == ["0c:42:a1:00:00:00", "0c:42:a1:00:00:01"]
    assert all(n.mac is None and n.device is None for n in by_name["gpu007"].nics)  # IPMI: no NICs reported
    assert (p.sizing.spines, p.sizing.links_per_pair, p.sizing.spine_groups) == (4, 8, 1)
    assert not [f for f in lint(p, site) if f.level == "error"]


def test_host_devices_name_rails_when_facts_have_no_macs() -> None:
    names = [f"ens{i}np0" for i in range(8)]
    p = plan(build_site(with_fabric(site_data(), host_devices=names, hca_names=[f"mlx{i}" for i in range(8)])))
    assert [n.device for n in p.nodes[0].nics] == names
    assert [n.hca for n in p.nodes[0].nics][:2] == ["mlx0", "mlx1"]


def test_two_nics_per_rail_get_two_ports_and_tables() -> None:
    p = plan(build_site(generated_site(3, rails=2, per_rail=2, nodes_per_unit=4, leaf_ports=16)))
    nics = p.nodes[1].nics
    assert [(n.interface, n.leaf_port, n.table) for n in nics] == [
        ("rail0n0", 3, 100), ("rail0n1", 4, 101), ("rail1n0", 3, 102), ("rail1n1", 4, 103)]


def test_growing_a_site_renumbers_nothing() -> None:
    small = plan(build_site(generated_site(40, rails=4, nodes_per_unit=16)))
    big = plan(build_site(generated_site(70, rails=4, nodes_per_unit=16, spines=16)))
    assert len(big.units) > len(small.units)
    for a, b in zip(small.nodes, big.nodes, strict=False):
        assert a.nics == b.nics
    leaves = {s.name: s.loopback for s in big.switches if s.role == "leaf"}
    assert all(leaves[s.name] == s.loopback for s in small.switches if s.role == "leaf")


def test_sizing_spine_groups_for_many_units() -> None:
    s = size_fabric(units=39, rails=8, host_ports=32, leaf_ports=64, spine_ports=64, oversubscription=1.0)
    # 39 leaves × 32 uplinks per group = 1,248 ports: 20 spines of 64 (was 32 spines at one link each)
    assert (s.rails_per_group, s.spine_groups, s.spines_per_group, s.links_per_pair, s.extra_links) == (1, 8, 20, 1, 12)
    assert s.spines == 160 and s.uplinks == 32 and s.spine_ports_used == 63 <= 64
    loads = [sum(s.links(leaf, spine) for leaf in range(39)) for spine in range(20)]
    assert sum(loads) == 39 * 32 and max(loads) - min(loads) <= 1
    assert all(sum(s.links(leaf, spine) for spine in range(20)) == 32 for leaf in range(39))
    s = size_fabric(units=4, rails=8, host_ports=32, leaf_ports=64, spine_ports=64, oversubscription=2.0)
    assert (s.uplinks, s.oversubscription, s.spine_groups) == (16, 2.0, 1)


@pytest.mark.parametrize(("kwargs", "key", "words"), [
    ({"host_ports": 48, "oversubscription": 1.0}, "leaf_ports", "48 host ports + 48 uplinks"),
    ({"units": 65}, "spine_ports", "third switch tier"),
    ({"spines": 3}, "spines", "a multiple of"),
    ({"spines": 64}, "spines", "use fewer spines"),
])
def test_sizing_refusals(kwargs: dict, key: str, words: str) -> None:
    args = {"units": 2, "rails": 8, "host_ports": 32, "leaf_ports": 64, "spine_ports": 64, "oversubscription": 1.0}
    if key == "spines" and "multiple" in words:
        args.update(units=40)
    with pytest.raises(SizingError) as err:
        size_fabric(**{**args, **kwargs})
    assert err.value.loc[-1] == key and words in str(err.value)


def test_addressing_refusals() -> None:
    with pytest.raises(SizingError, match="address space exhausted: each of 8 rails"):
        plan_addresses("100.64.0.0/24", rails=8, units=2, links_per_leaf=32, leaves=16, spines=8)
    with pytest.raises(SizingError, match="loopbacks need"):
        plan_addresses("100.64.0.0/16", rails=2, units=1, links_per_leaf=2, leaves=2, spines=9,
                       loopback_cidr="10.9.0.0/28")
    with pytest.raises(SizingError, match="overlaps networks.fabric.cidr"):
        plan_addresses("100.64.0.0/16", rails=2, units=1, links_per_leaf=2, leaves=2, spines=2,
                       loopback_cidr="100.64.9.0/24")
    with pytest.raises(SizingError, match="IPv6"):
        plan_addresses("fd00::/48", rails=2, units=1, links_per_leaf=2, leaves=2, spines=2)


def _refusal(tmp_path: Path, data: dict, facts: Path | None = None) -> str:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(InvalidInput) as err:
        load_plan(path, facts)
    return str(err.value).replace(str(path), "site.yaml")


def test_refusals_cite_file_line_and_key(tmp_path: Path) -> None:
    text = _refusal(tmp_path, with_fabric(site_data(), leaf_ports=48))
    assert text.startswith("site.yaml:") and ": networks.fabric.leaf_ports: a leaf needs 32 host ports + 32 " \
                                                "uplinks = 64 ports" in text
    text = _refusal(tmp_path, with_fabric(site_data(), cidr="100.64.0.0/24"))
    assert "networks.fabric.cidr: address space exhausted" in text
    text = _refusal(tmp_path, with_fabric(site_data(), loopback_cidr="10.30.0.0/27"))
    assert "networks.fabric.loopback_cidr: 10.30.0.0/27 overlaps networks.management" in text
    text = _refusal(tmp_path, with_fabric(site_data(), host_devices=["a", "b"]))
    assert "networks.fabric.host_devices: lists 2 names; the fabric needs 8" in text


def test_a_node_with_fewer_nics_than_rails_is_refused(tmp_path: Path) -> None:
    facts = tmp_path / "facts"
    facts.mkdir()
    for src in HGX_FACTS.iterdir():
        (facts / src.name).write_text(src.read_text())
    gpu3 = facts / "gpu003.json"
    gpu3.write_text(gpu3.read_text().replace('"speed_mbps": 400000', '"speed_mbps": 200000', 2))
    text = _refusal(tmp_path, site_data(), facts)
    lines = text.splitlines()
    assert len(lines) == 1 and ": nodes[4]: node 'gpu003' has 6 NICs at 400 Gb/s in its facts but the fabric " \
                               "needs 8 (8 rails)" in lines[0]
    site = build_site(site_data())
    _, problems = load_facts_dir(facts, {n.name for n in site.nodes})
    assert problems == []


def test_plan_refuses_sites_the_checks_would_refuse() -> None:
    """plan() is also safe on a Site built without load_site's checks."""
    data = site_data()
    data["skus"]["hgx-h100-8"]["rdma"]["rails"] = 4
    from anyrack.site.model import Site
    with pytest.raises(PlanRefused, match=r"has 4 rail NICs .* but the fabric has 8 rails"):
        plan(Site.model_validate(data))
    data = site_data()
    del data["networks"]["fabric"]
    del data["skus"]["hgx-h100-8"]["rdma"]
    with pytest.raises(PlanRefused, match="no networks.fabric"):
        plan(Site.model_validate(data))


def test_infiniband_partitions(tmp_path: Path) -> None:
    data = with_fabric(site_data(), type="infiniband", ib_pkeys={"gpu": 0x101, "debug": 0x102})
    del data["networks"]["fabric"]["cidr"]
    p = plan(build_site(data))
    assert p.addressing is None and p.lossless is None
    assert [(x.name, x.pkey, len(x.nodes)) for x in p.partitions] == [("Default", 0x7FFF, 0), ("gpu", 0x101, 8),
                                                                      ("debug", 0x102, 2)]
    assert all(s.asn is None and s.loopback is None for s in p.switches)
    text = _refusal(tmp_path, with_fabric(data, ib_pkeys={"nope": 5}))
    assert "networks.fabric.ib_pkeys.nope: 'nope' is not a Slurm partition" in text


def test_model_refuses_inconsistent_lossless_settings(tmp_path: Path) -> None:
    text = _refusal(tmp_path, with_fabric(site_data(), roce_cnp_dscp=26))
    assert "networks.fabric: RoCE data and CNP traffic need different DSCP values" in text


def test_lint_reports_budget_partial_units_mtu_and_outsiders() -> None:
    data = with_fabric(site_data(), mtu=4096)
    data["skus"]["plain"] = {"cpu": "x", "memory_gib": 1}
    data["nodes"].append({"name": "cpu001", "rack": "r01", "u": 40, "sku": "plain", "role": "compute",
                          "bmc": "ipmi://10.10.0.99", "addresses": {"management": "10.30.0.99"}})
    site = build_site(data)
    found = [str(f) for f in lint(plan(site), site)]
    assert "warning: ports: su01 has 8 of 32 nodes (24 host ports free on each of its leaves)" in found
    assert "warning: mtu: mtu 4096 leaves RoCE an RDMA MTU of 2048; use at least 4192 (4200 is usual) for 4096" \
        in found
    assert any(f.startswith("warning: nodes: 1 compute node(s) have no rails") and "cpu001" in f for f in found)
    assert not any(f.startswith("error") for f in found)
    assert rdma_mtu(1500) == 1024


def test_nvlink_domains_follow_racks() -> None:
    p = plan(build_site(generated_site(50, rails=2, nvlink_domain_nodes=18)))
    assert [len(d) for d in p.nvlink_domains] == [18, 18, 4, 10]


def test_sizing_past_2048_nodes_with_breakout_spines() -> None:
    """79 units (2,500 nodes) need 79 ports per spine: 64 × 800G spines broken out to 128 × 400G take them."""
    with pytest.raises(SizingError) as err:
        size_fabric(units=79, rails=8, host_ports=32, leaf_ports=64, spine_ports=64, oversubscription=1.0)
    assert err.value.loc[-1] == "spine_ports" and "third switch tier" in str(err.value)
    s = size_fabric(units=79, rails=8, host_ports=32, leaf_ports=64, spine_ports=128, oversubscription=1.0)
    assert (s.spine_groups, s.spines_per_group, s.links_per_pair, s.extra_links) == (8, 20, 1, 12)
    assert s.spines == 160 and s.spine_ports_used == 127 <= 128 and s.uplinks == 32
    assert s.spines <= 1.1 * math.ceil(79 * 8 * 32 / 128)
