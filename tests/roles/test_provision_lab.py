"""anyrack provision on the host lab: the operator's path through ansible-runner against real hosts.

The cluster is provisioned already (fixture): a run of site.yml changes nothing and keeps the MUNGE
key and the database password out of every output and artifact; an unreachable host and a wrong
sudo password each fail naming the host while the other hosts finish unchanged.
"""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.roles


def _provision(lab, site: Path, *args: str):  # noqa: ANN202
    return lab.cli("provision", str(site), "--private-key", str(lab.state_dir / "id_ed25519"),
                   "-e", f"@{lab.state_dir / 'lab-vars.yml'}", *args, check=False, timeout=900)


def _recap(out: str) -> dict[str, list[int]]:
    return {m[0]: [int(n) for n in m[1:]] for m in re.findall(r"^(\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$",
                                                              out, re.M)}


def _artifacts(out: str) -> Path:
    return Path(re.search(r"^artifacts: (\S+)$", out, re.M).group(1))


def test_site_run_changes_nothing_and_leaks_no_secret(provisioned, lab, site_three) -> None:
    done = _provision(lab, site_three)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    rows = _recap(done.stdout)
    assert set(rows) == {"ctl1", "gpu1", "gpu2"} and all(r[1] == 0 and r[2] == 0 for r in rows.values()), rows
    state = Path.home() / ".local/state/anyrack"
    key = (state / "munge/lab.key").read_bytes()
    password = (state / "slurmdbd/lab.db-password").read_text().strip()
    planted = [password, key[:24].hex(), base64.b64encode(key[:24]).decode()[:24]]
    artifacts = _artifacts(done.stdout)
    files = [p for p in artifacts.rglob("*") if p.is_file()]
    assert any(p.parent.name == "job_events" for p in files)
    for text in planted:
        assert text not in done.stdout + done.stderr
        for path in files:
            assert text.encode() not in path.read_bytes(), path


def test_unreachable_host_is_named_and_the_others_finish(provisioned, lab, site_three, tmp_path: Path) -> None:
    # gpu2 as if its sshd were down: the inventory sends Ansible to a port nothing listens on
    inventory = tmp_path / "inventory"
    shutil.copytree(lab.state_dir / "generated", inventory)
    host_vars = inventory / "host_vars/gpu2.yml"
    host_vars.write_text(host_vars.read_text() + "ansible_port: 2222\n")
    done = _provision(lab, site_three, "--inventory", str(inventory), "--limit", "gpu1,gpu2")
    assert done.returncode == 1
    assert re.search(r"^gpu2: unreachable: .*10\.77\.0\.22 port 2222", done.stderr, re.M), done.stderr
    rows = _recap(done.stdout)
    assert rows["gpu2"][3] == 1 and rows["gpu1"][1:4] == [0, 0, 0], rows  # gpu1: ran, nothing changed
    assert "gpu1" not in done.stderr


def test_wrong_sudo_password_is_named_and_not_printed(provisioned, lab, site_three) -> None:
    # An operator account whose sudo asks for a password (the lab user's does not).
    pub = (lab.state_dir / "id_ed25519.pub").read_text().strip()
    lab.exec("gpu1", "sh", "-c", "id ops >/dev/null 2>&1 || useradd -m -s /bin/bash -G sudo ops; "
             "echo 'ops:the-right-one-4711' | chpasswd; install -d -m 700 -o ops -g ops ~ops/.ssh; "
             f"echo '{pub}' > ~ops/.ssh/authorized_keys; chown ops:ops ~ops/.ssh/authorized_keys")
    wrong = "not-the-sudo-password-0815"
    try:
        done = _provision(lab, site_three, "--limit", "gpu1", "-e", "ansible_user=ops",
                          "-e", f"ansible_become_password={wrong}")
    finally:
        lab.exec("gpu1", "userdel", "-r", "ops", check=False)
    assert done.returncode == 1
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("gpu1: ")]
    assert "sudo password" in line.lower(), line
    assert wrong not in done.stdout + done.stderr
    for path in (p for p in _artifacts(done.stdout).rglob("*") if p.is_file()):
        assert wrong.encode() not in path.read_bytes(), path
    assert _recap(done.stdout)["gpu1"][2] == 1
    assert lab.exec("gpu1", "systemctl", "is-active", "slurmd").stdout.strip() == "active"  # nothing was touched
