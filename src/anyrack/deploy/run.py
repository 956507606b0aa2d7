"""``anyrack deploy``: blank machines to an installed OS, through each node's BMC and the PXE server.

Per node, in stages (all nodes at once, each with its own timeouts):

  bmc           open the BMC, read the power state (a running node is refused unless ``force``; then forced off)
  media         (--via virtual-media) the node's ISO inserted as virtual CD, verified by read-back: a BMC
                that refuses stops the node here, before it is powered on
  boot-override one-time network (or CD) boot, verified by read-back: a BMC that refuses stops the node
                here, before it is powered on
  power-on      the ramdisk may now ask the callback for permission (``go``) to write
  pxe           waiting for the ramdisk: DHCP → iPXE → kernel + initramfs + deploy overlay
  media-boot    (instead of pxe) waiting for the ramdisk: the BMC fetches the ISO, the firmware boots it;
                no DHCP or TFTP involved (the ISO carries the node's address)
  write         the image streamed onto the disk, checksum verified; the ramdisk powers the node off
  power-off     waiting for the BMC to report Off (forced after a grace period)
  boot-disk     (virtual media ejected) boot from disk, persistently (the deployed OS is the node's OS from
                now on), power on
  ssh           the node answers on SSH with the expected hostname

A stage that times out fails the node with the stage's name and what was (not) seen; ``retries``
repeats a failed attempt from power-off that many times, never more.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from anyrack.deploy.callback import Callback
from anyrack.errors import AnyrackError
from anyrack.site.deployment import RootDevice
from anyrack.site.model import Node, Site

if TYPE_CHECKING:
    from anyrack.deploy.fleet import Fleet

Progress = Callable[[str], None]
STAGES = ("bmc", "media", "boot-override", "power-on", "pxe", "media-boot", "write", "power-off", "boot-disk", "ssh")
VIAS = ("pxe", "virtual-media")


@dataclass(frozen=True)
class DeployOptions:
    pxe_timeout: float = 300
    write_timeout: float = 1500
    power_timeout: float = 120
    boot_timeout: float = 900
    retries: int = 0
    ssh_user: str = "root"
    ssh_port: int = 22
    ssh_key: str | None = None
    ca_file: str | None = None
    via: str = "pxe"
    # virtual media: the ISO's URL, {node} replaced by the node's name (roles/pxe_server's <root>/media/<node>.iso)
    media_url: str | None = None
    force: bool = False  # a node found powered on is forced off (else refused before any change)
    poll_s: float = 3.0  # power state polls while waiting for the ramdisk's power-off
    ssh_poll_s: float = 5.0
    # (address, options) → the hostname the node answers with on SSH, or None; default: the ssh client.
    # A stand-in (the simulated ramdisk of anyrack.lab.deploysim) replaces it where no OS boots.
    ssh_probe: Callable[[str, DeployOptions], Awaitable[str | None]] | None = None


@dataclass
class NodeResult:
    node: str
    ok: bool = False
    stage: str = ""
    detail: str = ""
    attempts: int = 0
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


class StageFailed(Exception):
    def __init__(self, stage: str, detail: str, retry: bool = True) -> None:
        super().__init__(f"{stage}: {detail}")
        self.stage, self.detail, self.retry = stage, detail, retry


class _Attempt:
    """One attempt at one node: stages timed, progress printed as ``node: stage: ...``."""

    def __init__(self, node: Node, result: NodeResult, progress: Progress, fleet: Fleet | None = None,
                 hint: RootDevice | None = None) -> None:
        self.node, self.result, self.progress, self.fleet, self.hint = node, result, progress, fleet, hint
        self.stage, self.started = "", time.monotonic()

    async def power_on(self, bmc) -> None:  # noqa: ANN001
        """Power the node on, within its rack's power-on window when the run has one."""
        async with self.fleet.power_on(self.node.rack) if self.fleet else contextlib.nullcontext():
            await bmc.power("on", wait=60)

    def enter(self, stage: str, what: str) -> None:
        self._close()
        self.stage, self.started = stage, time.monotonic()
        self.progress(f"{self.node.name}: {stage}: {what}")

    def _close(self) -> None:
        if self.stage:
            self.result.stages[self.stage] = round(time.monotonic() - self.started, 1)

    def done(self) -> None:
        self._close()
        self.stage = ""


