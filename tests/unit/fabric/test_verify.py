"""``anyrack fabric verify``: observed neighbours against cabling.csv, on recorded ibnetdiscover and lldpcli output.

The recordings (tests/fixtures/fabric/verify/, see SOURCE.md) come from the fabric tier's simulated IB
subnet and lldpd namespaces; the tier itself checks the live outputs.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from anyrack.cli import main as cli_main
from anyrack.fabric import load_plan, render
from anyrack.fabric.verify import parse_ibnetdiscover, parse_lldp, read_lldp_dir, verify

from .conftest import ROOT

RECORDED = ROOT / "tests/fixtures/fabric/verify"
IB_SITE = ROOT / "tests/fabric/ib-site.yaml"
FRR_SITE = ROOT / "tests/fabric/site.yaml"


@pytest.fixture(scope="module")
def ib_files() -> dict[str, str]:
    return render(load_plan(IB_SITE)[1])


@pytest.fixture(scope="module")
def roce_files() -> dict[str, str]:
    return render(load_plan(FRR_SITE)[1])


def test_parse_ibnetdiscover_names_lids_and_links() -> None:
    found = parse_ibnetdiscover((RECORDED / "ib-rail0.ibnetdiscover").read_text())
    assert found.devices == {"spine01", "spine02", "leaf-su01-r0", "leaf-su02-r0", "gpu1 mlx5_0", "gpu2 mlx5_0",
                             "gpu3 mlx5_0", "gpu4 mlx5_0"}
    assert sorted(found.lids.values()) == list(range(1, 9))  # 4 host ports + 4 switches, every one with a LID
    assert found.links[("leaf-su01-r0", "1")] == ("gpu1 mlx5_0", "1")
    assert found.links[("gpu1 mlx5_0", "1")] == ("leaf-su01-r0", "1")
    assert found.links[("spine02", "2")] == ("leaf-su02-r0", "4")


def test_ib_as_planned_reports_nothing(ib_files: dict[str, str]) -> None:
    report = verify(ib_files["cabling.csv"], ib_files["plan.json"],
                    ibnetdiscover=(RECORDED / "ib-rail0.ibnetdiscover").read_text())
    assert report.miswires == []
    assert report.checked == 8  # rail 0's 4 host cables and 4 uplinks; rail 1 and the access cables unseen


def test_ib_two_swapped_host_cables_and_the_swap_that_fixes_them(ib_files: dict[str, str]) -> None:
    report = verify(ib_files["cabling.csv"], ib_files["plan.json"],
                    ibnetdiscover=(RECORDED / "ib-rail0-swapped.ibnetdiscover").read_text())
    assert [str(m) for m in report.miswires] == [
        "C01: expected leaf-su01-r0 1 — gpu1 rail0, seen leaf-su01-r0 1 — gpu3 rail0: swap the plugs in "
        "leaf-su01-r0 1 and leaf-su02-r0 1 (cables C01 and C05)",
        "C05: expected leaf-su02-r0 1 — gpu3 rail0, seen leaf-su02-r0 1 — gpu1 rail0: swap the plugs in "
        "leaf-su01-r0 1 and leaf-su02-r0 1 (cables C01 and C05)",
    ]


def _lldp(device: str, neighbours: dict[str, tuple[str, str]]) -> str:
    """lldpcli -f json show neighbors as lldpd 1.0.16 writes it (one interface: an object; several: a list)."""
    entries = [{local: {"via": "LLDP", "chassis": {peer: {"id": {"type": "mac", "value": "02:00:00:00:00:01"}}},
                        "port": {"id": {"type": "ifname", "value": port}, "descr": port}}}
               for local, (peer, port) in neighbours.items()]
    interface: object = entries[0] if len(entries) == 1 else entries
    return json.dumps({"lldp": {"interface": interface}})


def _lldp_dir(files: dict[str, str], into: Path, swap: tuple[str, str] | None = None) -> Path:
    """What lldpd would report on every leaf and spine of the FRR site, from its cabling (optionally two
    leaf ports' far ends swapped)."""
    into.mkdir()
    seen: dict[str, dict[str, tuple[str, str]]] = {}
    rows = [r for r in csv.DictReader(io.StringIO(files["cabling.csv"])) if r["kind"] in ("rail", "uplink")]
    far = {(r["a_device"], r["a_interface"]): (r["b_device"], r["b_interface"]) for r in rows}
    if swap:
        a, b = (("leaf-su01-r0", p) for p in swap)
        far[a], far[b] = far[b], far[a]
    for (dev, port), (peer, peer_port) in far.items():
        seen.setdefault(dev, {})[port] = (peer, peer_port)
        seen.setdefault(peer, {})[peer_port] = (dev, port)
    for dev, neighbours in seen.items():
        (into / f"{dev}.json").write_text(_lldp(dev, neighbours))
    return into


def test_lldp_json_forms() -> None:
    one = parse_lldp("gpu1", _lldp("gpu1", {"rail0": ("leaf-su01-r0", "swp1")}))
    assert one == {("gpu1", "rail0"): ("leaf-su01-r0", "swp1")}
    two = parse_lldp("x", _lldp("x", {"a": ("p", "1"), "b": ("q", "2")}))
    assert two == {("x", "a"): ("p", "1"), ("x", "b"): ("q", "2")}
    nameless = {"lldp": {"interface": {"swp1": {"chassis": {"id": {"type": "mac", "value": "02:00:00:00:00:09"}},
                                                "port": {"id": {"type": "mac", "value": "x"}, "descr": "eth0"}}}}}
    assert parse_lldp("y", json.dumps(nameless)) == {}  # no system name: nothing to match
    assert parse_lldp("z", "") == {}  # lldpcli prints nothing without neighbours


def test_cli_lldp_correct_swapped_and_bad_input(roce_files: dict[str, str], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    plan_dir = tmp_path / "plan"
    plan_dir.mkdir()
    for name in ("cabling.csv", "plan.json"):
        (plan_dir / name).write_text(roce_files[name])
    good = _lldp_dir(roce_files, tmp_path / "good")
    assert cli_main.main(["fabric", "verify", str(plan_dir), "--lldp", str(good)]) == 0
    assert capsys.readouterr().out == "16 cables checked, 0 miswired\n"
    bad = _lldp_dir(roce_files, tmp_path / "bad", swap=("swp1", "swp3"))  # gpu1 rail0 and an uplink traded
    assert cli_main.main(["fabric", "verify", str(plan_dir), "--lldp", str(bad), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["checked"] == 16 and len(report["miswires"]) == 2
    assert {m["fix"] for m in report["miswires"]} == {
        f"swap the plugs in leaf-su01-r0 swp1 and leaf-su01-r0 swp3 (cables {report['miswires'][0]['cable']} and "
        f"{report['miswires'][1]['cable']})"}
    (good / "spine01.json").write_text("{not json")
    assert cli_main.main(["fabric", "verify", str(plan_dir), "--lldp", str(good)]) == 2
    assert capsys.readouterr().err.startswith(f"{good / 'spine01.json'}:1: not the JSON of `lldpcli -f json")
    assert cli_main.main(["fabric", "verify", str(tmp_path), "--lldp", str(good)]) == 2
    assert "cabling.csv: cannot read the plan" in capsys.readouterr().err
    assert cli_main.main(["fabric", "verify", str(plan_dir)]) == 2
    assert "give one of --lldp DIR and --ibnetdiscover FILE" in capsys.readouterr().err


def test_a_cable_missing_is_reported(ib_files: dict[str, str], tmp_path: Path) -> None:
    text = (RECORDED / "ib-rail0.ibnetdiscover").read_text()
    # leaf-su02-r0 port 2 (gpu4) unplugged: neither end lists the other
    text = "\n".join(line for line in text.splitlines()
                     if not (line.startswith("[") and '"gpu4 mlx5_0"' in line)
                     and '"S-0200000200000030"[2]' not in line)
    report = verify(ib_files["cabling.csv"], ib_files["plan.json"], ibnetdiscover=text)
    assert [(m.expected, m.seen) for m in report.miswires] == [("leaf-su02-r0 2 — gpu4 rail0", "no link")]


def test_recorded_lldpd_fabric_as_planned_and_with_two_uplinks_swapped(roce_files: dict[str, str]) -> None:
    good = verify(roce_files["cabling.csv"], roce_files["plan.json"], lldp=read_lldp_dir(RECORDED / "lldp-frr-lab"))
    assert (good.checked, good.miswires) == (16, [])
    bad = verify(roce_files["cabling.csv"], roce_files["plan.json"],
                 lldp=read_lldp_dir(RECORDED / "lldp-frr-lab-swapped"))
    assert [str(m) for m in bad.miswires] == [
        "C09: expected leaf-su01-r0 swp3 — spine01 swp1, seen leaf-su01-r0 swp3 — spine02 swp1: swap the plugs in "
        "leaf-su01-r0 swp3 and leaf-su01-r0 swp4 (cables C09 and C10)",
        "C10: expected leaf-su01-r0 swp4 — spine02 swp1, seen leaf-su01-r0 swp4 — spine01 swp1: swap the plugs in "
        "leaf-su01-r0 swp3 and leaf-su01-r0 swp4 (cables C09 and C10)",
    ]


def test_cli_ibnetdiscover(ib_files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("cabling.csv", "plan.json"):
        (tmp_path / name).write_text(ib_files[name])
    swapped = RECORDED / "ib-rail0-swapped.ibnetdiscover"
    assert cli_main.main(["fabric", "verify", str(tmp_path), "--ibnetdiscover", str(swapped)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "8 cables checked, 2 miswired" and [line[:4] for line in out[:-1]] == ["C01:", "C05:"]
    good = RECORDED / "ib-rail0.ibnetdiscover"
    assert cli_main.main(["fabric", "verify", str(tmp_path), "--ibnetdiscover", str(good)]) == 0
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    assert cli_main.main(["fabric", "verify", str(tmp_path), "--ibnetdiscover", str(empty)]) == 2
    assert capsys.readouterr().err.startswith(f"{empty}: no Switch or Ca record: not ibnetdiscover output")
