"""A small async Redfish HTTP client: sessions, retries, ETags, and errors that name the node.

One :class:`aiohttp.ClientSession` (one connection pool) is shared by every BMC of a discovery run;
each :class:`RedfishClient` adds its BMC's credentials, session token and request limit on top.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import logging
import random
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import aiohttp

from anyrack.bmc.quirks import Quirks
from anyrack.bmc.redfish.origin import ForeignLink, origin, show_origin
from anyrack.bmc.redfish.resources.sessions import ServiceRoot
from anyrack.errors import BmcAuthFailed, BmcError, BmcUnreachable

log = logging.getLogger(__name__)

RETRY_STATUS = {500, 502, 503, 504}
ROOT = "/redfish/v1"
SESSIONS = "/redfish/v1/SessionService/Sessions"


def ssl_context(ca_file: str | None = None, insecure: bool = False) -> ssl.SSLContext | bool:
    """TLS verified against ``ca_file`` (a per-site CA bundle) or the system store; ``insecure`` turns it off.

    One context per CA bundle is shared by every BMC of the process (loading a bundle costs ~0.5 ms).
    """
    if insecure:
        return False
    return _shared_context(ca_file)


@functools.lru_cache(maxsize=16)
def _shared_context(ca_file: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


def redfish_message(body: Any) -> str:
    """The BMC's own words from a Redfish error body (first extended message), else ''."""
    if not isinstance(body, dict):
        return ""
    error = body.get("error") or {}
    extended = error.get("@Message.ExtendedInfo") or body.get("@Message.ExtendedInfo") or []
    for info in extended if isinstance(extended, list) else []:
        if isinstance(info, dict) and info.get("Message"):
            msg_id = info.get("MessageId", "")
            return f"{info['Message']} [{msg_id}]" if msg_id else str(info["Message"])
    return str(error.get("message", ""))


class HttpError(BmcError):
    """The BMC answered with an HTTP error status."""

    template = "{node}: {method} {path}: HTTP {status}{colon}{message}"

    def __init__(self, node: str, method: str, path: str, status: int, message: str) -> None:
        self.status, self.path = status, path
        super().__init__(node=node, method=method, path=path, status=status, colon=": " if message else "",
                         message=message)


DEGRADABLE = (HttpError, ForeignLink, BmcUnreachable)
"""Failures of one resource that leave its fields unknown rather than failing a whole inventory."""


