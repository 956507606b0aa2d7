"""The defensive YAML reader: data, key lines, and one located problem for each kind of hostile input."""

from __future__ import annotations

import pytest

from anyrack.document import MAX_VALUES, format_key, load, parse
from anyrack.errors import InvalidInput


def problem_of(text: str | bytes, tmp_path) -> str:
    path = tmp_path / "s.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    with pytest.raises(InvalidInput) as err:
        load(path, "s.yaml")
    assert len(err.value.problems) == 1
    return str(err.value.problems[0])


def test_data_and_lines() -> None:
    doc = parse("a: 1\nb:\n  - x: true\n    y: [1, 2]\n  - x: null\n", "s.yaml")
    assert doc.data == {"a": 1, "b": [{"x": True, "y": [1, 2]}, {"x": None}]}
    assert doc.line_of(("b", 0, "y")) == 4
    assert doc.line_of(("b", 1)) == 5
    assert doc.line_of(("b", 1, "missing", 3)) == 5  # nearest known ancestor
    assert doc.problem(("b", 1, "x"), "bad").__str__() == "s.yaml:5: b[1].x: bad"


def test_format_key() -> None:
    assert format_key(("nodes", 3, "bmc")) == "nodes[3].bmc"
    assert format_key((0, "a")) == "[0].a"
    assert format_key(()) == ""


def test_merge_keys_explicit_wins() -> None:
    doc = parse("d: &d {x: 1, y: 2}\ne:\n  <<: *d\n  y: 3\n", "s.yaml")
    assert doc.data["e"] == {"x": 1, "y": 3}
    assert doc.line_of(("e", "y")) == 4


def test_duplicate_key_names_second_line(tmp_path) -> None:
    assert problem_of("a: 1\nb:\n  c: 1\n  c: 2\n", tmp_path) == \
        "s.yaml:4: b.c: duplicate key (first set on line 3); keep one"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "s.yaml: file is empty; expected a YAML mapping"),
        ("# nothing\n\n", "s.yaml: file is empty; expected a YAML mapping"),
        ("a:\n\tb: 1\n", "s.yaml:2: tab character where YAML needs spaces; indent with spaces only"),
        ("a: 1\n---\nb: 2\n", "s.yaml:2: more than one YAML document in the file"),
        ("a: &a [*a]\n", "s.yaml:1: an alias refers to the mapping or list that contains it"),
        ("a: *x\n", "s.yaml:1: not valid YAML: found undefined alias"),
        ("a: [1, 2\n", "s.yaml:1: not valid YAML"),  # the unclosed '[' is on line 1
        ("{[1]: 2}\n", "s.yaml:1: a key must be a plain value"),
    ],
)
def test_hostile_text(text: str, expected: str, tmp_path) -> None:
    assert problem_of(text, tmp_path).startswith(expected)


def test_not_utf8_names_line_and_byte(tmp_path) -> None:
    assert problem_of(b"a: 1\nb: caf\xe9\n", tmp_path) == \
        "s.yaml:2: not valid UTF-8 (byte 0xe9 at column 7); save the file as UTF-8"


def test_utf8_bom_is_accepted(tmp_path) -> None:
    (tmp_path / "s.yaml").write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert load(tmp_path / "s.yaml").data == {"a": 1}


def test_alias_bomb_is_refused_quickly(tmp_path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    message = problem_of("\n".join(lines) + "\n", tmp_path)
    assert f"aliases expand to more than {MAX_VALUES:,} values" in message


def test_directory_missing_and_huge(tmp_path) -> None:
    with pytest.raises(InvalidInput, match="is a directory"):
        load(tmp_path)
    with pytest.raises(InvalidInput, match="no such file"):
        load(tmp_path / "nope.yaml")
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(50 * 2**20)  # sparse: instant
    with pytest.raises(InvalidInput, match=r"file is 50\.0 MiB; the limit is 16 MiB"):
        load(big)
