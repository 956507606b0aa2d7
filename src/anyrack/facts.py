"""Discovered facts: one JSON document per node, written by BMC discovery and read here.

The format (``schema: anyrack.facts/v1``) is documented in ``docs/facts.md``. Discovery reports what
the BMC knows and never invents: a MAC or serial the BMC does not expose is simply absent, and
``nics_complete: false`` (``gpus_complete: false``) says the NIC (GPU) list may be partial.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from anyrack import document
from anyrack.errors import InvalidInput, Problem
from anyrack.site.model import HostName, Mac, Model
from anyrack.validation import validate

SCHEMA = "anyrack.facts/v1"


def _timestamp(value: str) -> str:
    """An ISO 8601 date and time with its UTC offset (``2026-12-07T19:14:14Z``); kept as written."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or not _STAMP.fullmatch(value):
        raise ValueError(f"{value[:40]!r} is not a timestamp such as 2026-12-07T19:14:14Z (date, time and zone)")
    return value


_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})")
Timestamp = Annotated[str, AfterValidator(_timestamp)]


class BmcFacts(Model):
    url: str | None = None
    profile: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    manager: str | None = None
    """The Redfish Manager read for this node (the one the system names in Links.ManagedBy, or that lists it)."""


class SystemFacts(Model):
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    uuid: str | None = None
    bios_version: str | None = None
    power_state: Literal["On", "Off", "PoweringOn", "PoweringOff", "Paused", "Unknown"] | None = None
    id: str | None = None
    """The Redfish ComputerSystem id (several hosts may share one BMC)."""
    path: str | None = None
    provenance: dict[Literal["manufacturer", "model", "serial"], str] = Field(default_factory=dict)
    """Which resource each identity field came from (the system, or the node's own chassis)."""


class ProblemFacts(Model):
    """A resource discovery could not read: its fields are unknown, the rest of the node is reported."""

    path: str
    status: int | None = None
    """The HTTP status, absent for a timeout or a refused link."""
    message: str


class GpuFacts(Model):
    model: str
    serial: str | None = None
    uuid: str | None = None
    firmware: str | None = None
    location: str | None = None


class NicFacts(Model):
    name: str
    mac: Mac | None = None
    speed_mbps: Annotated[int, Field(ge=0)] | None = None
    port_guid: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{1,16}$")] | None = None
    """InfiniBand port GUID (an IB port has no MAC): names the port in OpenSM's partitions."""


class DiskFacts(Model):
    """One physical disk the BMC reports (a Redfish Drive): what a ``root_device`` hint can be checked against."""

    id: str
    model: str | None = None
    serial: str | None = None
    size_bytes: Annotated[int, Field(ge=0)] | None = None
    media: str | None = None
    """``HDD``, ``SSD``, ``SMR`` as the BMC says."""
    rotational: bool | None = None
    protocol: str | None = None
    """``NVMe``, ``SATA``, ``SAS``, ``PCIe`` ... as the BMC says."""
    wwn: str | None = None
    """The durable name in a WWN format (NAA, EUI-64...), lowercase without ``0x``."""
    location: str | None = None
    """The bay's label."""
    controller: str | None = None
    """The storage subsystem it is behind (its Redfish id)."""
    state: str | None = None
    """``Status.State`` (``Enabled``, ``UnavailableOffline`` ...)."""
    path: str | None = None


class ComponentFacts(Model):
    """One firmware image the BMC reports (a ``FirmwareInventory`` member), with its component kind."""

    id: str
    name: str
    kind: Literal["bmc", "bios", "gpu", "nvswitch", "nic", "psu", "cpld", "retimer", "other"]
    version: str | None = None
    """None when the BMC reports none (or a placeholder): unknown, not behind."""
    updateable: bool | None = None
    related: str | None = None
    """The resource it belongs to (``RelatedItem``: a GPU, a PSU, the manager), where the BMC says."""
    path: str | None = None


class NodeFacts(Model):
    """What discovery learned about one node."""

    schema_: Literal["anyrack.facts/v1"] = Field(alias="schema")
    node: HostName
    collected_at: Timestamp
    bmc: BmcFacts = Field(default_factory=BmcFacts)
    system: SystemFacts = Field(default_factory=SystemFacts)
    gpus: list[GpuFacts] = Field(default_factory=list)
    nics: list[NicFacts] = Field(default_factory=list)
    gpus_complete: bool = True
    """False when the transport cannot see GPUs (IPMI): a short list is then *unknown*, not a mismatch."""
    nics_complete: bool = True
    firmware: dict[str, str] = Field(default_factory=dict)
    """Versions keyed like a SKU's golden BOM: bios, bmc, gpu_vbios, nic_firmware..."""
    problems: list[ProblemFacts] = Field(default_factory=list)
    components: list[ComponentFacts] = Field(default_factory=list)
    """Every firmware image by component kind (docs/firmware.md)."""
    components_complete: bool = True
    """False when the transport sees only some firmware (IPMI: the BMC's own): the rest is unknown."""
    disks: list[DiskFacts] = Field(default_factory=list)
    """Physical disks from Redfish Storage/Drives (docs/facts.md)."""
    disks_complete: bool = False
    """True only when every Storage resource was read: absent (facts of older versions, IPMI, a BMC without
    Storage) means the disks are *unknown*, and a root-device hint cannot be checked before boot."""
    """False when the transport sees only some firmware (IPMI: the BMC's own): the rest is unknown."""

    @property
    def macs(self) -> list[str]:
        """Unique known host MACs, sorted (some BMCs repeat one MAC on several ports)."""
        return sorted({n.mac for n in self.nics if n.mac})

    def to_json(self) -> str:
        """The canonical text of this document (sorted keys, 2-space indent, trailing newline)."""
        doc = self.model_dump(by_alias=True, exclude_none=True)
        for key in ("problems", "components", "disks"):
            if not doc[key]:
                del doc[key]
        if doc["components_complete"]:
            del doc["components_complete"]
        if not doc["disks_complete"]:
            del doc["disks_complete"]
        if not doc["system"].get("provenance", True):
            del doc["system"]["provenance"]
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def load_facts(path: Path, node: str | None = None) -> NodeFacts:
    """One facts file (JSON), validated, for ``node`` if given; errors cite file, line and key."""
    doc = document.load(path)
    facts = validate(doc, NodeFacts)
    if node is not None and facts.node != node:
        raise InvalidInput([doc.problem(("node",), f"says {facts.node!r} but the file is named for {node!r}")])
    return facts


def load_facts_dir(directory: Path, nodes: set[str]) -> tuple[dict[str, NodeFacts], list[str]]:
    """Facts for ``nodes`` from ``directory/<node>.json``, and warnings for files of unknown nodes.

    Raises:
        InvalidInput: the directory is missing, or a facts file is bad or names another node.
    """
    if not directory.is_dir():
        raise InvalidInput([Problem(str(directory), 0, "", "facts directory does not exist")])
    facts: dict[str, NodeFacts] = {}
    warnings: list[str] = []
    problems: list[Problem] = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if not entry.name.endswith(".json") or entry.name.startswith("."):
            continue
        stem = entry.name[: -len(".json")]
        if stem not in nodes:
            warnings.append(f"{entry.path}: no node {stem!r} in the site; ignored")
            continue
        try:
            facts[stem] = load_facts(Path(entry.path), stem)
        except InvalidInput as err:
            problems.extend(err.problems)
    if problems:
        raise InvalidInput(problems)
    return facts, warnings
