"""Emulated BMCs for the engine harness: a site file over them, and the emulator with a request log."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from anyrack.lab.emulator import BmcEntry, LabOptions, TreeSpec
from anyrack.lab.emulator.server import Lab


class RecordingLab(Lab):
    """The BMC emulator, keeping every request it answers as (BMC address, method, path)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests: list[tuple[str, str, str]] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        self.requests.append((f"{sockname[0]}:{sockname[1]}" if sockname else "?", request.method, request.path))
        return await super()._handle(request)

    def writes(self) -> list[tuple[str, str, str]]:
        """Requests that change something (sessions excepted: logging in and out writes nothing)."""
        return [r for r in self.requests if r[1] not in ("GET", "HEAD") and "/SessionService/Sessions" not in r[2]]


@contextmanager
def recording_lab(trees: list[TreeSpec], options: LabOptions) -> Iterator[tuple[RecordingLab, list[BmcEntry]]]:
    """Emulated BMCs in a background thread (its own event loop) for the ``with`` block."""
    loop = asyncio.new_event_loop()
    lab = RecordingLab(trees, options)
    entries = loop.run_until_complete(lab.start())
    thread = threading.Thread(target=loop.run_forever, name="harness-lab", daemon=True)
    thread.start()
    try:
        yield lab, entries
    finally:
        asyncio.run_coroutine_threadsafe(lab.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def behind_pulumis_back(entry: BmcEntry, verb: Callable[[Any], Any]) -> Any:
    """Run ``verb`` on the emulated BMC as its admin, outside Pulumi (what an operator at the BMC would do)."""
    from anyrack.bmc import connect

    async def go() -> Any:
        async with connect(f"redfish+{entry.url}", entry.username, entry.password, ca_file=entry.ca) as bmc:
            return await verb(bmc)

    return asyncio.run(go())


def write_site(path: Path, urls: list[str], racks: int = 1, password_env: str = "ANYRACK_LAB_BMC_PASSWORD",
               managed_env: str = "ANYRACK_OPS_PASSWORD") -> Path:
    """A site file of ``len(urls)`` nodes (the first a controller, the rest compute) spread over ``racks``
    racks, one emulated BMC each, logging in as ``admin`` and managing the user ``ops``; written at ``path``."""
    per_rack = -(-len(urls) // racks)
    nodes = []
    for i, url in enumerate(urls):
        role, name = ("controller", "ctl1") if i == 0 else ("compute", f"gpu{i}")
        nodes.append({"name": name, "rack": f"r{i // per_rack + 1:02d}", "u": i % per_rack + 1, "sku": "lab-small",
                      "role": role, "bmc": {"url": f"redfish+{url}", "credential": "lab-bmc"},
                      "addresses": {"management": f"10.{77 + i // 60000}.{i // 250 % 240}.{i % 250 + 2}"}})
    site = {"version": 1, "site": "harness", "domain": "harness.anyrack.test",
            "defaults": {"bmc_credential": "ops"},
            "credentials": {"lab-bmc": {"username": "admin", "password": {"env": password_env}},
                            "ops": {"username": "ops", "password": {"env": managed_env}}},
            "networks": {"bmc": {"cidr": "127.0.0.0/8"}, "management": {"cidr": "10.64.0.0/10"}},
            "racks": [{"name": f"r{n + 1:02d}", "height": 48 if per_rack <= 48 else 64} for n in range(racks)],
            "skus": {"lab-small": {"cpu": "2 vCPU", "memory_gib": 2, "macs": 1}},
            "nodes": nodes,
            "slurm": {"cluster_name": "harness",
                      "partitions": [{"name": "batch", "nodes": f"gpu[1-{len(urls) - 1}]", "default": True}]}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(site, indent=1))
    return path
