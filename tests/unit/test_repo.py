"""Repository hygiene that CI enforces: lint clean, README walkthrough true, module sizes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from anyrack.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_clean() -> None:
    ruff = Path(sys.executable).parent / "ruff"
    run = subprocess.run([str(ruff), "check", "src", "tests", "benchmarks"], cwd=ROOT, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_modules_stay_small() -> None:
    big = [f"{p.relative_to(ROOT)}: {n}" for p in (ROOT / "src").rglob("*.py")
           if (n := len(p.read_text().splitlines())) > 450]
    assert big == []
    assert not list((ROOT / "src").rglob("utils.py"))


def test_readme_walkthrough_is_true(tmp_path: Path, capsys) -> None:
    """The walkthrough's broken-site step prints exactly what the README shows."""
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"^   (inventory/examples/hgx-rack/site\.yaml:\d+: .*)$", readme, re.M)
    assert shown, "README lost its error example"
    example = ROOT / "inventory/examples/hgx-rack"
    shutil.copytree(example, tmp_path / "hgx-rack", ignore=shutil.ignore_patterns("generated"))
    site = tmp_path / "hgx-rack/site.yaml"
    site.write_text(site.read_text().replace("redfish+https://10.10.0.23", "redfsh+https://10.10.0.23"))
    assert main(["site", "validate", str(site)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == shown.group(1).replace("inventory/examples/hgx-rack/site.yaml", str(site))
    assert main(["inventory", "generate", str(example / "site.yaml"), "--facts", str(example / "facts"),
                 "--out", str(tmp_path / "gen")]) == 0
    out = capsys.readouterr().out
    lines = re.findall(r"^   (reconciliation: .*|gpu005   .*)$", readme, re.M)
    assert len(lines) == 2
    for line in lines:
        assert line in out
