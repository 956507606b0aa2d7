"""Redfish → discovered facts (anyrack.facts/v1), complete on every layout the profiles know.

GPUs are looked for, in order: Processors of type GPU in the host system; the same in a system the
host's chassis links to (a GPU baseboard without Boot, when the profile allows it); the profile's own
finder (OEM resources). MACs come from the host's EthernetInterfaces (never the BMC's host
interface), else from the chassis NetworkAdapters. Nothing is invented: what the BMC does not say
stays absent, and ``*_complete`` says so. A linked resource that cannot be read (a dangling link, a
5xx, a timeout, a link to another host) leaves its fields unknown and is listed in ``problems``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from anyrack.bmc.firmware.inventory import read_components
from anyrack.bmc.profiles import Profile
from anyrack.bmc.redfish.client import DEGRADABLE, RedfishClient
from anyrack.bmc.redfish.resources import Link, Links, known
from anyrack.bmc.redfish.resources.chassis import Chassis
from anyrack.bmc.redfish.resources.managers import Manager
from anyrack.bmc.redfish.resources.network import (
    EthernetInterface,
    HostInterface,
    NetworkAdapter,
    NetworkDeviceFunction,
    mac,
)
from anyrack.bmc.redfish.resources.processors import PCIeDevice, Processor
from anyrack.bmc.redfish.resources.storage import Drive, Storage
from anyrack.bmc.redfish.resources.systems import ComputerSystem
from anyrack.errors import BmcError
from anyrack.facts import SCHEMA, NodeFacts

__all__ = ["collect_facts", "known", "link", "links", "mac"]


def link(resource: dict, *keys: str) -> str | None:
    """The path a link at ``keys`` points to (the first, for a list of links), or None."""
    return Link(*keys).read(resource)


def links(resource: dict, *keys: str) -> list[str]:
    """Every path of a link array (``Links.Chassis``), in order."""
    return Links(*keys).read(resource)


def _same(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


@dataclass
class Reader:
    """Reads for one part of the facts (GPUs, NICs, ...): a resource that cannot be read is recorded in the
    shared ``problems`` and marks this part incomplete, instead of failing the node."""

    client: RedfishClient
    problems: list[dict]
    complete: bool = field(default=True)

    def record(self, path: str, err: BmcError) -> None:
        self.complete = False
        status = getattr(err, "status", None)
        self.problems.append({"path": path.split("?", 1)[0], "status": status or None,
                              "message": str(err).split(": ", 1)[-1]})

    async def get(self, path: str | None) -> dict:
        if not path:
            return {}
        try:
            return await self.client.get(path)
        except DEGRADABLE as err:
            self.record(path, err)
            return {}

    async def members(self, path: str | None) -> list[dict]:
        if not path:
            return []
        try:
            return await self.client.members(path, on_error=self.record)
        except DEGRADABLE as err:
            self.record(path, err)
            return []


async def gpus_in_system(reader: Reader, system: ComputerSystem) -> list[dict]:
    processors = [p for p in map(Processor, await reader.members(system.processors)) if p.is_gpu]
    return list(await asyncio.gather(*(_gpu(reader, proc) for proc in processors)))


async def _gpu(reader: Reader, proc: Processor) -> dict:
    model, serial = proc.model, proc.serial
    if proc.pcie_device and not (model and serial):
        # Seen on one recorded BMC family: the GPU Processor has no Model; its PCIeDevice carries the name.
        pcie = PCIeDevice(await reader.get(proc.pcie_device))
        model, serial = model or pcie.model or pcie.name, serial or pcie.serial
    return {"model": model or proc.name or "unknown GPU", "serial": serial, "firmware": proc.firmware,
            "location": proc.location or proc.id}


async def host_interface_paths(reader: Reader, manager: Manager, system: ComputerSystem) -> set[str]:
    """EthernetInterfaces that are the BMC's own host interface (not host NICs)."""
    own = (system.ethernet_interfaces or "").rstrip("/").lower()
    paths: set[str] = set()
    for host_if in await reader.members(manager.host_interfaces):
        collection = HostInterface(host_if).host_ethernet_interfaces
        if not collection or collection.rstrip("/").lower() == own:
            # One BMC family (firmware 6.x) links HostEthernetInterfaces to the whole EthernetInterfaces collection:
            # that names no interface in particular, and excluding it would drop every host NIC.
            continue
        for eth in await reader.members(collection):
            paths.add(EthernetInterface(eth).path.rstrip("/").lower())
    return paths


