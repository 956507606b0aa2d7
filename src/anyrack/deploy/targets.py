"""Which nodes a deploy touches: nothing unless the operator says which (``--limit EXPR`` or ``--all``).

``--limit`` takes comma-separated terms (repeat the option for more):

* ``gpu001``, ``gpu[001-032]`` – node names or host lists: these nodes, whatever their role;
* ``rack:r01`` – the nodes of a rack; ``role:compute`` – the nodes of a role.

Controller and login nodes are deployed only when named: by their name, a host list, or ``role:controller``
/ ``role:login``. ``--all`` and ``rack:`` leave them out (and say so). A term that matches no node is bad input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anyrack.deploy.disks import HintCheck, check_before_boot
from anyrack.errors import InputError
from anyrack.facts import NodeFacts
from anyrack.site.hostlist import HostlistError, expand
from anyrack.site.model import Node, Site

NAMED_ONLY = ("controller", "login")


@dataclass(frozen=True)
class Targets:
    nodes: list[Node]
    skipped: dict[str, str] = field(default_factory=dict)
    """Node name → why it is left out (a controller or login node not named)."""


def _terms(expr: str) -> list[str]:
    terms, depth, start = [], 0, 0
    for i, char in enumerate(expr):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(expr[start:i])
            start = i + 1
    terms.append(expr[start:])
    return [t.strip() for t in terms if t.strip()]


def _match(site: Site, term: str) -> tuple[list[Node], bool]:
    """The nodes one term selects, and whether it names them (so controllers and login nodes count)."""
    kind, _, value = term.partition(":")
    if kind == "rack" and value:
        return [n for n in site.nodes if n.rack == value], False
    if kind == "role" and value:
        return [n for n in site.nodes if n.role == value], value in NAMED_ONLY
    try:
        names = set(expand(term))
    except HostlistError as err:
        raise InputError(detail=f"--limit {term!r}: {err}; nothing was touched") from None
    return [n for n in site.nodes if n.name in names], True


def select(site: Site, limits: tuple[str, ...] | list[str], everything: bool) -> Targets:
    """The nodes to deploy, in site-file order.

    :raises InputError: neither ``limits`` nor ``everything``, both, or a term matching no node.
    """
    if not limits and not everything:
        raise InputError(detail="say which nodes to deploy: --limit EXPR (gpu001, gpu[001-032], rack:r01, "
                                "role:compute) or --all; nothing was touched")
    if limits and everything:
        raise InputError(detail="--limit and --all exclude each other; nothing was touched")
    chosen: dict[str, Node] = {}
    named: set[str] = set()
    terms = [t for expr in limits for t in _terms(expr)]
    for term in terms or []:
        nodes, names = _match(site, term)
        if not nodes:
            raise InputError(detail=f"--limit {term!r} matches no node of site {site.site}; nothing was touched")
        chosen.update((n.name, n) for n in nodes)
        if names:
            named.update(n.name for n in nodes)
    if everything:
        chosen = {n.name: n for n in site.nodes}
    skipped = {name: f"role {n.role}: deployed only when named (--limit {name})"
               for name, n in chosen.items() if n.role in NAMED_ONLY and name not in named}
    nodes = [n for n in site.nodes if n.name in chosen and n.name not in skipped]
    if not nodes:
        raise InputError(detail="the selection holds only controller/login nodes, which are deployed only when "
                                f"named: {', '.join(sorted(skipped))}; nothing was touched")
    return Targets(nodes, skipped)


def stages_of(via: str) -> list[str]:
    """The stages a deploy over ``via`` runs, in order (anyrack.deploy.run)."""
    boot = ["media", "boot-override", "power-on", "media-boot"] if via == "virtual-media" else \
        ["boot-override", "power-on", "pxe"]
    return ["bmc", *boot, "write", "power-off", "boot-disk", "ssh"]


def disk_of(site: Site, node: Node) -> str:
    """The disk the image would go to, as the operator declared it."""
    hint = site.root_device_of(node)
    if hint is None:
        return "no root_device hint: the ramdisk's default, the first non-removable disk"
    source = "node" if node.root_device else f"sku {node.sku}"
    return "root_device (" + source + "): " + ", ".join(f"{k}={v}" for k, v in hint.given().items())


def check_hints(site: Site, targets: Targets, facts: dict[str, NodeFacts]) -> dict[str, HintCheck]:
    """Each target's root-device hint against its discovered disks (nodes without a hint are not checked)."""
    return {node.name: check_before_boot(hint, facts.get(node.name)) for node in targets.nodes
            if (hint := site.root_device_of(node)) is not None}


def refuse_bad_hints(checks: dict[str, HintCheck]) -> None:
    """Before any power action: a hint that matches no discovered disk, or several, is bad input.

    :raises InputError: naming each such node and its candidates.
    """
    bad = [f"{name}: {check.detail}" for name, check in checks.items() if check.refused]
    if bad:
        raise InputError(detail="root_device hint does not pick exactly one disk: " + " | ".join(bad)
                                + "; fix the hint (or rediscover); nothing was touched")


def plan(site: Site, targets: Targets, via: str, media_url: str | None, force: bool,
         checks: dict[str, HintCheck] | None = None) -> dict:
    """What a deploy would do, touching nothing: per node its boot path, disk (and its check against the
    discovered disks, where there are facts) and stages."""
    nodes = []
    checks = checks or {}
    for node in targets.nodes:
        boot = (f"virtual CD {(media_url or '').format(node=node.name)}" if via == "virtual-media"
                else f"network boot, MAC {node.boot_mac}")
        nodes.append({"node": node.name, "rack": node.rack, "role": node.role, "bmc": node.bmc.url, "boot": boot,
                      "disk": disk_of(site, node), "stages": stages_of(via),
                      **({"disk_check": {"verdict": c.verdict, "detail": c.detail,
                                         "matched": [d.drive for d in c.matched]}}
                         if (c := checks.get(node.name)) else {}),
                      "if powered on": "forced off (--force)" if force else "refused"})
    settings = site.deploy
    return {"site": site.site, "nodes": nodes, "skipped": targets.skipped,
            "concurrency": settings.concurrency,
            "power_on": {"per_rack": settings.power_on.per_rack, "interval_s": settings.power_on.interval_s}}


def check_boot_macs(targets: Targets, via: str) -> None:
    """A PXE deploy needs each node's boot MAC (the PXE server answers known MACs only).

    :raises InputError: naming the nodes without one.
    """
    if via == "pxe" and (missing := [n.name for n in targets.nodes if not n.boot_mac]):
        raise InputError(detail=f"no boot_mac for {', '.join(missing)}: a PXE deploy needs it (the PXE server "
                                "answers known MACs only); set boot_mac in the site file or use --via virtual-media")
