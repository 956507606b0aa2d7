"""``anyrack fabric plan`` and ``anyrack fabric check`` (the group is registered here as main.py will)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from anyrack.cli import main as cli_main
from anyrack.cli.fabric import fabric
from anyrack.filetree import MARKER

from .conftest import HGX, HGX_FACTS, site_data, with_fabric


@pytest.fixture(autouse=True)
def _registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli_main.cli.commands, "fabric", fabric)


def test_help_has_examples() -> None:
    result = CliRunner().invoke(fabric, ["plan", "--help"])
    assert result.exit_code == 0
    assert "anyrack fabric plan inventory/examples/hgx-rack/site.yaml --svg" in result.output
    assert "--facts" in result.output and "--out" in result.output


def test_plan_writes_files_and_a_rerun_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, svg = tmp_path / "fabric", tmp_path / "hgx.svg"
    args = ["fabric", "plan", str(HGX), "--facts", str(HGX_FACTS), "--out", str(out), "--svg", str(svg)]
    assert cli_main.main(args) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == ("hgx-rack: roce fabric, 8 rails, 8 nodes in 1 units; 8 leaves, 4 spines "
                                    "(1 group(s)), 1 access switches, 340 cables; oversubscription 1.00:1")
    assert f"{out}: 36 files; 36 written, 0 unchanged, 0 removed" in text
    assert (out / MARKER).is_file() and (out / "switches/spine04/frr.conf").is_file()
    assert svg.read_text() == (out / "topology.svg").read_text()
    assert cli_main.main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["files"] == {"written": [], "unchanged": 36, "removed": []}
    assert (data["leaves"], data["spines"], data["cables"]) == (8, 4, 340)


def test_plan_without_out_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli_main.main(["fabric", "plan", str(HGX)]) == 0
    assert "files" not in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_plan_refuses_a_directory_it_did_not_create(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    assert cli_main.main(["fabric", "plan", str(HGX), "--out", str(tmp_path)]) == 1
    assert "anyrack only replaces directories it created" in capsys.readouterr().err
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_impossible_plan_exits_2_with_the_key_to_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(with_fabric(site_data(), leaf_ports=40), sort_keys=False))
    assert cli_main.main(["fabric", "check", str(site)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{site}:") and "networks.fabric.leaf_ports: a leaf needs 32 host ports + 32 uplinks" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(("fabric", "key", "message"), [
    ({"roce_pfc_priority": 8}, "networks.fabric.roce_pfc_priority", "less than or equal to 7"),
    ({"roce_pfc_priority": -1}, "networks.fabric.roce_pfc_priority", "greater than or equal to 0"),
    ({"port_speed_gbps": 100, "port_lanes": 8}, "networks.fabric.port_lanes",
     "100 Gb/s ports over 8 lanes is not a lane rate"),
    ({"port_speed_gbps": 300}, "networks.fabric.port_speed_gbps", "300 is not one of: 100, 200, 400, 800, 1600"),
    ({"leaf_ports": 48}, "networks.fabric.leaf_ports", "a leaf needs 32 host ports + 32 uplinks = 64 ports"),
])
def test_bad_fabric_settings_exit_2_naming_the_key_and_write_nothing(
        fabric: dict, key: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(with_fabric(site_data(), **fabric), sort_keys=False))
    line = next(i for i, text in enumerate(site.read_text().splitlines(), 1) if "fabric:" in text)
    out = tmp_path / "out"
    assert cli_main.main(["fabric", "plan", str(site), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"{site}:") and f": {key}: " in err and message in err, err
    assert int(err.split(":")[1]) >= line
    assert not out.exists()


def test_check_prints_findings(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["fabric", "check", str(HGX)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "info: ports: leaf: 32 host + 32 uplink ports of 64 (100%); spine: 64 of 64 (100%)" in lines
    assert any(line.startswith("info: addresses: ") and "none used twice" in line for line in lines)
    assert cli_main.main(["fabric", "check", str(HGX), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and {f["topic"] for f in data["findings"]} >= {"ports", "oversubscription", "addresses"}
