"""Where a BMC's credentials may go: only to its own origin (scheme, host and port).

A BMC's answers contain links; one that points at another origin (an absolute URL to another host,
port or scheme) would carry the session token or the basic-auth password there. Such links are
never followed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from anyrack.errors import BmcError

DEFAULT_PORTS = {"https": 443, "http": 80}


class ForeignLink(BmcError):
    """A link in the BMC's answer points at another origin: nothing is sent there, credentials least of all."""

    template = "{node}: {method} {path}: refused: the link leads to {origin}, not to the BMC ({own}); " \
               "credentials go only to the BMC's own address"

    status = 0

    def __init__(self, **fields: object) -> None:
        self.path = str(fields.get("path", ""))
        super().__init__(**fields)


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, the default port filled in; user info is never part of it."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(scheme, 0)


def show_origin(where: tuple[str, str, int]) -> str:
    """``https://10.0.0.5:443``: an origin as text (never with user info)."""
    scheme, host, port = where
    return f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port}"
