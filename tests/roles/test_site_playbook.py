"""playbooks/site.yml on the host lab: base, munge, slurm_controller, slurm_node; idempotent; Slurm answers."""

from __future__ import annotations

import re
import time

import pytest

pytestmark = pytest.mark.roles


def test_second_run_changes_nothing(provisioned, lab):
    changed = lab.changed(provisioned["second"].stdout)
    assert set(changed) == {"ctl1", "gpu1", "gpu2"}
    assert changed == {"ctl1": 0, "gpu1": 0, "gpu2": 0}, provisioned["second"].stdout[-4000:]


def _task(output: str, name: str) -> str:
    """The lines a task printed in a playbook run (up to the next task or play)."""
    match = re.search(rf"^TASK \[{re.escape(name)}\][^\n]*\n(.*?)(?=^(?:TASK|PLAY|RUNNING HANDLER) )", output,
                      re.M | re.S)
    return match.group(1) if match else ""


def test_computes_register_drained_until_burn_in_passes(provisioned, lab):
    first = provisioned["first"].stdout
    drained = _task(first, "slurm_node : Drain the node until burn-in passes")
    resumed = _task(first, "burnin : Resume a node that burn-in had drained")
    for node in ("gpu1", "gpu2"):
        assert f"changed: [{node} -> ctl1" in drained, drained
        assert f"changed: [{node} -> ctl1" in resumed, resumed
        report = lab.exec(node, "sh", "-c", "cat $(ls /var/lib/anyrack/burnin/*-L1.json | tail -1)").stdout
        assert '"passed": true' in report
    assert first.index("Drain the node until burn-in passes") < first.index("TASK [slurm_node : Start slurmd]")
    log = lab.exec("ctl1", "cat", "/var/log/slurm/slurmctld.log").stdout
    assert "node gpu1 reason set to: anyrack: burn-in pending" in log


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


# --- accounting: slurmdbd + MariaDB on ctl1 ------------------------------------------------------------

def _db_password() -> str:
    from pathlib import Path

    path = Path.home() / ".local/state/anyrack/slurmdbd/lab.db-password"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    return path.read_text().strip()


def test_db_password_is_generated_once_and_never_printed(provisioned, lab):
    password = _db_password()
    assert len(password) >= 16
    for run in provisioned.values():
        assert password not in run.stdout + run.stderr
    # the same password is what slurmdbd uses (read inside the host, not printed by the playbook)
    conf = lab.exec("ctl1", "cat", "/etc/slurm/slurmdbd.conf").stdout
    assert f"StoragePass={password}\n" in conf


def test_slurmdbd_conf_is_private_to_slurm(provisioned, lab):
    assert lab.exec("ctl1", "stat", "-c", "%U %G %a", "/etc/slurm/slurmdbd.conf").stdout.split() == \
        ["slurm", "slurm", "600"]
    assert lab.exec("ctl1", "systemctl", "is-active", "slurmdbd", "mariadb").stdout.split() == ["active", "active"]
    conf = lab.exec("ctl1", "cat", "/etc/slurm/slurm.conf").stdout
    assert "AccountingStorageType=accounting_storage/slurmdbd" in conf
    assert "AccountingStorageHost=ctl1" in conf


def test_sacctmgr_lists_the_cluster(provisioned, lab):
    clusters = lab.exec("ctl1", "sacctmgr", "-n", "-P", "list", "cluster", "format=Cluster").stdout.split()
    assert clusters == ["lab"]


def test_batch_job_completes_and_sacct_reads_it_from_mariadb(provisioned, lab):
    job = lab.exec("ctl1", "sbatch", "--parsable", "-N1", "-o", "/dev/null", "--wrap", "hostname").stdout.strip()
    assert job.isdigit(), job
    deadline = time.monotonic() + 90
    while True:
        rows = lab.exec("ctl1", "sacct", "-j", job, "-n", "-X", "-P", "-o", "JobID,State,NodeList").stdout.split()
        if rows and rows[0].split("|")[1] == "COMPLETED" or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert len(rows) == 1, rows
    job_id, state, node = rows[0].split("|")
    assert (job_id, state) == (job, "COMPLETED")
    assert node in {"gpu1", "gpu2"}
    # the record is in MariaDB itself, not only in slurmctld's memory
    query = f"SELECT state, nodelist FROM lab_job_table WHERE id_job={job}"
    out = lab.exec("ctl1", "mysql", "-N", "-B", "slurm_acct_db", "-e", query).stdout.split()
    assert out == ["3", node]  # JOB_COMPLETE


def test_job_steps_memory_is_gathered_in_the_containers(provisioned, lab):
    """jobacct_gather/linux reads /proc inside the nspawn hosts: a step's MaxRSS reaches sacct."""
    script = "srun python3 -c 'x = bytearray(200 * 2**20); import time; time.sleep(4)'"
    job = lab.exec("ctl1", "sbatch", "--parsable", "--acctg-freq=task=1", "-o", "/dev/null", "--wrap", script)
    job_id = job.stdout.strip()
    deadline = time.monotonic() + 90
    while True:
        rows = lab.exec("ctl1", "sacct", "-j", f"{job_id}.0", "-n", "-P", "-o", "State,MaxRSS").stdout.split()
        if rows and rows[0].startswith("COMPLETED|") or time.monotonic() > deadline:
            break
        time.sleep(2)
    state, max_rss = rows[0].split("|")
    assert state == "COMPLETED"
    assert max_rss.endswith("K") and int(max_rss[:-1]) > 200 * 1024, rows
