"""The Pulumi ``OsDeploy`` provider runs the CLI's deploy (anyrack.deploy.run.deploy_one) and waits for it.

Against one emulated BMC over HTTPS, with the deploy ramdisk SIMULATED (anyrack.lab.deploysim: its callback
requests and power-off, because no machine boots here) and, standing in for the deployed node's sshd, a
loopback SSH server (tests/iac/loopback_sshd.py, paramiko) that the real OpenSSH client of the SSH stage
logs into with a key and asks ``hostname``; it answers the node's name once the simulated OS is up.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
from tests.iac.loopback_sshd import LoopbackSshd

from anyrack.errors import BmcError
from anyrack.iac.providers import OsDeployProvider
from anyrack.lab.deploysim import DeploySim, timed_lab
from anyrack.lab.emulator import LabOptions, TreeSpec

pytestmark = pytest.mark.iac
DELL = Path(__file__).resolve().parents[1] / "fixtures/redfish/dell/idrac9-r750"
PASSWORD = "deploy-provider-pw"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_os_deploy_reports_done_only_after_callback_and_ssh(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    provider = OsDeployProvider()
    with timed_lab([TreeSpec(DELL, count=2)], LabOptions(password=PASSWORD)) as lab:
        good, bad = lab.entries
        port = _free_port()
        nodes = {(good.host, good.port): ("gpu001", "127.0.0.1"), (bad.host, bad.port): ("gpu002", "127.0.0.2")}
        sim = DeploySim(nodes, f"http://127.0.0.1:{port}", boot_s=0.2, write_s=0.3, os_boot_s=0.3,
                        fail={"gpu002": "no disk matches root_device"})
        sim.attach(lab)
        with LoopbackSshd("gpu001", key.with_suffix(".pub").read_text(), lambda: "127.0.0.1" in sim.os_up) as sshd:
            install = {"callback": f"127.0.0.1:{port}", "address": "127.0.0.1", "boot_mac": "52:54:00:00:00:01",
                       "ssh_user": "anyrack", "ssh_key": str(key), "ssh_port": sshd.port, "pxe_timeout": 30,
                       "write_timeout": 30, "boot_timeout": 30, "power_timeout": 15, "poll_s": 0.3, "ssh_poll_s": 0.5}
            props = {"node": "gpu001", "url": "redfish+" + good.url, "username": good.username, "password": PASSWORD,
                     "credential_ref": {"env": "UNUSED"}, "ca_file": good.ca, "insecure": False, "profile": None,
                     "method": "pxe", "image": None, "wait": 15, "redeploy": None, "install": install}
            created = provider.create(props)
            returned = time.monotonic()
            failed = r"^gpu002: deploy failed at write: the ramdisk failed at write: no disk"
            with pytest.raises(BmcError, match=failed):
                provider.create({**props, "node": "gpu002", "url": "redfish+" + bad.url,
                                 "install": {**install, "address": "127.0.0.2"}})
        assert sim.answers["gpu001"] == ["start:go", "writing:ok", "written:ok"]
        assert list(created.outs["stages"]) == ["bmc", "boot-override", "power-on", "pxe", "write", "power-off",
                                                "boot-disk", "ssh"]
        answered = [t for t, command, answer in sshd.commands if answer == "gpu001"]
        assert answered and answered[0] < returned  # done only after the node answered on SSH as itself
        assert created.outs["installed"] == {"method": "pxe", "image": None}
        assert PASSWORD not in json.dumps(created.outs)
        # a new image in the config reimages nothing: no replacement, and the update sends no BMC request
        seen = len(lab.requests)
        newer = {**props, "method": "iso", "image": "http://10.0.0.1:8080/media/{node}.iso"}
        assert provider.diff(created.id, created.outs, newer).replaces == []
        assert provider.update(created.id, created.outs, newer).outs["installed"] == {"method": "pxe", "image": None}
        assert len(lab.requests) == seen
        assert provider.diff(created.id, created.outs, {**newer, "redeploy": "2026-12-08"}).replaces == ["redeploy"]
