"""Update the firmware of some nodes of a site, one after another; the first failure stops the rest.

Everything that can be checked without writing is checked first, for every node: the nodes exist, their
credentials resolve, the bundle is readable (and its URL answers). A node is then updated by
:func:`anyrack.bmc.firmware.update.update_node`; a failure leaves that node as it is, reported with the
cause, and no further node is started (they are reported ``not started``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from anyrack.bmc import connect
from anyrack.bmc.discover import resolve_passwords
from anyrack.bmc.firmware.update import Bundle, UpdateResult, update_node
from anyrack.errors import AnyrackError, InputError
from anyrack.site.model import Site


@dataclass(frozen=True)
class Outcome:
    node: str
    status: str
    """``updated``, ``failed`` or ``not started``."""
    result: UpdateResult | None = None
    cause: str = ""


def pick(site: Site, limit: list[str]) -> list[str]:
    """The named nodes, in site order; raises InputError for a name the site lacks or an empty choice."""
    known = [n.name for n in site.nodes]
    unknown = [n for n in limit if n not in known]
    if unknown:
        raise InputError(detail=f"--limit: no node {unknown[0]!r} in the site")
    if not limit:
        raise InputError(detail="--limit: name the nodes to update (an update is never site-wide by default)")
    return [n for n in known if n in limit]


async def update_nodes(site: Site, names: list[str], bundle: Bundle, *, component: str | None = None,
                       method: str | None = None, apply_time: str = "Immediate", ca_file: str | None = None,
                       timeout: float = 600.0, reset_wait: float = 300.0,
                       progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Update ``names`` one by one; stops at the first failure."""
    nodes = [n for n in site.nodes if n.name in names]
    passwords = resolve_passwords(site, nodes)
    outcomes: list[Outcome] = []
    for node in nodes:
        if outcomes and outcomes[-1].status != "updated":
            outcome = Outcome(node.name, "not started", cause=f"stopped after {outcomes[-1].node} failed")
        else:
            name, cred = site.credential_of(node)
            try:
                async with connect(node.bmc.url, cred.username, passwords[name], node=node.name, ca_file=ca_file,
                                   insecure=node.bmc.insecure, profile=node.bmc.profile_name, system=node.bmc.system,
                                   allow_http=node.bmc.allow_http) as bmc:
                    result = await update_node(bmc, bundle, component=component, apply_time=apply_time,
                                               timeout=timeout, reset_wait=reset_wait, method=method)
                outcome = Outcome(node.name, "updated", result)
            except AnyrackError as err:
                outcome = Outcome(node.name, "failed", cause=str(err))
        outcomes.append(outcome)
        if progress:
            progress(outcome)
    return outcomes