async def _adapter_macs(reader: Reader, adapter: dict) -> list[dict]:
    out = []
    for doc in await reader.members(NetworkAdapter(adapter).functions):
        function = NetworkDeviceFunction(doc)
        if function.mac:
            out.append({"name": str(doc.get("Id")), "mac": function.mac, "speed_mbps": None})
    return out


async def _chassis_functions(reader: Reader, chassis: Chassis) -> list[dict]:
    adapters = await reader.members(chassis.network_adapters)
    found = await asyncio.gather(*(_adapter_macs(reader, a) for a in adapters))
    return [function for functions in found for function in functions]


async def nics(reader: Reader, system: ComputerSystem, manager: Manager, chassis: Chassis,
               profile: Profile) -> list[dict]:
    """The host NICs from EthernetInterfaces plus adapter functions (rail NICs) the interfaces do not list."""
    # The longest chain (chassis → adapters → functions) is asked first: the BMC's request slots are
    # handed out in order, and round trips, not requests, set a BMC's time.
    functions, excluded, interfaces = await asyncio.gather(
        _chassis_functions(reader, chassis),
        host_interface_paths(reader, manager, system) if profile.quirks.host_interface_macs_excluded else _set(),
        reader.members(system.ethernet_interfaces))
    out = []
    for doc in interfaces:
        eth = EthernetInterface(doc)
        if eth.path.rstrip("/").lower() in excluded or eth.host_interface:
            continue
        out.append({"name": eth.label, "mac": eth.mac, "speed_mbps": eth.speed_mbps})
    seen = {n["mac"] for n in out if n["mac"]}
    for function in functions:
        if function["mac"] not in seen:
            seen.add(function["mac"])
            out.append(function)
    return out


async def disks(reader: Reader, system: ComputerSystem) -> list[dict]:
    """Every physical disk of the system's Storage subsystems (empty bays left out); a subsystem or drive
    that cannot be read is recorded and marks the list incomplete."""
    if not system.storage:
        reader.complete = False  # the BMC offers no Storage: the disks are unknown, not "none"
        return []
    subsystems = [Storage(doc) for doc in await reader.members(system.storage)]
    found = await asyncio.gather(*(asyncio.gather(*(reader.get(p) for p in s.drives)) for s in subsystems))
    out = []
    for storage, docs in zip(subsystems, found, strict=True):
        for drive in (Drive(doc) for doc in docs if doc):
            if drive.absent:
                continue
            out.append({"id": drive.id or drive.path.rstrip("/").rsplit("/", 1)[-1], "model": drive.model,
                        "serial": drive.serial, "size_bytes": drive.size_bytes, "media": drive.media_type,
                        "rotational": drive.rotational, "protocol": drive.protocol, "wwn": drive.wwn,
                        "location": drive.location, "controller": storage.id, "state": drive.state,
                        "path": drive.path})
    return out


async def _set() -> set[str]:
    return set()


async def _chassis_of(reader: Reader, system: ComputerSystem, manager: Manager) -> tuple[Chassis, Chassis]:
    """The system's chassis (NICs, linked GPU baseboards), and the one that may stand for the node's
    identity: never a component (a card, the BMC's own module); a module only when it is the system's
    only chassis and not the BMC's (an assembly that is all a baseboard BMC knows)."""
    found = [c for c in map(Chassis, await asyncio.gather(*(reader.get(p) for p in system.chassis))) if c]
    if not found:
        return Chassis({}), Chassis({})
    whole = [c for c in found if not c.is_component]
    sole = found[0] if len(found) == 1 and found[0].is_assembly and not _same(found[0].path, manager.home or "") \
        else Chassis({})
    return found[0], (whole[0] if whole else sole)


def _identity(system: ComputerSystem, chassis: Chassis) -> tuple[dict, dict]:
    """Manufacturer, model and serial, each from the system or else the node's chassis, and where each came from."""
    values: dict[str, str] = {}
    source: dict[str, str] = {}
    for key in ("manufacturer", "model", "serial"):
        resource = system if getattr(system, key) else chassis
        if getattr(resource, key):
            values[key], source[key] = getattr(resource, key), resource.path
    return values, source


