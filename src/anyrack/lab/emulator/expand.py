"""``$expand`` on collections, as far as the tree's service root advertises it.

A collection's ``Members`` are replaced by the members themselves, one level deep; ``.``, ``*`` and
``~`` are accepted when ``ProtocolFeaturesSupported.ExpandQuery`` says so (NoLinks, ExpandAll, Links).
Other resources are answered unexpanded (their subordinate collections stay links): the emulator
serves what discovery needs, not the whole query language. A tree that advertises nothing answers
``$expand`` with 501 QueryNotSupported, as the specification asks of a service without it.
"""

from __future__ import annotations

import re

from aiohttp import web

from anyrack.lab.emulator.messages import error_response, json_response
from anyrack.lab.emulator.render import resolve, view
from anyrack.lab.emulator.state import BmcState
from anyrack.lab.emulator.tree import etag_of, serialise

_SYNTAX = re.compile(r"^(?P<kind>[.*~])(?:\(\$levels=(?P<levels>\d+)\))?$")
_FEATURE = {".": "NoLinks", "*": "ExpandAll", "~": "Links"}


def expand_answer(state: BmcState, key: str, value: str) -> web.Response:
    """The answer to ``GET key?$expand=value``."""
    features = (state.tree.docs.get("/redfish/v1", {}).get("ProtocolFeaturesSupported") or {}).get("ExpandQuery")
    if not isinstance(features, dict) or state.quirks.expand_refused:
        return error_response(501, "QueryNotSupported")
    found = _SYNTAX.match(value.strip())
    if found is None or features.get(_FEATURE[found["kind"]]) is not True:
        return error_response(400, "QueryParameterValueFormatError", value, "$expand")
    levels = int(found["levels"] or 1)
    if levels < 1 or (found["levels"] and features.get("Levels") is not True) or levels > features.get("MaxLevels", 1):
        return error_response(400, "QueryParameterValueFormatError", value, "$expand")
    doc = view(state, key)
    if isinstance(doc, dict) and isinstance(doc.get("Members"), list):
        doc = {**doc, "Members": [_member(state, m) for m in doc["Members"]]}
    data, _etag = serialise(doc, state.quirks.lowercase_links)
    return json_response(None, 200, {"ETag": etag_of(data)}, body=data)


def _member(state: BmcState, member: object) -> object:
    if not isinstance(member, dict) or not isinstance(member.get("@odata.id"), str):
        return member
    # The tree's own links; a lowercase-only server resolves them in the case it serves.
    link = member["@odata.id"].lower() if state.quirks.lowercase_links else member["@odata.id"]
    target = resolve(state, link)
    if target is None or target in state.tree.xml:
        return member
    found = view(state, target)
    return found if isinstance(found, dict) else member
