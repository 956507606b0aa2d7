"""Declared vs discovered: each check, and what counts as mismatch (quarantine) vs unknown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anyrack.facts import NodeFacts
from anyrack.inventory.reconcile import gpu_model_matches, reconcile
from anyrack.site import load_site

ROOT = Path(__file__).resolve().parents[3]
HGX = load_site(ROOT / "inventory/examples/hgx-rack/site.yaml")
GPU001 = json.loads((ROOT / "inventory/examples/hgx-rack/facts/gpu001.json").read_text())


def report_for(**changes: object):
    doc = json.loads(json.dumps(GPU001))
    for dotted, value in changes.items():
        target = doc
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[part]
        target[last] = value
    facts = NodeFacts.model_validate(doc)
    return next(r for r in reconcile(HGX, {"gpu001": facts}) if r.node == "gpu001")


def findings(report) -> dict[str, tuple[str, str, str]]:
    return {f.check: (f.declared, f.discovered, f.severity) for f in report.findings}


def test_clean_node_is_ok() -> None:
    report = report_for()
    assert (report.status, report.findings) == ("ok", ())


def test_undiscovered_nodes() -> None:
    reports = reconcile(HGX, {})
    assert {r.status for r in reports} == {"undiscovered"} and len(reports) == 10


@pytest.mark.parametrize(
    ("changes", "check", "expected"),
    [
        ({"system__serial": "OTHER9"}, "serial", ("HGX0001", "OTHER9", "mismatch")),
        ({"system__serial": None}, "serial", ("HGX0001", "not reported", "unknown")),
        ({"gpus": GPU001["gpus"][:6]}, "gpu_count", ("8", "6", "mismatch")),
        ({"gpus": [{**g, "model": "NVIDIA A100-SXM4-80GB"} for g in GPU001["gpus"]]}, "gpu_model",
         ("H100", "NVIDIA A100-SXM4-80GB", "mismatch")),
        ({"nics": GPU001["nics"][:9]}, "mac_count", ("10", "9", "mismatch")),
        ({"nics": GPU001["nics"][:9], "nics_complete": False}, "mac_count", ("10", "9", "unknown")),
        ({"firmware__bios": "2.3.0"}, "firmware.bios", ("2.4.1", "2.3.0", "mismatch")),
        ({"firmware": {"bios": "2.4.1"}}, "firmware.gpu_vbios", ("96.00.89.00.01", "not reported", "unknown")),
    ],
)
def test_each_check(changes: dict, check: str, expected: tuple[str, str, str]) -> None:
    report = report_for(**changes)
    assert findings(report)[check] == expected
    assert report.quarantined == (expected[2] == "mismatch")


def test_duplicated_macs_count_once() -> None:
    nics = GPU001["nics"] + [{"name": "dup", "mac": GPU001["nics"][0]["mac"]}]
    assert "mac_count" not in findings(report_for(nics=nics))


def test_serial_compare_ignores_case_and_spaces() -> None:
    assert report_for(system__serial=" hgx0001 ").status == "ok"


@pytest.mark.parametrize(
    ("declared", "reported", "match"),
    [("H100", "NVIDIA H100 80GB HBM3", True), ("h100-sxm5", "NVIDIA H100 SXM5 80GB", True),
     ("H100", "NVIDIA H200", False), ("A100-SXM4", "NVIDIA A100-PCIE-40GB", False)],
)
def test_gpu_model_matches(declared: str, reported: str, match: bool) -> None:
    assert gpu_model_matches(declared, reported) is match
