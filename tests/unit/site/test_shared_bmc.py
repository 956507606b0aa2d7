"""Several nodes behind one BMC (blade enclosures, multi-node chassis), and BMC URLs that must be refused."""

from __future__ import annotations

from pathlib import Path

import yaml

from anyrack.errors import InvalidInput
from anyrack.site import load_site


def site_text(bmcs: list[object], credentials: tuple[str, ...] = ("lab-bmc",)) -> str:
    nodes = [{"name": f"n{i}", "rack": "r1", "u": i + 1, "sku": "blade", "role": "controller" if i == 0 else "compute",
              "bmc": bmc, "addresses": {"management": f"10.77.0.{i + 10}"}} for i, bmc in enumerate(bmcs)]
    return yaml.safe_dump({
        "version": 1, "site": "blades", "defaults": {"bmc_credential": credentials[0]},
        "credentials": {c: {"username": "admin", "password": {"env": "BMC_PASSWORD"}} for c in credentials},
        "networks": {"bmc": {"cidr": "10.10.0.0/24"}, "management": {"cidr": "10.77.0.0/24"}},
        "racks": [{"name": "r1"}], "skus": {"blade": {"cpu": "x", "memory_gib": 1}}, "nodes": nodes,
    }, sort_keys=False)


def problems(tmp_path: Path, bmcs: list[object], **kw: tuple[str, ...]) -> list[str]:
    path = tmp_path / "site.yaml"
    path.write_text(site_text(bmcs, **kw))
    try:
        load_site(path)
    except InvalidInput as err:
        return [f"{p.key}: {p.message}" for p in err.problems]
    return []


def test_nodes_on_one_bmc_with_distinct_systems_validate(tmp_path: Path) -> None:
    url = "redfish+https://10.10.0.5"
    path = tmp_path / "site.yaml"
    path.write_text(site_text([{"url": url, "system": f"Node{i}"} for i in range(4)]))
    site = load_site(path)
    assert [n.bmc.system for n in site.nodes] == ["Node0", "Node1", "Node2", "Node3"]
    assert {n.bmc.endpoint for n in site.nodes} == {("redfish+https", "10.10.0.5", 443)}


def test_the_default_port_written_or_not_is_the_same_bmc(tmp_path: Path) -> None:
    found = problems(tmp_path, ["redfish+https://10.10.0.5", "redfish+https://10.10.0.5:443"])
    assert found == ["nodes[1].bmc: BMC 10.10.0.5:443 is already used at nodes[0].bmc; nodes that share a BMC "
                     "each need their own bmc.system (the Redfish system id)"]
    assert problems(tmp_path, ["redfish+https://10.10.0.5", "redfish+https://10.10.0.5:8443"]) == []


def test_a_system_used_twice_on_one_bmc_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, [{"url": "redfish+https://10.10.0.5", "system": "Node0"},
                                {"url": "redfish+https://10.10.0.5:443", "system": "Node0"}])
    assert found == ["nodes[1].bmc.system: system 'Node0' of BMC 10.10.0.5:443 is already used at nodes[0]"]


def test_one_bmc_one_credential(tmp_path: Path) -> None:
    found = problems(tmp_path, [{"url": "redfish+https://10.10.0.5", "system": "Node0"},
                                {"url": "redfish+https://10.10.0.5", "system": "Node1", "credential": "other"}],
                     credentials=("lab-bmc", "other"))
    assert found == ["nodes[1].bmc.credential: BMC 10.10.0.5 is shared with nodes[0].bmc, which uses credential "
                     "'lab-bmc': one BMC, one credential"]


def test_plain_http_needs_an_explicit_opt_in(tmp_path: Path) -> None:
    found = problems(tmp_path, ["redfish+http://10.10.0.5"])
    assert len(found) == 1 and found[0].startswith("nodes[0].bmc: ") and "allow_http: true" in found[0]
    assert problems(tmp_path, [{"url": "redfish+http://10.10.0.5", "allow_http": True}]) == []
    assert "only for redfish+http" in problems(tmp_path, [{"url": "redfish+https://10.10.0.5",
                                                           "allow_http": True}])[0]


def test_credentials_in_the_url_are_refused_and_not_echoed(tmp_path: Path) -> None:
    found = problems(tmp_path, ["redfish+https://root:Hunter2-secret@10.10.0.5"])
    assert len(found) == 1 and "credentials in the URL are not allowed" in found[0]
    assert "Hunter2" not in found[0] and "root:" not in found[0]


def test_a_system_id_is_one_path_segment(tmp_path: Path) -> None:
    found = problems(tmp_path, [{"url": "redfish+https://10.10.0.5", "system": "Systems/Node1"}])
    assert len(found) == 1 and found[0].startswith("nodes[0].bmc.system: ")
    assert problems(tmp_path, [{"url": "ipmi://10.10.0.5", "system": "Node1"}])[0].startswith("nodes[0].bmc: ")
