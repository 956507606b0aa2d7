"""Cable verification: the neighbours a fabric reports against the plan's ``cabling.csv``.

Two sources of what is really cabled:

- LLDP (RoCE, Ethernet): a directory with one ``<device>.json`` per switch or host, the output of
  ``lldpcli -f json show neighbors`` there (lldpd). Ports are matched by interface name; a neighbour's
  port is its LLDP port ID when that is an interface name, else its port description.
- ``ibnetdiscover`` (InfiniBand): its output, run anywhere on one subnet. Switches are matched by node
  description (the planned name) and port number, host ports by ``<node> <hca>`` (the planned HCA
  names, ``networks.fabric.hca_names``).

A planned rail or uplink cable is checked when an end of it is on a device the source saw (access
cables are not: the plan does not name the host's management interface). A miswire says which
cable, the link expected and the link seen, and the fix: when two cables have traded ends the fix is
swapping the two plugs; otherwise moving the one cable.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from anyrack.errors import InvalidInput, Problem

End = tuple[str, str]
"""(device, port): a host's interface, a switch's interface (LLDP) or port number (InfiniBand)."""


@dataclass(frozen=True)
class Miswire:
    cable: str
    expected: str
    seen: str
    fix: str

    def __str__(self) -> str:
        return f"{self.cable}: expected {self.expected}, seen {self.seen}: {self.fix}"


@dataclass
class Report:
    checked: int = 0
    """Planned cables with an end on a device the source saw."""
    miswires: list[Miswire] = field(default_factory=list)


@dataclass
class Discovered:
    """An ibnetdiscover dump: node descriptions, their LIDs, and every link (both directions)."""

    devices: set[str] = field(default_factory=set)
    lids: dict[str, int] = field(default_factory=dict)
    links: dict[End, End] = field(default_factory=dict)


_HEAD = re.compile(r'^(Switch|Ca|Rt)\s+\d+\s+"([^"]+)"\s*#\s*"([^"]*)"(.*)$')
_PORT = re.compile(r'^\[(\d+)\](?:\([0-9a-fA-F]+\))?\s+"([^"]+)"\[(\d+)\](?:\([0-9a-fA-F]+\))?\s*(#.*)?$')


def parse_ibnetdiscover(text: str) -> Discovered:
    """Parse ``ibnetdiscover`` output (the format ibsim also reads)."""
    names: dict[str, str] = {}
    records: list[tuple[str, list[tuple[int, str, int, str]]]] = []
    out = Discovered()
    for line in text.splitlines():
        if m := _HEAD.match(line.strip()):
            names[m[2]] = m[3]
            out.devices.add(m[3])
            records.append((m[3], []))
            if lid := re.search(r"\blid (\d+)", m[4]):
                out.lids[m[3]] = int(lid[1])
        elif (m := _PORT.match(line.strip())) and records:
            records[-1][1].append((int(m[1]), m[2], int(m[3]), m[4] or ""))
    for desc, ports in records:
        for port, peer, peer_port, comment in ports:
            out.links[(desc, str(port))] = (names.get(peer, peer), str(peer_port))
            if desc not in out.lids and (lid := re.match(r"#\s*lid (\d+)", comment)):
                out.lids[desc] = int(lid[1])  # a CA's LID is on its port line
    return out


def parse_lldp(name: str, text: str) -> dict[End, End]:
    """``lldpcli -f json show neighbors`` of device ``name`` → {(name, local if): (neighbour, its port)}."""
    doc = json.loads(text) if text.strip() else {}
    interfaces = (doc.get("lldp") or {}).get("interface") or []
    if isinstance(interfaces, dict):  # lldpcli writes one interface as an object, several as a list
        interfaces = [{k: v} for k, v in interfaces.items()]
    out: dict[End, End] = {}
    for entry in interfaces:
        for local, info in entry.items():
            chassis = info.get("chassis") or {}
            # {"<system name>": {"id": ...}}; a neighbour without a system name has {"id": ...} here
            peer = next((k for k, v in chassis.items() if isinstance(v, dict) and "id" in v), None)
            port = info.get("port") or {}
            pid = port.get("id") or {}
            peer_port = pid.get("value") if pid.get("type") == "ifname" else port.get("descr") or pid.get("value")
            if peer and peer_port:
                out[(name, local)] = (peer, peer_port)
    return out


def read_lldp_dir(path: Path) -> tuple[set[str], dict[End, End]]:
    """Every ``<device>.json`` in ``path``: the devices seen and their links."""
    links: dict[End, End] = {}
    devices = set()
    for file in sorted(path.glob("*.json")):
        devices.add(file.stem)
        try:
            links.update(parse_lldp(file.stem, file.read_text()))
        except (json.JSONDecodeError, AttributeError) as err:
            line = getattr(err, "lineno", 0)
            raise InvalidInput([Problem(str(file), line, "", "not the JSON of `lldpcli -f json show neighbors`: "
                                                              f"{getattr(err, 'msg', err)}")]) from None
    return devices, links


def verify(cabling: str, plan_json: str, *, lldp: tuple[set[str], dict[End, End]] | None = None,
           ibnetdiscover: str | None = None) -> Report:
    """Compare the observed links with ``cabling`` (the text of cabling.csv) of the plan in ``plan_json``."""
    # access cables (BMC and host management ports) are not checked: the plan names no host interface for them
    rows = [r for r in csv.DictReader(io.StringIO(cabling)) if r["kind"] in ("rail", "uplink")]
    if ibnetdiscover is not None:
        hca = {(n["name"], nic["hca"]): nic["interface"] for n in json.loads(plan_json)["nodes"] for nic in n["nics"]}
        found = parse_ibnetdiscover(ibnetdiscover)

        def host(end: End) -> End:
            node, _, name = end[0].partition(" ")
            return (node, hca[(node, name)]) if (node, name) in hca else end

        links = {host(a): host(b) for a, b in found.links.items()}
        seen_ends = set(links)
        switches = {d for d in found.devices if " " not in d}
        planned = [(r["cable"], _ib_end(r, "a"), _ib_end(r, "b")) for r in rows]
        in_scope = {end for _, a, b in planned for end in (a, b) if end in seen_ends or end[0] in switches}
    else:
        devices, links = lldp or (set(), {})
        planned = [(r["cable"], (r["a_device"], r["a_interface"]), (r["b_device"], r["b_interface"])) for r in rows]
        in_scope = {end for _, a, b in planned for end in (a, b) if end[0] in devices}
    return _compare(planned, links, in_scope)


def _ib_end(row: Mapping[str, str], side: str) -> End:
    """A cabling.csv end as ibnetdiscover names it: switch port number, host interface."""
    port = row[f"{side}_port"]
    return (row[f"{side}_device"], port if port else row[f"{side}_interface"])


def _compare(planned: list[tuple[str, End, End]], seen: Mapping[End, End], scope: set[End]) -> Report:
    both: dict[End, End] = {}
    for a, b in seen.items():
        both.setdefault(a, b)
        both.setdefault(b, a)
    peer_of = {end: other for _, a, b in planned for end, other in ((a, b), (b, a))}
    cable_of = {end: cable for cable, a, b in planned for end in (a, b)}
    report = Report()
    for cable, a, b in planned:
        if a not in scope and b not in scope:
            continue
        report.checked += 1
        if both.get(a) == b or both.get(b) == a:
            continue
        if a not in both and b not in both:
            report.miswires.append(Miswire(cable, _link(a, b), "no link", f"plug {_end(a)} to {_end(b)}"))
            continue
        local, other = (a, both[a]) if a in both else (b, both[b])
        report.miswires.append(Miswire(cable, _link(a, b), _link(local, other), _fix(local, other, peer_of,
                                                                                      cable_of, both)))
    return report


def _fix(local: End, other: End, peer_of: Mapping[End, End], cable_of: Mapping[End, str],
         seen: Mapping[End, End]) -> str:
    twin = peer_of.get(other)  # the end ``other`` should be plugged to
    if twin is not None and seen.get(twin) == peer_of[local]:
        ends = sorted([local, twin])
        cables = sorted([cable_of[local], cable_of[twin]])
        return f"swap the plugs in {_end(ends[0])} and {_end(ends[1])} (cables {cables[0]} and {cables[1]})"
    return f"move the cable in {_end(local)} to {_end(peer_of[local])}"


def _end(end: End) -> str:
    return f"{end[0]} {end[1]}"


def _link(a: End, b: End) -> str:
    return f"{_end(a)} — {_end(b)}"


def verify_paths(plan_dir: Path, lldp_dir: Path | None = None, ibnetdiscover: Path | None = None) -> Report:
    """:func:`verify` on files: the plan directory (``anyrack fabric plan --out``) and one source.

    Raises:
        InvalidInput: a missing or unreadable file, or LLDP JSON that does not parse (file:line).
    """
    if (lldp_dir is None) == (ibnetdiscover is None):
        raise InvalidInput([Problem(str(plan_dir), 0, "", "give one of --lldp DIR and --ibnetdiscover FILE")])
    texts = {}
    for name in ("cabling.csv", "plan.json"):
        try:
            texts[name] = (plan_dir / name).read_text()
        except OSError as err:
            raise InvalidInput([Problem(str(plan_dir / name), 0, "", f"cannot read the plan: {err.strerror}; "
                                        "give the directory `anyrack fabric plan --out` wrote")]) from None
    if ibnetdiscover is not None:
        try:
            dump = ibnetdiscover.read_text()
        except OSError as err:
            raise InvalidInput([Problem(str(ibnetdiscover), 0, "", f"cannot read: {err.strerror}")]) from None
        if not parse_ibnetdiscover(dump).devices:
            raise InvalidInput([Problem(str(ibnetdiscover), 0, "", "no Switch or Ca record: not ibnetdiscover output")])
        return verify(texts["cabling.csv"], texts["plan.json"], ibnetdiscover=dump)
    assert lldp_dir is not None
    if not lldp_dir.is_dir() or not any(lldp_dir.glob("*.json")):
        raise InvalidInput([Problem(str(lldp_dir), 0, "", "no <device>.json (lldpcli -f json show neighbors) in it")])
    return verify(texts["cabling.csv"], texts["plan.json"], lldp=read_lldp_dir(lldp_dir))
