"""`anyrack deploy` against the BMC emulator over real HTTPS: the stages that do not need a machine.

A refused (silently reverted) boot override stops the node before it is powered on; a node whose
ramdisk never calls back fails at the pxe stage and is powered off again; a ramdisk's failure report
is named with its stage. The ramdisk itself runs only in the metal lab (tests/lab/test_metal.py);
here the test plays the ramdisk's side of the callback protocol (plain HTTP requests, as its busybox
wget sends them), which is stated where it happens.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml

from anyrack import aio
from anyrack.bmc import connect
from anyrack.deploy.callback import Callback
from anyrack.deploy.run import DeployOptions, deploy_node
from anyrack.lab import LabOptions, TreeSpec, serve_lab
from anyrack.site import load_site

pytestmark = pytest.mark.bmc
DELL = Path(__file__).resolve().parents[1] / "fixtures/redfish/dell/idrac9-r750"


def _site(tmp_path: Path, entries: list) -> Path:  # noqa: ANN001
    nodes = [{"name": f"node{i + 1}", "rack": "r1", "u": i + 1, "sku": "s",
              "role": "controller" if i == 0 else "compute",
              "bmc": {"url": "redfish+" + e.url, "insecure": True}, "addresses": {"management": f"10.99.0.{i + 20}"},
              "boot_mac": f"52:54:00:00:00:{i + 1:02x}"} for i, e in enumerate(entries)]
    doc = {"version": 1, "site": "t", "domain": "t.test", "defaults": {"bmc_credential": "bmc"},
           "credentials": {"bmc": {"username": entries[0].username, "password": {"env": "T_BMC_PASSWORD"}}},
           "networks": {"bmc": {"cidr": "127.0.0.0/8"}, "management": {"cidr": "10.99.0.0/24"}},
           "racks": [{"name": "r1"}], "skus": {"s": {"cpu": "x", "memory_gib": 1}}, "nodes": nodes}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


async def _power(entry) -> str:  # noqa: ANN001
    async with connect("redfish+" + entry.url, entry.username, entry.password, insecure=True) as bmc:
        return await bmc.power_state()


def _new_attempt(cb: Callback, node: str, seen: object) -> bool:
    """The deploy armed the callback for a new attempt (a fresh channel, not the one already served)."""
    channel = cb.nodes.get(node)
    return channel is not None and channel is not seen and channel.armed


def _deploy_cli(site: Path, password: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "T_BMC_PASSWORD": password}
    return subprocess.run([sys.executable, "-m", "anyrack.cli.main", "deploy", str(site), *args], text=True,
                          capture_output=True, env=env, timeout=120)


def test_refused_boot_override_fails_before_power_on(tmp_path: Path) -> None:
    with serve_lab([TreeSpec(DELL, quirks=("silent-boot-revert",))], LabOptions()) as (entry,):
        async def off() -> None:
            async with connect("redfish+" + entry.url, entry.username, entry.password, insecure=True) as bmc:
                await bmc.power("off", wait=10)
        aio.run(off())
        done = _deploy_cli(_site(tmp_path, [entry]), entry.password, "--limit", "node1",
                           "--callback", "127.0.0.1:0", "--pxe-timeout", "5")
        assert done.returncode == 1, done.stdout + done.stderr
        assert "node1: FAILED at boot-override: the BMC refused the boot override, node left powered off" in done.stdout
        assert "powering on" not in done.stdout
        assert aio.run(_power(entry)) == "Off"
        report = json.loads(next((tmp_path / ".anyrack/deploy").glob("*.json")).read_text())
        assert report["nodes"][0]["stage"] == "boot-override" and report["nodes"][0]["ok"] is False
        assert entry.password not in done.stdout + done.stderr + json.dumps(report)


def test_no_ramdisk_fails_at_pxe_and_powers_the_node_off(tmp_path: Path) -> None:
    with serve_lab([TreeSpec(DELL)], LabOptions()) as (entry,):
        done = _deploy_cli(_site(tmp_path, [entry]), entry.password, "--limit", "node1", "--force", "--yes",
                           "--callback", "127.0.0.1:0", "--pxe-timeout", "3")
        assert done.returncode == 1, done.stdout + done.stderr
        assert "node1: boot-override: network boot (PXE), once" in done.stdout
        assert ("node1: FAILED at pxe: no deploy ramdisk called back within 3 s: the node did not boot from the "
                "network (no DHCP answer for its MAC 52:54:00:00:00:01") in done.stdout
        assert aio.run(_power(entry)) == "Off"


def test_unknown_node_is_bad_input(tmp_path: Path) -> None:
    with serve_lab([TreeSpec(DELL)], LabOptions()) as (entry,):
        done = _deploy_cli(_site(tmp_path, [entry]), entry.password, "--limit", "nope")
        assert done.returncode == 2 and "--limit 'nope' matches no node of site t; nothing was touched" in done.stderr
        assert not (tmp_path / ".anyrack").exists()


def test_ramdisk_failure_is_reported_with_its_stage_and_retried_once(tmp_path: Path) -> None:
    """The test plays the ramdisk (its HTTP requests) because no machine boots here."""
    with serve_lab([TreeSpec(DELL)], LabOptions()) as (entry,):
        site = load_site(_site(tmp_path, [entry]))
        node = site.nodes[0]
        lines: list[str] = []

        async def ramdisk(cb: Callback, times: int) -> list[str]:
            answers, seen = [], None
            async with aiohttp.ClientSession() as http:
                for _ in range(times):
                    while not _new_attempt(cb, "node1", seen):  # the deploy powered the node on: "boot"
                        await asyncio.sleep(0.05)
                    seen = cb.nodes["node1"]
                    async with http.get(f"{cb.url}/v1/deploy/node1/start") as r:
                        answers.append(await r.text())
                    async with http.get(f"{cb.url}/v1/deploy/node1/start") as r:  # a second start: not again
                        answers.append(str(r.status))
                    async with http.post(f"{cb.url}/v1/deploy/node1/failed",
                                         data={"stage": "verify", "detail": "sha256+abc,+expected+def"}) as r:
                        answers.append(await r.text())
                async with http.get(f"{cb.url}/v1/deploy/stranger/start") as r:
                    answers.append(str(r.status))
            return answers

        async def go() -> tuple:
            async with Callback("127.0.0.1", 0) as cb:
                cb.port = cb._runner.addresses[0][1]
                opts = DeployOptions(pxe_timeout=30, write_timeout=30, power_timeout=10, retries=1, force=True)
                return await asyncio.wait_for(asyncio.gather(  # never hangs: 120 s at most
                    deploy_node(node, site, entry.password, cb, opts, lines.append), ramdisk(cb, 2)), 120)

        result, answers = aio.run(go())
        assert answers == ["go", "409", "ok", "go", "409", "ok", "404"]
        assert not result.ok and result.stage == "write" and result.attempts == 2
        assert result.detail == "the ramdisk failed at verify: sha256 abc, expected def"
        assert "node1: retrying (1 of 1)" in lines
        assert aio.run(_power(entry)) == "Off"


def test_refused_virtual_media_fails_before_power_on(tmp_path: Path) -> None:
    """The emulated BMC refuses an insert that names Inserted/WriteProtected, which this tree's profile sends."""
    with serve_lab([TreeSpec(DELL, quirks=("media-rejects-inserted",))], LabOptions()) as (entry,):
        async def off() -> None:
            async with connect("redfish+" + entry.url, entry.username, entry.password, insecure=True) as bmc:
                await bmc.power("off", wait=10)
        aio.run(off())
        done = _deploy_cli(_site(tmp_path, [entry]), entry.password, "--limit", "node1", "--callback", "127.0.0.1:0",
                           "--via", "virtual-media", "--media-url", "http://127.0.0.1:9/media/{node}.iso")
        assert done.returncode == 1, done.stdout + done.stderr
        assert "node1: media: inserting http://127.0.0.1:9/media/node1.iso as virtual CD" in done.stdout
        assert "node1: FAILED at media: the BMC refused the virtual media, node left powered off" in done.stdout
        assert "boot-override" not in done.stdout and "powering on" not in done.stdout
        assert aio.run(_power(entry)) == "Off"


