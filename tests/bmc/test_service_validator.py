"""DMTF's redfish-service-validator, offline, against the emulator: it may find no failure the recording lacks.

How the baseline (validator_baseline.json) is made: for each recorded tree, the validator crawls one
emulated BMC serving that tree with ``--mockup <tree>/redfish/v1``, which makes the validator read
every resource that exists as a file straight from the recording (only the login, and links that
lead outside the files, reach the emulator). Its failures are the recording's own: subtrees trimmed
from the fixtures (404), vendor data that breaks the schema, and so on. The test then crawls the same
tree through the emulator alone and fails on any failure (URI and message) not in the baseline.
Re-record after changing a fixture or the validator version:

    ANYRACK_RECORD_VALIDATOR_BASELINE=1 .venv/bin/pytest tests/bmc/test_service_validator.py

A full crawl takes about 15-25 s per tree here (2 cores), so no payload or collection limits are
used; the trees are crawled in parallel. Schemas come from ``tests/fixtures/dmtf-csdl`` (DMTF's
published CSDL, see its SOURCE.md) with ``--schema_directory`` and ``--skipschema``: nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import pytest

from anyrack.lab import BmcEntry, TreeSpec, serve_lab

pytestmark = pytest.mark.bmc

HERE = Path(__file__).resolve()
FIXTURES = HERE.parents[1] / "fixtures/redfish"
SCHEMAS = HERE.parents[1] / "fixtures/dmtf-csdl"
BASELINE = HERE.with_name("validator_baseline.json")
TREES = sorted(p.relative_to(FIXTURES).as_posix() for p in FIXTURES.glob("*/*") if (p / "redfish/v1").is_dir())
RECORD = os.environ.get("ANYRACK_RECORD_VALIDATOR_BASELINE") == "1"


def validator() -> list[str] | None:
    """The validator's console script in this venv (or on PATH)."""
    script = Path(sys.executable).with_name("rf_service_validator")
    found = str(script) if script.exists() else shutil.which("rf_service_validator")
    return [found] if found else None


def failures(log: Path) -> tuple[list[str], int]:
    """``URI | message`` of every FAIL in a validator debug log, and how many resources it validated
    (not counting sessions: the recording lists its recorder's sessions, the emulator the validator's own)."""
    found, uri, resources = [], "", 0
    for line in log.read_text(errors="replace").splitlines():
        validating = re.search(r" - INFO - Validating (.*)\.\.\.$", line)
        if validating:
            uri = validating.group(1)
            resources += not re.search(r"/SessionService/Sessions/.", uri)
            continue
        failed = re.search(r" - ERROR - FAIL - (.*)$", line)
        if failed:
            found.append(f"{uri} | {failed.group(1)}")
    return found, resources


def category(message: str) -> str:
    """The validator's error class of a failure (``Resource Error``, ``Property Value Error``, ...)."""
    match = re.search(r"([A-Z][A-Za-z ]*(?:Error|Warning)):", message.split(" | ", 1)[1])
    return match.group(1) if match else "Other"


def crawl(entry: BmcEntry, logdir: Path, mockup: Path | None = None) -> tuple[list[str], int]:
    """Run the validator over one BMC (session auth, schemas offline); its failures and resource count."""
    # --opt=value: a generated password may begin with "-", which argparse would take for an option
    command = [*validator(), "--rhost", entry.url, f"--user={entry.username}", f"--password={entry.password}",
               "--authtype", "Session", "--schema_directory", str(SCHEMAS), "--skipschema", "--logdir", str(logdir)]
    if mockup is not None:
        command += ["--mockup", str(mockup)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    logs = sorted(logdir.glob("*/RedfishServiceValidatorDebug_*.log"))
    assert logs, f"validator wrote no log (rc {done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}"
    return failures(logs[-1])


def record(entries: list[BmcEntry], workdir: Path) -> None:
    """Write the baseline: the validator reading the recorded files themselves (``--mockup``)."""
    with ThreadPoolExecutor(len(TREES)) as pool:
        runs = {t: pool.submit(crawl, e, workdir / f"mockup-{i}", FIXTURES / t / "redfish/v1")
                for i, (t, e) in enumerate(zip(TREES, entries, strict=True))}
        found = {t: run.result() for t, run in runs.items()}
    data = {
        "about": "Failures of redfish-service-validator on each recorded tree read with --mockup (the recording "
                 "itself); see tests/bmc/test_service_validator.py for how to re-record.",
        "validator": metadata.version("redfish-service-validator"),
        "trees": {t: {"resources": n, "failures": len(f),
                      "by_category": dict(sorted(Counter(map(category, f)).items())), "messages": sorted(f)}
                  for t, (f, n) in found.items()},
    }
    BASELINE.write_text(json.dumps(data, indent=2) + "\n")


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[str], int]]:
    if validator() is None:
        pytest.skip("redfish-service-validator is not installed (dev dependency group)")
    workdir = tmp_path_factory.mktemp("validator")
    with serve_lab([TreeSpec(FIXTURES / t) for t in TREES]) as entries:
        if RECORD:
            record(entries, workdir)
        with ThreadPoolExecutor(len(TREES)) as pool:
            runs = {t: pool.submit(crawl, e, workdir / f"emulator-{i}")
                    for i, (t, e) in enumerate(zip(TREES, entries, strict=True))}
            return {t: run.result() for t, run in runs.items()}


@pytest.mark.parametrize("tree", TREES)
def test_emulator_adds_no_validator_failures(tree: str, crawled: dict[str, tuple[list[str], int]]) -> None:
    recorded = json.loads(BASELINE.read_text())["trees"]
    assert tree in recorded, f"no validator baseline for {tree}: re-record it (see this module's docstring)"
    baseline = recorded[tree]
    found, resources = crawled[tree]
    assert resources >= baseline["resources"], f"the validator reached {resources} of {baseline['resources']}"
    assert baseline["failures"] == len(baseline["messages"])
    new = Counter(found) - Counter(baseline["messages"])
    assert not new, "failures the recording does not have:\n" + "\n".join(sorted(new))
