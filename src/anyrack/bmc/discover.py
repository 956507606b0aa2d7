"""Discover every node of a site through its BMC, concurrently, writing one facts file per node.

One event loop and one connection pool serve all BMCs; a global limit bounds open work, and each
BMC gets at most its profile's small request limit (sessions are scarce). A BMC that fails is
reported with its cause and does not stop the others; its old facts file, if any, is left as it
was. Facts files are written atomically, so a crash never leaves half a file; a journal of the run
(:mod:`anyrack.bmc.journal`) says which nodes a crashed or interrupted run never finished.

Several nodes may share one BMC (each names its ``bmc.system``): they are read one after another
(a BMC's sessions are few), and every host system a BMC lists that no node declares is reported as
undeclared.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from anyrack.bmc import connect
from anyrack.bmc.journal import Journal
from anyrack.errors import AnyrackError, Interrupted
from anyrack.filetree import locked, write_atomic
from anyrack.secrets import resolve
from anyrack.site.model import Node, Site

REPORT = ".discovery-report.json"
CLEANUP_S = 10.0
"""After a signal: how long cancelled BMCs get to delete their sessions before the run exits anyway."""


@dataclass
class Progress:
    total: int
    done: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


@dataclass(frozen=True)
class Outcome:
    node: str
    ok: bool
    cause: str = ""
    seconds: float = 0.0
    requests: int = 0
    systems: tuple[str, ...] = ()
    """Every host system the node's BMC lists (ids), when it could be read."""


@dataclass(frozen=True)
class DiscoveryResult:
    outcomes: list[Outcome]
    seconds: float
    undeclared: dict[str, list[str]] = field(default_factory=dict)
    """BMC URL → host systems it lists that no node of the site declares."""

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def resolve_passwords(site: Site, nodes: list[Node]) -> dict[str, str]:
    """Every credential these nodes use, resolved once, before any BMC is contacted."""
    names = {site.credential_of(n)[0] for n in nodes}
    return {name: resolve(site.credentials[name].password, f"credential {name!r}") for name in sorted(names)}


async def discover_node(node: Node, site: Site, out: Path, http: aiohttp.ClientSession, *, password: str,
                        ca_file: str | None, timeout: float, retries: int) -> Outcome:
    """Inventory one node and write ``out/<node>.json``; never raises for a BMC's fault."""
    start = time.monotonic()
    controller = None
    try:
        _, cred = site.credential_of(node)
        controller = connect(node.bmc.url, cred.username, password, node=node.name, http=http, ca_file=ca_file,
                             insecure=node.bmc.insecure, profile=node.bmc.profile_name, timeout=timeout,
                             retries=retries, system=node.bmc.system, allow_http=node.bmc.allow_http)
        async with controller:
            facts = await controller.inventory(node.name)
        await asyncio.to_thread(write_atomic, out / f"{node.name}.json", facts.to_json())
        return Outcome(node.name, True, seconds=time.monotonic() - start, requests=_requests(controller),
                       systems=_systems(controller))
    except AnyrackError as err:
        cause = str(err)
    except (aiohttp.ClientError, OSError, TimeoutError) as err:  # belt and braces: the client maps these
        cause = f"{node.name}: {type(err).__name__}: {err}"
    return Outcome(node.name, False, cause, time.monotonic() - start, _requests(controller), _systems(controller))


def _requests(controller: object) -> int:
    client = getattr(controller, "client", None)
    return int(getattr(client, "requests", 0))


def _systems(controller: object) -> tuple[str, ...]:
    return tuple(sorted(getattr(controller, "systems", None) or ()))


def undeclared_systems(site: Site, outcomes: list[Outcome]) -> dict[str, list[str]]:
    """BMC URL → the host systems it lists that no node of ``site`` names as its ``bmc.system``.

    A BMC with one host and a node that names no system is that node's: nothing is undeclared there.
    """
    by_node = {o.node: o for o in outcomes}
    found: dict[tuple[str, str, int], tuple[str, set[str], set[str | None]]] = {}
    for node in site.nodes:
        url, seen, declared = found.setdefault(node.bmc.endpoint, (node.bmc.url, set(), set()))
        declared.add(node.bmc.system)
        seen.update(by_node[node.name].systems if node.name in by_node else ())
    out = {}
    for url, seen, declared in found.values():
        extra = set() if declared == {None} and len(seen) < 2 else seen - declared
        if extra:
            out[url] = sorted(extra)
    return out