@pytest.mark.parametrize("args", [("--via", "virtual-media"), ("--via", "virtual-media", "--media-url", "x/{node}"),
                                  ("--via", "virtual-media", "--media-url", "http://h/fixed.iso"),
                                  ("--media-url", "http://h/{node}.iso")])
def test_virtual_media_options_are_checked_before_anything(tmp_path: Path, args: tuple[str, ...]) -> None:
    site = _site(tmp_path, [type("E", (), {"url": "https://127.0.0.1:9", "username": "u"})()])
    done = _deploy_cli(site, "pw", *args)
    assert done.returncode == 2 and "--media-url" in done.stderr.splitlines()[-1], done.stderr
    assert not (tmp_path / ".anyrack").exists()


def test_virtual_media_deploy_inserts_boots_the_cd_and_ejects(tmp_path: Path) -> None:
    """The test plays the ramdisk (its HTTP requests) because no machine boots here; while it "boots", the
    BMC must hold the node's ISO (its one-time CD override spent by the power-on), and after the write the
    media is ejected and the node set to boot from disk for good."""
    with serve_lab([TreeSpec(DELL)], LabOptions()) as (entry,):
        site = load_site(_site(tmp_path, [entry]))
        node = site.nodes[0]
        lines: list[str] = []
        url = "http://10.99.0.1:8080/media/{node}.iso"

        async def bmc_view() -> tuple:
            async with connect("redfish+" + entry.url, entry.username, entry.password, insecure=True) as bmc:
                return await bmc.media_status(), await bmc.boot_override()

        async def ramdisk(cb: Callback) -> tuple:
            while not _new_attempt(cb, "node1", None):
                await asyncio.sleep(0.05)
            booting = await bmc_view()
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{cb.url}/v1/deploy/node1/start") as r:
                    assert await r.text() == "go"
                async with http.post(f"{cb.url}/v1/deploy/node1/written", data={"sha256": "ab"}) as r:
                    assert r.status == 200
            return booting

        async def go() -> tuple:
            async with Callback("127.0.0.1", 0) as cb:
                cb.port = cb._runner.addresses[0][1]
                opts = DeployOptions(pxe_timeout=30, write_timeout=30, power_timeout=3, boot_timeout=1,
                                     via="virtual-media", media_url=url, force=True)
                return await asyncio.wait_for(asyncio.gather(
                    deploy_node(node, site, entry.password, cb, opts, lines.append), ramdisk(cb)), 120)

        result, (media, boot) = aio.run(go())
        assert (media.inserted, media.image) == (True, "http://10.99.0.1:8080/media/node1.iso")
        # the one-time override was set (verified by read-back in set_boot_override) and used by the power-on
        assert "node1: boot-override: virtual CD, once" in lines and (boot.target, boot.persistent) == ("none", False)
        assert list(result.stages)[:8] == ["bmc", "media", "boot-override", "power-on", "media-boot", "write",
                                           "power-off", "boot-disk"]
        # no SSH server at the node's address here: the deploy stops at its last stage, named
        assert not result.ok and result.stage == "ssh" and "did not answer on SSH as node1" in result.detail
        assert "node1: boot-disk: virtual media ejected; boot from disk, persistently; powering on" in lines
        media, boot = aio.run(bmc_view())
        assert not media.inserted and (boot.target, boot.persistent) == ("disk", True)
