"""DMTF's redfish-protocol-validator and redfish-use-case-checkers against the emulator, every fixture tree.

One emulator process serves every tree (one BMC each); per tree, the protocol validator runs, then the
use-case checkers (accounts, power, boot override, manager interfaces, query parameters), and the
trees run in parallel. A failure is kept as ``ASSERTION METHOD URI`` (protocol validator) or
``CATEGORY | TEST | OPERATION`` (use cases), with numbers the tools choose (account and session ids,
generated user names) replaced by ``N``. The test fails on a failure not in the committed baseline
(dmtf_baseline.json) and on a baseline entry that no longer fails: the baseline may only shrink.
Re-record after fixing the emulator, changing a fixture or upgrading a tool:

    ANYRACK_RECORD_DMTF_BASELINE=1 .venv/bin/pytest tests/bmc/test_dmtf_checkers.py

This machine exports REQUESTS_CA_BUNDLE (the system store), which overrides the protocol validator's
``--ca-bundle``; both tools run with it pointed at the lab CA. The tools reach only the emulator's
loopback addresses (the Link headers' schema URLs are not fetched).
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import pytest

from anyrack.lab import BmcEntry, TreeSpec, serve_lab

pytestmark = pytest.mark.bmc

HERE = Path(__file__).resolve()
FIXTURES = HERE.parents[1] / "fixtures/redfish"
BASELINE = HERE.with_name("dmtf_baseline.json")
RUNNER = HERE.with_name("use_case_runner.py")
VALIDATOR = Path(sys.executable).with_name("rf_protocol_validator")
TREES = sorted(p.relative_to(FIXTURES).as_posix() for p in FIXTURES.glob("*/*") if (p / "redfish/v1").is_dir())
BUSY = threading.Semaphore(2)
"""Protocol validators running at once (2 cores here: 7 at once starve the emulator into client timeouts)."""
RECORD = os.environ.get("ANYRACK_RECORD_DMTF_BASELINE") == "1"
_NUMBERS = re.compile(r"(?<=/)\d+\b|\b(rfpv|testuser)[0-9a-f]+\b")


def _stable(text: str) -> str:
    return _NUMBERS.sub(lambda m: (m.group(1) or "") + "N", text)


def protocol_failures(entry: BmcEntry, workdir: Path) -> list[str]:
    """``ASSERTION METHOD URI`` of every FAIL of redfish-protocol-validator against one BMC."""
    env = {**os.environ, "REQUESTS_CA_BUNDLE": entry.ca}
    done = subprocess.run([str(VALIDATOR), "--rhost", entry.url, f"--user={entry.username}",
                           f"--password={entry.password}", "--ca-bundle", entry.ca, "--report-dir", str(workdir),
                           "--report-type", "tsv"], capture_output=True, text=True, env=env, timeout=600)
    reports = sorted(workdir.glob("*.tsv"))
    crash = done.stderr.strip().splitlines()[-1:] if "Traceback" in done.stderr else []
    if not reports and crash:  # e.g. an AccountService without Roles: the tool dereferences a missing answer
        return [f"CRASH {_stable(crash[0])}"]
    assert reports, f"no protocol validator report (rc {done.returncode}): " + done.stdout[-2000:] + done.stderr[-2000:]
    with reports[-1].open(newline="") as file:
        rows = list(csv.DictReader(file, delimiter="\t"))
    assert len(rows) > 50, f"only {len(rows)} results: the validator did not get far"
    return sorted({_stable(f"{r['Assertion']} {r['Method']} {r['URI']}") for r in rows if r["Result"] == "FAIL"})


def use_case_failures(entry: BmcEntry, workdir: Path) -> list[str]:
    """``CATEGORY | TEST | OPERATION`` of every FAIL of redfish-use-case-checkers against one BMC."""
    env = {**os.environ, "REQUESTS_CA_BUNDLE": entry.ca}
    done = subprocess.run([sys.executable, str(RUNNER), entry.url, entry.username, entry.password,
                           str(workdir / "use-cases.log")], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, f"use-case checkers crashed: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert any(r["result"] == "PASS" for r in results), f"no use case passed: {done.stdout[-2000:]}"
    return sorted({_stable(f"{r['category']} | {r['test']} | {r['operation']}") for r in results
                   if r["result"] == "FAIL"})


def check_tree(entry: BmcEntry, workdir: Path) -> dict[str, list[str]]:
    workdir.mkdir(parents=True)
    with BUSY:  # the validator is CPU-bound (and times out on a starved emulator); the use cases mostly wait
        protocol = protocol_failures(entry, workdir)
    return {"protocol": protocol, "use_cases": use_case_failures(entry, workdir)}


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[str]]]:
    if not VALIDATOR.is_file():
        pytest.skip("redfish-protocol-validator is not installed (dev dependency group)")
    workdir = tmp_path_factory.mktemp("dmtf")
    with serve_lab([TreeSpec(FIXTURES / t) for t in TREES]) as entries, ThreadPoolExecutor(len(TREES)) as pool:
        runs = {t: pool.submit(check_tree, e, workdir / f"tree{i}")
                for i, (t, e) in enumerate(zip(TREES, entries, strict=True))}
        found = {t: run.result() for t, run in runs.items()}
    if RECORD:
        BASELINE.write_text(json.dumps({
            "about": "Failures of DMTF's redfish-protocol-validator and redfish-use-case-checkers against the "
                     "emulator, per fixture tree; may only shrink (see tests/bmc/test_dmtf_checkers.py).",
            "redfish-protocol-validator": metadata.version("redfish-protocol-validator"),
            "redfish-use-case-checkers": metadata.version("redfish-use-case-checkers"),
            "trees": found}, indent=2) + "\n")
    return found


@pytest.mark.parametrize("tree", TREES)
def test_dmtf_checkers_find_nothing_new_and_the_baseline_only_shrinks(
        tree: str, checked: dict[str, dict[str, list[str]]]) -> None:
    recorded = json.loads(BASELINE.read_text())["trees"]
    assert tree in recorded, f"no DMTF baseline for {tree}: re-record it (see this module's docstring)"
    for tool in ("protocol", "use_cases"):
        found, baseline = set(checked[tree][tool]), set(recorded[tree][tool])
        assert not found - baseline, f"{tool}: failures not in the baseline:\n" + "\n".join(sorted(found - baseline))
        assert not baseline - found, (f"{tool}: now passing, remove from {BASELINE.name} (re-record):\n"
                                      + "\n".join(sorted(baseline - found)))
