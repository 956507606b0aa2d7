"""Deploying many nodes at once without overrunning the site: nodes in flight, power-ons per rack.

* :class:`Fleet` holds the two limits of the site file's ``deploy:`` section: at most ``concurrency``
  nodes between opening their BMC and their last stage, and at most ``power_on.per_rack`` power-on
  requests per rack in any ``power_on.interval_s`` seconds (a sliding window; a request's slot counts
  from when its answer came back, so the BMCs see the requests at least that far apart too).
* It counts the nodes in flight (``peak``) and the power-ons it let through, for the summary.
* :func:`deploy` runs a list of nodes within those limits (each through :func:`anyrack.deploy.run.run_node`),
  with a journal and a report that ``--retry-failed`` reads (:func:`failed_last_time`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from anyrack.bmc.journal import Journal
from anyrack.deploy.callback import Callback
from anyrack.deploy.run import DeployOptions, NodeResult, Progress, deploy_node
from anyrack.site.deployment import DeploySettings
from anyrack.site.model import Node, Site


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


JOURNAL = ".deploy-journal"


def across_racks(nodes: list[Node]) -> list[Node]:
    """``nodes`` taken one rack at a time, round robin (r1's first, r2's first, …, r1's second, …): the nodes in
    flight spread over every rack instead of queueing at a few racks' power-on windows while holding slots.
    B6 at 1,250 nodes: 369 s in site order, see docs/benchmarks.md."""
    racks: dict[str, list[Node]] = {}
    for node in nodes:
        racks.setdefault(node.rack, []).append(node)
    queues = list(racks.values())
    return [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]


@dataclass
class FleetRun:
    """The outcome of a deploy run: per node, and what the limits did."""

    results: list[NodeResult]
    seconds: float
    peak: int
    concurrency: int
    power_ons: int
    power_on_wait_s: float

    def summary(self) -> str:
        failed = [r for r in self.results if not r.ok]
        stages: dict[str, int] = {}
        for r in failed:
            stages[r.stage] = stages.get(r.stage, 0) + 1
        by_stage = f" ({', '.join(f'{k} {v}' for k, v in sorted(stages.items()))})" if stages else ""
        ok = len(self.results) - len(failed)
        return (f"deploy: {ok} ok, {len(failed)} failed{by_stage} in {self.seconds:.0f} s; "
                f"peak {self.peak} of {self.concurrency} in flight; {self.power_ons} power-ons, "
                f"{self.power_on_wait_s:.0f} s waited for rack windows")


async def deploy(site: Site, nodes: list[Node], passwords: dict[str, str], callback: tuple[str, int],
                 opts: DeployOptions, progress: Progress, *, journal_dir: Path | None = None,
                 concurrency: int | None = None) -> FleetRun:
    """Deploy ``nodes`` within the site's limits (``concurrency`` overrides the site file's); with
    ``journal_dir``, a journal there names the nodes an interrupted run did not finish."""
    settings = site.deploy if concurrency is None else site.deploy.model_copy(update={"concurrency": concurrency})
    fleet, start = Fleet(settings), time.monotonic()
    journal = Journal(journal_dir, [n.name for n in nodes], name=JOURNAL) if journal_dir else None

    async def one(node: Node) -> NodeResult:
        async with fleet.slot():
            result = await deploy_node(node, site, passwords[site.credential_of(node)[0]], cb, opts, progress, fleet)
        if journal:
            journal.record(result)
        progress(f"deploy: {sum(r.done() for r in jobs)} of {len(nodes)} done, {fleet.in_flight} in flight")
        return result

    try:
        async with Callback(*callback) as cb:
            progress(f"deploy: callback listening on {cb.url}; {len(nodes)} node(s), at most {fleet.concurrency} "
                     f"in flight, {fleet.per_rack} power-on(s) per rack per {fleet.interval_s:g} s")
            jobs = [asyncio.ensure_future(one(n)) for n in across_racks(nodes)]  # slots are taken in this order
            finished = {r.node: r for r in await asyncio.gather(*jobs)}
            results = [finished[n.name] for n in nodes]
            if cb.refused:
                progress(f"deploy: refused ramdisks of nodes not being deployed: {', '.join(sorted(set(cb.refused)))}")
    finally:
        if journal:
            journal.close()
    run = FleetRun(results, round(time.monotonic() - start, 1), fleet.peak, fleet.concurrency, fleet.power_ons,
                   round(fleet.waited_s, 1))
    progress(run.summary())
    return run


def save_report(report_dir: Path, site: Site, run: FleetRun) -> Path:
    """Write the run's report (``<UTC time>.json``) atomically, then drop the journal: the report says it all."""
    from anyrack.filetree import write_atomic

    now = time.gmtime()
    report = {"site": site.site, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", now), "summary": run.summary(),
              "peak_in_flight": run.peak, "nodes": [r.as_dict() for r in run.results]}
    out = report_dir / f"{time.strftime('%Y%m%dT%H%M%SZ', now)}.json"
    n = 1
    while out.exists():  # two runs within a second keep both reports
        out, n = report_dir / f"{time.strftime('%Y%m%dT%H%M%SZ', now)}-{n}.json", n + 1
    report_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out, json.dumps(report, indent=1) + "\n")
    (report_dir / JOURNAL).unlink(missing_ok=True)
    return out


def failed_last_time(report_dir: Path) -> list[str]:
    """Nodes to retry: those the last run's report (the newest ``*.json`` in ``report_dir``) lists as failed,
    or, when that run was interrupted (its journal is still there), every node it did not finish."""
    unfinished = Journal.unfinished(report_dir, name=JOURNAL)
    if unfinished is not None:
        return sorted(unfinished)
    reports = sorted(report_dir.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    try:
        nodes = json.loads(reports[-1].read_text())["nodes"] if reports else []
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return sorted(str(n.get("node")) for n in nodes if isinstance(n, dict) and not n.get("ok"))
