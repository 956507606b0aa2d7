"""Test tiers: every test belongs to exactly one tier (a pytest marker); tests/unit/ is the unit tier."""

from __future__ import annotations

from pathlib import Path

import pytest

TIERS = ("unit", "bmc", "iac", "roles", "fabric", "lab")
ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(ROOT / "tests" / "unit"):
            item.add_marker(pytest.mark.unit)
        tiers = [t for t in TIERS if item.get_closest_marker(t)]
        if len(tiers) != 1:
            raise pytest.UsageError(f"{item.nodeid}: needs exactly one tier marker of {TIERS}, has {tiers}")
