"""One node's firmware update through Redfish UpdateService: check, send, follow the task, activate, read back.

Nothing is written before every check passed: the bundle's targets exist on the node (and are of the
``--component`` kind, and updateable), the BMC advertises a method that can take this bundle, and a pull
URL answers. The method is the one the service advertises: ``MultipartHttpPushUri`` (DSP0266 multipart,
``UpdateParameters`` with ``Targets`` and ``@Redfish.OperationApplyTime``), ``SimpleUpdate`` (the BMC
pulls ``ImageURI`` from the site's HTTP server), or the older ``HttpPushUri``. The task is followed until it
ends (a BMC that restarts meanwhile is waited for); an update waiting for activation gets a host reset;
then the version is **read back**: success with the version unchanged is a failure, said so.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from anyrack.bmc.firmware.bundle import BundleError, Manifest, read_manifest
from anyrack.bmc.redfish.resources import Link
from anyrack.bmc.redfish.resources.updates import Task, UpdateService
from anyrack.errors import BmcError, BmcUnreachable, InputError

METHODS = ("multipart", "simple", "push")
_DONE = {"Completed", "Exception", "Killed", "Cancelled", "Interrupted"}


class UpdateFailed(BmcError):
    """An update that did not leave the node at the wanted version; the detail says why."""


@dataclass(frozen=True)
class Bundle:
    manifest: Manifest
    data: bytes | None = None
    """The bundle's bytes (a file, or what the URL served)."""
    url: str | None = None
    """Where the BMC can pull it from (SimpleUpdate)."""