async def _ssh_hostname(address: str, opts: DeployOptions) -> str | None:
    cmd = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "StrictHostKeyChecking=no",
           "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
    if opts.ssh_key:
        cmd += ["-i", opts.ssh_key]
    if opts.ssh_port != 22:
        cmd += ["-p", str(opts.ssh_port)]
    proc = await asyncio.create_subprocess_exec(*cmd, f"{opts.ssh_user}@{address}", "hostname",
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    return out.decode().strip() if proc.returncode == 0 else None


async def _wait_power(bmc, state: str, timeout_s: float, poll_s: float = 3) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await bmc.power_state() == state:
            return True
        await asyncio.sleep(poll_s)
    return False


async def _wait_callback_while_on(bmc, cb: Callback, node: str, timeout_s: float) -> bool:  # noqa: ANN001
    """Wait for the ramdisk's ``start`` (or its disks refused); False as soon as the node is seen powered off."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        if await cb.wait(node, ("start", "failed"), min(left, 15)) is not None:
            return True
        if await bmc.power_state() == "Off":
            return "start" in cb.nodes[node].events
    return True  # timed out while on: the caller reports it


BmcOpener = Callable[[], Any]
"""Returns a new (not yet entered) BMC controller of the node: ``async with open_bmc() as bmc``."""


def site_bmc(node: Node, site: Site, password: str, opts: DeployOptions) -> BmcOpener:
    """How the CLI reaches a node's BMC: its site-file entry and credential."""
    from anyrack.bmc import connect

    _, cred = site.credential_of(node)
    return lambda: connect(node.bmc.url, cred.username, password, node=node.name, ca_file=opts.ca_file,
                           insecure=node.bmc.insecure, profile=node.bmc.profile_name, timeout=30,
                           system=node.bmc.system, allow_http=node.bmc.allow_http)


async def _attempt(node: Node, open_bmc: BmcOpener, cb: Callback, opts: DeployOptions, at: _Attempt) -> None:
    at.enter("bmc", node.bmc.url)
    try:
        bmc = open_bmc()
        async with bmc:
            await _stages(node, bmc, cb, opts, at)
    except AnyrackError as err:
        stage = at.stage or "bmc"
        raise StageFailed(stage, str(err), retry=stage not in ("bmc", "media", "boot-override")) from None
    finally:
        cb.disarm(node.name)


async def _insert_media(node: Node, bmc, opts: DeployOptions, at: _Attempt) -> str:  # noqa: ANN001
    url = (opts.media_url or "").format(node=node.name)
    at.enter("media", f"inserting {url} as virtual CD")
    try:
        if (await bmc.media_status()).inserted:  # left by an earlier attempt or by hand
            await bmc.eject_media()
        await bmc.insert_media(url)
    except AnyrackError as err:
        raise StageFailed("media", f"the BMC refused the virtual media, node left powered off: {err}",
                          retry=False) from None
    return url


async def _wait_ramdisk(node: Node, bmc, cb: Callback, channel, opts: DeployOptions, at: _Attempt,  # noqa: ANN001
                        media: str | None) -> None:
    stage = "media-boot" if media else "pxe"
    at.enter(stage, f"waiting for the deploy ramdisk to call {cb.url} (up to {opts.pxe_timeout:.0f} s)")
    if not await _wait_callback_while_on(bmc, cb, node.name, opts.pxe_timeout):
        report = channel.events.get("failed")
        said = (f": it reported {report.get('stage', '?')}: {report.get('detail', '').replace('+', ' ')}" if report
                else " (wrong kernel arguments or no NIC with the boot MAC; see its console)")
        raise StageFailed(stage, "the node powered itself off before its deploy ramdisk asked to write" + said)
    if "start" in channel.events:
        return
    await bmc.power("off", wait=opts.power_timeout)
    if (refused := channel.events.get("failed", {})).get("stage") == "disk":
        raise StageFailed(stage, f"the ramdisk's disks: {refused.get('detail')}; powered off", retry=False)
    if media:
        raise StageFailed(stage, f"no deploy ramdisk called back within {opts.pxe_timeout:.0f} s: the node did not "
                          f"boot the virtual CD {media} (the BMC could not fetch it, or the firmware skipped the CD) "
                          "or cannot reach the callback; powered off")
    raise StageFailed(stage, f"no deploy ramdisk called back within {opts.pxe_timeout:.0f} s: the node did not "
                      f"boot from the network (no DHCP answer for its MAC {node.boot_mac or '?'}, TFTP/iPXE "
                      "failed) or cannot reach the callback; powered off")


async def _stages(node: Node, bmc, cb: Callback, opts: DeployOptions, at: _Attempt) -> None:  # noqa: ANN001
    if (state := await bmc.power_state()) != "Off":
        if not opts.force:
            raise StageFailed("bmc", f"the node is powered {state.lower()}: refused (it may be running an OS or "
                              "jobs); nothing was changed; deploy it with --force to power it off", retry=False)
        at.progress(f"{node.name}: bmc: powered on: forcing it off first (--force)")
        await bmc.power("off", wait=opts.power_timeout)
    media = await _insert_media(node, bmc, opts, at) if opts.via == "virtual-media" else None
    try:
        await _deploy_and_boot(node, bmc, cb, opts, at, media)
    finally:
        if media and at.stage in ("boot-override", "power-on", "media-boot", "write", "power-off"):  # failed
            try:
                await bmc.eject_media()
            except AnyrackError as err:
                at.progress(f"{node.name}: could not eject the virtual media: {err}")


async def _deploy_and_boot(node: Node, bmc, cb: Callback, opts: DeployOptions, at: _Attempt,  # noqa: ANN001
                           media: str | None) -> None:
    at.enter("boot-override", "virtual CD, once" if media else "network boot (PXE), once")
    try:
        await bmc.set_boot_override("cd" if media else "pxe", persistent=False)
    except AnyrackError as err:
        raise StageFailed("boot-override", f"the BMC refused the boot override, node left powered off: {err}",
                          retry=False) from None
    channel = cb.arm(node.name, at.hint)
    at.enter("power-on", "powering on")
    await at.power_on(bmc)
    await _wait_ramdisk(node, bmc, cb, channel, opts, at, media)
    at.enter("write", "ramdisk up: writing the image")
    event = await cb.wait(node.name, ("written", "failed"), opts.write_timeout)
    if event != "written":
        report = channel.events.get("failed", {})
        await bmc.power("off", wait=opts.power_timeout)
        detail = (f"the ramdisk failed at {report.get('stage', '?')}: {report.get('detail', '').replace('+', ' ')}"
                  if event == "failed" else f"no report within {opts.write_timeout:.0f} s")
        raise StageFailed("write", detail)
    at.enter("power-off", "image written (sha256 verified); waiting for the node to power off")
    if not await _wait_power(bmc, "Off", opts.power_timeout, opts.poll_s):
        await bmc.power("off", wait=opts.power_timeout)
    at.enter("boot-disk", ("virtual media ejected; " if media else "") + "boot from disk, persistently; powering on")
    if media:
        await bmc.eject_media()
    await bmc.set_boot_override("disk", persistent=True)
    await at.power_on(bmc)
    address = node.addresses.management
    at.enter("ssh", f"waiting for {opts.ssh_user}@{address} to answer as {node.name} (up to {opts.boot_timeout:.0f} s)")
    deadline, seen = time.monotonic() + opts.boot_timeout, None
    probe = opts.ssh_probe or _ssh_hostname
    while time.monotonic() < deadline:
        seen = await probe(address, opts)
        if seen == node.name:
            at.done()
            return
        await asyncio.sleep(opts.ssh_poll_s)
    raise StageFailed("ssh", f"{address} did not answer on SSH as {node.name} within {opts.boot_timeout:.0f} s"
                      + (f" (it answered as {seen!r})" if seen else ""))


async def deploy_node(node: Node, site: Site, password: str, cb: Callback, opts: DeployOptions,
                      progress: Progress, fleet: Fleet | None = None) -> NodeResult:
    """Deploy one node of ``site`` through every stage."""
    return await run_node(node, site_bmc(node, site, password, opts), cb, opts, progress, fleet,
                          site.root_device_of(node))


async def deploy_one(node: Node, open_bmc: BmcOpener, callback: tuple[str, int], opts: DeployOptions,
                     progress: Progress) -> NodeResult:
    """Deploy one node with a callback server of its own: what the Pulumi ``OsDeploy`` provider runs."""
    async with Callback(*callback) as cb:
        return await run_node(node, open_bmc, cb, opts, progress, hint=node.root_device)


async def run_node(node: Node, open_bmc: BmcOpener, cb: Callback, opts: DeployOptions, progress: Progress,
                   fleet: Fleet | None = None, hint: RootDevice | None = None) -> NodeResult:
    """One node through every stage, with ``opts.retries`` more attempts: the one deploy path, used by
    ``anyrack deploy`` (through :func:`deploy`) and the Pulumi ``OsDeploy`` provider (:func:`deploy_one`)."""
    result, start = NodeResult(node.name), time.monotonic()
    for attempt in range(1, opts.retries + 2):
        result.attempts = attempt
        at = _Attempt(node, result, progress, fleet, hint)
        try:
            await _attempt(node, open_bmc, cb, opts, at)
            result.ok, result.stage, result.detail = True, "done", ""
            progress(f"{node.name}: deployed in {time.monotonic() - start:.0f} s")
            break
        except StageFailed as err:
            at.done()
            result.stage, result.detail = err.stage, err.detail
            progress(f"{node.name}: FAILED at {err.stage}: {err.detail}")
            if not err.retry or attempt > opts.retries:
                break
            progress(f"{node.name}: retrying ({attempt} of {opts.retries})")
    result.seconds = round(time.monotonic() - start, 1)
    return result
