"""From a request path to a resource key, and from a key to the bytes a client sees."""

from __future__ import annotations

from typing import Any

from anyrack.lab.emulator.bios import settings_view
from anyrack.lab.emulator.media import media_view
from anyrack.lab.emulator.sessions import collection_view, session_doc
from anyrack.lab.emulator.state import BmcState
from anyrack.lab.emulator.system import power_view
from anyrack.lab.emulator.tree import etag_of, request_keys, serialise

ROOT = "/redfish/v1"
VERSIONS = {"v1": "/redfish/v1/"}
"""The body of ``GET /redfish``."""


def resolve(state: BmcState, raw_path: str) -> str | None:
    """The key a request path names for this BMC, or None (404)."""
    layout = state.layout
    for candidate in request_keys(raw_path):
        if state.quirks.lowercase_links and candidate != candidate.lower():
            return None  # a case-sensitive server that only knows the lowercase spelling
        lower = candidate.lower()
        if lower in state.sessions:
            return state.sessions[lower].key
        if lower in state.created:
            return state.created[lower]
        if lower in layout.virtual:
            return layout.virtual[lower]
        key = state.tree.find(candidate)
        if key is None or (state.doc(key) is None and key not in state.tree.xml):
            continue
        return key
    return None


def _unlinked(state: BmcState, key: str) -> bool:
    """Whether ``key`` is a Bios resource served without its settings link (symptom bios_settings_unlinked)."""
    return state.quirks.bios_settings_unlinked and any(s.bios == key for s in state.layout.systems.values())


def view(state: BmcState, key: str) -> Any:
    """The resource at ``key`` as this BMC serves it now (never a shared object that may be written)."""
    session = state.sessions.get(key.lower())
    if session is not None:
        return session_doc(state, session)
    layout = state.layout
    doc = state.doc(key)
    if _unlinked(state, key) and isinstance(doc, dict) and isinstance(doc.get("@Redfish.Settings"), dict):
        settings = {k: v for k, v in doc["@Redfish.Settings"].items() if k != "SettingsObject"}
        doc = {**doc, "@Redfish.Settings": settings}
    if key not in layout.dynamic:
        return doc
    if key == layout.sessions:
        return collection_view(state, doc)
    if key in layout.systems:
        return power_view(state, key, doc)
    if key in layout.media:
        return media_view(state, doc)
    system = layout.settings_owner(key)
    if system is not None:
        return settings_view(state, system)
    system = layout.chassis_owner(key)
    if system is not None and isinstance(doc, dict) and "PowerState" in doc:
        return {**doc, "PowerState": state.power[system.key].read(state.clock())}
    return doc


def render(state: BmcState, key: str) -> tuple[bytes, str, str]:
    """Body, ETag and content type of ``key`` as served now."""
    lowercase = state.quirks.lowercase_links
    if key in state.tree.xml:
        data = state.tree.xml[key]
        return data, etag_of(data), "application/xml"
    if key.lower() not in state.sessions and not state.changed(key) and not _unlinked(state, key):
        data, etag = state.tree.body(key, lowercase)
    else:
        data, etag = serialise(view(state, key), lowercase)
    return data, etag, "application/json"
