"""Everything that talks to a management controller: one verb set over Redfish and IPMI.

``connect(url, username, password, ...)`` picks the transport from the URL scheme
(``redfish+https``, ``redfish+http``, ``ipmi``) and returns an unopened controller; use it as
``async with connect(...) as bmc: facts = await bmc.inventory(node)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import aiohttp

from anyrack.bmc.api import Controller
from anyrack.errors import InputError

if TYPE_CHECKING:
    from anyrack.bmc.profiles import Profile


def connect(url: str, username: str, password: str, *, node: str | None = None,
            http: aiohttp.ClientSession | None = None, ca_file: str | None = None, insecure: bool = False,
            profile: str | Profile | None = None, timeout: float = 30.0, retries: int = 4, system: str | None = None,
            allow_http: bool = False) -> Controller:
    """A controller for ``url``; an explicit ``profile`` (a name or a Profile; or ``?profile=`` in the URL)
    skips detection.

    ``system`` picks the host on a BMC that manages several (the Redfish ComputerSystem id); plain
    ``redfish+http`` sends the password in clear and needs ``allow_http``.
    """
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise InputError(detail="a BMC URL with user name or password in it is refused (not repeated here); "
                                "give the credential separately")
    profile = profile or parse_qs(parts.query).get("profile", [None])[0]
    if parts.scheme in ("redfish+https", "redfish+http", "https", "http"):
        if parts.scheme.endswith("http") and not allow_http:
            raise InputError(detail=f"{parts.scheme}://{parts.netloc}: plain HTTP would send the BMC password in "
                                    "clear text; use redfish+https, or allow it explicitly (allow_http)")
        from anyrack.bmc.redfish.controller import RedfishController

        return RedfishController(url, username, password, node=node, http=http, ca_file=ca_file,
                                 insecure=insecure, profile=profile, timeout=timeout, retries=retries, system=system)
    if parts.scheme == "ipmi":
        from anyrack.bmc.ipmi import IpmiController

        return IpmiController(url, username, password, node=node, timeout=timeout)
    raise InputError(detail=f"unknown BMC scheme {parts.scheme!r} (redfish+https, redfish+http, ipmi)")
