"""Inventory generation: layout, groups, determinism, stale files, and Ansible reading the result."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from anyrack.errors import OutputError
from anyrack.filetree import MARKER
from anyrack.inventory import generate_inventory

ROOT = Path(__file__).resolve().parents[3]
LAB = ROOT / "inventory/examples/lab/site.yaml"
HGX = ROOT / "inventory/examples/hgx-rack/site.yaml"
HGX_FACTS = ROOT / "inventory/examples/hgx-rack/facts"


def hosts(out: Path) -> dict[str, list[str]]:
    children = yaml.safe_load((out / "hosts.yml").read_text())["all"]["children"]
    return {group: sorted((body or {}).get("hosts") or {}) for group, body in children.items()}


def test_lab_layout(tmp_path: Path) -> None:
    result = generate_inventory(LAB, out=tmp_path / "gen")
    files = sorted(str(p.relative_to(tmp_path / "gen")) for p in (tmp_path / "gen").rglob("*") if p.is_file())
    assert files == [MARKER, "group_vars/all.yml", "group_vars/sku_lab_small.yml", "host_vars/ctl1.yml",
                     "host_vars/gpu1.yml", "host_vars/gpu2.yml", "hosts.yml"]
    assert hosts(tmp_path / "gen") == {
        "quarantine": [], "rack_lab": ["ctl1", "gpu1", "gpu2"], "role_compute": ["gpu1", "gpu2"],
        "role_controller": ["ctl1"], "sku_lab_small": ["ctl1", "gpu1", "gpu2"],
    }
    assert result.counts == {"ok": 0, "mismatch": 0, "undiscovered": 3}
    gpu1 = yaml.safe_load((tmp_path / "gen/host_vars/gpu1.yml").read_text())
    assert gpu1["ansible_host"] == "10.77.0.21"
    assert gpu1["anyrack_bmc"] == {"url": "redfish+https://127.0.0.1:8442", "transport": "redfish+https",
                                   "insecure": False, "credential": "lab-bmc", "username": "admin",
                                   "password_from": {"env": "ANYRACK_LAB_BMC_PASSWORD"}}
    all_vars = yaml.safe_load((tmp_path / "gen/group_vars/all.yml").read_text())
    assert all_vars["anyrack_slurm"]["partitions"] == [
        {"name": "batch", "nodes": "gpu[1-2]", "default": True, "max_time": "1:00:00"}]


def test_hgx_groups_and_quarantine(tmp_path: Path) -> None:
    result = generate_inventory(HGX, HGX_FACTS, tmp_path / "gen")
    groups = hosts(tmp_path / "gen")
    assert groups["quarantine"] == ["gpu005"]  # came back with 7 GPUs
    assert "gpu005" not in groups["role_compute"] and "gpu005" in groups["rack_r01"]
    assert groups["role_compute"] == ["gpu001", "gpu002", "gpu003", "gpu004", "gpu006", "gpu007", "gpu008"]
    assert groups["gpu_h100"] == [f"gpu00{i}" for i in range(1, 9)]
    assert groups["bmc_dell"] == ["gpu001", "gpu002"] and groups["bmc_ami"] == ["gpu007"]
    assert groups["role_login"] == ["login01"] and groups["sku_svc_1u"] == ["ctl01", "login01"]
    assert result.counts == {"ok": 9, "mismatch": 1, "undiscovered": 0}
    gpu007 = yaml.safe_load((tmp_path / "gen/host_vars/gpu007.yml").read_text())
    # IPMI sees no GPUs: the SKU's count stands, and the finding is 'unknown', not a mismatch
    assert gpu007["anyrack_gpu"] == {"model": "H100", "count": 8}
    assert {f["check"]: f["severity"] for f in gpu007["anyrack_reconcile"]["findings"]}["gpu_count"] == "unknown"
    gpu001 = yaml.safe_load((tmp_path / "gen/host_vars/gpu001.yml").read_text())
    assert gpu001["anyrack_facts"]["system"]["model"] == "PowerEdge XE9680"
    assert len(gpu001["anyrack_facts"]["gpus"]) == 8 and len(gpu001["anyrack_facts"]["macs"]) == 10


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_rerun_is_byte_identical_and_touches_nothing(tmp_path: Path) -> None:
    generate_inventory(HGX, HGX_FACTS, tmp_path / "gen")
    before = snapshot(tmp_path / "gen")
    again = generate_inventory(HGX, HGX_FACTS, tmp_path / "gen")
    assert again.sync is not None and again.sync.written == () and again.sync.removed == ()
    assert snapshot(tmp_path / "gen") == before
    # and from another checkout location: no absolute paths or times leak into the files
    shutil.copytree(ROOT / "inventory/examples/hgx-rack", tmp_path / "copy", ignore=shutil.ignore_patterns("generated"))
    generate_inventory(tmp_path / "copy/site.yaml", tmp_path / "copy/facts", tmp_path / "gen2")
    assert {k: v[0] for k, v in snapshot(tmp_path / "gen2").items()} == {k: v[0] for k, v in before.items()}


def test_stale_node_removed(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(LAB.read_text())
    generate_inventory(site)
    assert (tmp_path / "generated/host_vars/gpu2.yml").exists()
    text = site.read_text()
    start = text.index("  - name: gpu2")
    site.write_text(text[:start] + text[text.index("slurm:"):].replace('"gpu[1-2]"', "gpu1"))
    result = generate_inventory(site)
    assert result.sync is not None and result.sync.removed == ("host_vars/gpu2.yml",)
    assert not (tmp_path / "generated/host_vars/gpu2.yml").exists()
    assert "gpu2" not in (tmp_path / "generated/hosts.yml").read_text()


def test_refuses_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/notes.txt").write_text("precious")
    with pytest.raises(OutputError, match="has no .anyrack-generated marker"):
        generate_inventory(LAB, out=tmp_path / "mine")
    assert os.listdir(tmp_path / "mine") == ["notes.txt"]


def test_ansible_inventory_reads_the_groups(tmp_path: Path) -> None:
    generate_inventory(HGX, HGX_FACTS, tmp_path / "gen")
    tool = Path(sys.executable).parent / "ansible-inventory"
    env = {**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true", "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp")}
    graph = subprocess.run([str(tool), "-i", str(tmp_path / "gen"), "--graph"], capture_output=True, text=True,
                           check=True, env=env).stdout
    for group in ("@quarantine:", "@role_compute:", "@rack_r01:", "@sku_hgx_h100_8:", "@gpu_h100:", "@bmc_hpe:"):
        assert group in graph
    host = subprocess.run([str(tool), "-i", str(tmp_path / "gen"), "--host", "gpu003"], capture_output=True,
                          text=True, check=True, env=env).stdout
    data = yaml.safe_load(host)
    assert data["ansible_host"] == "10.30.0.23"
    assert data["anyrack_sku"]["gpu"]["count"] == 8  # group_vars/sku_* applied
    assert data["anyrack_slurm"]["cluster_name"] == "hgx"  # group_vars/all applied
