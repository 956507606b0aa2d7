"""Loading the example sites, the model's shape, and problems reported together in file order."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from anyrack.errors import InvalidInput
from anyrack.site import load_site

ROOT = Path(__file__).resolve().parents[3]
LAB = ROOT / "inventory/examples/lab/site.yaml"
HGX = ROOT / "inventory/examples/hgx-rack/site.yaml"


def test_lab_example() -> None:
    site = load_site(LAB)
    assert site.site == "lab"
    assert [(n.name, n.role) for n in site.nodes] == [("ctl1", "controller"), ("gpu1", "compute"),
                                                       ("gpu2", "compute")]
    node = site.nodes[1]
    assert (node.bmc.scheme, node.bmc.host, node.bmc.port) == ("redfish+https", "127.0.0.1", 8442)
    name, cred = site.credential_of(node)
    assert (name, cred.username, cred.password.describe()) == ("lab-bmc", "admin", "env:ANYRACK_LAB_BMC_PASSWORD")


def test_hgx_example() -> None:
    site = load_site(HGX)
    gpu = [n for n in site.nodes if n.role == "compute"]
    assert len(gpu) == 8
    assert {site.sku_of(n).gpu_count for n in gpu} == {8}
    assert site.networks.fabric is not None and site.networks.fabric.rails == 8
    assert site.credential_of(site.nodes[6])[0] == "bmc-factory"
    assert site.nodes[8].bmc.scheme == "ipmi"


def test_model_is_frozen() -> None:
    site = load_site(LAB)
    with pytest.raises(pydantic.ValidationError):
        site.nodes[0].u = 9  # type: ignore[misc]


def test_profile_from_url_or_key(tmp_path: Path) -> None:
    text = LAB.read_text().replace("bmc: redfish+https://127.0.0.1:8442",
                                   "bmc: redfish+https://127.0.0.1:8442?profile=openbmc")
    text = text.replace("bmc: redfish+https://127.0.0.1:8443",
                        "bmc: {url: 'redfish+https://127.0.0.1:8443', profile: generic}")
    (tmp_path / "site.yaml").write_text(text)
    site = load_site(tmp_path / "site.yaml")
    assert [n.bmc.profile_name for n in site.nodes] == [None, "openbmc", "generic"]


def test_all_problems_reported_in_line_order(tmp_path: Path) -> None:
    text = LAB.read_text().replace("u: 3", "u: 2").replace("10.77.0.22", "10.78.0.22")
    text = text.replace("role: compute\n", "role: computer\n", 1)
    (tmp_path / "site.yaml").write_text(text)
    with pytest.raises(InvalidInput) as err:
        load_site(tmp_path / "site.yaml", "site.yaml")
    # field errors come first (the model is not built until they are fixed)
    assert [str(p) for p in err.value.problems] == [
        "site.yaml:41: nodes[1].role: 'computer' is not one of: controller, login, compute",
    ]
    (tmp_path / "site.yaml").write_text(text.replace("computer", "compute"))
    with pytest.raises(InvalidInput) as err:
        load_site(tmp_path / "site.yaml", "site.yaml")
    assert [str(p) for p in err.value.problems] == [
        "site.yaml:46: nodes[2].u: U2 in rack 'lab' overlaps node 'gpu1'",
        "site.yaml:50: nodes[2].addresses.management: 10.78.0.22 is outside networks.management (10.77.0.0/24)",
    ]


def test_partition_hostlists_and_default(tmp_path: Path) -> None:
    site = load_site(HGX)
    gpu, debug = site.slurm.partitions
    assert gpu.default and gpu.nodes == ["gpu[001-008]"]
    assert debug.nodes == ["gpu001", "gpu002"] and not debug.default
