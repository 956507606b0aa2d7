"""Checks across the objects of a site: each finding is a key path and a message.

Field-level checks are in :mod:`anyrack.site.model`; what is here needs to look at several objects:
names, rack space, addresses against networks, references between sections, partitions and rails.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from anyrack.document import Loc, format_key
from anyrack.site import hostlist
from anyrack.site.model import Site
from anyrack.site.slurm import check_slurm

Finding = tuple[Loc, str]


def group_name(prefix: str, value: str) -> str:
    """An Ansible-safe group name: ``group_name('sku', 'hgx-h100')`` → ``sku_hgx_h100``."""
    return f"{prefix}_{re.sub(r'[^a-z0-9]+', '_', value.lower()).strip('_')}"


def check_site(site: Site) -> list[Finding]:
    """Every cross-object problem in ``site``, in file order as far as possible."""
    return [
        *_unique_names(site),
        *_references(site),
        *_rack_space(site),
        *_networks(site),
        *_addresses(site),
        *_shared_bmcs(site),
        *_rails(site),
        *_partitions(site),
        *check_slurm(site),
    ]


def _duplicates(items: list[tuple[Loc, str]], what: str) -> Iterator[Finding]:
    first: dict[str, Loc] = {}
    for loc, value in items:
        if value in first:
            yield loc, f"{what} {value!r} is already used at {format_key(first[value])}"
        else:
            first[value] = loc


def _unique_names(site: Site) -> Iterator[Finding]:
    yield from _duplicates([(("racks", i, "name"), r.name) for i, r in enumerate(site.racks)], "rack name")
    yield from _duplicates([(("nodes", i, "name"), n.name) for i, n in enumerate(site.nodes)], "node name")
    yield from _duplicates(
        [(("slurm", "partitions", i, "name"), p.name) for i, p in enumerate(site.slurm.partitions)], "partition"
    )
    # Names that differ only in case or punctuation would share one Ansible group (exact repeats are
    # reported above, once).
    first_racks = {r.name: i for i, r in reversed(list(enumerate(site.racks)))}
    yield from _duplicates(
        [(("racks", i, "name"), group_name("rack", name)) for name, i in sorted(first_racks.items(),
                                                                                 key=lambda kv: kv[1])],
        "rack group (names differing only in case or punctuation)",
    )
    yield from _duplicates(
        [(("skus", name), group_name("sku", name)) for name in site.skus],
        "SKU group (names differing only in case or punctuation)",
    )


def _references(site: Site) -> Iterator[Finding]:
    racks = {r.name for r in site.racks}
    default = site.defaults.bmc_credential
    if default is not None and default not in site.credentials:
        yield ("defaults", "bmc_credential"), f"credential {default!r} is not defined under credentials"
    for i, node in enumerate(site.nodes):
        if node.rack not in racks:
            yield ("nodes", i, "rack"), f"rack {node.rack!r} is not defined (racks: {_few(racks)})"
        if node.sku not in site.skus:
            yield ("nodes", i, "sku"), f"SKU {node.sku!r} is not defined (skus: {_few(site.skus)})"
        cred = node.bmc.credential
        if cred is not None and cred not in site.credentials:
            yield ("nodes", i, "bmc", "credential"), f"credential {cred!r} is not defined under credentials"
        elif cred is None and default is None:
            yield ("nodes", i, "bmc"), "no BMC credential: name one here or set defaults.bmc_credential"
    if not any(n.role == "controller" for n in site.nodes):
        yield ("nodes",), "no node has role 'controller'; a site needs at least one"


def _few(names: object) -> str:
    items = sorted(names)  # type: ignore[call-overload]
    return ", ".join(items[:5]) + (", ..." if len(items) > 5 else "") if items else "none"


def _rack_space(site: Site) -> Iterator[Finding]:
    heights = {r.name: r.height for r in site.racks}
    taken: dict[tuple[str, int], str] = {}
    for i, node in enumerate(site.nodes):
        if node.rack not in heights or node.sku not in site.skus:
            continue
        size = site.skus[node.sku].height_u
        top = node.u + size - 1
        span = f"U{node.u}" if top == node.u else f"U{node.u}-U{top}"
        if top > heights[node.rack]:
            yield ("nodes", i, "u"), f"{span} does not fit in rack {node.rack!r} ({heights[node.rack]}U high)"
            continue
        clash = next((taken[(node.rack, u)] for u in range(node.u, top + 1) if (node.rack, u) in taken), None)
        if clash:
            yield ("nodes", i, "u"), f"{span} in rack {node.rack!r} overlaps node {clash!r}"
            continue
        taken.update({(node.rack, u): node.name for u in range(node.u, top + 1)})


def _networks(site: Site) -> Iterator[Finding]:
    nets = site.networks
    named = [(k, getattr(nets, k)) for k in ("bmc", "management", "provisioning", "fabric") if getattr(nets, k)]
    parsed = [(k, ipaddress.ip_network(n.cidr)) for k, n in named if n.cidr]
    for i, (key, net) in enumerate(parsed):
        for other_key, other in parsed[:i]:
            if net.version == other.version and net.overlaps(other):
                yield ("networks", key, "cidr"), f"{net} overlaps networks.{other_key} ({other})"
    for key, net in named:
        gateway = getattr(net, "gateway", None)
        if gateway and ipaddress.ip_address(gateway) not in ipaddress.ip_network(net.cidr):
            yield ("networks", key, "gateway"), f"{gateway} is outside networks.{key} ({net.cidr})"


def _addresses(site: Site) -> Iterator[Finding]:
    nets = site.networks
    used: dict[str, Loc] = {}
    for i, node in enumerate(site.nodes):
        wanted = [(("nodes", i, "addresses", "management"), node.addresses.management, "management", nets.management)]
        if node.addresses.provisioning is not None:
            wanted.append((("nodes", i, "addresses", "provisioning"), node.addresses.provisioning, "provisioning",
                           nets.provisioning))
        for loc, address, key, net in wanted:
            if net is None:
                yield loc, f"a {key} address is given but networks.{key} is not defined"
                continue
            yield from _in_network(loc, address, key, net.cidr, getattr(net, "gateway", None))
            if address in used:
                yield loc, f"{address} is already used at {format_key(used[address])}"
            used.setdefault(address, loc)
        loc = ("nodes", i, "bmc")
        try:
            ipaddress.ip_address(node.bmc.host)
        except ValueError:
            continue  # a DNS name: nothing to place in a network
        yield from _in_network(loc, node.bmc.host, "bmc", nets.bmc.cidr, nets.bmc.gateway)


def _shared_bmcs(site: Site) -> Iterator[Finding]:
    """Several nodes may share one BMC (the same scheme, host and port, the default port filled in) only
    when each names a distinct ``system``, and all use one credential."""
    first: dict[tuple[str, str, int], int] = {}
    systems: dict[tuple[tuple[str, str, int], str], int] = {}
    for i, node in enumerate(site.nodes):
        bmc = node.bmc
        j = first.setdefault(bmc.endpoint, i)
        taken = systems.setdefault((bmc.endpoint, bmc.system), i) if bmc.system is not None else i
        if j == i:
            continue
        shown = f"BMC {bmc.host}{':' + str(bmc.port) if bmc.port else ''}"
        other = format_key(("nodes", j, "bmc"))
        if bmc.system is None or site.nodes[j].bmc.system is None:
            yield ("nodes", i, "bmc"), (f"{shown} is already used at {other}; nodes that share a BMC each need "
                                        "their own bmc.system (the Redfish system id)")
        elif taken != i:
            yield ("nodes", i, "bmc", "system"), (f"system {bmc.system!r} of {shown} is already used at "
                                                   f"{format_key(('nodes', taken))}")
        mine = bmc.credential or site.defaults.bmc_credential
        theirs = site.nodes[j].bmc.credential or site.defaults.bmc_credential
        if mine != theirs:
            yield ("nodes", i, "bmc", "credential"), (f"{shown} is shared with {other}, which uses credential "
                                                       f"{theirs!r}: one BMC, one credential")


def _in_network(loc: Loc, address: str, key: str, cidr: str, gateway: str | None) -> Iterator[Finding]:
    ip = ipaddress.ip_address(address)
    net = ipaddress.ip_network(cidr)
    if ip not in net:
        yield loc, f"{address} is outside networks.{key} ({cidr})"
    elif net.num_addresses > 2 and ip in (net.network_address, net.broadcast_address):
        yield loc, f"{address} is the {'network' if ip == net.network_address else 'broadcast'} address of {cidr}"
    elif gateway and address == gateway:
        yield loc, f"{address} is the gateway of networks.{key}"


def _rails(site: Site) -> Iterator[Finding]:
    fabric = site.networks.fabric
    for name, sku in site.skus.items():
        if sku.gpu and sku.gpu.nvswitch and sku.gpu.count < 2:
            yield ("skus", name, "gpu", "nvswitch"), "nvswitch needs at least 2 GPUs"
        if sku.rails == 0:
            continue
        if fabric is None:
            yield ("skus", name, "rdma", "rails"), f"{sku.rails} rails but networks.fabric is not defined"
        elif sku.rails != fabric.rails:
            yield ("skus", name, "rdma", "rails"), (f"{sku.rails} rails but networks.fabric has {fabric.rails}; a "
                                                    "rail-optimized node has one NIC on every rail")


def _partitions(site: Site) -> Iterator[Finding]:
    roles = {n.name: n.role for n in site.nodes}
    defaults = [i for i, p in enumerate(site.slurm.partitions) if p.default]
    for i in defaults[1:]:
        yield ("slurm", "partitions", i, "default"), "only one partition can be the default"
    budget = hostlist.MAX_HOSTS  # names expanded for the whole site, however many expressions it holds
    for i, part in enumerate(site.slurm.partitions):
        for j, expr in enumerate(part.nodes):
            loc = ("slurm", "partitions", i, "nodes", j)
            try:
                if hostlist.count(expr) > len(roles):
                    yield loc, f"names {hostlist.count(expr):,} hosts but the site has {len(roles):,} nodes"
                    continue
                names = hostlist.expand(expr, limit=budget)
            except hostlist.HostlistError as err:
                yield loc, str(err)
                continue
            budget -= len(names)
            missing = [n for n in names if n not in roles]
            if missing:
                yield loc, f"node {missing[0]!r} is not defined" + (f" (and {len(missing) - 1} more)"
                                                                    if len(missing) > 1 else "")
                continue
            wrong = [n for n in names if roles[n] != "compute"]
            if wrong:
                yield loc, f"node {wrong[0]!r} has role {roles[wrong[0]]!r}; partitions hold compute nodes"
