"""Roles slurm_controller and slurm_node on the lab."""

from __future__ import annotations

import pytest

CONTROLLER, COMPUTES = "ctl1", ["gpu1", "gpu2"]
pytestmark = pytest.mark.roles


def test_slurmctld_runs_and_listens(hosts) -> None:
    host = hosts[CONTROLLER]
    assert host.service("slurmctld").is_running and host.service("slurmctld").is_enabled
    assert host.socket("tcp://0.0.0.0:6817").is_listening or host.socket("tcp://:::6817").is_listening
    conf = host.file("/etc/slurm/slurm.conf")
    assert conf.contains("^SelectType=select/cons_tres") and conf.contains("^SlurmctldParameters=.*enable_configless")


@pytest.mark.parametrize("name", COMPUTES)
def test_slurmd_runs_configless(hosts, name: str) -> None:
    host = hosts[name]
    assert host.service("slurmd").is_running and host.service("slurmd").is_enabled
    assert not host.file("/etc/slurm/slurm.conf").exists  # the controller serves it
    assert host.run("scontrol show node %s", name).stdout.startswith(f"NodeName={name} ")


def test_slurmdbd_and_mariadb_run_on_the_controller(hosts) -> None:
    host = hosts[CONTROLLER]
    for unit in ("mariadb", "slurmdbd"):
        assert host.service(unit).is_running and host.service(unit).is_enabled, unit
    assert host.socket("tcp://0.0.0.0:6819").is_listening or host.socket("tcp://:::6819").is_listening
    conf = host.file("/etc/slurm/slurmdbd.conf")
    assert (conf.user, conf.mode) == ("slurm", 0o600)
    assert host.file("/etc/slurm/slurm.conf").contains("^AccountingStorageType=accounting_storage/slurmdbd")
