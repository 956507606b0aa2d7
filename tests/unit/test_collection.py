"""The Ansible collection anyrack.hpc as the checkout holds it: its version is the package's, every role
module is a collection plugin, and the inventory plugin yields what ``anyrack inventory generate`` writes.

The collection is used in place: a temporary ``ansible_collections/anyrack/hpc`` links to the checkout
(building and installing it, and ansible-test sanity, are in tests/bmc/test_collection_build.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from anyrack.inventory import generate_inventory

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXAMPLES = sorted(p.parent for p in (ROOT / "inventory/examples").glob("*/site.yaml"))


@pytest.fixture(scope="module")
def collections(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A collections path whose anyrack.hpc is this checkout."""
    where = tmp_path_factory.mktemp("collections")
    (where / "ansible_collections/anyrack").mkdir(parents=True)
    (where / "ansible_collections/anyrack/hpc").symlink_to(ROOT)
    return where


def inventory_list(source: Path, collections: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": f"{collections}:{ROOT / 'collections'}",
           "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"}
    env.pop("ANSIBLE_CONFIG", None)
    return subprocess.run([str(BIN / "ansible-inventory"), "-i", str(source), "--list", *extra],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_collection_version_is_the_package_version() -> None:
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert (galaxy["namespace"], galaxy["name"]) == ("anyrack", "hpc")
    assert galaxy["version"] == project["version"]


def test_every_role_module_is_a_collection_plugin() -> None:
    """plugins/modules and plugins/module_utils link to the roles' files, one for one, none dangling."""
    for kind, folder in (("modules", "library"), ("module_utils", "module_utils")):
        in_roles = {p.name: p.resolve() for p in ROOT.glob(f"roles/*/{folder}/*.py")}
        plugins = {p.name: p for p in (ROOT / "plugins" / kind).glob("*.py")}
        assert sorted(plugins) == sorted(in_roles), f"plugins/{kind} vs roles/*/{folder}"
        for name, link in plugins.items():
            assert link.is_symlink() and link.resolve() == in_roles[name], f"plugins/{kind}/{name}"
            assert not os.readlink(link).startswith("/"), f"plugins/{kind}/{name}: the link must be relative"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("mode", [(), ("--export",)], ids=["list", "export"])
def test_inventory_plugin_equals_generated(example: Path, mode: tuple[str, ...], collections: Path,
                                           tmp_path: Path) -> None:
    facts = example / "facts"
    generated = generate_inventory(example / "site.yaml", facts if facts.is_dir() else None, tmp_path / "generated")
    assert generated.groups
    config = {"plugin": "anyrack.hpc.anyrack", "site": str(example / "site.yaml")}
    if facts.is_dir():
        config["facts"] = str(facts)
    (tmp_path / "anyrack.yml").write_text(yaml.safe_dump(config))
    by_files = inventory_list(tmp_path / "generated", collections, tmp_path, *mode)
    by_plugin = inventory_list(tmp_path / "anyrack.yml", collections, tmp_path, *mode)
    assert by_files.returncode == 0, by_files.stderr
    assert by_plugin.returncode == 0, by_plugin.stderr
    assert by_plugin.stdout == by_files.stdout
    hostvars = yaml.safe_load(by_plugin.stdout)["_meta"]["hostvars"]
    assert sorted(hostvars) == sorted(n.name for n in generated.site.nodes)


def test_inventory_plugin_paths_are_relative_to_its_file(collections: Path, tmp_path: Path) -> None:
    site = tmp_path / "dc1"
    shutil.copytree(ROOT / "inventory/examples/lab", site)
    (site / "anyrack.yml").write_text("plugin: anyrack.hpc.anyrack\n")
    done = inventory_list(site / "anyrack.yml", collections, tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(yaml.safe_load(done.stdout)["_meta"]["hostvars"]) == ["ctl1", "gpu1", "gpu2"]


def test_inventory_plugin_bad_site_fails_with_the_line(collections: Path, tmp_path: Path) -> None:
    bad = ROOT / "tests/fixtures/bad_sites/07-bmc-bad-port.yaml"
    (tmp_path / "anyrack.yml").write_text(f"plugin: anyrack.hpc.anyrack\nsite: {bad}\n")
    done = inventory_list(tmp_path / "anyrack.yml", collections, tmp_path)
    assert done.returncode != 0
    assert f"{bad}:33: nodes[1].bmc: 'ipmi://10.10.0.21:99999' has a bad port" in done.stderr


def test_every_play_is_listed_in_the_playbooks_readme() -> None:
    listed = (ROOT / "playbooks/README.md").read_text()
    missing = [p.name for p in sorted((ROOT / "playbooks").glob("*.yml")) if f"| `{p.name}` |" not in listed]
    assert missing == []
