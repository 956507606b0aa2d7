"""playbooks/site.yml on the host lab: base, munge, slurm_controller, slurm_node; idempotent; Slurm answers."""

from __future__ import annotations

import re
import time

import pytest

pytestmark = pytest.mark.roles


def _changed(output: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)}


def test_second_run_changes_nothing(provisioned):
    changed = _changed(provisioned["second"].stdout)
    assert set(changed) == {"ctl1", "gpu1", "gpu2"}
    assert changed == {"ctl1": 0, "gpu1": 0, "gpu2": 0}, provisioned["second"].stdout[-4000:]


def test_munge_key_is_the_same_everywhere_and_never_printed(provisioned, lab):
    import base64
    import hashlib
    from pathlib import Path

    key = (Path.home() / ".local/state/anyrack/munge/lab.key").read_bytes()
    sums = {n: lab.exec(n, "sha256sum", "/etc/munge/munge.key").stdout.split()[0] for n in ("ctl1", "gpu1", "gpu2")}
    assert set(sums.values()) == {hashlib.sha256(key).hexdigest()}
    assert lab.exec("gpu1", "stat", "-c", "%U %a", "/etc/munge/munge.key").stdout.split() == ["munge", "400"]
    for run in provisioned.values():
        for text in (key[:24].hex(), base64.b64encode(key[:24]).decode()[:24]):
            assert text not in run.stdout + run.stderr


def test_munge_credentials_cross_hosts(provisioned, lab):
    cred = lab.exec("ctl1", "munge", "-n").stdout.strip()
    proc = lab.exec("gpu1", "sh", "-c", f"echo '{cred}' | unmunge")
    assert "STATUS:          Success" in proc.stdout


def test_base_applies_only_net_sysctls_in_containers(provisioned, lab):
    text = lab.exec("gpu2", "cat", "/etc/sysctl.d/80-anyrack-base.conf").stdout
    assert "net.core.somaxconn" in text and "vm.swappiness" not in text
    assert "10.77.0.21 gpu1" in lab.exec("ctl1", "cat", "/etc/hosts").stdout


def test_slurm_config_rendered_once_with_cons_tres(provisioned, lab):
    conf = lab.exec("ctl1", "cat", "/etc/slurm/slurm.conf").stdout
    assert "SelectType=select/cons_tres" in conf
    assert re.search(r"PartitionName=batch Nodes=gpu\[1-2\] Default=YES", conf)
    assert lab.exec("gpu1", "test", "-e", "/etc/slurm/slurm.conf", check=False).returncode != 0  # configless


def test_sinfo_shows_computes_idle_and_srun_answers_from_both(provisioned, lab):
    deadline = time.monotonic() + 60
    while True:
        states = lab.exec("ctl1", "sinfo", "-h", "-N", "-o", "%N %t").stdout.split("\n")
        rows = dict(line.split() for line in states if line.strip())
        if rows == {"gpu1": "idle", "gpu2": "idle"} or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert rows == {"gpu1": "idle", "gpu2": "idle"}
    out = lab.exec("ctl1", "timeout", "60", "srun", "-N2", "hostname").stdout.split()
    assert sorted(out) == ["gpu1", "gpu2"]
