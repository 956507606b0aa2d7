"""pyghmi, made safe to drive from many threads: one lock around every entry, replies pumped while
requests are in flight, and a shared thread pool for the IPMI controllers (docs/ipmi.md).

pyghmi 1.6 takes its two session-table locks in opposite orders (a deadlock with more than one
thread), can miss a reply that arrives before it waits, and gives up on FRU reads instead of asking
for less; the workarounds live here, apart from the verb set in :mod:`anyrack.bmc.ipmi`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
import typing
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar
from urllib.parse import urlsplit

from pyghmi import exceptions as pyghmi_errors
from pyghmi.ipmi import command as ipmi_command
from pyghmi.ipmi.private import session as pyghmi_session

from anyrack.errors import InputError

log = logging.getLogger(__name__)

DEFAULT_PORT = 623
MAX_THREADS = 64  # IPMI verbs in flight at once, across every controller in the process


class Pyghmi:
    """The one way into pyghmi. pyghmi 1.6 takes its two session-table locks in opposite orders
    (``send_payload`` vs. timeouts in ``wait_for_rsp``): two threads in it deadlock once a retry meets a
    send (seen: a login to a silent port beside ten others). So every entry holds :attr:`lock`, requests
    go out with a callback, and :meth:`_pump` runs pyghmi's event loop while any is in flight."""

    lock = threading.RLock()
    _busy = threading.Condition()
    _inflight = 0
    _thread: ClassVar[threading.Thread | None] = None

    @classmethod
    @contextlib.contextmanager
    def exchange(cls) -> Iterator[None]:
        with cls._busy:
            cls._inflight += 1
            if cls._thread is None:
                cls._fix_lost_wakeup()
                cls._thread = threading.Thread(target=cls._pump, name="anyrack-ipmi-pump", daemon=True)
                cls._thread.start()
            cls._busy.notify()
        try:
            yield
        finally:
            with cls._busy:
                cls._inflight -= 1

    @staticmethod
    def _fix_lost_wakeup() -> None:
        """pyghmi 1.6's ``_io_wait`` sleeps to its retry timer (0.5-1 s) if the reply came just before it."""
        original = pyghmi_session._io_wait

        def io_wait(timeout: float, myaddr: object = None, evq: object = None) -> None:
            handlers = pyghmi_session.Session.bmc_handlers.get(myaddr, {}) if myaddr and evq is None else {}
            if not any(session.pktqueue for session in list(handlers.values())):
                original(timeout, myaddr, evq)

        pyghmi_session._io_wait = io_wait

    @classmethod
    def _pump(cls) -> None:
        while True:
            with cls._busy:
                cls._busy.wait_for(lambda: cls._inflight > 0)
            with cls.lock:
                try:
                    ipmi_command.Command.wait_for_rsp(timeout=0)
                except Exception:  # a callback's failure must not stop replies to everyone else
                    log.exception("pyghmi event loop step failed")
            time.sleep(0.002)


class Command(ipmi_command.Command):
    """pyghmi's Command, sending under :attr:`Pyghmi.lock` and waiting for the pump's callback."""

    reply_timeout = 10.0

    def raw_command(self, netfn: int, command: int, bridge_request: object = (), data: object = (),
                    delay_xmit: float | None = None, retry: bool = True, timeout: float | None = None,
                    rslun: int = 0) -> dict:
        session, answered = self.ipmi_session, threading.Event()

        def answer(response: dict) -> None:
            session._generic_callback(response)  # error text for a completion code, into lastresponse
            answered.set()

        deadline = time.monotonic() + self.reply_timeout
        with Pyghmi.exchange():
            while True:  # pyghmi would wait inside (holding the lock) for a keepalive or a relogin: wait here
                with Pyghmi.lock:
                    if session.broken:
                        raise pyghmi_errors.IpmiException("Session no longer connected")
                    if session.logged and not session._isincommand():
                        session.raw_command(netfn=netfn, command=command, bridge_request=bridge_request, data=data,
                                            delay_xmit=delay_xmit, retry=retry, timeout=timeout, callback=answer,
                                            rslun=rslun)
                        break
                if time.monotonic() > deadline:
                    raise pyghmi_errors.IpmiException("timeout")
                time.sleep(0.005)
            replied = answered.wait(max(0.0, deadline - time.monotonic()))
            with Pyghmi.lock:  # the cleanup pyghmi's own keepalive does after a callback
                response, session.lastresponse, session.incommand = session.lastresponse, None, False
                while session.evq:
                    session.evq.popleft().set()
        if not replied or response is None:
            raise pyghmi_errors.IpmiException("timeout")
        if (netfn, command, response.get("code")) == (0x0A, 0x11, 0xC8):  # Read FRU Data: 'request too long'
            response["code"] = 0xCA  # pyghmi asks for less only on C9h/CAh; ipmi_sim says C8h past 34 bytes
        return response

    def xraw_command(self, *args: typing.Any, **kwargs: typing.Any) -> dict:
        response = self.raw_command(*args, **kwargs)
        if "error" in response:
            raise pyghmi_errors.IpmiException(response["error"], response.get("code", 0))
        return {**response, "data": memoryview(response["data"])}


def parse_url(url: str) -> tuple[str, int]:
    """``ipmi://HOST[:PORT]`` → ``(host, port)``; the port defaults to 623."""
    parts = urlsplit(url)
    with contextlib.suppress(ValueError):
        if parts.scheme == "ipmi" and parts.hostname and parts.path in ("", "/"):
            return parts.hostname, parts.port or DEFAULT_PORT
    raise InputError(detail=f"{url!r} is not an IPMI BMC address (ipmi://HOST[:PORT])")


@functools.cache
def executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="anyrack-ipmi")


@functools.cache
def bmc_lock(host: str, port: int, username: str) -> threading.Lock:  # pyghmi shares a session per BMC and user
    return threading.Lock()
