"""Everything that talks to a management controller: one verb set over Redfish and IPMI.

``connect(url, username, password, ...)`` picks the transport from the URL scheme
(``redfish+https``, ``redfish+http``, ``ipmi``) and returns an unopened controller; use it as
``async with connect(...) as bmc: facts = await bmc.inventory(node)``.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import aiohttp

from anyrack.bmc.api import Controller
from anyrack.errors import InputError


def connect(url: str, username: str, password: str, *, node: str | None = None,
            http: aiohttp.ClientSession | None = None, ca_file: str | None = None, insecure: bool = False,
            profile: str | None = None, timeout: float = 30.0, retries: int = 4) -> Controller:
    """A controller for ``url``; an explicit ``profile`` (or ``?profile=`` in the URL) skips detection."""
    parts = urlsplit(url)
    profile = profile or parse_qs(parts.query).get("profile", [None])[0]
    if parts.scheme in ("redfish+https", "redfish+http", "https", "http"):
        from anyrack.bmc.redfish.controller import RedfishController

        return RedfishController(url, username, password, node=node, http=http, ca_file=ca_file,
                                 insecure=insecure, profile=profile, timeout=timeout, retries=retries)
    if parts.scheme == "ipmi":
        from anyrack.bmc.ipmi import IpmiController

        return IpmiController(url, username, password, node=node, timeout=timeout)
    raise InputError(detail=f"{url}: unknown BMC scheme {parts.scheme!r} (redfish+https, redfish+http, ipmi)")
