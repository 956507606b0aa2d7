"""InfiniBand subnets: one per spine group, OpenSM configs, root GUIDs, partitions from facts, the ibsim
topology, the LID-space refusal and what ``fabric check`` says. The real sweep is in tests/fabric/test_ib.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from anyrack.cli import main as cli_main
from anyrack.fabric import ib, lint, load_plan, plan, render
from anyrack.fabric.model import PlanRefused
from anyrack.fabric.verify import parse_ibnetdiscover

from .conftest import ROOT, build_site, generated_site

IB_SITE = ROOT / "tests/fabric/ib-site.yaml"


def _facts(into: Path, nodes: list[str], rails: int = 2) -> Path:
    into.mkdir()
    for k, node in enumerate(nodes):
        nics = [{"name": f"ibp{r}s0", "port_guid": f"0x0002c903{k:02x}{r:02x}0001"} for r in range(rails)]
        (into / f"{node}.json").write_text(json.dumps({"schema": "anyrack.facts/v1", "node": node,
                                                        "collected_at": "2026-12-07T00:00:00Z", "nics": nics}))
    return into


def test_a_subnet_per_rail_plane_with_its_own_switches_and_ports(tmp_path: Path) -> None:
    _, planned, _ = load_plan(IB_SITE, _facts(tmp_path / "f", ["gpu1", "gpu2", "gpu3", "gpu4"]))
    nets = ib.subnets(planned)
    assert [(n.name, n.rails) for n in nets] == [("rail0", (0,)), ("rail1", (1,))]
    assert [w.name for w in nets[0].spines] == ["spine01", "spine02"]
    assert [w.name for w in nets[1].leaves] == ["leaf-su01-r1", "leaf-su02-r1"]
    assert [(p.node, p.hca, p.guid) for p in nets[1].ports][:2] == [("gpu1", "mlx5_1", "0x0002c90300010001"),
                                                                    ("gpu2", "mlx5_1", "0x0002c90301010001")]
    assert [(p.node, p.rail) for p in nets[0].managers] == [("gpu1", 0), ("gpu3", 0)]  # first node of each unit


def test_opensm_configs_root_guids_and_partitions(tmp_path: Path) -> None:
    _, planned, _ = load_plan(IB_SITE, _facts(tmp_path / "f", ["gpu1", "gpu2", "gpu3", "gpu4"]))
    files = render(planned)
    assert sorted(f for f in files if f.startswith("opensm/rail0/")) == [
        f"opensm/rail0/{n}" for n in ("ibsim.net", "partitions.conf", "primary.conf", "root_guids.conf",
                                      "standby.conf")]
    conf = {role: dict(line.split(" ", 1) for line in files[f"opensm/rail1/{role}.conf"].splitlines()
                       if line and not line.startswith("#")) for role in ("primary", "standby")}
    assert conf["primary"]["guid"] == "0x0002c90300010001" and conf["standby"]["guid"] == "0x0002c90302010001"
    assert (conf["primary"]["sm_priority"], conf["standby"]["sm_priority"]) == ("15", "14")
    assert conf["primary"]["routing_engine"] == "ftree"
    assert conf["primary"]["root_guid_file"] == "/etc/opensm/rail1/root_guids.conf"
    assert conf["primary"]["partition_config_file"] == "/etc/opensm/rail1/partitions.conf"
    roots = [line for line in files["opensm/rail1/root_guids.conf"].splitlines() if not line.startswith("#")]
    assert roots == ["0x0002c90300a00003", "0x0002c90300a00004"]  # spine03 and spine04 serve rail 1
    parts = files["opensm/rail0/partitions.conf"]
    assert "Default=0x7fff, ipoib, defmember=full : ALL, ALL_SWITCHES=full ;" in parts
    assert ("gpu=0x0101, ipoib, defmember=full : 0x0002c90300000001, 0x0002c90301000001, 0x0002c90302000001 ;"
            in parts)  # gpu[1-3], rail 0 ports only


def test_without_guids_the_files_say_what_is_missing() -> None:
    files = render(load_plan(IB_SITE)[1])
    assert "\n# gpu=0x0101" in files["opensm/rail0/partitions.conf"]
    primary = files["opensm/rail0/primary.conf"]
    assert "guid 0x0000000000000000" in primary and "facts give no port GUID for gpu1 mlx5_0" in primary
    data = yaml.safe_load(IB_SITE.read_text())
    del data["networks"]["fabric"]["ib_switch_guids"]
    files = render(plan(build_site(data)))
    assert "\nroot_guid_file" not in files["opensm/rail0/primary.conf"]
    assert "# spine01: GUID unknown" in files["opensm/rail0/root_guids.conf"]


def test_ibsim_topology_is_the_planned_cabling(tmp_path: Path) -> None:
    _, planned, _ = load_plan(IB_SITE, _facts(tmp_path / "f", ["gpu1", "gpu2", "gpu3", "gpu4"]))
    files = render(planned)
    net = parse_ibnetdiscover(_as_ibnetdiscover(files["opensm/rail0/ibsim.net"]))
    expected = {(("leaf-su01-r0" if n.unit == 0 else "leaf-su02-r0", str(n.position + 1)), (f"{n.name} mlx5_0", "1"))
                for n in planned.nodes}
    expected |= {((u.leaf, str(u.leaf_port)), (u.spine, str(u.spine_port)))
                 for u in planned.uplinks if u.leaf.endswith("r0")}
    got = {(a, b) for a, b in net.links.items() if a[0].startswith("leaf")}
    assert got == expected
    assert "switchguid=0x0002c90300a00001\nSwitch\t2 \"spine01\"" in files["opensm/rail0/ibsim.net"]
    assert "caguid=0x0002c90300000000\nHca\t1 \"gpu1 mlx5_0\"" in files["opensm/rail0/ibsim.net"]  # port GUID - 1


def _as_ibnetdiscover(text: str) -> str:
    """ibsim's input with ibnetdiscover's record heads (`Switch N "name" # "name"`), for the same parser."""
    out = []
    for line in text.splitlines():
        if line.startswith(("Switch", "Hca")):
            kind, rest = line.split("\t", 1)
            name = rest.split(" ", 1)[1]
            out.append(f"{'Ca' if kind == 'Hca' else kind}\t{rest}\t# {name}")
        else:
            out.append(line)
    return "\n".join(out)


def test_check_flags_subnets_and_shared_spines() -> None:
    site_path = IB_SITE
    _, planned, _ = load_plan(site_path)
    found = [str(f) for f in lint(planned, build_site(yaml.safe_load(site_path.read_text())))
             if f.topic == "infiniband"]
    assert found[0] == ("info: infiniband: 2 subnet(s), each with its own subnet manager pair: rail0, rail1; "
                        "ftree routing, lmc 0; 8 of 49151 LIDs per subnet; SMs on gpu1 (primary), gpu3 (standby)")
    assert any("8 host port(s) have no port GUID" in f for f in found)
    shared = generated_site(64, 2, type="infiniband", cidr=None)
    shared_plan = plan(build_site(shared))
    assert [n.name for n in ib.subnets(shared_plan)] == ["rails0-1"]
    assert any("2 rails share spines in 1 subnet(s)" in str(f) for f in lint(shared_plan, build_site(shared)))


def test_an_ib_plane_past_the_lid_space_is_refused_with_the_key(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    data = generated_site(384, 1, type="infiniband", cidr=None, ib_lmc=7)  # 384 ports × 128 LIDs > 49151
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "out"
    assert cli_main.main(["fabric", "plan", str(site), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    line = next(i + 1 for i, text in enumerate(site.read_text().splitlines()) if text.strip().startswith("ib_lmc:"))
    assert err.startswith(f"{site}:{line}: networks.fabric.ib_lmc: an InfiniBand subnet of 384 nodes × 1 ports × 128 "
                          "LIDs (lmc 7) + 18 switches needs 49170 LIDs; a subnet has 49151, enough for 383 nodes "
                          "(node 'n0383' is the first past it)")
    assert not out.exists()
    data["nodes"].pop()
    assert plan(build_site(data)).ib is not None  # 383 nodes fit


def test_subnet_manager_nodes_must_be_on_the_fabric() -> None:
    data = yaml.safe_load(IB_SITE.read_text())
    data["networks"]["fabric"]["ib_sm_nodes"] = ["gpu4", "ctl1"]
    with pytest.raises(PlanRefused, match=r"ctl1 is not a fabric node"):
        plan(build_site(data))
    data["networks"]["fabric"]["ib_sm_nodes"] = ["gpu4", "gpu2"]
    nets = ib.subnets(plan(build_site(data)))
    assert [p.node for p in nets[0].managers] == ["gpu4", "gpu2"]


def test_guids_of_unplanned_switches_are_refused() -> None:
    data = yaml.safe_load(IB_SITE.read_text())
    data["networks"]["fabric"]["ib_switch_guids"]["spine09"] = "0x1"
    with pytest.raises(PlanRefused, match=r"ib_switch_guids\.spine09: is not a planned leaf or spine"):
        plan(build_site(data))


def test_updn_routing_and_lmc_reach_every_config() -> None:
    data = yaml.safe_load(IB_SITE.read_text())
    data["networks"]["fabric"].update(ib_routing="updn", ib_lmc=2)
    files = render(plan(build_site(data)))
    for rel in ("opensm/rail0/primary.conf", "opensm/rail1/standby.conf"):
        assert "\nrouting_engine updn\n" in files[rel] and "\nlmc 2\n" in files[rel]
    assert "for OpenSM's updn routing" in files["opensm/rail1/root_guids.conf"]
