"""The deploy callback: what the ramdisk (roles/pxe_server/files/deploy/init) talks to.

``GET /v1/deploy/<node>/start`` answers ``go`` only for a node this run is deploying, and only once
per attempt (``go /dev/X`` for a node with a ``root_device`` hint: the one disk of the ``disks`` the
ramdisk POSTs that matches it, see :mod:`anyrack.deploy.disks`; no single match: ``refused`` and a
``failed`` event naming the candidates): a machine that network-boots by accident is told nothing
and powers off untouched.
``/writing``, ``/written`` and ``/failed`` (POSTed form: ``stage``, ``detail``, ``sha256``) are
recorded as events the deploy waits on. Nothing secret crosses this channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from aiohttp import web

from anyrack.deploy.disks import NoSingleDisk, choose, from_ramdisk
from anyrack.site.deployment import RootDevice

EVENTS = ("start", "writing", "written", "failed")


@dataclass
class NodeChannel:
    """The events one node's ramdisk reported during the current attempt."""

    armed: bool = False
    hint: RootDevice | None = None
    events: dict[str, dict[str, str]] = field(default_factory=dict)
    times: dict[str, float] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class Callback:
    """An aiohttp server on ``host:port``; ``arm(node)`` before powering the node on."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.nodes: dict[str, NodeChannel] = {}
        self.refused: list[str] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> Callback:
        app = web.Application()
        app.router.add_route("*", "/v1/deploy/{node}/{event}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def arm(self, node: str, hint: RootDevice | None = None) -> NodeChannel:
        """A fresh attempt for ``node``: its next ``start`` is answered ``go`` (with a ``hint``: ``go /dev/X`` when
        exactly one of the disks the ramdisk lists matches, else refused and recorded as ``failed``)."""
        channel = self.nodes[node] = NodeChannel(armed=True, hint=hint)
        return channel

    def disarm(self, node: str) -> None:
        if node in self.nodes:
            self.nodes[node].armed = False

    async def _handle(self, request: web.Request) -> web.Response:
        node, event = request.match_info["node"], request.match_info["event"]
        channel = self.nodes.get(node)
        if event not in EVENTS or channel is None:
            self.refused.append(node)
            return web.Response(status=404, text="no deploy in progress\n")
        data = {k: str(v)[:8000 if k == "disks" else 300] for k, v in (await request.post()).items()} \
            if request.can_read_body else {}
        if event == "start":
            if not channel.armed or "start" in channel.events:
                return web.Response(status=409, text="not armed\n")
            answer = "go"
            if channel.hint is not None:
                try:
                    answer = f"go {choose(from_ramdisk(data.get('disks', '')), channel.hint).path}"
                except NoSingleDisk as err:
                    channel.events["failed"] = {"stage": "disk", "detail": str(err)}
                    channel.times["failed"] = time.monotonic()
                    channel.changed.set()
                    return web.Response(text="refused: no single disk matches root_device\n")  # the ramdisk stops
        else:
            answer = "ok"
        channel.events[event] = data
        channel.times[event] = time.monotonic()
        channel.changed.set()
        return web.Response(text=answer)

    async def wait(self, node: str, events: tuple[str, ...], timeout_s: float) -> str | None:
        """The first of ``events`` the node reports within ``timeout_s``, or None."""
        channel = self.nodes[node]
        deadline = time.monotonic() + timeout_s
        while True:
            for event in events:
                if event in channel.events:
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            channel.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(channel.changed.wait(), timeout=min(left, 5))
