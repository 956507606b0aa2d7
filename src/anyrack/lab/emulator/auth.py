"""Who is asking: HTTP basic credentials or an X-Auth-Token from a session."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from anyrack.lab.emulator.accounts import check_password
from anyrack.lab.emulator.state import BmcState

OPEN_KEYS = frozenset({"/redfish", "/redfish/v1", "/redfish/v1/$metadata", "/redfish/v1/odata"})
"""Readable without credentials (DSP0266: the service root, the version document, $metadata and odata)."""


def authenticate(state: BmcState, request: web.Request) -> str | None:
    """The user a request authenticates as, or None."""
    token = request.headers.get("X-Auth-Token")
    if token:
        session = state.tokens.get(token)
        return session.username if session else None
    header = request.headers.get("Authorization", "")
    if header[:6].lower() != "basic ":
        return None
    try:
        username, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return username if sep and check_password(state, username, password) else None
