"""Read the firmware inventory of many nodes straight from their BMCs (``anyrack firmware check --live``).

One connection pool, at most ``concurrency`` BMCs at a time, the nodes of one BMC one after another (its
sessions are few), as discovery does; only the UpdateService's FirmwareInventory is read beyond what
opening a controller reads. A node whose BMC cannot be read is returned with its cause: unknown, not ok.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp

from anyrack.bmc import connect
from anyrack.bmc.discover import resolve_passwords
from anyrack.errors import AnyrackError
from anyrack.facts import SCHEMA, NodeFacts
from anyrack.site.model import Node, Site


async def read_site(site: Site, *, ca_file: str | None = None, concurrency: int = 256, timeout: float = 30.0,
                    retries: int = 3) -> tuple[dict[str, NodeFacts], dict[str, str]]:
    """(node → facts holding its components, node → why it could not be read)."""
    passwords = resolve_passwords(site, list(site.nodes))
    limit = asyncio.Semaphore(concurrency)
    shared = {n.bmc.endpoint: asyncio.Lock() for n in site.nodes}
    found: dict[str, NodeFacts] = {}
    failed: dict[str, str] = {}
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def one(node: Node, http: aiohttp.ClientSession) -> None:
        name, cred = site.credential_of(node)
        try:
            async with shared[node.bmc.endpoint], limit, \
                    connect(node.bmc.url, cred.username, passwords[name], node=node.name, http=http, ca_file=ca_file,
                            insecure=node.bmc.insecure, profile=node.bmc.profile_name, timeout=timeout,
                            retries=retries, system=node.bmc.system, allow_http=node.bmc.allow_http) as bmc:
                items = await bmc.firmware()
        except AnyrackError as err:
            failed[node.name] = str(err)
            return
        found[node.name] = NodeFacts.model_validate({
            "schema": SCHEMA, "node": node.name, "collected_at": stamp,
            "components": [{"id": i.id, "name": i.name, "kind": i.kind, "version": i.version or None,
                            "updateable": i.updateable, "path": i.path} for i in items],
            "components_complete": bmc.transport == "redfish"})

    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(one(n, http) for n in site.nodes))
    return found, failed
