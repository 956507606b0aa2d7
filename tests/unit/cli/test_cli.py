"""The anyrack command: output, exit codes, --debug, and secrets never leaking."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from anyrack.cli import main as cli_main
from anyrack.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
LAB = ROOT / "inventory/examples/lab/site.yaml"
HGX = ROOT / "inventory/examples/hgx-rack/site.yaml"
HGX_FACTS = ROOT / "inventory/examples/hgx-rack/facts"
ANYRACK = Path(sys.executable).parent / "anyrack"


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "anyrack site validate inventory/examples/lab/site.yaml" in capsys.readouterr().out
    assert main(["inventory", "generate", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--facts" in out and "ansible-inventory -i" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"anyrack 0.1.0, collection anyrack.hpc 0.1.0 (checkout: {ROOT})\n"


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["site", "validate", str(HGX)]) == 0
    assert capsys.readouterr().out == (f"{HGX}: valid site 'hgx-rack': 1 racks, 2 skus, 10 nodes, 1 controllers, "
                                       "1 logins, 8 computes, 64 gpus, 2 partitions\n")
    assert main(["site", "validate", "--json", str(LAB)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is True and data["nodes"] == 3 and data["controllers"] == 1


def test_generate_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "gen"
    assert main(["inventory", "generate", str(HGX), "--facts", str(HGX_FACTS), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "gpu005   mismatch  gpu_count" in text
    assert f"{out}: 10 hosts in 13 groups; 14 files written, 0 unchanged, 0 removed" in text
    assert "reconciliation: 9 ok, 1 quarantined, 0 undiscovered" in text
    assert main(["inventory", "generate", str(HGX), "--facts", str(HGX_FACTS), "--out", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["files"] == {"written": [], "unchanged": 14, "removed": []}
    assert data["summary"] == {"ok": 9, "mismatch": 1, "undiscovered": 0}
    gpu005 = next(n for n in data["nodes"] if n["node"] == "gpu005")
    assert gpu005["findings"] == [{"check": "gpu_count", "declared": "8", "discovered": "7", "severity": "mismatch"}]


def test_bad_input_one_line_and_debug(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "site.yaml"
    bad.write_text(LAB.read_text().replace("redfish+https://127.0.0.1:8442", "redfsh+https://127.0.0.1:8442"))
    assert main(["inventory", "generate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == (f"{bad}:42: nodes[1].bmc: 'redfsh+https' is not a known scheme "
                   "(redfish+https, redfish+http, ipmi)\n")
    assert not (tmp_path / "generated").exists()
    assert main(["--debug", "site", "validate", str(bad)]) == 2
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_usage_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inventory", "generate"]) == 2
    assert "Missing argument 'PATH'" in capsys.readouterr().err


def test_internal_error_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cli_main, "generate_inventory", boom)
    assert main(["inventory", "generate", str(LAB)]) == 1
    err = capsys.readouterr().err
    assert err == "anyrack: internal error: RuntimeError: disk on fire (rerun with --debug)\n"


def test_real_process_exit_codes(tmp_path: Path) -> None:
    ok = subprocess.run([str(ANYRACK), "site", "validate", str(LAB)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([str(ANYRACK), "site", "validate", str(tmp_path / "missing.yaml")], capture_output=True,
                         text=True)
    assert (bad.returncode, bad.stderr) == (2, f"{tmp_path / 'missing.yaml'}: no such file\n")


def test_planted_secrets_appear_nowhere(tmp_path: Path) -> None:
    """Secrets live in the environment, files or a vault; generation only ever writes the reference."""
    secrets = {"ANYRACK_BMC_PASSWORD": "s3cr3t-bmc-Zq81", "ANYRACK_LAB_BMC_PASSWORD": "s3cr3t-lab-Kd27"}
    env = {**os.environ, **secrets}
    outputs = []
    for site, extra in ((HGX, ["--facts", str(HGX_FACTS)]), (LAB, [])):
        for flags in ([], ["--json"]):
            run = subprocess.run([str(ANYRACK), "--debug", "inventory", "generate", str(site), "--out",
                                  str(tmp_path / site.parent.name), *extra, *flags],
                                 capture_output=True, text=True, env=env, check=True)
            outputs += [run.stdout, run.stderr]
        validate = subprocess.run([str(ANYRACK), "site", "validate", "--json", str(site)], capture_output=True,
                                  text=True, env=env, check=True)
        outputs += [validate.stdout, validate.stderr]
    generated = [p.read_text() for p in tmp_path.rglob("*") if p.is_file()]
    assert len(generated) > 20
    assert any("ANYRACK_BMC_PASSWORD" in text for text in generated)  # the reference is there...
    for value in secrets.values():  # ...the value is not
        assert not any(value in text for text in generated + outputs)
