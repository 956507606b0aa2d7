"""IPv4 addressing of a RoCE fabric: rail blocks, one block per leaf, /31 host links, /32 loopbacks.

``networks.fabric.cidr`` is cut into the smallest power of two of equal blocks that holds one block per
rail plus one for loopbacks (unless ``loopback_cidr`` is given). Rail r's block holds one block per
unit (the rail-r leaf's), sized for ``nodes_per_unit`` × NICs per rail /31 links. Leaf loopbacks fill the
lower half of the loopback block from its second address, spine loopbacks the upper half. Adding
units or nodes at the end of the site never renumbers what exists.

>>> a = plan_addresses("100.64.0.0/16", rails=8, units=2, links_per_leaf=32, leaves=16, spines=8)
>>> a.rail_blocks[1], a.leaf_block(1, 1), a.host_link(1, 1, 0), a.loopbacks
('100.64.16.0/20', '100.64.16.64/26', ('100.64.16.64', '100.64.16.65'), '100.64.240.0/20')
>>> a.leaf_loopback(0), a.spine_loopback(0)
('100.64.240.1', '100.64.248.1')
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from anyrack.fabric.sizing import FABRIC, SizingError

P2P_PREFIX = 31


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


@dataclass(frozen=True)
class Addressing:
    """Where every fabric address comes from; addresses are computed on demand (integers inside)."""

    cidr: str
    rail_blocks: tuple[str, ...]
    leaf_prefix: int
    """Prefix length of a leaf's block of host links."""
    loopbacks: str
    _rail_base: tuple[int, ...]
    _leaf_size: int
    _lo_base: int
    _lo_half: int

    def leaf_block(self, rail: int, unit: int) -> str:
        return f"{ipaddress.IPv4Address(self._rail_base[rail] + unit * self._leaf_size)}/{self.leaf_prefix}"

    def host_link(self, rail: int, unit: int, link: int) -> tuple[str, str]:
        """(leaf side, host side) of host link ``link`` (0-based) on the rail-``rail`` leaf of ``unit``."""
        base = self._rail_base[rail] + unit * self._leaf_size + 2 * link
        return str(ipaddress.IPv4Address(base)), str(ipaddress.IPv4Address(base + 1))

    def leaf_loopback(self, index: int) -> str:
        return str(ipaddress.IPv4Address(self._lo_base + 1 + index))

    def spine_loopback(self, index: int) -> str:
        return str(ipaddress.IPv4Address(self._lo_base + self._lo_half + 1 + index))


def plan_addresses(cidr: str, rails: int, units: int, links_per_leaf: int, leaves: int, spines: int,
                   loopback_cidr: str | None = None) -> Addressing:
    """Cut ``cidr`` into rail and loopback blocks.

    Raises:
        SizingError: IPv6, or the address space is exhausted (rails or loopbacks do not fit).
    """
    net = ipaddress.ip_network(cidr)
    if not isinstance(net, ipaddress.IPv4Network):
        raise SizingError((*FABRIC, "cidr"), f"{cidr} is IPv6; fabric addressing is IPv4 only for now")
    blocks = _pow2(rails + (0 if loopback_cidr else 1))
    rail_size = net.num_addresses // blocks
    leaf_size = _pow2(2 * links_per_leaf)
    if rail_size < units * leaf_size:
        raise SizingError((*FABRIC, "cidr"), (
            f"address space exhausted: each of {rails} rails needs {units} units × {leaf_size} addresses "
            f"(/{32 - leaf_size.bit_length() + 1} per leaf) = {units * leaf_size}, but {cidr} gives each rail "
            f"{rail_size}; use a shorter prefix (at most /{_max_prefix(units * leaf_size * blocks)})"))
    base = int(net.network_address)
    rail_prefix = net.prefixlen + blocks.bit_length() - 1
    rail_base = tuple(base + r * rail_size for r in range(rails))
    if loopback_cidr is None:
        lo_base, lo_size = base + (blocks - 1) * rail_size, rail_size
        lo_text, lo_key = f"{ipaddress.IPv4Address(lo_base)}/{rail_prefix}", "cidr"
    else:
        lo_net = ipaddress.ip_network(loopback_cidr)
        if not isinstance(lo_net, ipaddress.IPv4Network):
            raise SizingError((*FABRIC, "loopback_cidr"), f"{loopback_cidr} is IPv6; loopbacks are IPv4 only")
        if lo_net.overlaps(net):
            raise SizingError((*FABRIC, "loopback_cidr"), f"{loopback_cidr} overlaps networks.fabric.cidr ({cidr})")
        lo_base, lo_size, lo_text, lo_key = int(lo_net.network_address), lo_net.num_addresses, str(lo_net), \
            "loopback_cidr"
    half = lo_size // 2
    if max(leaves, spines) > half - 1:
        raise SizingError((*FABRIC, lo_key), (
            f"address space exhausted: {leaves} leaf and {spines} spine loopbacks need a block of at least "
            f"{2 * _pow2(max(leaves, spines) + 1)} addresses but {lo_text} has {lo_size}"))
    return Addressing(
        cidr=str(net), rail_blocks=tuple(f"{ipaddress.IPv4Address(b)}/{rail_prefix}" for b in rail_base),
        leaf_prefix=33 - leaf_size.bit_length(), loopbacks=lo_text, _rail_base=rail_base, _leaf_size=leaf_size,
        _lo_base=lo_base, _lo_half=half,
    )


def _max_prefix(addresses: int) -> int:
    return 33 - _pow2(addresses).bit_length()
