"""Sites for the fabric unit tests: the example HGX rack, variants of it, and generated sites."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from anyrack.site.checks import check_site
from anyrack.site.model import Site

ROOT = Path(__file__).resolve().parents[3]
HGX = ROOT / "inventory/examples/hgx-rack/site.yaml"
HGX_FACTS = ROOT / "inventory/examples/hgx-rack/facts"
SMALL = ROOT / "tests/fabric/site.yaml"
GOLDEN = ROOT / "tests/fixtures/fabric/golden"


def site_data(path: Path = HGX) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def build_site(data: dict[str, Any]) -> Site:
    """A checked Site from plain data (raises AssertionError with the findings if it is not valid)."""
    site = Site.model_validate(data)
    findings = check_site(site)
    assert not findings, findings
    return site


def with_fabric(data: dict[str, Any], **fabric: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    out["networks"]["fabric"].update(fabric)
    return out


def generated_site(nodes: int, rails: int, per_rail: int = 1, **fabric: Any) -> dict[str, Any]:
    """A valid site: one controller and ``nodes`` rail nodes in racks of 40, management 10.0.0.0/16."""
    data: dict[str, Any] = {
        "version": 1, "site": "gen", "defaults": {"bmc_credential": "bmc"},
        "credentials": {"bmc": {"username": "a", "password": {"env": "PW"}}},
        "networks": {"bmc": {"cidr": "10.1.0.0/16"}, "management": {"cidr": "10.0.0.0/16"},
                     "fabric": {"type": "roce", "rails": rails, "cidr": "100.64.0.0/10", **fabric}},
        "racks": [{"name": f"r{i}", "height": 48} for i in range(nodes // 40 + 1)],
        "skus": {"svc": {"cpu": "x", "memory_gib": 1},
                 "gpu": {"cpu": "x", "memory_gib": 1, "rdma": {"rails": rails, "nics_per_rail": per_rail}}},
        "nodes": [{"name": "ctl", "rack": "r0", "u": 48, "sku": "svc", "role": "controller",
                   "bmc": "ipmi://10.1.255.1", "addresses": {"management": "10.0.255.1"}}],
    }
    for i in range(nodes):
        data["nodes"].append({"name": f"n{i:04d}", "rack": f"r{i // 40}", "u": i % 40 + 1, "sku": "gpu",
                              "role": "compute", "bmc": f"ipmi://10.1.{i // 250}.{i % 250 + 1}",
                              "addresses": {"management": f"10.0.{i // 250}.{i % 250 + 1}"}})
    return data


def host_files(files: dict[str, str], node: str) -> dict[str, str]:
    """The files role rdma_network installs on ``node`` (destination → text), from its hosts/<node>.yml."""
    return yaml.safe_load(files[f"hosts/{node}.yml"])["files"]


def env_lines(text: str) -> dict[str, str]:
    """KEY=VALUE lines (comments and blank lines skipped)."""
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
