"""Golden firmware BOM: version order, verdicts per component, the CLI table, and the quarantine using the same."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from anyrack.cli.main import main
from anyrack.errors import InvalidInput
from anyrack.facts import NodeFacts
from anyrack.inventory.firmware import check_node, compare_versions, judge, worst
from anyrack.inventory.reconcile import reconcile
from anyrack.site import load_site

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "inventory/examples/hgx-rack"
GPU001 = json.loads((EXAMPLE / "facts/gpu001.json").read_text())
HGX_COMPONENTS = [  # as the HGX baseboard recording reports them (tests/bmc/test_firmware_inventory.py)
    {"id": "HGX_FW_BMC_0", "name": "Software Inventory", "kind": "bmc", "version": "HGX-22.10-1-rc80"},
    *({"id": f"HGX_FW_GPU_SXM_{i}", "name": "Software Inventory", "kind": "gpu", "version": "96.00.89.00.01"}
      for i in range(1, 9)),
    {"id": "NIC.Slot.1", "name": "Nvidia ConnectX-7 NDR 400Gb", "kind": "nic", "version": "28.39.1002"},
    {"id": "NIC.Slot.2", "name": "Broadcom 25Gb Ethernet", "kind": "nic", "version": "21.80.9"},
]


def facts(components: list[dict] | None = None, **firmware: str) -> NodeFacts:
    doc = json.loads(json.dumps(GPU001))
    doc["components"] = HGX_COMPONENTS if components is None else components
    doc["firmware"].update(firmware)
    return NodeFacts.model_validate(doc)


@pytest.mark.parametrize(("have", "want", "order"), [
    ("2.19.1", "2.19.1", 0), ("2.19.1", "2.19.10", -1), ("2.20", "2.19.10", 1), ("7.10.30.00", "7.9.99.99", 1),
    ("96.00.74.00.1C", "96.00.89.00.01", -1), ("A47 v2.58 (05/19/2022)", "A47 v2.60", -1), ("1.2", "1.2.0", -1),
    ("20E-1.40", "20E-1.40", 0), ("U8E112A", "U8E112A", 0),
])
def test_version_order(have: str, want: str, order: int) -> None:
    assert compare_versions(have, want) == order


def test_verdicts() -> None:
    assert [judge("2.19.1", v) for v in ("2.19.1", "2.19.0", "2.19.2", None, " ")] == \
        ["ok", "behind", "ahead", "unknown", "unknown"]
    assert [judge(">=2.19.1", v) for v in ("2.19.1", "2.19.0", "3.0")] == ["ok", "behind", "ok"]


def test_every_component_of_a_kind_and_models_by_name() -> None:
    bom = {"gpu": ">=96.00.89.00.01", "nic": {"ConnectX-7": "28.39.1002", "connectx 8": "40.1"},
           "bmc": "HGX-22.10-1-rc80"}
    checks = check_node(bom, facts())
    assert [(c.kind, c.component, c.verdict) for c in checks if c.kind != "gpu"] == [
        ("bmc", "HGX_FW_BMC_0", "ok"), ("nic", "NIC.Slot.1", "ok"), ("nic", "nic", "unknown")]
    assert [c.component for c in checks if c.kind == "gpu"] == [f"HGX_FW_GPU_SXM_{i}" for i in range(1, 9)]
    one_behind = [dict(c, version="96.00.74.00.1C") if c["id"] == "HGX_FW_GPU_SXM_3" else c for c in HGX_COMPONENTS]
    checks = check_node({"gpu": "96.00.89.00.01"}, facts(one_behind))
    assert [(c.component, c.found) for c in checks if c.verdict == "behind"] == [("HGX_FW_GPU_SXM_3", "96.00.74.00.1C")]
    assert worst(checks) == "behind"
    assert worst(check_node({"psu": "1.0"}, facts())) == "unknown"  # no PSU reported: unknown, never ok
    assert check_node({"gpu": "1"}, None)[0].verdict == "unknown"


def test_facts_without_components_use_the_firmware_keys() -> None:
    checks = check_node({"bios": "2.4.1", "gpu": "96.00.89.00.02"}, facts([]))
    assert [(c.kind, c.found, c.verdict) for c in checks] == [
        ("bios", "2.4.1", "ok"), ("gpu", "96.00.89.00.01", "behind")]


def test_quarantine_uses_the_same_comparison() -> None:
    site = load_site(EXAMPLE / "site.yaml")
    behind = [dict(c, version="96.00.74.00.1C") if c["kind"] == "gpu" else c for c in HGX_COMPONENTS]
    report = next(r for r in reconcile(site, {"gpu001": facts(behind)}) if r.node == "gpu001")
    found = {f.check: (f.declared, f.discovered, f.severity) for f in report.findings}
    assert report.quarantined
    assert found["component.gpu[HGX_FW_GPU_SXM_1]"] == (">=96.00.89.00.01", "96.00.74.00.1C (behind)", "mismatch")
    ok = next(r for r in reconcile(site, {"gpu001": facts()}) if r.node == "gpu001")
    assert not any(f.check.startswith("component.gpu") for f in ok.findings)


def test_check_command_on_the_example_rack(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["firmware", "check", str(EXAMPLE / "site.yaml"), "--facts", str(EXAMPLE / "facts")])
    out = capsys.readouterr().out
    assert rc == 0
    assert out.splitlines()[0].split() == ["node", "bios", "gpu"]
    assert out.splitlines()[3].split() == ["gpu001", "ok", "ok"]
    assert "gpu007   unknown   unknown" in out  # its facts carry no BIOS or GPU firmware
    assert out.rstrip().endswith("firmware: 9 ok, 0 behind, 0 ahead, 1 unknown")


def test_check_command_exits_1_when_a_node_is_behind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(EXAMPLE / "facts", tmp_path / "facts")
    doc = json.loads((tmp_path / "facts/gpu004.json").read_text())
    doc["firmware"]["bios"] = "2.3.9"
    (tmp_path / "facts/gpu004.json").write_text(json.dumps(doc))
    rc = main(["firmware", "check", str(EXAMPLE / "site.yaml"), "--facts", str(tmp_path / "facts"), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 1 and report["behind"] == ["gpu004"]
    assert report["nodes"]["gpu004"]["components"][0] == {
        "kind": "bios", "component": "bios", "wanted": "2.4.1", "found": "2.3.9", "verdict": "behind"}
    assert report["nodes"]["gpu007"]["verdict"] == "unknown"


def test_bad_bom_values_are_located(tmp_path: Path) -> None:
    text = (EXAMPLE / "site.yaml").read_text().replace(
        'firmware: {bios: "2.4.1", gpu: ">=96.00.89.00.01"}', 'firmware: {nic: {ConnectX-7: 28}, gpu: ">="}')
    (tmp_path / "site.yaml").write_text(text)
    with pytest.raises(InvalidInput) as err:
        load_site(tmp_path / "site.yaml")
    lines = [str(p) for p in err.value.problems]
    assert any("skus.hgx-h100-8.firmware.nic.ConnectX-7: expected text" in line for line in lines), lines
    assert any("skus.hgx-h100-8.firmware.gpu: '>=' is not a version" in line for line in lines), lines
