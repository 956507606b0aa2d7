"""A SIMULATED deploy ramdisk, booted by the BMC emulator: a labelled stand-in where no machine boots.

It speaks the real ramdisk's side of the deploy callback (roles/pxe_server/files/deploy/init) over
HTTP, as that script's busybox wget does, and nothing else is simulated on the deploy's side:

* when the emulator powers a system on with a one-time ``Pxe`` or ``Cd`` boot override (the ramdisk
  would boot), after ``boot_s`` it GETs ``<callback>/v1/deploy/<node>/start``; only on ``go`` it POSTs
  ``writing`` (``disk=``), waits ``write_s``, POSTs ``written`` (``sha256=``), or ``failed`` for nodes
  in ``fail``, and then powers the system off itself (the script's ``poweroff -f``: the emulator's
  power state changes, no BMC request is sent);
* when a system powers on from disk, the "installed OS" answers :meth:`DeploySim.ssh_probe` with the
  node's name after ``os_boot_s`` (the stand-in for ``ssh HOST hostname``; no SSH server runs).

:class:`TimedLab` is the emulator keeping every request with its arrival time, for assertions on what
the BMCs saw (power-on rates per rack, nodes in flight).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from anyrack.lab.emulator.listing import BmcEntry
from anyrack.lab.emulator.server import Lab
from anyrack.lab.emulator.spec import LabOptions, TreeSpec
from anyrack.lab.emulator.state import BmcState

Key = tuple[str, int]


@dataclass(frozen=True)
class Request:
    at: float
    bmc: Key
    method: str
    path: str
    reset: str | None = None
    """ResetType of a ComputerSystem.Reset action."""


class TimedLab(Lab):
    """The BMC emulator, keeping every request it answers (arrival time, BMC, method, path, ResetType)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests: list[Request] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        reset = None
        if request.method == "POST" and request.path.endswith("ComputerSystem.Reset"):
            try:
                reset = (await request.json()).get("ResetType")  # aiohttp keeps the body for the handler
            except (ValueError, AttributeError):
                reset = "?"
        key = (sockname[0], sockname[1]) if sockname else ("?", 0)
        self.requests.append(Request(at, key, request.method, request.path, reset))
        return await super()._handle(request)


@dataclass
class DeploySim:
    """The simulated ramdisk of every emulated BMC in ``nodes`` (BMC address → node name, management address)."""

    nodes: dict[Key, tuple[str, str]]
    callback: str
    boot_s: float = 0.2
    write_s: float = 0.5
    os_boot_s: float = 0.2
    fail: dict[str, str] = field(default_factory=dict)
    """Node → the detail its ramdisk reports as ``failed`` at stage ``write`` instead of writing."""
    disks: str = "nvme0n1,960197124096,0,0,S6EWNA0T100001,,M.2 boot,;nvme1n1,960197124096,0,0,S6EWNA0T100002,,M.2 boot,"
    """What every simulated ramdisk lists as its disks on ``start`` (the real script's ``list_disks``)."""
    written: dict[str, str] = field(default_factory=dict)
    """Node → the disk its ramdisk wrote (the callback's ``go /dev/X``, else the script's default)."""
    os_up: dict[str, str] = field(default_factory=dict)
    """Management address → node name, while that node's installed OS runs."""
    answers: dict[str, list[str]] = field(default_factory=dict)
    """Node → what the callback answered its ramdisk, in order."""
    _tasks: set[asyncio.Task] = field(default_factory=set)

    def attach(self, lab: Lab) -> None:
        """Boot the simulated ramdisk (or OS) whenever one of ``nodes``' systems powers on in ``lab``."""
        for key, state in lab.bmcs.items():
            if key in self.nodes:
                state.on_boot.insert(0, lambda st, system, key=key: self._booted(key, st, system))

    def _booted(self, key: Key, state: BmcState, system: str) -> None:
        boot = (state.doc(system) or {}).get("Boot") or {}
        once = boot.get("BootSourceOverrideEnabled") == "Once"
        target = boot.get("BootSourceOverrideTarget")
        name, address = self.nodes[key]
        if once and target in ("Pxe", "Cd"):
            self.os_up.pop(address, None)
            job = self._ramdisk(name, state, system)
        else:
            job = self._os(name, address, state, system)
        task = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, http: aiohttp.ClientSession, name: str, event: str, data: dict | None = None) -> str:
        url = f"{self.callback}/v1/deploy/{name}/{event}"
        try:
            async with (http.post(url, data=data) if data is not None else http.get(url)) as answer:
                text = (await answer.text()).strip() if answer.status == 200 else str(answer.status)
        except (aiohttp.ClientError, TimeoutError) as err:
            text = f"unreachable: {type(err).__name__}"
        self.answers.setdefault(name, []).append(f"{event}:{text}")
        return text

    async def _ramdisk(self, name: str, state: BmcState, system: str) -> None:
        await asyncio.sleep(self.boot_s)
        timeout = aiohttp.ClientTimeout(total=15)  # the script's `timeout 15 wget`
        async with aiohttp.ClientSession(timeout=timeout) as http:
            answer = await self._call(http, name, "start", {"disks": self.disks})
            if answer == "go" or answer.startswith("go /dev/"):
                disk = answer[3:] or "/dev/nvme0n1"
                await self._call(http, name, "writing", {"disk": disk})
                await asyncio.sleep(self.write_s)
                if name in self.fail:
                    await self._call(http, name, "failed", {"stage": "write", "detail": self.fail[name]})
                else:
                    await self._call(http, name, "written", {"sha256": "0" * 64, "disk": disk})
                    self.written[name] = disk
        state.transition(system, "Off", boots=False)  # poweroff -f, written or not

    async def _os(self, name: str, address: str, state: BmcState, system: str) -> None:
        await asyncio.sleep(self.os_boot_s)
        if state.power[system].read(state.clock()) == "On":
            self.os_up[address] = name

    async def ssh_probe(self, address: str, _opts: object) -> str | None:
        """STAND-IN for ``ssh USER@ADDRESS hostname``: the node's name once its simulated OS is up."""
        return self.os_up.get(address)