class RedfishClient:
    """Requests to one BMC over a shared pool; use ``async with``."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, username: str, password: str, *,
                 node: str | None = None, tls: ssl.SSLContext | bool = True, quirks: Quirks | None = None,
                 use_session: bool = True, timeout: float = 30.0, retries: int = 4, backoff: float = 0.5) -> None:
        self.http = http
        self.base = base_url.rstrip("/")
        self.origin = origin(self.base)
        self.node = node or self.base
        self.tls = tls
        self.quirks = quirks or Quirks()
        self._username, self._password = username, password
        self._basic = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.use_session = use_session
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.retries, self.backoff = retries, backoff
        self._token: str | None = None
        self._session_uri: str | None = None
        self._limit = asyncio.Semaphore(self.quirks.max_sessions)
        self.etags: dict[str, str] = {}
        self.requests = 0
        self.cache: dict[str, dict] | None = None
        """When a dict, GETs are answered from it (and fill it): for one read-only pass such as an inventory."""
        self.expand: str | None = None
        """The ``$expand`` query for collections (see :func:`expand_query`), or None: one request per member."""

    def with_quirks(self, quirks: Quirks) -> None:
        """Apply a profile's quirks once the profile is known (after reading the service root)."""
        self.quirks = quirks
        self._limit = asyncio.Semaphore(quirks.max_sessions)

    async def __aenter__(self) -> RedfishClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.logout()

    # auth --------------------------------------------------------------------------------------
    async def connect(self) -> dict:
        """Read the service root and log in, in one round trip: the session is posted to the URI the
        Redfish specification fixes (DSP0266) while the root is read; the root's own link is tried only
        if that URI is refused. Returns the service root."""
        if not self.use_session:
            return await self.root()
        root, posted = await asyncio.gather(self.root(), self._post_session(SESSIONS), return_exceptions=True)
        created = not isinstance(posted, BaseException) and posted[0] < 400
        if isinstance(root, BaseException):
            if created:
                await self._take_session(*posted)
                await self.logout()
            raise root
        link = ServiceRoot(root).sessions
        if created or (not isinstance(posted, BaseException) and str(link).rstrip("/") == SESSIONS):
            await self._take_session(*posted, root)  # a session, or the answer of the very URI the root names
        else:
            # The spec URI is not this BMC's (many answer 401 or 404 for a path they do not serve).
            await self.login(root)
        return root

    async def login(self, root: dict) -> None:
        """Create a Redfish session (deleted by :meth:`logout`); fall back to basic auth if there is none."""
        sessions = ServiceRoot(root).sessions
        if not self.use_session or not sessions:
            self.use_session = False
            return
        await self._take_session(*await self._post_session(sessions), root)

    async def _post_session(self, uri: str) -> tuple[int, Any, Any]:
        post = asyncio.ensure_future(self._send("POST", uri, {"UserName": self._username, "Password": self._password},
                                                auth=False, retry=True))
        try:
            return await asyncio.shield(post)
        except asyncio.CancelledError:
            # Cancelled (Ctrl-C) while the login was in flight: the BMC may have created the session already.
            # Wait for its answer so that close() can delete it; a leaked session locks clients out.
            with contextlib.suppress(Exception):
                self._take_session(*await post)
            raise

    async def _take_session(self, status: int, headers: Any, body: Any, root: dict | None = None) -> None:
        if status in (401, 403, 405):
            # Some BMCs refuse session creation (401/405: sessions disabled, or only for some users) yet
            # take the same credential with basic auth: only both refusing means the credential is wrong.
            await self._basic_instead(status, body, root or {})
            return
        if status >= 400:
            # No free session (the BMC's pool is full, often of sessions leaked by other tools), or no
            # session support: basic auth still works on every BMC family anyrack knows.
            log.warning("%s: cannot create a session (HTTP %s: %s); using basic auth", self.node, status,
                        redfish_message(body) or "no message")
            self.use_session = False
            return
        self._token = headers.get("X-Auth-Token")
        location = headers.get("Location") or (body or {}).get("@odata.id")
        self._session_uri = location
        if not self._token:
            self.use_session = False

    async def _basic_instead(self, status: int, body: Any, root: dict) -> None:
        """Try basic auth on a resource that needs authentication; raise BmcAuthFailed if it is refused too."""
        why = redfish_message(body) or "no message"
        probe = ServiceRoot(root).systems or f"{ROOT}/Systems"
        self.use_session = False
        basic, _, answer = await self._send("GET", probe, None, retry=True)
        if basic in (401, 403):
            raise BmcAuthFailed(node=self.node, detail=f"login refused: session creation HTTP {status} ({why}), "
                                                       f"basic auth HTTP {basic} "
                                                       f"({redfish_message(answer) or 'no message'}); check the "
                                                       "credential")
        log.warning("%s: session creation refused (HTTP %s: %s) but basic auth is %s; using basic auth", self.node,
                    status, why, "accepted" if basic < 400 else f"not refused (HTTP {basic})")

    async def logout(self) -> None:
        """Delete the session, always: BMCs have few and leaked ones lock clients out."""
        uri, self._session_uri = self._session_uri, None
        if uri and self._token:
            try:
                await self._send("DELETE", uri, None)
            except (TimeoutError, BmcError, OSError) as err:
                log.warning("%s: could not delete session %s: %s", self.node, uri, err)
        self._token = None

    # requests ----------------------------------------------------------------------------------
    async def get(self, path: str) -> dict:
        """GET a resource as JSON (its ETag remembered for a later PATCH)."""
        key = path.rstrip("/").lower()  # the same resource may be linked with and without '/', in any case
        if self.cache is not None and key in self.cache:
            return self.cache[key]
        status, headers, body = await self.request("GET", path)
        if self.cache is not None and isinstance(body, dict):
            self.cache[key] = body
        if headers.get("ETag"):
            self.etags[path] = headers["ETag"]
        elif isinstance(body, dict) and body.get("@odata.etag"):
            self.etags[path] = body["@odata.etag"]
        return body if isinstance(body, dict) else {}

    async def members(self, path: str | None, on_error: Callable[[str, BmcError], None] | None = None) -> list[dict]:
        """Every member of a collection: in the same answer when the BMC expands collections (one round
        trip instead of two), else fetched concurrently (bounded by the BMC's request limit).

        With ``on_error``, a member that cannot be read (a dangling link, a 5xx, a timeout) is passed to
        it and left out instead of failing the whole collection.
        """
        if not path:
            return []
        collection = await self._expanded(path) if self.expand else None
        if collection is None:
            collection = await self.get(path)
        found = [m for m in collection.get("Members") or [] if isinstance(m, dict) and "@odata.id" in m]
        for member in found:
            if len(member) > 1 and self.cache is not None:
                self.cache.setdefault(member["@odata.id"].rstrip("/").lower(), member)
        # A member the BMC left as a bare link (it may expand only some) is fetched on its own.
        got = await asyncio.gather(*(_given(m) if len(m) > 1 else self._member(m["@odata.id"], on_error)
                                     for m in found))
        return [m for m in got if m is not None]

    async def _member(self, path: str, on_error: Callable[[str, BmcError], None] | None) -> dict | None:
        if on_error is None:
            return await self.get(path)
        try:
            return await self.get(path)
        except DEGRADABLE as err:
            on_error(path, err)
            return None

    async def _expanded(self, path: str) -> dict | None:
        """The collection with ``$expand``, or None (and expansion off) if the BMC refuses the query."""
        try:
            return await self.get(f"{path.split('?', 1)[0]}?{self.expand}")
        except HttpError as err:
            if err.status not in (400, 403, 405, 500, 501):
                raise
            if self.expand is not None:  # requests already in flight may be refused too: say it once
                log.warning("%s: the BMC advertises $expand but refused it (HTTP %s); reading members one by one",
                            self.node, err.status)
            self.expand = None
            return None

    async def root(self) -> dict:
        """The service root, which needs no authentication."""
        status, _, body = await self._send("GET", ROOT, None, auth=False, retry=True)
        if status >= 400 or not isinstance(body, dict):
            raise HttpError(self.node, "GET", ROOT, status, redfish_message(body) or "no Redfish service root")
        return body

    async def patch(self, path: str, body: dict) -> dict:
        """PATCH with If-Match when an ETag is known or required; on 412 retry once with the other quoting."""
        if self.quirks.etag_required and path not in self.etags:
            await self.get(path)
        etag = self.etags.get(path)
        headers = {"If-Match": etag} if etag else {}
        status, resp_headers, answer = await self.request("PATCH", path, body, headers=headers, check=False)
        if status == 412 and etag:
            # Seen on several BMC families: the ETag must be sent quoted, or unquoted, unlike what GET returned.
            await self.get(path)
            other = _requote(self.etags.get(path, etag))
            status, resp_headers, answer = await self.request("PATCH", path, body, headers={"If-Match": other},
                                                              check=False)
        if status >= 400:
            raise HttpError(self.node, "PATCH", path, status, redfish_message(answer))
        self.etags.pop(path, None)
        return answer if isinstance(answer, dict) else {}

    async def post(self, path: str, body: dict) -> tuple[dict, dict]:
        """POST (actions, collections); returns (body, headers)."""
        _, headers, answer = await self.request("POST", path, body)
        return (answer if isinstance(answer, dict) else {}), dict(headers)

    async def request(self, method: str, path: str, body: dict | None = None, *, headers: dict | None = None,
                      check: bool = True, data: bytes | None = None) -> tuple[int, Any, Any]:
        """One request with retries on transient failures; raises HttpError for error statuses if ``check``."""
        async with self._limit:
            status, resp_headers, answer = await self._send(method, path, body, headers=headers, retry=True,
                                                            data=data)
            if status == 401 and self.use_session and self._token:
                # The session expired or was dropped by the BMC: log in again once.
                self._token = self._session_uri = None
                await self.login(await self.root())
                status, resp_headers, answer = await self._send(method, path, body, headers=headers, retry=True,
                                                                data=data)
        if status in (401, 403):
            raise BmcAuthFailed(node=self.node, detail=f"{method} {path}: HTTP {status}: "
                                                       f"{redfish_message(answer) or 'credentials refused'}")
        if check and status >= 400:
            raise HttpError(self.node, method, path, status, redfish_message(answer))
        return status, resp_headers, answer

    async def _send(self, method: str, path: str, body: dict | None, *, headers: dict | None = None,
                    auth: bool = True, retry: bool = False, data: bytes | None = None) -> tuple[int, Any, Any]:
        url = urljoin(self.base + "/", path)
        if origin(url) != self.origin:  # it would carry the token or password elsewhere: never followed
            raise ForeignLink(node=self.node, method=method, path=path.split("?", 1)[0] if "@" not in path
                              else "(a URL with user info)", origin=show_origin(origin(url)),
                              own=show_origin(self.origin))
        hdrs = {"Accept": "application/json", "OData-Version": "4.0", **(headers or {})}
        if auth and self._token:
            hdrs["X-Auth-Token"] = self._token
        elif auth:
            hdrs["Authorization"] = self._basic
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            delay = self.backoff * (2**attempt) * (0.5 + random.random())
            try:
                self.requests += 1
                # data: raw bytes (a firmware image, multipart) instead of a JSON body
                async with self.http.request(method, url, json=None if data is not None else body, data=data,
                                             headers=hdrs, ssl=self.tls,
                                             timeout=self.timeout, allow_redirects=False) as resp:
                    raw = await resp.read()
                    answer = _json(raw)
                    if attempt + 1 < attempts and self._transient(resp.status, answer):
                        delay = _retry_after(resp.headers.get("Retry-After"), delay)
                        log.debug("%s: %s %s: HTTP %s, retry in %.1fs", self.node, method, path, resp.status, delay)
                        await asyncio.sleep(delay)
                        continue
                    return resp.status, resp.headers, answer
            except (ssl.SSLCertVerificationError, aiohttp.ClientConnectorCertificateError) as err:
                why = getattr(err, "verify_message", None) or getattr(err, "certificate_error", err)
                raise BmcUnreachable(node=self.node, detail=f"TLS certificate not trusted ({why}); give the site "
                                                            "CA bundle, or set insecure for this BMC") from None
            except (TimeoutError, aiohttp.ClientError, OSError) as err:
                if attempt + 1 >= attempts:
                    cause = _cause(err)
                    raise BmcUnreachable(node=self.node, detail=f"{method} {path}: {cause} "
                                                                f"(after {attempts} tries)") from None
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _transient(self, status: int, answer: Any) -> bool:
        if status in RETRY_STATUS:
            return True
        if status >= 400 and self.quirks.transient_message_ids:
            text = redfish_message(answer).lower()
            return any(m.lower() in text for m in self.quirks.transient_message_ids)
        return False