@dataclass
class UpdateResult:
    node: str
    method: str
    apply_time: str
    task: str | None
    versions: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Target id → (before, after)."""
    notes: list[str] = field(default_factory=list)


def advertised(service: dict) -> dict[str, str]:
    """Update method → URI, as the UpdateService advertises (empty: the BMC cannot be updated over Redfish)."""
    return UpdateService(service).methods


def _pull_allowed(service: dict, url: str) -> bool:
    allowed = UpdateService(service).pull_protocols
    return not allowed or urlsplit(url).scheme.upper() in [a.upper() for a in allowed]


def choose(service: dict, bundle: Bundle, node: str, only: str | None = None) -> tuple[str, str]:
    """(method, URI) for this bundle on this BMC (``only``: that method or none); raises UpdateFailed."""
    methods = advertised(service)
    if not methods:
        raise UpdateFailed(node=node, detail="the BMC's UpdateService advertises no update method (no "
                                             "MultipartHttpPushUri, SimpleUpdate or HttpPushUri): nothing was sent")
    if only is not None:
        if only not in methods:
            raise UpdateFailed(node=node, detail=f"the BMC does not advertise {only} (it has: {', '.join(methods)}); "
                                                 "nothing was sent")
        if only == "simple" and not bundle.url:
            raise UpdateFailed(node=node, detail="simple (SimpleUpdate) needs --bundle as a URL; nothing was sent")
        methods = {only: methods[only]}
    if bundle.url and "simple" in methods and _pull_allowed(service, bundle.url):
        return "simple", methods["simple"]
    if bundle.data is not None:
        for method in ("multipart", "push"):
            if method in methods:
                return method, methods[method]
    raise UpdateFailed(node=node, detail="the BMC only pulls images (SimpleUpdate"
                                         f"{' over ' + ', '.join(_protocols(service)) if _protocols(service) else ''})"
                                         ": give --bundle as a URL it can fetch; nothing was sent")


def _protocols(service: dict) -> list[str]:
    return UpdateService(service).pull_protocols


def multipart(params: dict[str, Any], image: bytes) -> tuple[bytes, str]:
    """A DSP0266 multipart body: ``UpdateParameters`` (JSON) and ``UpdateFile``; and its Content-Type."""
    boundary = f"anyrack-{uuid.uuid4().hex}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="UpdateParameters"\r\n'
        f"Content-Type: application/json\r\n\r\n{json.dumps(params)}\r\n".encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="UpdateFile"; filename="bundle.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode() + image + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _targets(items: list, bundle: Bundle, component: str | None, node: str) -> list:
    by_id = {i.id: i for i in items}
    missing = [t for t in bundle.manifest.targets if t not in by_id]
    if missing:
        raise UpdateFailed(node=node, detail=f"the bundle does not match this node: no component {', '.join(missing)} "
                                             f"(it lists: {', '.join(sorted(by_id)) or 'none'}); nothing was sent")
    chosen = [by_id[t] for t in bundle.manifest.targets]
    wrong = [f"{i.id} ({i.kind})" for i in chosen if component and i.kind != component]
    if wrong:
        raise UpdateFailed(node=node, detail=f"the bundle updates {', '.join(wrong)}, not {component}; "
                                             "nothing was sent")
    locked = [i.id for i in chosen if i.updateable is False]
    if locked:
        raise UpdateFailed(node=node, detail=f"the BMC says {', '.join(locked)} cannot be updated (Updateable: "
                                             "false); nothing was sent")
    return chosen


async def update_node(bmc: Any, bundle: Bundle, *, component: str | None = None, apply_time: str = "Immediate",
                      timeout: float = 600.0, reset_wait: float = 300.0, method: str | None = None) -> UpdateResult:
    """Update one node (a connected RedfishController); raises UpdateFailed with the cause."""
    c, node = bmc.c, bmc.node
    service = await c.get(Link("UpdateService").read(bmc.root) or "/redfish/v1/UpdateService")
    method, uri = choose(service, bundle, node, method)
    chosen = _targets(await bmc.firmware(), bundle, component, node)
    result = UpdateResult(node, method, apply_time, None, {i.id: (i.version, "") for i in chosen})
    paths = [{"@odata.id": i.path} for i in chosen if i.path]
    if method == "multipart":
        body, content_type = multipart({"Targets": [p["@odata.id"] for p in paths],
                                        "@Redfish.OperationApplyTime": apply_time}, bundle.data or b"")
        status, headers, answer = await c.request("POST", uri, data=body, headers={"Content-Type": content_type})
    elif method == "push":
        status, headers, answer = await c.request("POST", uri, data=bundle.data,
                                                  headers={"Content-Type": "application/octet-stream"})
    else:
        status, headers, answer = await c.request("POST", uri, {
            "ImageURI": bundle.url, "TransferProtocol": urlsplit(bundle.url or "").scheme.upper(),
            "Targets": [p["@odata.id"] for p in paths], "@Redfish.OperationApplyTime": apply_time})
    result.task = headers.get("Location") or (answer.get("@odata.id") if isinstance(answer, dict) else None)
    task = await follow(bmc, result.task, timeout, result) if result.task else {}
    if Task(task).state not in (None, "Completed"):
        raise UpdateFailed(node=node, detail=f"the update task {result.task} ended {Task(task).state}: "
                                             f"{Task(task).summary or 'no message'}")
    await _activate(bmc, task, apply_time, reset_wait, result)
    after = {i.id: i.version for i in await bmc.firmware()}
    for item_id, (before, _) in list(result.versions.items()):
        result.versions[item_id] = (before, after.get(item_id, ""))
    wrong = {k: v for k, v in result.versions.items() if v[1] != bundle.manifest.version}
    if wrong:
        same = all(before == now for before, now in wrong.values())
        detail = ", ".join(f"{k} reads {now or 'nothing'}" for k, (_, now) in sorted(wrong.items()))
        raise UpdateFailed(node=node, detail=(
            f"the BMC reported the update done but {detail}, not {bundle.manifest.version}"
            + (" (unchanged: the image was not applied)" if same else "")))
    return result


async def follow(bmc: Any, task_uri: str, timeout: float, result: UpdateResult) -> dict:
    """The task once it ends; waits out a BMC that stops answering meanwhile (it restarts); raises on timeout."""
    deadline = time.monotonic() + timeout
    pause, task, lost = 0.2, {}, None
    while True:
        try:
            task = await bmc.c.get(task_uri)
            if lost:
                result.notes.append(f"the BMC stopped answering during the update ({lost}) and came back")
                lost = None
        except BmcUnreachable as err:
            lost = str(err).split(": ", 1)[-1]
        if Task(task).state in _DONE:
            return task
        if time.monotonic() >= deadline:
            where = f"no answer from the BMC ({lost})" if lost else \
                f"{Task(task).state} at {'?' if Task(task).percent is None else Task(task).percent} %"
            raise UpdateFailed(node=bmc.node, detail=f"the update task {task_uri} did not finish in {timeout:g} s "
                                                     f"(last: {where}); the node is left as it is")
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, bmc.poll_interval)


async def _activate(bmc: Any, task: dict, apply_time: str, reset_wait: float, result: UpdateResult) -> None:
    waiting = Task(task).says("AwaitToActivate")
    if apply_time != "OnReset" and not waiting:
        return
    result.notes.append("activated by a host reset" + ("" if apply_time == "OnReset" else
                                                       " (the BMC applies this image only at a reset)"))
    state = await bmc.power_state()
    await bmc.power("reset" if state == "On" else "on", wait=reset_wait)


async def load_bundle(source: str, timeout: float = 30.0) -> Bundle:
    """A bundle from a file or an http(s) URL, its manifest read; raises InputError (nothing sent to any BMC).

    A URL is fetched once here: that proves it answers before any BMC is asked to pull it.
    """
    if urlsplit(source).scheme in ("http", "https"):
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
                async with http.get(source) as resp:
                    if resp.status != 200:
                        raise InputError(detail=f"--bundle {source}: HTTP {resp.status}; nothing was sent")
                    data = await resp.read()
                side = None
                try:
                    manifest = read_manifest(data)
                except BundleError:
                    async with http.get(source + ".manifest.json") as resp:
                        side = await resp.read() if resp.status == 200 else None
                    manifest = _side_manifest(side, source)
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            raise InputError(detail=f"--bundle {source}: unreachable ({err or type(err).__name__}); "
                                    "nothing was sent") from None
        return Bundle(manifest, data, source)
    path = Path(source)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(detail=f"--bundle {source}: {err.strerror or err}; nothing was sent") from None
    try:
        return Bundle(read_manifest(data), data)
    except BundleError:
        side_path = path.with_name(path.name + ".manifest.json")
        return Bundle(_side_manifest(side_path.read_bytes() if side_path.is_file() else None, source), data)


def _side_manifest(data: bytes | None, source: str) -> Manifest:
    if data is None:
        raise InputError(detail=f"--bundle {source}: no anyrack manifest in it and no {source}.manifest.json beside "
                                "it (docs/firmware.md); nothing was sent")
    try:
        return read_manifest(data)
    except BundleError as err:
        raise InputError(detail=f"{source}.manifest.json: {err}; nothing was sent") from None
