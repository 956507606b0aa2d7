"""Property tests of the two loaders that read operators' and discovery's files (issue #21): random bytes and
random mutations of valid files, fed through the CLI in-process, are either accepted or refused with exit code
2 and located lines; never a traceback or an internal error, never a hang (each example runs under an
alarm), never a write when refused. Derandomized with a fixed number of examples, so CI sees the same cases."""

from __future__ import annotations

import json
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyrack.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SITE = (ROOT / "tests/fixtures/hostile/site.yaml").read_bytes()
# a valid facts file of the fixture site's gpu1: a recorded one from the example rack, renamed
_RECORDED = json.loads(sorted((ROOT / "inventory/examples/hgx-rack/facts").glob("*.json"))[0].read_text())
FACT = json.dumps({**_RECORDED, "node": "gpu1"}, indent=2).encode()
ALARM_S = 20
TOKENS = [b"\n", b"\t", b": ", b"- ", b"&a ", b"*a", b"[", b"{", b'"', b"\x00", b"\xff", b"---\n", b"!!python/object ",
          b"[0-99999]", b"<<: *a\n", b"\\n"]
SETTINGS = settings(max_examples=150, derandomize=True, deadline=timedelta(seconds=10), database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


class Hang(Exception):
    pass


@contextmanager
def alarm(seconds: int) -> Iterator[None]:
    def ring(signum: int, frame: object) -> None:
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` after one to four edits: a byte replaced, bytes inserted, a slice deleted or a line repeated."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "repeat"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "replace" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16) | st.sampled_from(TOKENS))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        else:
            lines = bytes(data).splitlines(keepends=True)
            if lines:
                i = draw(st.integers(0, len(lines) - 1))
                data = bytearray(b"".join(lines[: i + 1] + lines[i:]))
    return bytes(data)


def check(rc: int, err: str) -> None:
    assert rc in (0, 2), err
    assert "Traceback" not in err and "internal error" not in err, err
    if rc == 2:
        assert err.strip(), "refused without a message"


def run_site(data: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "site.yaml", Path(tmp) / "generated"
        path.write_bytes(data)
        capsys.readouterr()
        with alarm(ALARM_S):
            rc = main(["inventory", "generate", str(path), "--out", str(out)])
        check(rc, capsys.readouterr().err)
        if rc == 2:
            assert sorted(p.name for p in Path(tmp).iterdir()) == ["site.yaml"], "refused, but something was written"


def run_facts(data: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        site, facts, out = Path(tmp) / "site.yaml", Path(tmp) / "facts", Path(tmp) / "generated"
        site.write_bytes(SITE)
        facts.mkdir()
        (facts / "gpu1.json").write_bytes(data)
        capsys.readouterr()
        with alarm(ALARM_S):
            rc = main(["inventory", "generate", str(site), "--facts", str(facts), "--out", str(out)])
        check(rc, capsys.readouterr().err)
        if rc == 2:
            assert not out.exists(), "refused, but the inventory was written"


@SETTINGS
@given(data=st.binary(max_size=2048))
def test_site_loader_random_bytes(data: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    run_site(data, capsys)


@SETTINGS
@given(data=mutated(SITE))
def test_site_loader_mutated_valid_site(data: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    run_site(data, capsys)


@SETTINGS
@given(data=st.binary(max_size=2048))
def test_facts_loader_random_bytes(data: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    run_facts(data, capsys)


@SETTINGS
@given(data=mutated(FACT))
def test_facts_loader_mutated_valid_facts(data: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    run_facts(data, capsys)