def expand_query(root: dict) -> str | None:
    """The ``$expand`` query that inlines a collection's members, if the service root advertises one.

    ``.`` (subordinate resources only) when the BMC supports it, else ``*``; one level either way, since
    collections of collections are not needed and deeper answers grow fast.
    """
    features = (root.get("ProtocolFeaturesSupported") or {}).get("ExpandQuery")
    if not isinstance(features, dict):
        return None
    levels = "($levels=1)" if features.get("Levels") is True else ""
    if features.get("NoLinks") is True:
        return f"$expand=.{levels}"
    if features.get("ExpandAll") is True:
        return f"$expand=*{levels}"
    return None


async def _given(member: dict) -> dict:
    return member


def _cause(err: BaseException) -> str:
    """A short operator-facing reason for a transport failure."""
    if isinstance(err, TimeoutError):
        return "timed out"
    if isinstance(err, aiohttp.ClientPayloadError):
        return "connection closed before the response was complete"
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return "the BMC closed the connection"
    if isinstance(err, aiohttp.ClientConnectorError):
        return f"cannot connect ({err.os_error.strerror or err.os_error})"
    return f"{type(err).__name__}: {err}"


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _retry_after(header: str | None, default: float) -> float:
    try:
        return min(max(float(header), 0.0), 60.0) if header else default
    except ValueError:
        return default


def _requote(etag: str) -> str:
    """``"abc"`` ⇄ ``abc`` (keeping a ``W/`` prefix)."""
    weak = etag.startswith("W/")
    core = etag[2:] if weak else etag
    core = core[1:-1] if len(core) >= 2 and core[0] == core[-1] == '"' else f'"{core}"'
    return ("W/" if weak else "") + core
