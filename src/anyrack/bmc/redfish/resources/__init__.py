"""Declared Redfish resources: each property a resource has is declared once, as a field with its path.

A :class:`Resource` wraps one JSON document as the BMC sent it; its fields read it on access, turn
the placeholders BMCs use for "not known" (``N/A``, ``00000000000000``) into None, and say where a
value came from (:meth:`Resource.source`), so a wrong serial can be traced to its resource in seconds.
Parsing code asks ``processor.serial``, not ``doc.get("SerialNumber")``.

One module per Redfish area: :mod:`.systems`, :mod:`.processors` (Processor, PCIeDevice), :mod:`.chassis`,
:mod:`.managers`, :mod:`.network` (EthernetInterface, NetworkAdapter, NetworkDeviceFunction, HostInterface),
:mod:`.media` (VirtualMedia), :mod:`.storage` (Storage, Drive), :mod:`.bios`, :mod:`.accounts`,
:mod:`.sessions` (ServiceRoot), :mod:`.updates` (UpdateService, SoftwareInventory, Task).
"""

from __future__ import annotations

import re
from typing import Any

_UNKNOWN = {"", "n/a", "na", "none", "unknown", "not available", "null", "not specified", "default string",
            "to be filled by o.e.m."}
_ZEROS = re.compile(r"^0+$")
"""A serial of zeros ("00000000000000", recorded for every GPU of a blade in tests/fixtures) means unknown."""


def known(value: Any) -> str | None:
    """``value`` as text, or None for the placeholders BMCs use for 'not known'."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in _UNKNOWN or _ZEROS.match(text) else text


def dig(doc: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in nested mappings, or None."""
    for key in path:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


class Field:
    """A property at ``path``: text with placeholders read as None (``raw=True``: the value as sent)."""

    def __init__(self, *path: str, raw: bool = False) -> None:
        self.path, self.raw = path, raw
        self.name = path[-1]

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def read(self, doc: dict) -> Any:
        value = dig(doc, self.path)
        return value if self.raw else known(value)

    def __get__(self, obj: Resource | None, owner: type | None = None) -> Any:
        return self if obj is None else self.read(obj.doc)


class Link(Field):
    """A link (``{"@odata.id": …}``, or the first of a list of them): its path, or None."""

    def read(self, doc: dict) -> str | None:
        value = dig(doc, self.path)
        if isinstance(value, list):
            value = value[0] if value else None
        return str(value["@odata.id"]) if isinstance(value, dict) and value.get("@odata.id") else None


class Links(Field):
    """A list of links: their paths, in order."""

    def read(self, doc: dict) -> list[str]:
        value = dig(doc, self.path)
        items = value if isinstance(value, list) else [value]
        return [str(i["@odata.id"]) for i in items if isinstance(i, dict) and i.get("@odata.id")]


class Resource:
    """One Redfish resource as the BMC sent it; subclasses declare its fields."""

    id = Field("Id")
    name = Field("Name")

    def __init__(self, doc: dict | None) -> None:
        self.doc: dict = doc if isinstance(doc, dict) else {}

    @property
    def path(self) -> str:
        """The resource's own ``@odata.id``."""
        return str(self.doc.get("@odata.id", ""))

    def source(self, field: str) -> str | None:
        """Where ``field``'s value came from (this resource's path), or None if it has none."""
        return self.path if getattr(self, field) is not None else None

    def __bool__(self) -> bool:
        return bool(self.doc)
