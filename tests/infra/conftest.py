"""testinfra suites, one per role, against the host lab after playbooks/site.yml (tier: roles).

Each suite asks for ``hosts``: testinfra Host objects over SSH (paramiko, the lab key, sudo) for
the lab's nodes. The lab and its provisioning are the session fixtures of tests/conftest.py; every
suite is marked with the roles tier.
"""

from __future__ import annotations

import pytest
import testinfra

ADDRESSES = {"ctl1": "10.77.0.11", "gpu1": "10.77.0.21", "gpu2": "10.77.0.22"}


@pytest.fixture(scope="session")
def hosts(provisioned, lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, testinfra.host.Host]:
    config = tmp_path_factory.mktemp("testinfra") / "ssh_config"
    config.write_text("".join(
        f"Host {name}\n  HostName {address}\n  User anyrack\n  IdentityFile {lab.state_dir / 'id_ed25519'}\n"
        "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n" for name, address in ADDRESSES.items()))
    return {name: testinfra.get_host(f"paramiko://{name}", ssh_config=str(config), sudo=True) for name in ADDRESSES}
