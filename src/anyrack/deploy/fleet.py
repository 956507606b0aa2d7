"""Deploying many nodes at once without overrunning the site: nodes in flight, power-ons per rack.

* :class:`Fleet` holds the two limits of the site file's ``deploy:`` section: at most ``concurrency``
  nodes between opening their BMC and their last stage, and at most ``power_on.per_rack`` power-on
  requests per rack in any ``power_on.interval_s`` seconds (a sliding window; a request's slot counts
  from when its answer came back, so the BMCs see the requests at least that far apart too).
* It counts the nodes in flight (``peak``) and the power-ons it let through, for the summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from anyrack.site.deployment import DeploySettings


@dataclass
class _Rack:
    condition: asyncio.Condition = field(default_factory=asyncio.Condition)
    pending: int = 0
    sent: list[float] = field(default_factory=list)


class Fleet:
    """The limits of one deploy run, shared by all its nodes (create it inside the running event loop)."""

    def __init__(self, settings: DeploySettings) -> None:
        self.concurrency = settings.concurrency
        self.per_rack, self.interval_s = settings.power_on.per_rack, settings.power_on.interval_s
        self._slots = asyncio.Semaphore(self.concurrency)
        self._racks: dict[str, _Rack] = {}
        self.in_flight = self.peak = self.power_ons = 0
        self.waited_s = 0.0
        """Seconds power-ons spent waiting for their rack's window, summed over nodes."""

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One node in flight for the ``async with`` block."""
        async with self._slots:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            try:
                yield
            finally:
                self.in_flight -= 1

    @contextlib.asynccontextmanager
    async def power_on(self, rack: str) -> AsyncIterator[None]:
        """Wrap one power-on request to a node of ``rack``: waits until the rack's window has room."""
        state = self._racks.setdefault(rack, _Rack())
        asked = time.monotonic()
        async with state.condition:
            while True:
                now = time.monotonic()
                state.sent[:] = [t for t in state.sent if now - t < self.interval_s]
                if state.pending + len(state.sent) < self.per_rack:
                    break
                wait = min(state.sent) + self.interval_s - now if state.sent else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.condition.wait(), wait)
            state.pending += 1
        self.waited_s += time.monotonic() - asked
        try:
            yield
        finally:
            async with state.condition:
                state.pending -= 1
                state.sent.append(time.monotonic())
                self.power_ons += 1
                state.condition.notify_all()
