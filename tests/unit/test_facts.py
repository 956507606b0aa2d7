"""Facts files: canonical form, and located errors for bad ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anyrack.errors import InvalidInput
from anyrack.facts import load_facts, load_facts_dir

ROOT = Path(__file__).resolve().parents[2]
FACTS = ROOT / "inventory/examples/hgx-rack/facts"


def test_examples_are_canonical() -> None:
    for path in sorted(FACTS.glob("*.json")):
        assert load_facts(path, path.stem).to_json() == path.read_text(), path.name


def test_dir_warns_on_unknown_nodes(tmp_path: Path) -> None:
    (tmp_path / "gpu001.json").write_text((FACTS / "gpu001.json").read_text())
    (tmp_path / "stray.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("ignored")
    facts, warnings = load_facts_dir(tmp_path, {"gpu001", "gpu002"})
    assert list(facts) == ["gpu001"] and facts["gpu001"].system.serial == "HGX0001"
    assert warnings == [f"{tmp_path / 'stray.json'}: no node 'stray' in the site; ignored"]


def test_bad_facts_are_located(tmp_path: Path) -> None:
    doc = json.loads((FACTS / "gpu001.json").read_text())
    doc["gpus"][2]["model"] = 42
    (tmp_path / "gpu001.json").write_text(json.dumps(doc, indent=2, sort_keys=True))
    lines = (tmp_path / "gpu001.json").read_text().splitlines()
    line = [i for i, text in enumerate(lines, 1) if '"model": 42' in text][0]
    with pytest.raises(InvalidInput) as err:
        load_facts_dir(tmp_path, {"gpu001"})
    assert str(err.value) == f"{tmp_path / 'gpu001.json'}:{line}: gpus[2].model: expected text, got a number (42) " \
                             "(quote it: '42')"


def test_node_name_must_match_file(tmp_path: Path) -> None:
    (tmp_path / "gpu002.json").write_text((FACTS / "gpu001.json").read_text())
    with pytest.raises(InvalidInput, match=r"gpu002.json:\d+: node: says 'gpu001' but the file is named for 'gpu002'"):
        load_facts_dir(tmp_path, {"gpu002"})


def test_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="facts directory does not exist"):
        load_facts_dir(tmp_path / "nope", set())
