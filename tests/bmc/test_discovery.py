"""Discovery of a site of emulated BMCs, with faulty BMCs of every kind: the rest completes, each
faulty BMC is reported with its cause, no facts file is half-written, and a rerun completes what failed."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import pytest

from anyrack.cli.main import main
from anyrack.facts import load_facts
from anyrack.lab.emulator import FAULT_KINDS, LabOptions, TreeSpec, serve_lab
from anyrack.lab.sitefile import lab_site, node_name

pytestmark = pytest.mark.bmc
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures/redfish"
TREES = ["dell/idrac9-r750", "hpe/ilo5-xl675d", "lenovo/xcc-sr670v2", "openbmc/hgx-h100-baseboard"]
PASSWORD = "lab-Pa55word-disc"
# Faults that the client rides out (retries, Retry-After, basic auth instead of a session) vs those
# that must be reported.
RECOVERED = {"503", "slow-power-on", "session-limit"}
FATAL_CAUSE = {"timeout": "timed out", "5xx": "HTTP 500", "401": "HTTP 401", "reset": "connection closed"}


def write_site(tmp_path: Path, entries: list) -> Path:
    site = tmp_path / "site.yaml"
    site.write_text(lab_site(entries, password_env="ANYRACK_TEST_BMC_PASSWORD"))
    return site


def discover(site: Path, out: Path, ca: str, *extra: str) -> int:
    return main(["discover", str(site), "--out", str(out), "--ca", ca, "--timeout", "2", *extra])


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYRACK_TEST_BMC_PASSWORD", PASSWORD)


def test_faulty_bmcs_are_reported_and_a_rerun_completes(tmp_path: Path, password: None,
                                                         capsys: pytest.CaptureFixture[str],
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    port_base = random.SystemRandom().randrange(20000, 32000, 100)  # below the ephemeral range
    faults = {kind: 0.1 for kind in FAULT_KINDS}
    trees = [TreeSpec(FIXTURES / t, count=10, faults=faults) for t in TREES]
    options = LabOptions(port_base=port_base, password=PASSWORD, seed=3)
    out = tmp_path / "facts"
    with serve_lab(trees, options) as entries:
        site = write_site(tmp_path, entries)
        fault_of = {node_name(i): (e.faults[0] if e.faults else None) for i, e in enumerate(entries)}
        assert {f for f in fault_of.values() if f} == set(FAULT_KINDS)  # every kind is present
        # an earlier good facts file of a BMC that now fails must survive untouched
        stale_node = next(n for n, f in fault_of.items() if f == "5xx")
        out.mkdir()
        (out / f"{stale_node}.json").write_text('{"old": true}\n')
        rc = discover(site, out, entries[0].ca, "--json")
        captured = capsys.readouterr()

    assert rc == 1
    outcomes = {o["node"]: o for o in json.loads(captured.out[: captured.out.rindex("]") + 1])}
    failed = {n for n, o in outcomes.items() if not o["ok"]}
    expected_failed = {n for n, f in fault_of.items() if f and f not in RECOVERED}
    assert failed == expected_failed, {n: (fault_of[n], outcomes[n]["cause"]) for n in failed ^ expected_failed}
    for node in failed:
        cause = outcomes[node]["cause"]
        assert cause.startswith(f"{node}: ") and FATAL_CAUSE[fault_of[node]] in cause, (fault_of[node], cause)
        assert f"failed: {cause}" in captured.err  # reported as it happens, with its cause
    for node in set(outcomes) - failed:
        facts = load_facts(out / f"{node}.json", node)
        assert facts.system.serial and facts.bmc.profile
    assert (out / f"{stale_node}.json").read_text() == '{"old": true}\n'
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    report = json.loads((out / ".discovery-report.json").read_text())
    assert set(report["failed"]) == failed
    # the BMC password appears in no output, log record, facts file or report
    written = "".join(p.read_text() for p in out.iterdir())
    assert PASSWORD not in captured.out + captured.err + caplog.text + written
    assert caplog.records  # the faulty BMCs did log (retries, session fallbacks)

    # The faults are fixed: --retry-failed discovers exactly the nodes that failed, and they succeed.
    with serve_lab([TreeSpec(FIXTURES / t, count=10) for t in TREES], options) as entries:
        rc = discover(site, out, entries[0].ca, "--retry-failed", "--json")
        captured = capsys.readouterr()
    assert rc == 0
    retried = json.loads(captured.out[: captured.out.rindex("]") + 1])
    assert {o["node"] for o in retried} == failed and all(o["ok"] for o in retried)
    assert len([p for p in out.glob("*.json") if not p.name.startswith(".")]) == len(outcomes)
    assert json.loads((out / ".discovery-report.json").read_text())["failed"] == {}
    # and the facts feed the inventory
    assert main(["inventory", "generate", str(site), "--facts", str(out), "--out", str(tmp_path / "gen")]) == 0
    assert "0 undiscovered" in capsys.readouterr().out


def test_missing_password_fails_before_any_bmc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ANYRACK_TEST_BMC_PASSWORD", raising=False)
    with serve_lab([TreeSpec(FIXTURES / TREES[0])], LabOptions(password=PASSWORD)) as entries:
        site = write_site(tmp_path, entries)
        assert discover(site, tmp_path / "facts", entries[0].ca) == 2
    assert capsys.readouterr().err.strip() == (
        "credential 'lab-bmc': environment variable ANYRACK_TEST_BMC_PASSWORD is not set; export it")
    assert not (tmp_path / "facts").exists()


def test_untrusted_certificate_is_a_clear_failure(tmp_path: Path, password: None,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with serve_lab([TreeSpec(FIXTURES / TREES[0])], LabOptions(password=PASSWORD)) as entries:
        site = write_site(tmp_path, entries)
        rc = main(["discover", str(site), "--out", str(tmp_path / "facts"), "--timeout", "2"])  # no --ca
    assert rc == 1
    assert "TLS certificate not trusted" in capsys.readouterr().err
