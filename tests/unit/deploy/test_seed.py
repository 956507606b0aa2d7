"""The NoCloud seed of a node: what cloud-init reads, parsed back as YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from anyrack.deploy.seed import FILES, nocloud_seed
from anyrack.errors import InputError
from anyrack.site import load_site

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk0b2ZvbGRlZC1ieS1hbnlyYWNrLXRlc3Q= ops@dc1"


@pytest.fixture
def site(tmp_path: Path):  # noqa: ANN201
    doc = {"version": 1, "site": "dc1", "domain": "dc1.example.org", "defaults": {"bmc_credential": "b"},
           "credentials": {"b": {"username": "root", "password": {"env": "X"}}},
           "networks": {"bmc": {"cidr": "10.10.0.0/16"},
                        "management": {"cidr": "10.20.0.0/16", "gateway": "10.20.0.1", "mtu": 9000}},
           "racks": [{"name": "r1"}], "skus": {"s": {"cpu": "2 vCPU", "memory_gib": 1}},
           "nodes": [{"name": "ctl1", "rack": "r1", "u": 1, "sku": "s", "role": "controller",
                      "bmc": "redfish+https://10.10.0.2", "addresses": {"management": "10.20.0.2"}},
                     {"name": "gpu001", "rack": "r1", "u": 2, "sku": "s", "role": "compute",
                      "bmc": "redfish+https://10.10.0.3", "addresses": {"management": "10.20.1.7"},
                      "boot_mac": "52:54:00:AB:CD:01"}]}
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(doc))
    return load_site(tmp_path / "site.yaml")


def test_seed_files_say_who_the_node_is(site) -> None:  # noqa: ANN001
    seed = nocloud_seed(site, site.nodes[1], [KEY], instance="20261207T2300Z")
    assert sorted(seed) == sorted(FILES)
    assert yaml.safe_load(seed["meta-data"]) == {"instance-id": "anyrack-gpu001-20261207T2300Z",
                                                 "local-hostname": "gpu001"}
    assert seed["user-data"].startswith("#cloud-config\n")
    user = yaml.safe_load(seed["user-data"])
    assert (user["hostname"], user["fqdn"], user["ssh_pwauth"]) == ("gpu001", "gpu001.dc1.example.org", False)
    assert user["users"] == [{"name": "anyrack", "lock_passwd": True, "shell": "/bin/bash",
                              "sudo": "ALL=(ALL) NOPASSWD:ALL", "ssh_authorized_keys": [KEY]}]
    net = yaml.safe_load(seed["network-config"])
    assert net == {"version": 2, "ethernets": {"boot0": {
        "match": {"macaddress": "52:54:00:ab:cd:01"}, "set-name": "boot0", "addresses": ["10.20.1.7/16"],
        "mtu": 9000, "routes": [{"to": "default", "via": "10.20.0.1"}]}}}
    assert "password" not in "".join(seed.values()).replace("lock_passwd", "").replace("ssh_pwauth", "")


@pytest.mark.parametrize(("node", "keys", "message"), [
    (0, [KEY], "ctl1: no boot_mac"),
    (1, [], "gpu001: no SSH public key for anyrack"),
    (1, ["-----BEGIN OPENSSH PRIVATE KEY-----"], "gpu001: an SSH key for the seed is not a public key"),
])
def test_a_seed_that_would_strand_the_node_is_refused(site, node: int, keys: list, message: str) -> None:  # noqa: ANN001
    with pytest.raises(InputError, match=message):
        nocloud_seed(site, site.nodes[node], keys)
