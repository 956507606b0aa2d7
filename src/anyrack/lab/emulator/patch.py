"""PATCH rules shared by every resource: If-Match preconditions and merging known, writable properties."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from anyrack.lab.emulator.messages import error_response

READ_ONLY = frozenset({"Id", "Members", "Members@odata.count", "Members@odata.nextLink", "Actions", "Links",
                       "Status", "@odata.id", "@odata.type", "@odata.context", "@odata.etag"})


def etag_values(header: str) -> list[str]:
    """The opaque values of an If-Match header: ``W/"x"``, ``"x"``, ``"W/\\"x\\""`` and lists all give ``x``."""
    values = []
    for part in header.split(","):
        value = part.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"' and '\\"' in value:
            value = value[1:-1].replace('\\"', '"')  # the whole ETag quoted again, inner quotes escaped
        if value.startswith(("W/", "w/")):
            value = value[2:]
        values.append(value.strip().strip('"'))
    return [v for v in values if v]


def check_if_match(header: str | None, etag: str, required: bool) -> web.Response | None:
    """412 if ``header`` names no current ETag, 428 if it is missing and ``required``; else None."""
    if header is None:
        return error_response(428, "PreconditionRequired") if required else None
    wanted = etag_values(header)
    if "*" in wanted or etag_values(etag)[0] in wanted:
        return None
    return error_response(412, "PreconditionFailed")


def same_kind(old: Any, new: Any) -> bool:
    """Whether ``new`` may replace ``old``: same JSON type (an int may replace a float), null matches all."""
    if old is None or new is None:
        return True
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool)
    if isinstance(old, int | float) and isinstance(new, int | float):
        return isinstance(new, int) or isinstance(old, float)
    return isinstance(new, type(old))


def check_properties(doc: dict[str, Any], body: dict[str, Any], prefix: str = "") -> web.Response | None:
    """400 for the first property of ``body`` that ``doc`` lacks, may not be written, or has another type."""
    for name, value in body.items():
        if name.startswith("@") or "@" in name:
            continue
        path = f"{prefix}{name}"
        if name not in doc:
            return error_response(400, "PropertyUnknown", path)
        if name in READ_ONLY:
            return error_response(400, "PropertyNotWritable", path)
        current = doc[name]
        if isinstance(current, dict) and isinstance(value, dict):
            problem = check_properties(current, value, f"{path}/")
            if problem is not None:
                return problem
        elif not same_kind(current, value):
            return error_response(400, "PropertyValueTypeError", value, path)
    return None


def merge(doc: dict[str, Any], body: dict[str, Any]) -> None:
    """Write ``body`` into ``doc``: objects are merged key by key, arrays element by element, the rest replaced."""
    for name, value in body.items():
        if name.startswith("@") or "@" in name:
            continue
        if isinstance(doc.get(name), dict) and isinstance(value, dict):
            merge(doc[name], value)
        elif isinstance(doc.get(name), list) and isinstance(value, list):
            doc[name] = merge_array(doc[name], value)
        else:
            doc[name] = value


def merge_array(current: list[Any], change: list[Any]) -> list[Any]:
    """DSP0266 PATCH of an array, element by element: ``{}`` keeps the element, ``null`` removes it, a value
    replaces it; elements past the end of ``change`` are removed."""
    merged = []
    for index, value in enumerate(change):
        if value == {} and index < len(current):
            merged.append(current[index])
        elif value is not None:
            merged.append(value)
    return merged
