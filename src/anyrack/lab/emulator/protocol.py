"""What DSP0266 asks of every answer, whatever the resource: the Allow and Link headers, the
OData-Version request header, which query parameters are understood, and which resources take PATCH.

The recorded service root advertises the query features of the firmware it came from; the
emulator serves ``$expand`` (as far as the recording advertises it) and no other query option, so
it advertises no other (``FilterQuery``, ``SelectQuery``, ``OnlyMemberQuery``, ``ExcerptQuery``,
``TopSkipQuery`` are served as false).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from anyrack.lab.emulator.messages import error_response

ODATA_VERSION = "4.0"
UNSERVED_FEATURES = ("FilterQuery", "SelectQuery", "OnlyMemberQuery", "ExcerptQuery", "TopSkipQuery")
SERVED_QUERY = frozenset({"$expand"})
NO_VALUE_QUERY = frozenset({"only", "excerpt"})
"""Redfish query parameters that take no value: ``only=foo`` is 400 even where they are not served."""
WRITABLE_TYPES = ("#ComputerSystem.", "#Chassis.", "#Manager.", "#ManagerNetworkProtocol.", "#ManagerAccount.",
                  "#AccountService.", "#SessionService.", "#EthernetInterface.", "#VirtualMedia.", "#Bios.", "#Role.",
                  "#EventService.", "#SecureBoot.")
"""Resource types with properties the schema marks updatable, that PATCH may change; every other type is
read-only (405, and no PATCH in Allow: DMTF's service validator checks Allow against the schema)."""
_TYPE = re.compile(r"^#(?P<name>[A-Za-z0-9]+)\.(?:(?P<version>v\d+_\d+_\d+)\.)?[A-Za-z0-9]+$")


def served_root(root: dict[str, Any]) -> dict[str, Any]:
    """The recorded service root with the query features the emulator does not serve switched off."""
    features = root.get("ProtocolFeaturesSupported")
    if not isinstance(features, dict):
        return root
    features = {k: (False if k in UNSERVED_FEATURES and v is True else v) for k, v in features.items()}
    return {**root, "ProtocolFeaturesSupported": features}


def check_request(request: web.Request) -> web.Response | None:
    """412 for an OData-Version other than 4.0, 501 for a ``$`` query option other than those served, 400 for
    a value given to ``only``/``excerpt``; else None. Other unknown query parameters are ignored (DSP0266)."""
    version = request.headers.get("OData-Version")
    if version is not None and version.strip() != ODATA_VERSION:
        return error_response(412, "PreconditionFailed")
    for name, value in request.query.items():
        if name.startswith("$") and name not in SERVED_QUERY:
            return error_response(501, "QueryNotSupported")
        if name in NO_VALUE_QUERY and value:
            return error_response(400, "QueryParameterValueFormatError", value, name)
    return None


def writable(doc: Any) -> bool:
    """Whether PATCH may change the resource ``doc`` at all (not a collection or a read-only type)."""
    if not isinstance(doc, dict) or "Members" in doc or doc.get("IsPredefined") is True:
        return False  # a collection, or a predefined Role (AssignedPrivileges of standard roles are fixed)
    kind = doc.get("@odata.type")
    return isinstance(kind, str) and kind.startswith(WRITABLE_TYPES)


def describedby(doc: Any) -> str | None:
    """The ``Link`` header naming the published JSON schema of ``doc``'s ``@odata.type``, if versioned."""
    kind = doc.get("@odata.type") if isinstance(doc, dict) else None
    found = _TYPE.match(kind) if isinstance(kind, str) else None
    if found is None:
        return None
    schema = f"{found['name']}.{found['version']}" if found["version"] else found["name"]  # collections: unversioned
    return f"<https://redfish.dmtf.org/schemas/v1/{schema}.json>; rel=describedby"


def with_headers(response: web.StreamResponse, allow: tuple[str, ...] | None, link: str | None,
                 method: str) -> web.StreamResponse:
    """Allow on every GET/HEAD answer and on 405 (DSP0266 8.x), Link on successful GET/HEAD."""
    if allow and (method in ("GET", "HEAD") or response.status == 405):
        response.headers["Allow"] = ", ".join(allow)
    if link and method in ("GET", "HEAD") and response.status == 200:
        response.headers["Link"] = link
    return response


def allowed(methods: Mapping[str, bool]) -> tuple[str, ...]:
    """The methods whose flag is true, in a fixed order."""
    return tuple(m for m in ("GET", "HEAD", "POST", "PATCH", "DELETE") if methods.get(m))
