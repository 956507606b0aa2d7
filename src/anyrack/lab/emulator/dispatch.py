"""One request to one BMC: latency, faults, authentication, then GET/PATCH/POST/DELETE on its state."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from anyrack.lab.emulator import accounts, bios, media, sessions, system, updates
from anyrack.lab.emulator.auth import OPEN_KEYS, authenticate
from anyrack.lab.emulator.expand import expand_answer
from anyrack.lab.emulator.faults import inject
from anyrack.lab.emulator.messages import (
    ODATA_HEADERS,
    error_response,
    json_response,
    not_allowed,
    not_found,
    not_ready,
    unauthorized,
)
from anyrack.lab.emulator.patch import check_if_match, check_properties, merge
from anyrack.lab.emulator.protocol import allowed, check_request, describedby, with_headers, writable
from anyrack.lab.emulator.render import ROOT, VERSIONS, render, resolve, view
from anyrack.lab.emulator.reply import Answer, Reply
from anyrack.lab.emulator.state import BmcState
from anyrack.lab.emulator.tree import path_key, request_keys

_NO_BODY = object()


async def _body(request: web.Request) -> Any:
    data = await request.read()
    if not data.strip():
        return _NO_BODY
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return None


def _respond(state: BmcState, answer: Answer) -> web.Response:
    if isinstance(answer, web.Response):
        return answer
    headers = dict(answer.headers)
    if state.quirks.lowercase_links and "Location" in headers:
        headers["Location"] = headers["Location"].lower()
    if answer.key is None:
        return web.Response(status=answer.status, headers={**ODATA_HEADERS, **headers})
    data, etag, content_type = render(state, answer.key)
    headers["ETag"] = etag
    if content_type != "application/json":
        return web.Response(body=data, status=answer.status, content_type=content_type,
                            headers={**ODATA_HEADERS, **headers})
    return json_response(None, answer.status, headers, body=data)


def _action(state: BmcState, raw_path: str) -> tuple[str, str] | None:
    for candidate in request_keys(raw_path):
        if state.quirks.lowercase_links and candidate != candidate.lower():
            return None
        found = state.layout.actions.get(candidate.lower())
        if found is not None:
            return found
    return None


def _post(state: BmcState, key: str | None, raw_path: str, body: Any) -> Answer:
    action = _action(state, raw_path)
    if action is not None:
        owner, name = action
        if body is None:
            return error_response(400, "MalformedJSON")
        body = {} if body is _NO_BODY else body
        if name == "ComputerSystem.Reset" and owner in state.layout.systems:
            return system.reset(state, owner, body)
        if name == "VirtualMedia.InsertMedia" and owner in state.layout.media:
            return media.insert(state, owner, body)
        if name == "VirtualMedia.EjectMedia" and owner in state.layout.media:
            return media.eject(state, owner, body)
        return Reply(None, 204)  # advertised by the tree, accepted, not emulated
    if key is None:
        return not_found(path_key(raw_path))
    if body is None or body is _NO_BODY:
        return error_response(400, "MalformedJSON")
    if key == state.layout.sessions:
        return sessions.create(state, body)
    if key == state.layout.accounts:
        return accounts.create(state, body)
    return not_allowed("POST")


def _patch(state: BmcState, key: str, body: Any, if_match: str | None) -> Answer:
    if not isinstance(body, dict):
        return error_response(400, "MalformedJSON")
    layout = state.layout
    owner = layout.settings_owner(key)
    doc = state.doc(key) if owner is None else {}
    if not _patchable(state, key):
        return not_allowed("PATCH")
    _data, etag, _type = render(state, key)
    problem = check_if_match(if_match, etag, state.quirks.etag_required)
    if problem is not None:
        return problem
    if owner is not None:
        return bios.update(state, owner, body)
    if key in layout.systems:
        return system.update(state, key, body)
    if key in layout.media:
        return media.update(state, key, body)
    if accounts.is_account(state, key):
        return accounts.update(state, key, body)
    problem = check_properties(doc, body)
    if problem is not None:
        return problem
    merge(state.edit(key), body)
    return Reply(key)


def _patchable(state: BmcState, key: str) -> bool:
    if state.layout.settings_owner(key) is not None:
        return True
    if key in state.tree.xml or key.lower() in state.sessions or key == ROOT:
        return False
    if any(s.bios == key and s.settings != key for s in state.layout.systems.values()):
        return False  # current BIOS values are read-only; changes go to the settings object
    return writable(state.doc(key))


def _deletable(state: BmcState, key: str) -> bool:
    sessions = state.layout.sessions
    return key.lower() in state.sessions or accounts.is_account(state, key) or bool(
        sessions and key.rsplit("/", 1)[0] == sessions)


def _allow(state: BmcState, key: str | None, raw_path: str) -> tuple[str, ...]:
    """The methods a resource (or action target) answers."""
    if key is None:
        return ("POST",) if _action(state, raw_path) is not None else ()
    creates = key in (state.layout.sessions, state.layout.accounts)
    return allowed({"GET": True, "HEAD": True, "POST": creates, "PATCH": _patchable(state, key),
                    "DELETE": _deletable(state, key)})


def _delete(state: BmcState, key: str) -> Answer:
    if key.lower() in state.sessions:
        return sessions.delete(state, key)
    if accounts.is_account(state, key):
        return accounts.delete(state, key)
    if _deletable(state, key):
        state.remove(key)  # a recorded session: nobody holds it, but it can be cleaned up
        return Reply(None, 204)
    return not_allowed("DELETE")


async def handle(state: BmcState, request: web.Request, stopping: asyncio.Event) -> web.StreamResponse:
    """Answer one request to the BMC ``state``; ``stopping`` is set when the lab shuts down."""
    response = await _answer(state, request, stopping)
    if request.method in ("GET", "HEAD") or response.status == 405:
        key = resolve(state, request.raw_path)
        doc = view(state, key) if key is not None and key not in state.tree.xml else None
        return with_headers(response, _allow(state, key, request.raw_path), describedby(doc), request.method)
    return response


async def _answer(state: BmcState, request: web.Request, stopping: asyncio.Event) -> web.StreamResponse:
    if state.config.latency_ms:
        await asyncio.sleep(state.config.latency_ms / 1000)
    raw_path, method = request.raw_path, request.method
    bare = path_key(raw_path)
    key = "/redfish" if bare == "/redfish" else resolve(state, raw_path)
    if method == "POST" and key is None and bare.endswith("/Members"):  # POST to Members is POST to the collection
        raw_path = bare.removesuffix("/Members")
        key = resolve(state, raw_path)
    open_path = (key in OPEN_KEYS and method in ("GET", "HEAD")) or (
        method == "POST" and key is not None and key == state.layout.sessions)
    injected = await inject(state, request, key or bare, open_path, stopping)
    if injected is not None:
        return injected
    state.settle()
    updates.advance(state)
    await updates.drop_if_down(state, request)  # a BMC restarting mid-update answers nothing
    if not open_path and authenticate(state, request) is None:
        return unauthorized()
    problem = None if key is not None and "?" in key else check_request(request)  # a recorded page: X?$skip=50
    if problem is not None:
        return problem
    if key == "/redfish":
        return json_response(VERSIONS) if method in ("GET", "HEAD") else not_allowed(method)
    if state.busy and method in ("PATCH", "POST"):
        state.busy = False
        return not_ready(str(state.tree.behaviour.get("not_ready_message_id", "NotReady")))
    if method == "POST" and updates.endpoint(state, raw_path):
        return _respond(state, await updates.post(state, request, updates.endpoint(state, raw_path) or ""))
    if method == "POST":
        return _respond(state, _post(state, key, raw_path, await _body(request)))
    if key is None:
        return not_found(bare)
    if method in ("GET", "HEAD"):
        unless = request.headers.get("If-None-Match")
        if unless is not None:
            etag = render(state, key)[1]
            if unless == etag:
                return web.Response(status=304, headers={"ETag": etag, **ODATA_HEADERS})
        if "$expand" in request.query:
            return expand_answer(state, key, request.query["$expand"])
        return _respond(state, Reply(key))  # aiohttp leaves the body out of HEAD answers
    if method == "PATCH":
        return _respond(state, _patch(state, key, await _body(request), request.headers.get("If-Match")))
    if method == "DELETE":
        return _respond(state, _delete(state, key))
    return not_allowed(method)