async def collect_facts(client: RedfishClient, node: str, url: str, profile: Profile, root: dict,
                        system_paths: list[str], host_path: str, manager_path: str | None,
                        hosts: list[str] | None = None) -> NodeFacts:
    """Read everything discovery records about one node (the system at ``host_path``)."""
    problems: list[dict] = []
    base, gpu_reader, nic_reader, disk_reader = (Reader(client, problems) for _ in range(4))
    system_doc, manager_doc = await asyncio.gather(client.get(host_path), base.get(manager_path))
    system, manager = ComputerSystem(system_doc), Manager(manager_doc)
    chassis, identity_chassis = await _chassis_of(base, system, manager)
    # Every independent chain starts at once, NICs first (see nics()).
    others = tuple(h.rstrip("/").rsplit("/", 1)[-1] for h in hosts or [])
    nic_list, gpus, components, disk_list = await asyncio.gather(
        nics(nic_reader, system, manager, chassis, profile),
        _all_gpus(gpu_reader, profile, system_paths, hosts or [host_path], system, chassis),
        read_components(base, root, profile.firmware_kinds, system.id, others), disks(disk_reader, system))
    firmware = {"bios": system.bios_version, "bmc": manager.firmware}
    gpu_fw = {g["firmware"] for g in gpus if g.get("firmware")}
    if len(gpu_fw) == 1:
        firmware["gpu_vbios"] = gpu_fw.pop()
    identity, provenance = _identity(system, identity_chassis)
    doc = {
        "schema": SCHEMA, "node": node, "collected_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bmc": {"url": url, "profile": profile.name, "firmware": manager.firmware, "model": manager.model,
                "manager": manager_path, "manufacturer": manager.manufacturer or known(root.get("Vendor"))},
        "system": {
            **identity, "provenance": provenance, "id": system.id, "path": host_path, "uuid": system.uuid,
            "bios_version": system.bios_version, "power_state": system.power_state,
        },
        "gpus": [{k: v for k, v in g.items() if v is not None} for g in gpus],
        "gpus_complete": gpu_reader.complete,
        "nics": [{k: v for k, v in n.items() if v is not None} for n in nic_list],
        "nics_complete": any(n["mac"] for n in nic_list) and nic_reader.complete,
        "firmware": {k: v for k, v in firmware.items() if v},
        "problems": [{k: v for k, v in p.items() if v is not None} for p in problems],
        "components": [{k: v for k, v in c.items() if v is not None} for c in components],
        "disks": [{k: v for k, v in d.items() if v is not None} for d in disk_list],
        "disks_complete": disk_reader.complete,
    }
    for section in ("bmc", "system"):
        doc[section] = {k: v for k, v in doc[section].items() if v is not None}
    return NodeFacts.model_validate(doc)


def _linked_systems(chassis: Chassis, hosts: list[str]) -> list[str]:
    """Systems other than hosts that the host's chassis links to (``Links.ComputerSystems``): a GPU
    baseboard. GPUs are never credited to a host just because it lists none and another system has some."""
    return [p for p in chassis.computer_systems if not any(_same(p, h) for h in hosts)]


async def _all_gpus(reader: Reader, profile: Profile, system_paths: list[str], hosts: list[str],
                    system: ComputerSystem, chassis: Chassis) -> list[dict]:
    others = [p for p in _linked_systems(chassis, hosts)
              if any(_same(p, s) for s in system_paths)] if profile.quirks.gpu_baseboard_systems else []

    async def in_system(path: str) -> list[dict]:
        return await gpus_in_system(reader, ComputerSystem(await reader.get(path)))

    # The linked systems (a GPU baseboard) are read alongside the host, not after it; they count only
    # when the host itself lists no GPU.
    gpus, *elsewhere = await asyncio.gather(gpus_in_system(reader, system), *(in_system(p) for p in others))
    if not gpus:
        gpus = [gpu for found in elsewhere for gpu in found]
    if not gpus and profile.gpu_finder:
        try:
            gpus = await profile.gpu_finder(reader.client, system.path)
        except DEGRADABLE as err:
            reader.record(getattr(err, "path", None) or system.path, err)
    return gpus
