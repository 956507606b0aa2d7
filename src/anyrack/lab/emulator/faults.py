"""Injected faults, per request: never answering, resetting mid-body, 500s, 503s with Retry-After, 401s.

``slow-power-on`` and ``session-limit`` are not per request: they are set up when the BMC is made
(a 46 s power-on delay; a session pool already full of someone else's sessions).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from anyrack.lab.emulator.messages import error_response, unauthorized
from anyrack.lab.emulator.state import BmcState

log = logging.getLogger(__name__)

RETRIED_503 = 2
"""How many times each resource answers 503 before it answers normally."""


async def _reset(request: web.Request) -> web.StreamResponse:
    """Send headers and half a body, then drop the connection."""
    body = b'{"error": "this body is cut short by the reset fault of the anyrack lab", "padding": "' + b"x" * 512
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.content_length = len(body) * 2
    await response.prepare(request)
    await response.write(body)
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError  # nothing more can be sent; aiohttp drops the request quietly


async def inject(state: BmcState, request: web.Request, key: str, open_path: bool,
                 stopping: asyncio.Event) -> web.StreamResponse | None:
    """The faulty answer to this request, or None to answer normally. ``timeout`` waits for ``stopping``."""
    faults = state.config.faults
    if not faults:
        return None
    if "timeout" in faults:
        await stopping.wait()  # accept, read, and never answer while the lab runs
        return error_response(503, "ServiceTemporarilyUnavailable", 1)
    if "reset" in faults:
        return await _reset(request)
    if "5xx" in faults:
        return error_response(500, "InternalError")
    if "503" in faults:
        seen = state.hits.get(key, 0)
        if seen < RETRIED_503:
            state.hits[key] = seen + 1
            return error_response(503, "ServiceTemporarilyUnavailable", 1, headers={"Retry-After": "1"})
    if "401" in faults and (not open_path or request.method == "POST"):
        return unauthorized()  # only the open documents stay readable; no session can be made
    return None
