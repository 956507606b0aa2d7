"""Import rules of src/anyrack (docs/architecture.md): layers import downward only, ``cli`` and ``iac`` sit on
top and nothing imports them, the product never imports the lab (only the ``anyrack lab`` command does),
and only the layer that needs it touches Pulumi, Ansible or click. Every ``import`` is read from the
syntax tree, those inside functions included."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SRC = Path(__file__).resolve().parents[2] / "src/anyrack"
RANK = {
    "errors": 0, "aio": 0,
    "document": 1, "lockfile": 1,
    "filetree": 2, "validation": 2,
    "site": 3,
    "secrets": 4, "facts": 4,
    "bmc": 5, "fabric": 5, "inventory": 5,
    "deploy": 6, "provision": 6,
    "iac": 7,
    "cli": 8,
}
"""A package may import packages of a lower rank only. ``lab`` is outside the ranks: it uses the product
(ranks 0-6) as a user would, and only the ``anyrack lab`` command modules import it."""
LAB_COMMANDS = {"cli/lab.py", "cli/metal.py"}
THIRD_PARTY = {"pulumi": {"iac"}, "ansible_runner": {"provision"}, "ansible": {"provision"}, "click": {"cli"}}
"""Who may import these: the Pulumi layer, the Ansible runner, the CLI."""
STARTS_CLI = {"lab/emulator/process.py", "lab/hostservices.py"}
"""Lab modules that start the emulator as ``python -m anyrack.cli.lab`` (issue #20 item 3, the lab's own entry
points, is not done yet); no other module may start the CLI."""


def package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.name != "__init__.py" else ""


def imports(path: Path) -> set[str]:
    """Top-level names imported: ``anyrack.X`` as ``X`` (``from anyrack import X`` too), others by package."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names] if node.module == "anyrack" else [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            found.add(f"anyrack.{parts[1]}" if parts[0] == "anyrack" and len(parts) > 1 else parts[0])
    return found


MODULES = sorted(SRC.rglob("*.py"))


def test_every_package_has_a_rank() -> None:
    packages = {package(p) for p in MODULES} - {"", "lab"}
    assert packages <= set(RANK), f"new package(s) without a layer: {sorted(packages - set(RANK))}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(SRC).as_posix())
def test_imports_follow_the_layers(path: Path) -> None:
    rel, own = path.relative_to(SRC).as_posix(), package(path)
    wrong = []
    for name in sorted(imports(path)):
        target = name.removeprefix("anyrack.") if name.startswith("anyrack.") else None
        if target is None:
            if name in THIRD_PARTY and own not in THIRD_PARTY[name]:
                wrong.append(f"{name} (only {sorted(THIRD_PARTY[name])} may)")
            continue
        if target == own or target not in RANK and target != "lab":
            continue
        if target == "lab":
            if rel not in LAB_COMMANDS and own != "lab":
                wrong.append("anyrack.lab (the product never imports the lab)")
        elif own == "lab":
            if RANK[target] > RANK["provision"]:
                wrong.append(f"anyrack.{target} (the lab uses the product, not its CLI or Pulumi layer)")
        elif own and RANK[target] >= RANK[own]:
            wrong.append(f"anyrack.{target} (rank {RANK[target]} from rank {RANK[own]})")
    assert wrong == [], f"{rel} imports " + "; ".join(wrong)


def test_nothing_starts_the_cli_module() -> None:
    starts = {p.relative_to(SRC).as_posix() for p in MODULES
              if re.search(r"[\"']anyrack\.cli[.\w]*[\"']", p.read_text()) and package(p) != "cli"}
    assert starts == STARTS_CLI
