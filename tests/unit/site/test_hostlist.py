from __future__ import annotations

import pytest

from anyrack.site.hostlist import HostlistError, compress, expand


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("ctl1", ["ctl1"]),
        ("gpu[1-3]", ["gpu1", "gpu2", "gpu3"]),
        ("gpu[001-003,007]", ["gpu001", "gpu002", "gpu003", "gpu007"]),
        ("a[1-2]b,c", ["a1b", "a2b", "c"]),
        ("r[1-2]n[1-2]", ["r1n1", "r1n2", "r2n1", "r2n2"]),
        ("gpu[8-10]", ["gpu8", "gpu9", "gpu10"]),
    ],
)
def test_expand(expr: str, names: list[str]) -> None:
    assert expand(expr) == names


@pytest.mark.parametrize("expr", ["gpu[1-", "gpu[a-b]", "gpu[3-1]", "gpu[[1]]", "a,,b", "gpu[1-999999999]"])
def test_expand_errors(expr: str) -> None:
    with pytest.raises(HostlistError):
        expand(expr)


def test_compress_round_trip() -> None:
    names = [f"gpu{i:04d}" for i in range(1, 1251) if i != 17] + ["ctl1", "login1"]
    text = compress(names)
    assert text == "ctl1,gpu[0001-0016,0018-1250],login1"
    assert sorted(expand(text)) == sorted(names)
    assert compress(["n1"]) == "n1"
