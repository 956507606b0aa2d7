"""The emulated UpdateService: the three ways an image reaches a BMC, tasks, and what goes wrong.

Methods, as the tree's UpdateService advertises them (a tree whose recording names none may add one in
its ``emulator.yaml``, ``update_service:``, labelled there and in its SOURCE.md):

* ``MultipartHttpPushUri``: multipart/form-data with ``UpdateParameters`` (JSON: ``Targets``,
  ``@Redfish.OperationApplyTime``) and ``UpdateFile`` (DSP0266 "Multipart HTTP push updates");
* ``SimpleUpdate``: ``ImageURI`` pulled by the BMC over HTTP(S) (the site's web server, or a test's);
* ``HttpPushUri``: the image as the whole body; apply time from ``HttpPushUriOptions``.

Each accepted update answers 202 with ``Location`` naming a Task (``/redfish/v1/TaskService/Tasks/N``)
whose ``PercentComplete`` and ``Messages`` advance with the clock, settled lazily at each request like
power. The image is an anyrack bundle (anyrack.bmc.firmware.bundle): its manifest names the
FirmwareInventory members it updates and the new version; a payload whose sha256 does not match is
refused as a real BMC refuses a bad signature (the task ends in Exception).

Faults (per BMC, ``faults:`` in the lab spec): ``update-hang`` (the task stops at 50 % forever),
``update-reset`` (the BMC restarts half way: connections drop for a while, then the task reads Exception
and the version is unchanged), ``update-silent`` (the task says success, the version never changes),
``update-on-reset`` (the BMC applies only at the next host reset, whatever was asked).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from anyrack.bmc.firmware.bundle import BundleError, image_ok, read_manifest
from anyrack.lab.emulator.messages import error_response
from anyrack.lab.emulator.reply import Answer, Reply
from anyrack.lab.emulator.state import BmcState
from anyrack.lab.emulator.tree import ROOT, path_key

TASKS = f"{ROOT}/TaskService/Tasks"
DURATION_S = 1.0
"""How long a task takes from accepted to done (progress grows linearly over it)."""
RESET_DOWN_S = 1.5
"""How long a BMC that restarts mid-update drops every connection."""
PULL_TIMEOUT_S = 5.0


@dataclass
class Job:
    key: str
    started: float
    members: list[str]
    version: str
    apply: str
    problem: tuple[str, str] | None = None
    """(MessageId, message) that ends the task in Exception."""
    state: str = "Running"
    percent: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Updates:
    """One BMC's update state."""

    jobs: list[Job] = field(default_factory=list)
    staged: list[Job] = field(default_factory=list)
    down_until: float = 0.0


def _of(state: BmcState) -> Updates:
    return state.updates.setdefault("service", Updates())  # type: ignore[no-any-return]


def _service_key(state: BmcState) -> str | None:
    return state.tree.link(state.tree.docs[ROOT].get("UpdateService"))


def install(state: BmcState) -> None:
    """Add what the tree's ``emulator.yaml`` says the firmware advertises beyond the recording."""
    extra = state.tree.behaviour.get("update_service")
    key = _service_key(state)
    if extra and key:
        state.edit(key).update(extra)


def endpoints(state: BmcState) -> dict[str, str]:
    """Lowercase path → ``multipart``, ``simple`` or ``push``, as the UpdateService advertises."""
    key = _service_key(state)
    doc = state.doc(key) if key else None
    if not isinstance(doc, dict):
        return {}
    found = {}
    simple = ((doc.get("Actions") or {}).get("#UpdateService.SimpleUpdate") or {}).get("target")
    for path, method in ((doc.get("HttpPushUri"), "push"), (doc.get("MultipartHttpPushUri"), "multipart"),
                         (simple, "simple")):
        if isinstance(path, str) and path:
            found[path_key(path).lower()] = method
    return found


def endpoint(state: BmcState, raw_path: str) -> str | None:
    """The update method a POST to ``raw_path`` is, or None."""
    return endpoints(state).get(path_key(raw_path).lower()) if state.tree.docs[ROOT].get("UpdateService") else None


def _message(message_id: str, text: str, severity: str = "OK") -> dict[str, Any]:
    return {"MessageId": f"Update.1.0.{message_id}", "Message": text, "Severity": severity,
            "MessageSeverity": severity}


def _members(state: BmcState) -> dict[str, str]:
    """FirmwareInventory member id (and lowercase path) → key."""
    service = state.doc(_service_key(state) or "") or {}
    inventory = state.tree.link(service.get("FirmwareInventory"))
    out: dict[str, str] = {}
    for link in (state.doc(inventory) or {}).get("Members", []) if inventory else []:
        key = state.tree.link(link)
        if key:
            out[key.rsplit("/", 1)[-1]] = key
            out[key.lower()] = key
    return out


def _targets(state: BmcState, wanted: list[str], asked: Any) -> list[str] | web.Response:
    members = _members(state)
    keys = []
    for target in wanted:
        key = members.get(target)
        if key is None:
            return error_response(400, "ActionParameterValueNotInList", target, "Targets", "UpdateService.Update")
        keys.append(key)
    if isinstance(asked, list) and asked:
        chosen = {members.get(path_key(str(t.get("@odata.id") if isinstance(t, dict) else t)).lower()) for t in asked}
        if None in chosen:
            return error_response(400, "ActionParameterValueNotInList", str(asked), "Targets", "UpdateService.Update")
        keys = [k for k in keys if k in chosen]
    return keys


