"""A SKU's burnin section: accepted and passed on as anyrack_sku.burnin, and each bad threshold refused with
one line naming file, line and key (as tests/unit/site/test_bad_sites.py checks the rest of the file)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from anyrack.cli.main import main
from anyrack.inventory import generate_inventory

ROOT = Path(__file__).resolve().parents[3]
HGX = ROOT / "inventory/examples/hgx-rack/site.yaml"
HGX_FACTS = ROOT / "inventory/examples/hgx-rack/facts"
ANCHOR = '    bom: {bios: "2.4.1", gpu_vbios: "96.00.89.00.01"}\n'
GOOD = """\
    burnin:
      gate_level: 2
      ecc_uncorrected_max: 0
      dcgm_diag_level: 3
      nvbandwidth_min_gbytes_s: {h2d: 50, d2h: 50, d2d: 350}
      nccl_busbw_min_gbytes_s: 420.5
      nccl_min_bytes: 1M
      nccl_max_bytes: 8G
      hpl: true
"""


def site_with(tmp: Path, burnin: str) -> tuple[Path, int]:
    """The HGX example with ``burnin`` under its GPU SKU, and the line number of its first line."""
    text = HGX.read_text()
    assert text.count(ANCHOR) == 1
    path = tmp / "site.yaml"
    path.write_text(text.replace(ANCHOR, ANCHOR + burnin))
    return path, text[:text.index(ANCHOR)].count("\n") + 2


def test_burnin_reaches_the_inventory(tmp_path: Path) -> None:
    path, _ = site_with(tmp_path, GOOD)
    generate_inventory(path, HGX_FACTS, tmp_path / "gen")
    sku = yaml.safe_load((tmp_path / "gen/group_vars/sku_hgx_h100_8.yml").read_text())["anyrack_sku"]
    assert sku["burnin"] == {
        "gate_level": 2, "ecc_uncorrected_max": 0, "allow_pending_remap": False, "pcie_full_width": True,
        "dcgm_diag_level": 3, "nvbandwidth_min_gbytes_s": {"h2d": 50.0, "d2h": 50.0, "d2d": 350.0},
        "nccl_busbw_min_gbytes_s": 420.5, "nccl_min_bytes": 2**20, "nccl_max_bytes": 8 * 2**30, "hpl": True}
    other = yaml.safe_load((tmp_path / "gen/group_vars/sku_svc_1u.yml").read_text())["anyrack_sku"]
    assert "burnin" not in other  # no section: the role's defaults (level-1 limits, gate level 1)


def test_empty_burnin_is_the_defaults(tmp_path: Path) -> None:
    path, _ = site_with(tmp_path, "    burnin: {}\n")
    generate_inventory(path, HGX_FACTS, tmp_path / "gen")
    sku = yaml.safe_load((tmp_path / "gen/group_vars/sku_hgx_h100_8.yml").read_text())["anyrack_sku"]
    assert sku["burnin"] == {"gate_level": 1, "ecc_uncorrected_max": 0, "allow_pending_remap": False,
                             "pcie_full_width": True, "dcgm_diag_level": 2, "nvbandwidth_min_gbytes_s": {},
                             "nccl_min_bytes": 8, "nccl_max_bytes": 8 * 2**30, "hpl": False}


KEY = "skus.hgx-h100-8.burnin"
BAD = {
    # section text, offset of the line cited from the section's first line, key, message
    "busbw-negative": ("    burnin:\n      nccl_busbw_min_gbytes_s: -5\n", 1, f"{KEY}.nccl_busbw_min_gbytes_s",
                       "-5: must be greater than 0"),
    "gate-level-4": ("    burnin:\n      gate_level: 4\n", 1, f"{KEY}.gate_level",
                     "4: must be less than or equal to 3"),
    "dcgm-level-0": ("    burnin: {dcgm_diag_level: 0}\n", 0, f"{KEY}.dcgm_diag_level",
                     "0: must be greater than or equal to 1"),
    "ecc-negative": ("    burnin:\n      ecc_uncorrected_max: -1\n", 1, f"{KEY}.ecc_uncorrected_max",
                     "-1: must be greater than or equal to 0"),
    "size-unit": ("    burnin:\n      nccl_max_bytes: 8X\n", 1, f"{KEY}.nccl_max_bytes",
                  "'8X' is not a size in bytes (a whole number, or one with K, M or G: 8, 512M, 8G)"),
    "sizes-reversed": ("    burnin:\n      nccl_min_bytes: 1G\n      nccl_max_bytes: 1M\n", 0, KEY,
                       "nccl_min_bytes (1073741824) is above nccl_max_bytes (1048576)"),
    "bandwidth-text": ("    burnin:\n      nvbandwidth_min_gbytes_s: {h2d: fast}\n", 1,
                       f"{KEY}.nvbandwidth_min_gbytes_s.h2d", "expected a number, got text 'fast'"),
    "bandwidth-direction": ("    burnin:\n      nvbandwidth_min_gbytes_s: {h2h: 50}\n", 1,
                            f"{KEY}.nvbandwidth_min_gbytes_s.h2h", "unknown key; did you mean 'h2d'?"),
    "misspelt-key": ("    burnin:\n      dcgm_diag_levl: 2\n", 1, f"{KEY}.dcgm_diag_levl",
                     "unknown key; did you mean 'dcgm_diag_level'?"),
    "bool-as-text": ("    burnin:\n      allow_pending_remap: 'yes'\n", 1, f"{KEY}.allow_pending_remap",
                     "expected true or false, got text 'yes'"),
}


@pytest.mark.parametrize(("section", "offset", "key", "message"), BAD.values(), ids=BAD.keys())
def test_bad_threshold_is_refused_on_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str,
                                              offset: int, key: str, message: str) -> None:
    path, line = site_with(tmp_path, section)
    capsys.readouterr()
    rc = main(["inventory", "generate", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.splitlines()[0] == f"{path}:{line + offset}: {key}: {message}"
    assert not (tmp_path / "out").exists()
