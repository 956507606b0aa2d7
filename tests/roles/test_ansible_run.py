"""The AnsibleRun provider (anyrack.iac.ansible) against the host lab: create runs the playbook, the
same hash is a no-op in diff, a changed role changes the hash and update re-runs it.

Pulumi's engine cannot run here (no Pulumi CLI): the provider's methods are called directly, as the
engine would call them, on real hosts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from anyrack.iac.ansible import PlaybookRunProvider, content_hash

pytestmark = pytest.mark.roles
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures/iac/ansible_run"


def test_ansible_run_provider_on_the_lab(provisioned, lab, tmp_path: Path, monkeypatch) -> None:
    work = tmp_path / "play"
    shutil.copytree(FIXTURE, work)
    inventory = str(lab.state_dir / "generated")
    monkeypatch.setenv("ANSIBLE_PRIVATE_KEY_FILE", str(lab.state_dir / "id_ed25519"))
    monkeypatch.setenv("ANSIBLE_ROLES_PATH", str(work / "roles"))
    # every lab up makes new host keys: none of them belongs in the user's known_hosts
    monkeypatch.setenv("ANSIBLE_SSH_ARGS", "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no")
    playbook, roles = str(work / "marker.yml"), str(work / "roles")

    def props() -> dict:
        return {"playbook": playbook, "inventory": inventory, "group": "role_compute",
                "hash": content_hash(playbook, inventory, roles),
                "extra_vars": {"ansible_user": "anyrack", "ansible_python_interpreter": "/usr/bin/python3"}}

    provider = PlaybookRunProvider()
    first = props()
    created = provider.create(first)
    assert created.outs["failed"] == 0 and created.outs["changed"] == 2, created.outs  # gpu1, gpu2
    assert lab.exec("gpu1", "cat", "/etc/anyrack-marker").stdout == "marker version 1 on gpu1\n"
    assert lab.exec("ctl1", "test", "-e", "/etc/anyrack-marker", check=False).returncode != 0  # group only

    assert provider.diff(created.id, created.outs, props()).changes is False  # same hash: nothing to do

    (work / "roles/lab_marker/templates/marker.j2").write_text("marker version 2 on {{ inventory_hostname }}\n")
    changed = props()
    assert changed["hash"] != first["hash"]
    assert provider.diff(created.id, created.outs, changed).changes is True
    updated = provider.update(created.id, created.outs, changed)
    assert updated.outs["changed"] == 2 and updated.outs["hash"] == changed["hash"]
    assert lab.exec("gpu2", "cat", "/etc/anyrack-marker").stdout == "marker version 2 on gpu2\n"