async def _pull(uri: str) -> bytes | str:
    """The image at ``uri``, or why it could not be fetched."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PULL_TIMEOUT_S)) as http, \
                http.get(uri) as resp:
            if resp.status != 200:
                return f"HTTP {resp.status}"
            return await resp.read()
    except (aiohttp.ClientError, TimeoutError, OSError) as err:
        return str(err) or type(err).__name__


async def _read(method: str, state: BmcState,
                request: web.Request) -> tuple[bytes | str, dict[str, Any]] | web.Response:
    """The image (or why it could not be had) and the update parameters of one POST."""
    if method == "multipart":
        if not request.content_type.startswith("multipart/"):
            return error_response(400, "ActionParameterMissing", "UpdateService.MultipartUpdate", "UpdateFile")
        params: dict[str, Any] = {}
        image: bytes | None = None
        async for part in await request.multipart():
            if part.name == "UpdateParameters":
                params = await part.json() or {}  # type: ignore[union-attr]
            elif part.name == "UpdateFile":
                image = await part.read()  # type: ignore[union-attr]
        if image is None:
            return error_response(400, "ActionParameterMissing", "UpdateService.MultipartUpdate", "UpdateFile")
        return image, params
    if method == "push":
        doc = state.doc(_service_key(state) or "") or {}
        apply = ((doc.get("HttpPushUriOptions") or {}).get("HttpPushUriApplyTime") or {}).get("ApplyTime")
        return await request.read(), {"@Redfish.OperationApplyTime": apply or "Immediate"}
    try:
        body = await request.json()
    except ValueError:
        return error_response(400, "MalformedJSON")
    if not isinstance(body, dict) or not isinstance(body.get("ImageURI"), str):
        return error_response(400, "ActionParameterMissing", "UpdateService.SimpleUpdate", "ImageURI")
    return await _pull(body["ImageURI"]), body


async def post(state: BmcState, request: web.Request, method: str) -> Answer:
    """Accept one update (202 + a Task), or refuse it (4xx) before anything starts."""
    got = await _read(method, state, request)
    if isinstance(got, web.Response):
        return got
    image, params = got
    apply = params.get("@Redfish.OperationApplyTime") or "Immediate"
    if apply not in ("Immediate", "OnReset"):
        return error_response(400, "ActionParameterValueNotInList", apply, "@Redfish.OperationApplyTime", method)
    problem, version, members = None, "", []
    if isinstance(image, str):
        problem = ("TransferFailed", f"Transfer of image '{params.get('ImageURI')}' failed: {image}.")
    else:
        try:
            manifest = read_manifest(image)
        except BundleError as err:
            manifest, problem = None, ("VerificationFailed", f"Verification of the image failed: {err}.")
        if manifest is not None:
            found = _targets(state, list(manifest.targets), params.get("Targets"))
            if isinstance(found, web.Response):
                return found
            members, version = found, manifest.version
            if not image_ok(image):
                problem = ("VerificationFailed", "Verification of the image failed: its checksum does not match.")
    updates = _of(state)
    key = f"{TASKS}/{len(updates.jobs) + 1}"
    if "update-on-reset" in state.config.faults:
        apply = "OnReset"
    updates.jobs.append(Job(key, state.clock(), members, version, apply, problem))
    _render(state, updates.jobs[-1])
    return Reply(key, 202, {"Location": key})


def _render(state: BmcState, job: Job) -> None:
    doc = {"@odata.id": job.key, "@odata.type": "#Task.v1_4_3.Task", "Id": job.key.rsplit("/", 1)[-1],
           "Name": "Firmware update", "TaskState": job.state, "PercentComplete": job.percent,
           "TaskStatus": "Critical" if job.state == "Exception" else "OK", "Messages": list(job.messages),
           "StartTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    previous = state.doc(job.key)
    if isinstance(previous, dict):
        doc["StartTime"] = previous.get("StartTime", doc["StartTime"])
    state.put(job.key, doc)


def _apply(state: BmcState, job: Job) -> None:
    if "update-silent" not in state.config.faults:
        for key in job.members:
            state.edit(key)["Version"] = job.version


def advance(state: BmcState) -> None:
    """Move every running task on to where the clock says it is (called before each request is answered)."""
    updates = state.updates.get("service")
    if updates is None:
        return
    now = state.clock()
    for job in updates.jobs:
        if job.state != "Running":
            continue
        share = min((now - job.started) / DURATION_S, 1.0)
        if job.problem and share >= 0.3:
            job.state, job.percent = "Exception", int(share * 100)
            job.messages.append(_message(job.problem[0], job.problem[1], "Critical"))
        elif "update-reset" in state.config.faults and share >= 0.5:
            updates.down_until = now + RESET_DOWN_S
            job.state, job.percent = "Exception", 50
            job.messages.append(_message("ActivateFailed", "The BMC restarted during the update; the image was "
                                                           "not applied.", "Critical"))
        elif "update-hang" in state.config.faults:
            job.percent = min(int(share * 100), 50)
        elif share >= 1.0:
            job.state, job.percent = "Completed", 100
            if job.apply == "OnReset":
                updates.staged.append(job)
                job.messages.append(_message("AwaitToActivate", "Awaiting a reset to activate the update."))
            else:
                _apply(state, job)
                job.messages.append(_message("UpdateSuccessful", "The update completed successfully."))
        else:
            job.percent = int(share * 100)
        _render(state, job)


def apply_staged(state: BmcState, _system_key: str) -> None:
    """At a host boot: activate the images staged for the next reset (boot hook)."""
    updates = state.updates.get("service")
    if updates is not None:
        for job in updates.staged:
            _apply(state, job)
        updates.staged.clear()


async def drop_if_down(state: BmcState, request: web.Request) -> None:
    """While the BMC restarts (``update-reset``), every connection is dropped without an answer."""
    updates = state.updates.get("service")
    if updates is not None and state.clock() < updates.down_until:
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
