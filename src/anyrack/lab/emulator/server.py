"""The emulator process: one aiohttp server, one asyncio loop, one listening TLS socket per BMC.

All sockets feed the same application; a request finds its BMC by the local address it arrived
on. :class:`Lab` runs in the caller's loop; :func:`serve_lab` runs it in a background thread (for
tests); :func:`run_lab` runs it until SIGINT/SIGTERM (for the CLI).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web

from anyrack import aio
from anyrack.errors import AnyrackError, InputError
from anyrack.lab.emulator import accounts, bios, sessions, system, updates
from anyrack.lab.emulator.dispatch import handle
from anyrack.lab.emulator.listing import BmcEntry, write_listing
from anyrack.lab.emulator.plan import plan
from anyrack.lab.emulator.spec import LabOptions, LabSpecError, TreeSpec
from anyrack.lab.emulator.state import BmcConfig, BmcState
from anyrack.lab.emulator.tls import Authority
from anyrack.lab.emulator.tree import Tree, tree_root

log = logging.getLogger(__name__)


class ListenError(AnyrackError):
    """A BMC address cannot be listened on."""

    template = "{host}:{port}: cannot listen: {reason}"


def new_bmc(config: BmcConfig) -> BmcState:
    """A BMC in its recorded state, with the default user installed and its set-up faults applied."""
    state = BmcState(config, on_boot=[bios.apply_pending, system.end_boot_once, updates.apply_staged])
    accounts.install_default_user(state)
    updates.install(state)
    if "session-limit" in config.faults:
        sessions.fill_pool(state)
    return state


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ListenError(host=host, port=port, reason=err.strerror or str(err)) from None
    sock.setblocking(False)
    return sock


class Lab:
    """Emulated BMCs served from the current event loop: ``async with Lab(trees) as entries: ...``."""

    def __init__(self, trees: Sequence[TreeSpec], options: LabOptions | None = None,
                 listing: Path | None = None) -> None:
        self.trees = list(trees)
        self.options = options or LabOptions()
        self.listing = listing
        self.entries: list[BmcEntry] = []
        self.refused: dict[int, str] = {}
        """Index in ``trees`` → why that tree is not served (the other trees are)."""
        self.bmcs: dict[tuple[str, int], BmcState] = {}
        self._runner: web.AppRunner | None = None
        self._temp_dir: str | None = None
        self._stopping = asyncio.Event()
        self._checked: set[Tree] = set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        sockname = transport.get_extra_info("sockname") if transport is not None else None
        state = self.bmcs.get(tuple(sockname[:2])) if sockname else None
        if state is None:
            raise web.HTTPServiceUnavailable()
        return await handle(state, request, self._stopping)

    async def start(self) -> list[BmcEntry]:
        """Load the trees, issue certificates, listen on every BMC address; returns the listing."""
        configs, self.refused = await asyncio.to_thread(plan, self.trees, self.options)  # reads the trees
        configs = self._servable(configs)
        state_dir = self.options.state_dir
        if state_dir is None:
            self._temp_dir = tempfile.mkdtemp(prefix="anyrack-lab-")
            state_dir = Path(self._temp_dir)
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            authority, contexts = await asyncio.to_thread(_tls, state_dir, [c.host for c in configs])
            app = web.Application(client_max_size=4 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
            await self._runner.setup()
            for config in configs:
                sock = _listen(config.host, config.port)
                site = web.SockSite(self._runner, sock, ssl_context=contexts[config.host])
                await site.start()
                port = sock.getsockname()[1]
                config = _with_port(config, port)
                self.bmcs[(config.host, port)] = new_bmc(config)  # checked by _servable
                self.entries.append(_entry(config, str(authority.cert_path)))
        except BaseException:
            await self.stop()
            raise
        if self.listing is not None:
            write_listing(self.listing, self.entries)
        return self.entries

    def _servable(self, configs: list[BmcConfig]) -> list[BmcConfig]:
        """The configs whose tree a BMC can be made from; a tree that breaks one (a recording with links or
        types no firmware should have) is refused alone, by name. Raises LabSpecError if none is left."""
        broken: dict[str, str] = {}
        for config in configs:
            name = config.tree.name
            if name not in broken and config.tree not in self._checked:
                try:
                    new_bmc(config)
                    self._checked.add(config.tree)
                except InputError:
                    raise  # the operator's files (emulator.yaml): no lab, one-line error
                except Exception as err:  # noqa: BLE001 - any recording: whatever breaks, only this tree stops
                    broken[name] = f"{name}: cannot be served: {type(err).__name__}: {err}"
        for number, spec in enumerate(self.trees):
            if number not in self.refused:
                found = next((b for n, b in broken.items() if _same_tree(spec, n)), None)
                if found is not None:
                    self.refused[number] = found
        for number, reason in sorted(self.refused.items()):
            log.error("tree %s refused: %s", self.trees[number].path, reason)
        kept = [c for c in configs if c.tree.name not in broken]
        if not kept:
            raise LabSpecError(what="lab", reason="every tree was refused: " + "; ".join(self.refused.values()))
        return kept

    async def stop(self) -> None:
        """Close every socket; requests held by the timeout fault get an answer nobody waits for."""
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    async def __aenter__(self) -> list[BmcEntry]:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _tls(state_dir: Path, hosts: list[str]) -> tuple[Authority, dict[str, ssl.SSLContext]]:
    authority = Authority(state_dir)
    return authority, {host: authority.server_context(host) for host in dict.fromkeys(hosts)}


def _same_tree(spec: TreeSpec, name: str) -> bool:
    try:
        return str(tree_root(spec.path)) == name
    except InputError:
        return False


def _with_port(config: BmcConfig, port: int) -> BmcConfig:
    return replace(config, port=port) if config.port != port else config


def _entry(config: BmcConfig, ca: str) -> BmcEntry:
    return BmcEntry(url=f"https://{config.host}:{config.port}", username=config.username, password=config.password,
                    ca=ca, tree=config.tree.name, faults=tuple(sorted(config.faults)),
                    quirks=tuple(n.replace("_", "-") for n in config.quirks.names()))


@contextlib.contextmanager
def serve_lab(trees: Sequence[TreeSpec], options: LabOptions | None = None, *,
              listing: Path | None = None) -> Iterator[list[BmcEntry]]:
    """Run the emulator in a background thread (its own loop) for the ``with`` block; yields the listing."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        lab = Lab(trees, options, listing)
        try:
            box["entries"] = loop.run_until_complete(lab.start())
        except BaseException as err:  # handed to the caller's thread
            box["error"] = err
            ready.set()
            loop.close()
            return
        stop = asyncio.Event()
        box["stop"], box["loop"], box["lab"] = stop, loop, lab
        ready.set()
        try:
            loop.run_until_complete(stop.wait())
        finally:
            loop.run_until_complete(lab.stop())
            loop.close()

    thread = threading.Thread(target=run, name="anyrack-lab", daemon=True)
    thread.start()
    ready.wait()
    if "error" in box:
        thread.join()
        raise box["error"]
    try:
        yield box["entries"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join()


def run_lab(trees: Sequence[TreeSpec], options: LabOptions | None = None, *, listing: Path | None = None,
            on_ready: Callable[[list[BmcEntry]], None] | None = None) -> None:
    """Serve until SIGINT or SIGTERM; ``on_ready`` is called with the listing once every BMC listens."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with Lab(trees, options, listing) as entries:
            if on_ready is not None:
                on_ready(entries)
            await stop.wait()

    aio.run(main())
