"""Which disk the image goes to: the node's ``root_device`` hint matched against the disks its ramdisk sees.

The deploy ramdisk lists its disks when it asks the callback for permission (``start``, form field
``disks``: ``name,size_bytes,rotational,removable,serial,wwn,model,by_path`` per disk, ``;`` between
disks); the deploy answers ``go /dev/NAME`` when exactly one non-removable disk matches every field of
the hint, and refuses otherwise, naming the candidates: nothing is written. ``lsblk --json --bytes -o
NAME,TYPE,SIZE,ROTA,RM,SERIAL,WWN,MODEL`` gives the same facts (:func:`from_lsblk`).

Before any power action the same hint is checked against the disks discovery read from the BMC
(:func:`check_before_boot`): none or several certain matches refuse the node; where the BMC leaves a
field the hint names unknown (or offers no Storage), the check says so and the ramdisk decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from anyrack.facts import NodeFacts
from anyrack.site.deployment import RootDevice

GIB = 2**30


@dataclass(frozen=True)
class Disk:
    name: str
    size_bytes: int
    rotational: bool = False
    removable: bool = False
    serial: str = ""
    wwn: str = ""
    model: str = ""
    by_path: str = ""
    drive: str = ""
    """Set for a disk the BMC reported (its Redfish Drive id), which has no /dev name yet."""
    unknown: frozenset[str] = field(default=frozenset())
    """Hint fields the source does not tell (a BMC knows no by_path, may not say the media type)."""

    @property
    def path(self) -> str:
        return f"/dev/{self.name}"

    def describe(self) -> str:
        where = f"drive {self.drive}" if self.drive else self.path
        facts = [f"{self.size_bytes // GIB} GiB" if "size_gb" not in self.unknown else "size unknown"]
        if "rotational" not in self.unknown:
            facts.append("rotational" if self.rotational else "solid-state")
        facts += [f"{k} {v}" for k, v in (("model", self.model), ("serial", self.serial), ("wwn", self.wwn),
                                          ("by_path", self.by_path)) if v]
        return f"{where} ({', '.join(facts)})"


class NoSingleDisk(ValueError):
    """The hint matches no disk or several; the message names the hint and the candidates."""


def _flag(value: object) -> bool:
    return str(value).strip().lower() in ("1", "true")


def from_lsblk(doc: dict) -> list[Disk]:
    """Whole disks of ``lsblk --json --bytes -o NAME,TYPE,SIZE,ROTA,RM,SERIAL,WWN,MODEL``."""
    return [Disk(name=d["name"], size_bytes=int(d.get("size") or 0), rotational=_flag(d.get("rota")),
                 removable=_flag(d.get("rm")), serial=(d.get("serial") or "").strip(),
                 wwn=(d.get("wwn") or "").strip(), model=(d.get("model") or "").strip())
            for d in doc.get("blockdevices", []) if d.get("type") == "disk"]


def from_ramdisk(text: str) -> list[Disk]:
    """The ramdisk's listing (``name,size,rota,rm,serial,wwn,model,by_path;…``); malformed entries are skipped."""
    disks = []
    for entry in text.split(";"):
        fields = [f.strip() for f in entry.split(",")]
        if len(fields) != 8 or not fields[0] or not fields[1].isdigit():
            continue
        name, size, rota, rm, serial, wwn, model, by_path = fields
        disks.append(Disk(name, int(size), _flag(rota), _flag(rm), serial, wwn, model, by_path))
    return disks


def _field_matches(disk: Disk, key: str, want: object) -> bool:
    if key == "size_gb":
        return disk.size_bytes // GIB == want
    if key == "rotational":
        return disk.rotational is want
    if key == "wwn":
        return disk.wwn.lower().removeprefix("0x") == str(want).lower().removeprefix("0x")
    return getattr(disk, key) == want


def matches(disk: Disk, hint: RootDevice) -> bool:
    """Every given field of ``hint`` matches (``size_gb`` in whole GiB, rounded down; ``wwn`` without ``0x``)."""
    return all(_field_matches(disk, key, want) for key, want in hint.given().items())


def choose(disks: list[Disk], hint: RootDevice) -> Disk:
    """The one non-removable disk ``hint`` matches.

    :raises NoSingleDisk: none or several match; the message lists the matches or, for none, every disk.
    """
    fixed = [d for d in disks if not d.removable and d.size_bytes > 0]
    found = [d for d in fixed if matches(d, hint)]
    if len(found) == 1:
        return found[0]
    said = ", ".join(f"{k}={v}" for k, v in hint.given().items())
    shown = found or fixed
    listing = "; ".join(d.describe() for d in shown) or "none"
    raise NoSingleDisk(f"root_device {{{said}}} matches {len(found)} of {len(fixed)} disks; nothing written; "
                       f"{'matches' if found else 'disks'}: {listing}")


_ONLINE = (None, "Enabled")
"""Drive states (``Status.State``) of a disk the OS will see; an offline or spare drive is not a candidate."""


def from_facts(facts: NodeFacts) -> list[Disk]:
    """The disks discovery read from the BMC, as the matcher sees them (unknown fields marked)."""
    out = []
    for d in facts.disks:
        if d.state not in _ONLINE:
            continue
        values = {"serial": d.serial, "wwn": d.wwn, "model": d.model, "size_gb": d.size_bytes,
                  "rotational": d.rotational}
        unknown = frozenset({k for k, v in values.items() if v is None} | {"by_path"})
        out.append(Disk(name=d.id, size_bytes=d.size_bytes or 0, rotational=bool(d.rotational),
                        serial=d.serial or "", wwn=d.wwn or "", model=d.model or "", drive=d.id, unknown=unknown))
    return out


@dataclass(frozen=True)
class HintCheck:
    """A root-device hint against the discovered disks: ``one`` (which), ``none``, ``several`` (which), or
    ``unknown`` (the BMC does not tell enough: the ramdisk decides, as without discovery)."""

    verdict: Literal["one", "none", "several", "unknown"]
    matched: tuple[Disk, ...]
    detail: str

    @property
    def refused(self) -> bool:
        return self.verdict in ("none", "several")


def check_before_boot(hint: RootDevice, facts: NodeFacts | None) -> HintCheck:
    """Which discovered disks ``hint`` matches, before anything is powered on."""
    if facts is None:
        return HintCheck("unknown", (), "no discovered facts for this node: checked by the ramdisk only")
    disks = from_facts(facts)
    sure, maybe = [], []
    for disk in disks:
        verdicts = {None if key in disk.unknown else _field_matches(disk, key, want)
                    for key, want in hint.given().items()}
        if False not in verdicts:
            (maybe if None in verdicts else sure).append(disk)
    said = ", ".join(f"{k}={v}" for k, v in hint.given().items())
    head = f"root_device {{{said}}} matches {len(sure)} of {len(disks)} discovered disks"
    listing = "; ".join(d.describe() for d in (sure or disks)) or "none"
    if len(sure) >= 2:
        return HintCheck("several", tuple(sure), f"{head}: {listing}")
    if maybe or not facts.disks_complete:
        why = (f"{len(maybe)} more may match (the BMC does not say every field the hint names)" if maybe
               else "the BMC's disk list is incomplete or absent (disks_complete: false)")
        return HintCheck("unknown", tuple(sure), f"{head}; {why}: checked by the ramdisk only")
    if len(sure) == 1:
        return HintCheck("one", tuple(sure), f"{head}: {listing}")
    return HintCheck("none", (), f"{head}; disks: {listing}")
