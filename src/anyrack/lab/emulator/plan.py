"""From a lab description to one :class:`BmcConfig` per BMC: addresses, quirks, faults, credentials."""

from __future__ import annotations

import ipaddress
import math
import random
import secrets
from collections.abc import Mapping, Sequence

from anyrack.lab.emulator.quirks import EmulatedQuirks
from anyrack.lab.emulator.spec import SLOW_POWER_ON_S, LabOptions, LabSpecError, TreeSpec, fault_kind
from anyrack.lab.emulator.state import BmcConfig
from anyrack.lab.emulator.tree import NotATree, TreeError, load_tree

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def addresses(count: int, options: LabOptions) -> list[tuple[str, int]]:
    """``count`` (host, port) pairs: one loopback address each (skipping .0 and .255), or one host, many ports."""
    default = "127.0.0.1" if options.port_base is not None else "127.0.1.1"
    first = ipaddress.ip_address(options.first_address or default)
    if first not in LOOPBACK:
        raise LabSpecError(what=f"address {first}", reason="the lab binds to loopback (127.0.0.0/8) only")
    if options.port_base is not None:
        if options.port_base + count - 1 > 65535:
            raise LabSpecError(what=f"port base {options.port_base}", reason=f"no room for {count} ports")
        return [(str(first), options.port_base + i) for i in range(count)]
    found: list[tuple[str, int]] = []
    address = first
    while len(found) < count:
        if address not in LOOPBACK:
            raise LabSpecError(what=f"{count} BMCs", reason=f"not enough loopback addresses from {first}")
        if address.packed[-1] not in (0, 255):
            found.append((str(address), options.port))
        address += 1
    return found


def pick(population: Sequence[int], share: float, rng: random.Random, taken: set[int]) -> set[int]:
    """``ceil(share × len)`` members of ``population`` chosen by ``rng``, avoiding ``taken`` while it can."""
    wanted = min(len(population), math.ceil(share * len(population) - 1e-9))
    free = [i for i in population if i not in taken]
    if wanted <= len(free):
        return set(rng.sample(free, wanted))
    return set(free) | set(rng.sample([i for i in population if i in taken], wanted - len(free)))


def _assign(faults: list[set[str]], members: Sequence[int], shares: Mapping[str, float], seed: int,
            scope: str) -> None:
    """Give each fault kind its share of ``members``; a BMC gets a second fault only when none is left without."""
    for kind, share in shares.items():
        kind = fault_kind(kind)
        if not 0.0 <= share <= 1.0:
            raise LabSpecError(what=f"fault {kind!r}", reason="share must be between 0 and 1")
        taken = {i for i in members if faults[i]}
        for index in pick(members, share, random.Random(f"{seed}/{scope}/{kind}"), taken):
            faults[index].add(kind)


def plan(trees: Sequence[TreeSpec], options: LabOptions) -> tuple[list[BmcConfig], dict[int, str]]:
    """One config per BMC, in order: tree by tree, BMC by BMC, and the trees refused (index in ``trees`` →
    why). Loads each tree once; a tree that cannot be read is refused alone (its addresses stay unused)."""
    total = sum(t.count for t in trees)
    if total == 0:
        raise LabSpecError(what="lab", reason="no BMCs to serve")
    where = addresses(total, options)
    faults: list[set[str]] = [set() for _ in range(total)]
    ranges, start = [], 0
    for number, spec in enumerate(trees):
        members = range(start, start + spec.count)
        _assign(faults, members, spec.faults, options.seed, f"tree{number}")
        ranges.append(members)
        start += spec.count
    _assign(faults, range(total), options.faults, options.seed, "lab")
    configs, refused = [], {}
    for number, (spec, members) in enumerate(zip(trees, ranges, strict=True)):
        try:
            tree = load_tree(spec.path)
        except NotATree:
            raise  # a wrong path is the operator's mistake: no lab
        except TreeError as err:  # a recording that cannot be read: only this tree is refused
            refused[number] = str(err)
            continue
        for offset, index in enumerate(members):
            host, port = where[index]
            quirks = EmulatedQuirks.from_names([*spec.quirks, *spec.bmc_quirks.get(offset, ())])
            configs.append(BmcConfig(
                index=index, host=host, port=port, tree=tree, username=options.username,
                password=options.password or secrets.token_urlsafe(12), quirks=quirks,
                faults=frozenset(faults[index]), session_limit=options.session_limit,
                power_delay_s=options.power_delay_s,
                power_on_delay_s=SLOW_POWER_ON_S if "slow-power-on" in faults[index] else None,
                latency_ms=options.latency_ms,
            ))
    return configs, refused
