"""The listing: one entry per emulated BMC (URL, credentials, CA file, tree, faults, quirks)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from anyrack.filetree import write_atomic


@dataclass(frozen=True)
class BmcEntry:
    """How to reach one emulated BMC, and what it was told to do."""

    url: str
    username: str
    password: str
    ca: str
    tree: str
    faults: tuple[str, ...] = ()
    quirks: tuple[str, ...] = ()

    @property
    def host(self) -> str:
        """The BMC's IP address."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """The BMC's TCP port."""
        return urlsplit(self.url).port or 443

    def to_dict(self) -> dict[str, Any]:
        """The entry as written in the listing file."""
        data = asdict(self)
        data["faults"], data["quirks"] = list(self.faults), list(self.quirks)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BmcEntry:
        """An entry read back from a listing file."""
        return cls(**{**data, "faults": tuple(data.get("faults", ())), "quirks": tuple(data.get("quirks", ()))})


def write_listing(path: Path, entries: list[BmcEntry]) -> None:
    """Write the listing atomically (temporary file, then rename), readable by the owner only."""
    write_atomic(path, json.dumps([e.to_dict() for e in entries], indent=2) + "\n", mode=0o600)


def read_listing(path: Path) -> list[BmcEntry]:
    """The entries of a listing file."""
    return [BmcEntry.from_dict(item) for item in json.loads(path.read_text())]
