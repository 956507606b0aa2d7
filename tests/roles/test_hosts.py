"""`anyrack lab up|status|exec|down`: nspawn hosts with sshd, the lab key and a sudo user."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from anyrack.lab.hosts import LAB_USER

pytestmark = pytest.mark.roles

HOSTS = {"ctl1": ("controller", "10.77.0.11"), "gpu1": ("compute", "10.77.0.21"), "gpu2": ("compute", "10.77.0.22"),
         "gpu3": ("compute", "10.77.0.23")}


def test_status_lists_the_hosts(lab):
    rows = {r["name"]: r for r in lab.status()}
    assert set(rows) == set(HOSTS)
    for name, (role, address) in HOSTS.items():
        assert (rows[name]["role"], rows[name]["address"]) == (role, address)
        assert rows[name]["state"] in ("running", "degraded")


def test_exec_runs_inside_the_host(lab):
    assert lab.exec("gpu1", "hostname").stdout.strip() == "gpu1"
    assert lab.exec("gpu2", "sh", "-c", "exit 3", check=False).returncode == 3


@pytest.mark.parametrize("name", sorted(HOSTS))
def test_ssh_as_the_sudo_user_with_the_lab_key(lab, name):
    key = lab.state_dir / "id_ed25519"
    proc = subprocess.run(["ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no",
                           "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                           "-o", "LogLevel=ERROR", f"{LAB_USER}@{HOSTS[name][1]}",
                           "hostname && sudo -n id -u"], text=True, capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [name, "0"]


def test_hosts_reach_each_other_and_apt_goes_through_the_cache(lab):
    assert lab.exec("ctl1", "bash", "-c", "exec 3<>/dev/tcp/10.77.0.22/22").returncode == 0
    sources = lab.exec("gpu1", "cat", "/etc/apt/sources.list").stdout
    assert "10.77.0.1:3142" in sources


def test_each_host_has_its_own_cgroup(lab):
    seen = {lab.exec(n, "cat", "/proc/1/cgroup").stdout for n in HOSTS}
    # inside each container /proc/1/cgroup is namespaced; outside, the launchers sit in per-host groups
    from pathlib import Path
    groups = {p.name for p in Path("/sys/fs/cgroup/systemd/anyrack-lab").iterdir() if p.is_dir()}
    assert set(HOSTS) <= groups, (groups, seen)


def test_site_file_goes_through_discovery(lab):
    site = yaml.safe_load((lab.state_dir / "site.yaml").read_text())
    assert [n["name"] for n in site["nodes"]] == ["ctl1", "gpu1", "gpu2", "gpu3"]
    out = lab.state_dir / "facts-check"
    lab.cli("discover", str(lab.state_dir / "site.yaml"), "--out", str(out))
    found = sorted(p.stem for p in out.glob("*.json") if not p.name.startswith((".", "_")))
    assert found == ["ctl1", "gpu1", "gpu2", "gpu3"]
