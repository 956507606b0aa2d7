"""upgrade_driver.yml on the lab's two computes, batch size 1 (Debian's 535 driver): Slurm's node states
are sampled every second during the roll, and the two computes are never drained at the same time; the
lab's hosts are containers, so the roll does not reboot them (a reboot would end an nspawn host); a
second run leaves nodes on the branch alone; a node failing its burn-in stays drained and stops the roll
before the next one is touched.

Every playbook run has a deadline (Lab.playbook kills it and fails the test): nothing here can hang."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest

pytestmark = pytest.mark.roles
DRAINED = ("drain", "drng", "drained")
# the driver from Debian's archive (lab-vars.yml points it at the lab's apt cache)
DISTRO = ("-e", "nvidia_driver_source=distro")
ROLL_TIMEOUT_S = 600


class Sampler(threading.Thread):
    """`sinfo` on the controller about once a second, until stopped."""

    def __init__(self, lab) -> None:
        super().__init__(daemon=True)
        self.lab, self.samples, self.stopping = lab, [], threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            out = self.lab.exec("ctl1", "sinfo", "-h", "-N", "-o", "%N %t", check=False, timeout=30).stdout
            self.samples.append(dict(line.split() for line in out.splitlines() if line.strip()))
            self.stopping.wait(1)

    def drained(self) -> list[set[str]]:
        return [{n for n, s in sample.items() if s.rstrip("*~#") in DRAINED} for sample in self.samples]


def _roll(lab, *extra: str):  # noqa: ANN202
    sampler = Sampler(lab)
    sampler.start()
    try:
        done = lab.playbook("upgrade_driver.yml", *DISTRO, *extra, timeout=ROLL_TIMEOUT_S)
    finally:
        sampler.stopping.set()
        sampler.join(timeout=60)
    return done, sampler.drained()


def _states(lab) -> dict[str, str]:
    out = lab.exec("ctl1", "sinfo", "-h", "-N", "-o", "%N %t").stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


def _idle(lab, deadline_s: float = 60) -> dict[str, str]:
    """The computes' states once both are idle and responding (or whatever they are at the deadline)."""
    end = time.monotonic() + deadline_s
    while (states := _states(lab)) != {"gpu1": "idle", "gpu2": "idle"} and time.monotonic() < end:
        time.sleep(2)
    return states


def test_rolling_upgrade_never_drains_both_computes(provisioned, lab) -> None:
    done, drained = _roll(lab, "-e", json.dumps({"upgrade_driver_force": True}))
    assert done.returncode == 0, done.stdout[-6000:]
    assert drained and all(len(nodes) <= 1 for nodes in drained), drained
    assert {"gpu1"} in drained and {"gpu2"} in drained  # each was drained in its turn
    said = " ".join(done.stdout.split())  # the callback wraps long messages
    for node in ("gpu1", "gpu2"):  # upgrade_driver_reboot is on, but a container is not rebooted
        assert re.search(rf"{node} is a container \(\S+\): its kernel modules belong to its host, so it is not "
                         "rebooted", said), said[-4000:]
    assert _idle(lab) == {"gpu1": "idle", "gpu2": "idle"}  # both resumed and answering
    held = lab.exec("gpu2", "dpkg-query", "-W", "-f=${Version} ${Status}", "nvidia-driver").stdout
    assert held.startswith("535.") and held.endswith(" hold ok installed"), held
    # DKMS compiled nothing: no headers of any kernel came in (nvidia_driver_kernel_headers is off in the lab)
    headers = lab.exec("gpu2", "sh", "-c", "dpkg -l 'linux-headers-*' 2>/dev/null | grep -c ^ii", check=False)
    assert headers.stdout.strip() == "0", headers.stdout
    # the driver is on the branch everywhere now: a plain run leaves every node alone
    again = lab.playbook("upgrade_driver.yml", *DISTRO, timeout=ROLL_TIMEOUT_S)
    assert again.returncode == 0 and set(lab.changed(again.stdout).values()) == {0}, again.stdout[-4000:]


def test_a_node_failing_burn_in_stays_drained_and_stops_the_roll(provisioned, lab) -> None:
    fails = json.dumps({"burnin_sku": {"gpu": {"count": 8, "model": "H100"}}, "upgrade_driver_force": True})
    try:
        done, drained = _roll(lab, "-e", fails)
        assert done.returncode != 0
        assert "gpu1 stays drained: anyrack: burn-in L1 gpu_count: 0 of 8 GPUs" in done.stdout
        assert all("gpu2" not in nodes for nodes in drained), drained  # the roll stopped before gpu2
        assert "gpu2" not in lab.changed(done.stdout) or lab.changed(done.stdout)["gpu2"] == 0
        node = lab.exec("ctl1", "scontrol", "show", "node", "gpu1", "--oneliner").stdout
        assert "DRAIN" in node and "Reason=anyrack: burn-in L1 gpu_count" in node
    finally:
        lab.exec("ctl1", "scontrol", "update", "NodeName=gpu1", "State=RESUME", check=False)
    assert _idle(lab) == {"gpu1": "idle", "gpu2": "idle"}
