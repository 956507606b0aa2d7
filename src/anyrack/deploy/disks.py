"""Which disk the image goes to: the node's ``root_device`` hint matched against the disks its ramdisk sees.

The deploy ramdisk lists its disks when it asks the callback for permission (``start``, form field
``disks``: ``name,size_bytes,rotational,removable,serial,wwn,model,by_path`` per disk, ``;`` between
disks); the deploy answers ``go /dev/NAME`` when exactly one non-removable disk matches every field of
the hint, and refuses otherwise, naming the candidates: nothing is written. ``lsblk --json --bytes -o
NAME,TYPE,SIZE,ROTA,RM,SERIAL,WWN,MODEL`` gives the same facts (:func:`from_lsblk`).
"""

from __future__ import annotations

from dataclasses import dataclass

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

    @property
    def path(self) -> str:
        return f"/dev/{self.name}"

    def describe(self) -> str:
        facts = [f"{self.size_bytes // GIB} GiB", "rotational" if self.rotational else "solid-state"]
        facts += [f"{k} {v}" for k, v in (("model", self.model), ("serial", self.serial), ("wwn", self.wwn),
                                          ("by_path", self.by_path)) if v]
        return f"{self.path} ({', '.join(facts)})"


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


def matches(disk: Disk, hint: RootDevice) -> bool:
    """Every given field of ``hint`` matches (``size_gb`` in whole GiB, rounded down; ``wwn`` without ``0x``)."""
    for key, want in hint.given().items():
        if key == "size_gb":
            ok = disk.size_bytes // GIB == want
        elif key == "rotational":
            ok = disk.rotational is want
        elif key == "wwn":
            ok = disk.wwn.lower().removeprefix("0x") == str(want).lower().removeprefix("0x")
        else:
            ok = getattr(disk, key) == want
        if not ok:
            return False
    return True


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
