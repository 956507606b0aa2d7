"""The Quirks record and the shared symptom list: no dead switch, no symptom pointing nowhere."""

from __future__ import annotations

import ast
import dataclasses
import functools
from pathlib import Path

import pytest

from anyrack.bmc.quirks import Quirks
from anyrack.bmc.symptoms import SYMPTOM_NAMES, SYMPTOMS, symptom

SRC = Path(__file__).resolve().parents[3] / "src/anyrack"
QUIRK_FIELDS = [f.name for f in dataclasses.fields(Quirks)]


@functools.cache
def _attributes_read() -> set[str]:
    """Every ``<something>.name`` read (not assigned) in the product, outside the Quirks record and the profiles
    that only set switches."""
    names: set[str] = set()
    for path in SRC.rglob("*.py"):
        if path.name == "quirks.py" or "profiles" in path.parts or "lab" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                names.add(node.attr)
    return names


@pytest.mark.parametrize("name", QUIRK_FIELDS)
def test_every_quirk_is_read_by_the_product(name: str) -> None:
    """A switch that no code reads is a dead switch: configuring it would silently do nothing."""
    assert name in _attributes_read(), f"Quirks.{name} is never read outside bmc/quirks.py and the profiles"


def test_the_read_check_catches_a_dead_switch() -> None:
    assert "boot_patch_needs_enabled" not in _attributes_read()  # removed: no code ever read it


def test_every_symptom_names_an_existing_quirk_once() -> None:
    assert len(set(SYMPTOM_NAMES)) == len(SYMPTOMS)
    assert {s.quirk for s in SYMPTOMS if s.quirk} <= set(QUIRK_FIELDS)
    assert symptom("media_boots_as_usbcd").quirk == "media_boot_target"
    with pytest.raises(KeyError):
        symptom("no_such_symptom")