@contextmanager
def timed_lab(trees: list[TreeSpec], options: LabOptions, *, powered_off: bool = True) -> Iterator[TimedLab]:
    """A :class:`TimedLab` on its own event loop in a background thread for the ``with`` block; its systems
    powered off first (blank machines) unless ``powered_off`` is False."""
    loop = asyncio.new_event_loop()
    lab = TimedLab(trees, options)
    loop.run_until_complete(lab.start())
    for state in lab.bmcs.values():
        for system in state.power:
            if powered_off:
                state.transition(system, "Off", boots=False)
    thread = threading.Thread(target=loop.run_forever, name="deploysim-lab", daemon=True)
    thread.start()
    try:
        yield lab
    finally:
        asyncio.run_coroutine_threadsafe(lab.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def fleet_site(entries: list[BmcEntry], per_rack: int, *, concurrency: int, power_per_rack: int,
               interval_s: float, password_env: str) -> dict:
    """A site document: one compute node per emulated BMC, ``per_rack`` (≤ 59) to a rack, a controller
    without a BMC, and the deploy limits."""
    nodes = [{"name": f"n{i + 1:04d}", "rack": f"r{i // per_rack + 1:03d}", "u": i % per_rack + 1, "sku": "sim",
              "role": "compute", "bmc": {"url": f"redfish+{e.url}"}, "boot_mac": f"02:00:00:{i >> 16 & 255:02x}:"
              f"{i >> 8 & 255:02x}:{i & 255:02x}", "addresses": {"management": f"10.{64 + i // 62500}."
                                                                             f"{i // 250 % 250}.{i % 250 + 2}"}}
             for i, e in enumerate(entries)]
    # a controller the deploy must leave alone (--all skips it); its BMC address answers nothing
    nodes.append({"name": "ctl1", "rack": "r001", "u": per_rack + 1, "sku": "sim", "role": "controller",
                  "bmc": {"url": "redfish+https://127.0.0.1:9"}, "addresses": {"management": "10.127.255.2"}})
    return {"version": 1, "site": "fleet", "defaults": {"bmc_credential": "bmc"},
            "credentials": {"bmc": {"username": entries[0].username, "password": {"env": password_env}}},
            "networks": {"bmc": {"cidr": "127.0.0.0/8"}, "management": {"cidr": "10.64.0.0/10"}},
            "racks": [{"name": f"r{r + 1:03d}", "height": 60} for r in range(-(-len(entries) // per_rack))],
            "skus": {"sim": {"cpu": "2 vCPU", "memory_gib": 1}}, "nodes": nodes,
            "deploy": {"concurrency": concurrency, "power_on": {"per_rack": power_per_rack, "interval_s": interval_s}}}


def peak_in_flight(requests: list[Request]) -> int:
    """Most BMCs busy at once, a BMC counting from its first request to its last (the deploy's view of a
    node in flight, seen from the BMCs' side)."""
    spans: dict[Key, list[float]] = {}
    for r in requests:
        span = spans.setdefault(r.bmc, [r.at, r.at])
        span[0], span[1] = min(span[0], r.at), max(span[1], r.at)
    edges = sorted([(a, 1) for a, _ in spans.values()] + [(b, -1) for _, b in spans.values()],
                   key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    peak = now = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


POWER_ON = ("On", "ForceOn", "PowerCycle", "ForceRestart", "GracefulRestart")


def power_ons_per_window(requests: list[Request], rack_of: dict[Key, str], interval_s: float) -> dict[str, int]:
    """Per rack, the most power-on requests that arrived within any ``interval_s`` seconds."""
    times: dict[str, list[float]] = {}
    for r in requests:
        if r.reset in POWER_ON and r.bmc in rack_of:
            times.setdefault(rack_of[r.bmc], []).append(r.at)
    most: dict[str, int] = {}
    for rack, seen in times.items():
        seen.sort()
        start = 0
        for end, t in enumerate(seen):
            while t - seen[start] >= interval_s:
                start += 1
            most[rack] = max(most.get(rack, 0), end - start + 1)
    return most
