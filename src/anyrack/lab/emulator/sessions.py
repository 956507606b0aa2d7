"""Redfish sessions: create with UserName/Password, list, delete; a per-BMC limit on open sessions."""

from __future__ import annotations

import secrets
from typing import Any

from anyrack.lab.emulator.accounts import check_password
from anyrack.lab.emulator.messages import error_response, unauthorized
from anyrack.lab.emulator.reply import Answer, Reply
from anyrack.lab.emulator.state import BmcState, Session


def _trailing(state: BmcState) -> str:
    """'/' when the tree writes its session links with a trailing slash, else ''."""
    key = state.layout.sessions or ""
    recorded = (state.tree.docs.get(key) or {}).get("@odata.id", "")
    return "/" if isinstance(recorded, str) and recorded.endswith("/") else ""


def open_session(state: BmcState, username: str) -> Session:
    """A new session for ``username`` (the caller checks credentials and the limit)."""
    sid = str(state.next_session)
    state.next_session += 1
    session = Session(id=sid, key=f"{state.layout.sessions}/{sid}", token=secrets.token_hex(16), username=username)
    state.sessions[session.key.lower()] = session
    state.tokens[session.token] = session
    return session


def fill_pool(state: BmcState) -> None:
    """Open as many sessions as the limit allows, owned by the default user (the session-limit fault)."""
    while len(state.sessions) < state.config.session_limit:
        open_session(state, state.config.username)


def session_doc(state: BmcState, session: Session) -> dict[str, Any]:
    """The Session resource of a live session."""
    return {
        "@odata.id": session.key + _trailing(state),
        "@odata.type": state.layout.session_type,
        "Id": session.id,
        "Name": "User Session",
        "Description": "Manager User Session",
        "UserName": session.username,
    }


def collection_view(state: BmcState, doc: dict[str, Any]) -> dict[str, Any]:
    """The recorded session collection with the live sessions as its members."""
    members = [{"@odata.id": s.key + _trailing(state)} for s in state.sessions.values()]
    view = {k: v for k, v in doc.items() if k != "Oem"}
    view["Members"] = members
    view["Members@odata.count"] = len(members)
    return view


def create(state: BmcState, body: Any) -> Answer:
    """POST to the session collection: 201 with X-Auth-Token and Location, 401, or 503 at the limit."""
    if not isinstance(body, dict):
        return error_response(400, "PropertyMissing", "UserName")
    for name in ("UserName", "Password"):
        if not isinstance(body.get(name), str):
            return error_response(400, "PropertyMissing", name)
    if not check_password(state, body["UserName"], body["Password"]):
        return unauthorized()
    if len(state.sessions) >= state.config.session_limit:
        return error_response(503, "SessionLimitExceeded")
    session = open_session(state, body["UserName"])
    location = session.key + _trailing(state)
    return Reply(session.key, 201, {"X-Auth-Token": session.token, "Location": location})


def delete(state: BmcState, key: str) -> Answer:
    """DELETE of a live session ends it: 204."""
    session = state.sessions.pop(key.lower())
    state.tokens.pop(session.token, None)
    return Reply(None, 204)
