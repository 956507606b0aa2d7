"""What a request handler answers when the answer is a resource's current representation."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web


@dataclass(frozen=True)
class Reply:
    """Answer with the current representation of ``key`` (None: no body) and this status and headers."""

    key: str | None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Answer = web.Response | Reply
