"""One BMC, several hosts: the two HPE Cray recordings served by the emulator over HTTPS.

cray-ex4252-4node: one BMC manages Systems/Node0..Node3 (serials PR1237879N for Node0/1 and PR12378794
for Node2/3, two boards of two nodes) and lists five Managers, the BMC among four auxiliary
micro-controllers (MCU3 first); no system names its manager (no Links), only Managers/BMC lists
them in ManagerForServers. cray-ex235a-mi250x: one host with 8 AMD GPUs whose serials are recorded
as "00000000000000", and a component chassis (Mezz0/1, ChassisType Card) with serials of its own.
The expected values below are the recorded ones.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from anyrack.bmc import connect
from anyrack.bmc.discover import discover
from anyrack.cli.main import main
from anyrack.errors import BmcError
from anyrack.facts import load_facts_dir
from anyrack.inventory.reconcile import reconcile
from anyrack.lab.emulator import BmcEntry, LabOptions, TreeSpec, serve_lab
from anyrack.site import load_site

pytestmark = pytest.mark.bmc
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures/redfish"
FOUR, MI250X = "hpe/cray-ex4252-4node", "hpe/cray-ex235a-mi250x"
SERIALS = {"Node0": "PR1237879N", "Node1": "PR1237879N", "Node2": "PR12378794", "Node3": "PR12378794"}
PASSWORD = "lab-Pa55word-multi"


@pytest.fixture(scope="module")
def lab() -> Iterator[dict[str, BmcEntry]]:
    with serve_lab([TreeSpec(FIXTURES / FOUR), TreeSpec(FIXTURES / MI250X)],
                   LabOptions(password=PASSWORD, power_delay_s=0.1)) as entries:
        yield {FOUR: entries[0], MI250X: entries[1]}


def inventory(entry: BmcEntry, system: str | None, node: str = "n1"):  # noqa: ANN201
    async def go():  # noqa: ANN202
        async with connect(f"redfish+{entry.url}", entry.username, entry.password, ca_file=entry.ca, node=node,
                           system=system) as bmc:
            return await bmc.inventory(node)

    return asyncio.run(go())


@pytest.mark.parametrize("system", sorted(SERIALS))
def test_each_host_behind_one_bmc_is_its_own_node(lab: dict[str, BmcEntry], system: str) -> None:
    facts = inventory(lab[FOUR], system)
    assert (facts.system.id, facts.system.path) == (system, f"/redfish/v1/Systems/{system}")
    assert (facts.system.manufacturer, facts.system.model, facts.system.serial) == ("HPE", "HPE EX4252",
                                                                                    SERIALS[system])
    assert facts.system.provenance == dict.fromkeys(("manufacturer", "model", "serial"),
                                                    f"/redfish/v1/Systems/{system}")
    # the BMC that lists this host in ManagerForServers, not MCU3 (listed first, an AuxiliaryController)
    assert facts.bmc.manager == "/redfish/v1/Managers/BMC"
    assert facts.gpus == []
    assert (facts.disks, facts.disks_complete) == ([], False)  # no Storage recorded: disks unknown, not none


def test_a_bmc_with_several_hosts_needs_the_system_named(lab: dict[str, BmcEntry]) -> None:
    with pytest.raises(BmcError, match=r"n1: the BMC manages 4 hosts \(Node0, Node1, Node2, Node3\): name"):
        inventory(lab[FOUR], None)
    with pytest.raises(BmcError, match="the BMC has no system 'Node9' \\(it lists: "):
        inventory(lab[FOUR], "Node9")


def test_verbs_act_on_the_named_host_only(lab: dict[str, BmcEntry]) -> None:
    entry = lab[FOUR]

    def bmc(system: str):  # noqa: ANN202
        return connect(f"redfish+{entry.url}", entry.username, entry.password, ca_file=entry.ca, node=system.lower(),
                       system=system)

    async def go() -> list[str]:
        async with bmc("Node2") as n2, bmc("Node1") as n1, bmc("Node3") as n3:
            states = [await n2.power("off", wait=10), await n1.power_state(), await n3.power_state()]
            return [*states, await n2.power("on", wait=10)]

    assert asyncio.run(go()) == ["Off", "On", "On", "On"]


def test_amd_gpus_without_placeholder_serials_and_no_component_identity(lab: dict[str, BmcEntry]) -> None:
    facts = inventory(lab[MI250X], None)
    assert [g.model for g in facts.gpus] == ["AMD INSTINCT MI200 (MCM) OAM LC"] * 8
    assert sorted(g.location for g in facts.gpus) == [f"GPU{i}" for i in range(8)]
    assert [g.serial for g in facts.gpus] == [None] * 8  # "00000000000000" is not a serial
    assert (facts.system.model, facts.system.serial) == ("HPE CRAY EX235a", "GE21100074")
    assert facts.system.provenance["serial"] == "/redfish/v1/Systems/Node0"
    assert facts.bmc.manager == "/redfish/v1/Managers/BMC"
    assert (facts.disks, facts.disks_complete) == ([], False)


def site_of(tmp_path: Path, entry: BmcEntry, systems: list[str], serials: dict[str, str]) -> Path:
    nodes = [{"name": f"blade{i}", "rack": "r1", "u": i + 1, "sku": "ex4252",
              "role": "controller" if i == 0 else "compute",
              "bmc": {"url": f"redfish+{entry.url}", "system": system},
              "addresses": {"management": f"10.99.0.{i + 10}"}, "serial": serials[system]}
             for i, system in enumerate(systems)]
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({
        "version": 1, "site": "blades", "defaults": {"bmc_credential": "enclosure"},
        "credentials": {"enclosure": {"username": entry.username, "password": {"env": "ANYRACK_TEST_BMC_PW"}}},
        "networks": {"bmc": {"cidr": "127.0.0.0/8"}, "management": {"cidr": "10.99.0.0/16"}},
        "racks": [{"name": "r1"}], "skus": {"ex4252": {"cpu": "x", "memory_gib": 1}}, "nodes": nodes,
    }, sort_keys=False))
    return path


def test_a_site_of_four_nodes_on_one_bmc_validates_discovers_and_reconciles(
        lab: dict[str, BmcEntry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYRACK_TEST_BMC_PW", PASSWORD)
    site = load_site(site_of(tmp_path, lab[FOUR], sorted(SERIALS), SERIALS))
    out = tmp_path / "facts"
    result = asyncio.run(discover(site, out, ca_file=lab[FOUR].ca, timeout=5))
    assert [o.ok for o in result.outcomes] == [True] * 4, [o.cause for o in result.failed]
    assert result.undeclared == {}
    facts, _ = load_facts_dir(out, {n.name for n in site.nodes})
    assert {n: f.system.id for n, f in facts.items()} == {f"blade{i}": f"Node{i}" for i in range(4)}
    reports = reconcile(site, facts)
    assert [(r.node, r.status) for r in reports] == [(f"blade{i}", "ok") for i in range(4)]


def test_a_host_no_node_declares_is_reported(lab: dict[str, BmcEntry], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ANYRACK_TEST_BMC_PW", PASSWORD)
    # Node1 declared with Node2's serial: a mismatch; Node3 is declared by no node
    serials = {**SERIALS, "Node1": SERIALS["Node2"]}
    path = site_of(tmp_path, lab[FOUR], ["Node0", "Node1", "Node2"], serials)
    site = load_site(path)
    out = tmp_path / "facts"
    assert main(["discover", str(path), "--out", str(out), "--ca", lab[FOUR].ca, "--timeout", "5"]) == 0
    assert f"redfish+{lab[FOUR].url}: manages host systems no node declares (bmc.system): Node3\n" in \
        capsys.readouterr().out
    report = json.loads((out / ".discovery-report.json").read_text())
    assert report["undeclared_systems"] == {f"redfish+{lab[FOUR].url}": ["Node3"]}
    facts, _ = load_facts_dir(out, {n.name for n in site.nodes})
    assert [r.status for r in reconcile(site, facts)] == ["ok", "mismatch", "ok"]