async def discover(site: Site, out: Path, *, nodes: list[str] | None = None, ca_file: str | None = None,
                   concurrency: int = 256, timeout: float = 30.0, retries: int = 3,
                   on_progress: Callable[[Progress, Outcome], None] | None = None,
                   grace_s: float = CLEANUP_S) -> DiscoveryResult:
    """Discover ``nodes`` (default: all) of ``site`` into ``out``; returns one outcome per node.

    ``out`` is locked for the run (a second run into it fails as busy). SIGINT or SIGTERM cancels every
    BMC's work; each cancelled BMC still deletes the session it opened (all of them within ``grace_s``),
    and :class:`~anyrack.errors.Interrupted` is raised. The journal lets ``--retry-failed`` pick up what an
    interrupted or killed run never finished.

    Raises:
        Interrupted: a signal stopped the run (after the cleanup).
        OutputBusy: another discovery is writing ``out``.
    """
    chosen = [n for n in site.nodes if nodes is None or n.name in nodes]
    passwords = resolve_passwords(site, chosen)
    with locked(out, wait_s=0):
        journal = Journal(out, [n.name for n in chosen])
        try:
            result = await _discover(site, out, chosen, passwords, journal, ca_file=ca_file,
                                     concurrency=concurrency, timeout=timeout, retries=retries,
                                     on_progress=on_progress, grace_s=grace_s)
        finally:
            journal.close()
        report = {"seconds": round(result.seconds, 2), "nodes": len(result.outcomes),
                  "failed": {o.node: o.cause for o in result.failed}, "undeclared_systems": result.undeclared}
        write_atomic(out / REPORT, json.dumps(report, indent=2, sort_keys=True) + "\n")
        journal.finish()
    return result


async def _discover(site: Site, out: Path, chosen: list[Node], passwords: dict[str, str], journal: Journal, *,
                    ca_file: str | None, concurrency: int, timeout: float, retries: int,
                    on_progress: Callable[[Progress, Outcome], None] | None, grace_s: float) -> DiscoveryResult:
    progress = Progress(len(chosen))
    limit = asyncio.Semaphore(concurrency)
    shared = {n.bmc.endpoint: asyncio.Lock() for n in chosen}  # nodes on one BMC: one after another
    # No pool-wide or per-host cap: ``limit`` bounds the BMCs worked on, each BMC's profile its requests
    # in flight (quirks.max_sessions); a pool cap of ``concurrency`` starved 256 BMCs × 4 requests
    # (measured: 53.7 s → 39.3 s for 1,500).
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector) as http:

        settled = asyncio.Event()  # every node finished, or a signal came
        remaining = len(chosen)

        async def one(node: Node) -> Outcome:
            nonlocal remaining
            try:
                async with shared[node.bmc.endpoint], limit:
                    outcome = await discover_node(node, site, out, http,
                                                  password=passwords[site.credential_of(node)[0]],
                                                  ca_file=ca_file, timeout=timeout, retries=retries)
            finally:
                remaining -= 1
                if not remaining:
                    settled.set()
            journal.record(outcome)
            progress.done += 1
            progress.failed += not outcome.ok
            if on_progress:
                on_progress(progress, outcome)
            return outcome

        tasks = [asyncio.ensure_future(one(n)) for n in chosen]
        if not tasks:
            settled.set()
        with _signals_cancel(tasks, settled) as caught:
            await settled.wait()
            if caught:
                # Cancelled BMCs are deleting their sessions now: wait for that, boundedly, then stop the rest.
                await asyncio.wait(tasks, timeout=grace_s)
                for task in tasks:
                    task.cancel()
                await asyncio.wait(tasks, timeout=1.0)
        if caught:
            finished = sum(1 for t in tasks if t.done() and not t.cancelled() and t.exception() is None)
            raise Interrupted(caught[0], what="discover",
                              detail=f"{finished} of {len(tasks)} nodes finished, their sessions closed; "
                                     "rerun with --retry-failed for the rest")
    outcomes = [t.result() for t in tasks]
    return DiscoveryResult(outcomes, progress.elapsed, undeclared_systems(site, outcomes))


@contextmanager
def _signals_cancel(tasks: list[asyncio.Future], settled: asyncio.Event) -> Iterator[list[int]]:
    """While inside, SIGINT and SIGTERM cancel ``tasks`` and set ``settled``; yields the signals caught."""
    loop = asyncio.get_running_loop()
    caught: list[int] = []

    def on_signal(signum: int) -> None:
        caught.append(signum)
        settled.set()
        for task in tasks:
            task.cancel()

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread: signals stay as they are
            continue
        installed.append((signum, previous))
    try:
        yield caught
    finally:
        for signum, previous in installed:
            loop.remove_signal_handler(signum)
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)


def failed_last_time(out: Path) -> list[str]:
    """Nodes to retry from the last run into ``out``: those that failed, and, if that run was interrupted or
    killed before it finished (its journal is still there), those it never finished."""
    unfinished = Journal.unfinished(out)
    try:
        failed = set(json.loads((out / REPORT).read_text()).get("failed", {}))
    except (OSError, ValueError, AttributeError):
        failed = set()
    return sorted(unfinished if unfinished is not None else failed)
