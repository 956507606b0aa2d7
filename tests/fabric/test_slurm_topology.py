"""The generated topology.conf is accepted by a real slurmctld (Debian's 22.05, topology/tree).

A throwaway controller in a temporary directory (auth/none, its own ports, no slurmd), started in the
foreground so it dies by pid with the test; ``scontrol show topology`` must list the plan's switches.
"""

from __future__ import annotations

import getpass
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from anyrack.fabric import load_plan
from anyrack.fabric.render import render_slurm
from anyrack.site import hostlist

from .conftest import ROOT, SITE

pytestmark = pytest.mark.fabric

SLURM_CONF = """\
ClusterName={cluster}
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/none
CredType=cred/none
SlurmUser={user}
StateSaveLocation={work}/state
SlurmdSpoolDir={work}/spool
SlurmctldPidFile={work}/slurmctld.pid
SlurmctldLogFile={work}/slurmctld.log
TopologyPlugin=topology/tree
SelectType=select/linear
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MessageTimeout=3
TCPTimeout=1
NodeName={nodes} NodeAddr=127.0.0.1 CPUs=1 State=UNKNOWN
PartitionName=all Nodes={nodes} Default=YES
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _show_topology(work: Path, topology: str, nodes: list[str]) -> tuple[int, str]:
    """Start slurmctld on ``topology``; return scontrol's rc and output (or slurmctld's log on failure)."""
    (work / "state").mkdir(parents=True)
    (work / "spool").mkdir()
    (work / "topology.conf").write_text(topology)
    conf = work / "slurm.conf"
    conf.write_text(SLURM_CONF.format(cluster="fabric", ctld_port=_free_port(), slurmd_port=_free_port(), work=work,
                                      user=getpass.getuser(), nodes=hostlist.compress(nodes)))
    env = {"SLURM_CONF": str(conf), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    with open(work / "slurmctld.out", "w") as out:
        ctld = subprocess.Popen(["slurmctld", "-D", "-c", "-f", str(conf)], stdout=out, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and ctld.poll() is None:
            shown = subprocess.run(["scontrol", "show", "topology"], capture_output=True, text=True, env=env,
                                   timeout=10)
            if shown.returncode == 0 and shown.stdout.strip():
                return 0, shown.stdout
            time.sleep(0.3)
        log = work / "slurmctld.log"
        return ctld.poll() or 1, log.read_text() if log.exists() else "no log"
    finally:
        if ctld.poll() is None:
            ctld.send_signal(signal.SIGTERM)
            try:
                ctld.wait(timeout=10)
            except subprocess.TimeoutExpired:
                ctld.kill()
                ctld.wait(timeout=5)


@pytest.fixture(scope="module", autouse=True)
def _slurmctld_installed() -> None:
    if not (shutil.which("slurmctld") and shutil.which("scontrol")):
        pytest.skip("slurmctld/scontrol missing (Debian packages 'slurmctld' and 'slurm-client')")


@pytest.mark.parametrize("site", [SITE, ROOT / "inventory/examples/hgx-rack/site.yaml"], ids=["frr-lab", "hgx-rack"])
def test_slurmctld_accepts_topology_conf(site: Path, tmp_path: Path) -> None:
    plan = load_plan(site)[1]
    nodes = [n.name for n in plan.nodes]
    rc, out = _show_topology(tmp_path, render_slurm(plan)["slurm/topology.conf"], nodes)
    assert rc == 0, out
    switches = dict(re.findall(r"^SwitchName=(\S+) Level=(\d)", out, re.M))
    assert switches == {**{u.name: "0" for u in plan.units}, "spines": "1"}
    top = re.search(r"^SwitchName=spines .*Nodes=(\S+)", out, re.M)
    assert top and hostlist.expand(top.group(1)) == nodes


def test_slurmctld_refuses_a_broken_topology_conf(tmp_path: Path) -> None:
    """The check above means something: a misspelt key stops slurmctld."""
    plan = load_plan(SITE)[1]
    broken = render_slurm(plan)["slurm/topology.conf"].replace(" Nodes=", " Nodez=", 1)
    rc, out = _show_topology(tmp_path, broken, [n.name for n in plan.nodes])
    assert rc != 0 and "topology.conf" in out
