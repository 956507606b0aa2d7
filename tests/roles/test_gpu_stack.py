"""playbooks/gpu.yml on a lab host, from Debian's own archive: the 535 driver installed and held,
nouveau blacklisted, CUDA 11.8, and the driver reported as not loaded (a container, no GPU) without
failing the play; a second run changes nothing."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.roles
DEBIAN = json.dumps({"nvidia_driver_source": "distro", "cuda_toolkit_version": "11.8"})


def test_gpu_stack_from_debian_on_a_lab_host(provisioned, lab) -> None:
    first = lab.playbook("gpu.yml", "-e", DEBIAN, "--limit", "gpu1")
    assert first.returncode == 0, first.stdout[-6000:]
    assert "the NVIDIA driver is not loaded on gpu1: this is a container" in first.stdout
    held = lab.exec("gpu1", "dpkg-query", "-W", "-f=${Package} ${Version} ${Status}\n", "nvidia-driver",
                    "nvidia-kernel-dkms").stdout.splitlines()
    assert len(held) == 2 and all(re.match(r"^\S+ 535\.\S+ hold ok installed$", line) for line in held), held
    blacklist = lab.exec("gpu1", "cat", "/etc/modprobe.d/blacklist-nouveau.conf").stdout
    assert "blacklist nouveau\noptions nouveau modeset=0\n" in blacklist
    assert "release 11.8" in lab.exec("gpu1", "nvcc", "--version").stdout
    # what gpu_facts reads on such a host: nvidia-smi (installed with the driver) cannot reach a driver
    smi = lab.exec("gpu1", "nvidia-smi", "-q", "-x", check=False)
    assert smi.returncode != 0 and "couldn't communicate with the NVIDIA driver" in smi.stdout + smi.stderr
    again = lab.playbook("gpu.yml", "-e", DEBIAN, "--limit", "gpu1")
    assert again.returncode == 0 and lab.changed(again.stdout) == {"gpu1": 0}, again.stdout[-4000:]
