"""The wheel as a user installs it: built from the checkout, installed into a clean virtual environment, run
from an empty directory with no checkout in sight. The collection travels inside it (package data)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.package

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".tools/bin/uv"


def run(*cmd: str | Path, cwd: Path, expect: int = 0, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "VIRTUAL_ENV"))}
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**environ, **env})
    assert done.returncode == expect, f"{cmd}: rc {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtual environment with only the built wheel (and its dependencies) installed."""
    if not UV.is_file():
        pytest.skip(f"{UV} missing: run `make setup`")
    work = tmp_path_factory.mktemp("wheel")
    run(UV, "build", "--wheel", "--out-dir", work / "dist", ROOT, cwd=work)
    wheels = list((work / "dist").glob("anyrack-*.whl"))
    assert len(wheels) == 1, wheels
    run(UV, "venv", "--quiet", "--python", sys.executable, work / "venv", cwd=work)
    run(UV, "pip", "install", "--quiet", "--python", work / "venv/bin/python", wheels[0], cwd=work)
    return work / "venv"


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    where = tmp_path / "empty"
    where.mkdir()
    return where


def test_version_names_the_packaged_collection(venv: Path, empty: Path) -> None:
    out = run(venv / "bin/anyrack", "--version", cwd=empty).stdout
    packaged = next(venv.glob("lib/python3*/site-packages/anyrack/ansible/ansible_collections/anyrack/hpc"))
    assert out == f"anyrack 0.1.0, collection anyrack.hpc 0.1.0 (package: {packaged})\n"


def test_provision_from_the_wheel(venv: Path, empty: Path) -> None:
    """inventory generate, then provision: the packaged site.yml with every role and play loads and runs (over
    two local hosts that are in none of its groups, so nothing changes). The third-party collections the roles
    use (community.general, community.mysql) are the user's: here the checkout's collections/ stands in."""
    anyrack = venv / "bin/anyrack"
    shutil.copy(ROOT / "inventory/examples/lab/site.yaml", empty / "site.yaml")
    assert "3 hosts in 5 groups" in run(anyrack, "inventory", "generate", "site.yaml", cwd=empty).stdout
    bad = run(anyrack, "provision", "site.yaml", "--playbook", "nope.yml", cwd=empty, expect=2).stderr
    assert "/site-packages/anyrack/ansible/ansible_collections/anyrack/hpc/playbooks: add_node.yml" in bad
    shutil.rmtree(empty / "generated")
    (empty / "generated").mkdir()
    shutil.copy(ROOT / "tests/fixtures/provision/hosts.yml", empty / "generated/hosts.yml")
    missing = run(anyrack, "provision", "site.yaml", cwd=empty, expect=1).stderr
    assert "couldn't resolve module/action 'community.mysql.mysql_db'" in missing
    done = run(anyrack, "provision", "site.yaml", cwd=empty, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"))
    runs = sorted((empty / ".anyrack/runs").iterdir())  # named <UTC time>-site[-n]: the last is this run
    assert len(runs) == 2
    stdout = (runs[-1] / "stdout").read_text()
    assert "PLAY [Prepare every node]" in stdout and "PLAY [Burn in the compute nodes]" in stdout
    assert "artifacts:" in done.stdout
