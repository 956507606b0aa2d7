"""The collection as Ansible users get it: ``ansible-galaxy collection build`` of the checkout, installed with
``ansible-galaxy collection install``, its site playbook run by name, and ``ansible-test sanity`` on it.

ansible-test runs in venv mode (no containers here): it makes one virtual environment per sanity test
and installs its pinned requirements from PyPI. Its pip bootstrap downloads ``get-pip.py`` from
ansible's CI host, which is unreachable here; :func:`seed_pip_bootstrap` puts a stand-in in its
cache that takes pip from the Python's own ``ensurepip`` instead. ansible-test keeps its virtual
environments under ``$HOME/.ansible/test``: HOME is ``.cache/ansible-test-home`` in the checkout, so a
second run reuses them (measured here, 2 cores shared with other work: 295 s cold, 77 s warm).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.package

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COLLECTION_TOP = {"CHANGELOG.md", "FILES.json", "MANIFEST.json", "README.md", "meta", "playbooks", "plugins", "roles",
                  "tests"}
PIP_STAND_IN = '''"""Stand-in for ansible-test's get-pip download: pip from this Python's ensurepip, then install."""
import subprocess
import sys

# a subprocess: ensurepip sets PIP_CONFIG_FILE=/dev/null in its own environment, hiding the system's pip.conf
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
'''


def run(*cmd: str, cwd: Path, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **env})
    assert done.returncode == 0, f"{' '.join(cmd)}: rc {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built collection installed into a fresh collections path; returns that path."""
    work = tmp_path_factory.mktemp("collection")
    run(str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(work / "dist"), str(ROOT), cwd=work)
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    tarball = work / "dist" / f"anyrack-hpc-{version}.tar.gz"
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert {n.split("/")[0] for n in names} == COLLECTION_TOP
    assert [n for n in names if n.startswith("tests/") and n != "tests/sanity"] == ["tests/sanity/ignore-2.19.txt"]
    run(str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--no-deps", "-p", str(work / "installed"),
        str(tarball), cwd=work)
    return work / "installed"


def test_site_playbook_runs_by_collection_name(installed: Path, tmp_path: Path) -> None:
    """``ansible-playbook anyrack.hpc.site`` loads every play and role from the installed collection (hosts that
    are in none of its groups: every play is skipped, nothing is changed)."""
    shutil.copy(ROOT / "tests/fixtures/provision/hosts.yml", tmp_path / "hosts.yml")
    done = run(str(BIN / "ansible-playbook"), "-i", "hosts.yml", "anyrack.hpc.site", cwd=tmp_path,
               ANSIBLE_COLLECTIONS_PATH=f"{installed}:{ROOT / 'collections'}")
    plays = re.findall(r"^PLAY \[(.+?)\]", done.stdout, re.M)
    assert "Prepare every node" in plays and "Burn in the compute nodes" in plays, done.stdout
    assert done.stdout.count("skipping: no hosts matched") == len(plays)


def seed_pip_bootstrap(home: Path) -> None:
    """ansible-test's pip bootstrap script, cached where it looks (one per pip version it pins)."""
    source = (BIN.parent / "lib").glob("python3*/site-packages/ansible_test/_internal/python_requirements.py")
    versions = set(re.findall(r"pip='([\d.]+)'", next(source).read_text()))
    assert versions, "ansible-test's pinned pip version not found"
    cache = home / ".ansible/test/cache"
    cache.mkdir(parents=True, exist_ok=True)
    for version in versions:
        (cache / f"get_pip_{version.replace('.', '_')}.py").write_text(PIP_STAND_IN)


def test_ansible_test_sanity(installed: Path) -> None:
    home = ROOT / ".cache/ansible-test-home"
    seed_pip_bootstrap(home)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    done = run(str(BIN / "ansible-test"), "sanity", "--venv", "--python", python, "--color", "no",
               cwd=installed / "ansible_collections/anyrack/hpc", timeout=1200, HOME=str(home))
    ran = re.findall(r'^Running sanity test "([^"]+)"', done.stdout, re.M)
    assert {"validate-modules", "pylint", "import", "pep8", "yamllint", "ansible-doc"} <= set(ran), done.stdout
