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
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from anyrack.bmc.profiles import Profile
from anyrack.bmc.redfish.client import DEGRADABLE, RedfishClient
from anyrack.errors import BmcError
from anyrack.facts import SCHEMA, NodeFacts

_MAC = re.compile(r"^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$", re.I)
_UNKNOWN = {"", "n/a", "na", "none", "unknown", "not available", "null", "not specified", "default string",
            "to be filled by o.e.m."}
_PLACEHOLDER = re.compile(r"^0+$")
"""A serial of zeros ("00000000000000", recorded for every GPU of a blade in tests/fixtures) means unknown."""
COMPONENT_CHASSIS = {"Card", "Component", "Module", "Expansion", "IPBasedDrive", "StorageEnclosure", "PowerStrip",
                     "HeatExchanger", "Sidecar"}
"""ChassisType values of parts of a server (a BMC module, a riser card), not of the server itself."""
ASSEMBLY_CHASSIS = {"Module"}
"""Component types that may still stand for the node when they are all its system links to (an HGX
baseboard assembly is all a baseboard BMC knows), unless they are the BMC's own chassis."""


def known(value: Any) -> str | None:
    """``value`` as text, or None for the placeholders BMCs use for 'not known'."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in _UNKNOWN or _PLACEHOLDER.match(text) else text


def link(resource: dict, *keys: str) -> str | None:
    node: Any = resource
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, list):
        node = node[0] if node else None
    return node.get("@odata.id") if isinstance(node, dict) else None


def links(resource: dict, *keys: str) -> list[str]:
    """Every ``@odata.id`` of a link array (``Links.Chassis``), in order."""
    node: Any = resource
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    items = node if isinstance(node, list) else [node]
    return [str(i["@odata.id"]) for i in items if isinstance(i, dict) and i.get("@odata.id")]


def mac(value: Any) -> str | None:
    text = known(value)
    if not text or not _MAC.match(text):
        return None
    normal = text.lower().replace("-", ":")
    return None if normal in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff") else normal


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


async def gpus_in_system(reader: Reader, system: dict) -> list[dict]:
    processors = [p for p in await reader.members(link(system, "Processors"))
                  if str(p.get("ProcessorType", "")).upper() == "GPU"]
    return list(await asyncio.gather(*(_gpu(reader, proc) for proc in processors)))


async def _gpu(reader: Reader, proc: dict) -> dict:
    model, serial = known(proc.get("Model")), known(proc.get("SerialNumber"))
    pcie_path = link(proc, "Links", "PCIeDevice")
    if pcie_path and not (model and serial):
        # Seen on XCC: the GPU Processor has no Model; its PCIeDevice carries the name.
        pcie = await reader.get(pcie_path)
        model = model or known(pcie.get("Model")) or known(pcie.get("Name"))
        serial = serial or known(pcie.get("SerialNumber"))
    location = ((proc.get("Location") or {}).get("PartLocation") or {}).get("ServiceLabel")
    return {"model": model or known(proc.get("Name")) or "unknown GPU", "serial": serial,
            "firmware": known(proc.get("FirmwareVersion")), "location": known(location) or proc.get("Id")}


async def host_interface_paths(reader: Reader, manager: dict, system: dict) -> set[str]:
    """EthernetInterfaces that are the BMC's own host interface (not host NICs)."""
    own = (link(system, "EthernetInterfaces") or "").rstrip("/").lower()
    paths: set[str] = set()
    for host_if in await reader.members(link(manager, "HostInterfaces")):
        collection = link(host_if, "HostEthernetInterfaces")
        if not collection or collection.rstrip("/").lower() == own:
            # iDRAC9 6.x links HostEthernetInterfaces to the system's whole EthernetInterfaces collection:
            # that names no interface in particular, and excluding it would drop every host NIC.
            continue
        for eth in await reader.members(collection):
            paths.add(str(eth.get("@odata.id", "")).rstrip("/").lower())
    return paths


async def _adapter_macs(reader: Reader, adapter: dict) -> list[dict]:
    out = []
    for function in await reader.members(link(adapter, "NetworkDeviceFunctions")):
        eth = function.get("Ethernet") or {}
        address = mac(eth.get("PermanentMACAddress")) or mac(eth.get("MACAddress"))
        if address:
            out.append({"name": str(function.get("Id")), "mac": address, "speed_mbps": None})
    return out


async def _chassis_functions(reader: Reader, chassis: dict) -> list[dict]:
    adapters = await reader.members(link(chassis, "NetworkAdapters"))
    found = await asyncio.gather(*(_adapter_macs(reader, a) for a in adapters))
    return [function for functions in found for function in functions]


async def nics(reader: Reader, system: dict, manager: dict, chassis: dict, profile: Profile) -> list[dict]:
    """The host NICs from EthernetInterfaces plus adapter functions (rail NICs) the interfaces do not list."""
    # The longest chain (chassis → adapters → functions) is asked first: the BMC's request slots are
    # handed out in order, and round trips, not requests, set a BMC's time.
    functions, excluded, interfaces = await asyncio.gather(
        _chassis_functions(reader, chassis),
        host_interface_paths(reader, manager, system) if profile.quirks.host_interface_macs_excluded else _set(),
        reader.members(link(system, "EthernetInterfaces")))
    out = []
    for eth in interfaces:
        if str(eth.get("@odata.id", "")).rstrip("/").lower() in excluded or link(eth, "Links", "HostInterface"):
            continue
        speed = eth.get("SpeedMbps")
        out.append({"name": str(eth.get("Id") or eth.get("Name")), "mac": mac(eth.get("PermanentMACAddress"))
                    or mac(eth.get("MACAddress")), "speed_mbps": speed if isinstance(speed, int) and speed > 0
                    else None})
    seen = {n["mac"] for n in out if n["mac"]}
    for function in functions:
        if function["mac"] not in seen:
            seen.add(function["mac"])
            out.append(function)
    return out


async def _set() -> set[str]:
    return set()


async def _chassis_of(reader: Reader, system: dict, manager: dict) -> tuple[dict, dict]:
    """The system's chassis (NICs, linked GPU baseboards), and the one that may stand for the node's
    identity: never a component (a card, the BMC's own module); a module only when it is the system's
    only chassis and not the BMC's (an assembly that is all a baseboard BMC knows)."""
    paths = links(system, "Links", "Chassis")
    found = [c for c in await asyncio.gather(*(reader.get(p) for p in paths)) if c]
    if not found:
        return {}, {}
    whole = [c for c in found if c.get("ChassisType") not in COMPONENT_CHASSIS]
    homes = links(manager, "Links", "ManagerInChassis")
    sole = found[0] if len(found) == 1 and found[0].get("ChassisType") in ASSEMBLY_CHASSIS and \
        not any(_same(found[0].get("@odata.id", ""), h) for h in homes) else {}
    return found[0], (whole[0] if whole else sole)


def _identity(system: dict, chassis: dict) -> tuple[dict, dict]:
    """Manufacturer, model and serial, each from the system or else the node's chassis, and where each came from."""
    values: dict[str, str] = {}
    source: dict[str, str] = {}
    for key, prop in (("manufacturer", "Manufacturer"), ("model", "Model"), ("serial", "SerialNumber")):
        for resource in (system, chassis):
            value = known(resource.get(prop))
            if value:
                values[key], source[key] = value, str(resource.get("@odata.id", ""))
                break
    return values, source


async def collect_facts(client: RedfishClient, node: str, url: str, profile: Profile, root: dict,
                        system_paths: list[str], host_path: str, manager_path: str | None,
                        hosts: list[str] | None = None) -> NodeFacts:
    """Read everything discovery records about one node (the system at ``host_path``)."""
    problems: list[dict] = []
    base, gpu_reader, nic_reader = (Reader(client, problems) for _ in range(3))
    system, manager = await asyncio.gather(client.get(host_path), base.get(manager_path))
    chassis, identity_chassis = await _chassis_of(base, system, manager)
    # Every independent chain starts at once, NICs first (see nics()).
    nic_list, gpus = await asyncio.gather(
        nics(nic_reader, system, manager, chassis, profile),
        _all_gpus(gpu_reader, profile, system_paths, hosts or [host_path], system, chassis))
    firmware = {"bios": known(system.get("BiosVersion")), "bmc": known(manager.get("FirmwareVersion"))}
    gpu_fw = {g["firmware"] for g in gpus if g.get("firmware")}
    if len(gpu_fw) == 1:
        firmware["gpu_vbios"] = gpu_fw.pop()
    identity, provenance = _identity(system, identity_chassis)
    doc = {
        "schema": SCHEMA, "node": node, "collected_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bmc": {"url": url, "profile": profile.name, "firmware": known(manager.get("FirmwareVersion")),
                "model": known(manager.get("Model")), "manager": manager_path,
                "manufacturer": known(manager.get("Manufacturer")) or known(root.get("Vendor"))},
        "system": {
            **identity, "provenance": provenance, "id": known(system.get("Id")), "path": host_path,
            "uuid": known(system.get("UUID")), "bios_version": known(system.get("BiosVersion")),
            "power_state": system.get("PowerState") if system.get("PowerState") in
            ("On", "Off", "PoweringOn", "PoweringOff", "Paused") else None,
        },
        "gpus": [{k: v for k, v in g.items() if v is not None} for g in gpus],
        "gpus_complete": gpu_reader.complete,
        "nics": [{k: v for k, v in n.items() if v is not None} for n in nic_list],
        "nics_complete": any(n["mac"] for n in nic_list) and nic_reader.complete,
        "firmware": {k: v for k, v in firmware.items() if v},
        "problems": [{k: v for k, v in p.items() if v is not None} for p in problems],
    }
    for section in ("bmc", "system"):
        doc[section] = {k: v for k, v in doc[section].items() if v is not None}
    return NodeFacts.model_validate(doc)


def _linked_systems(chassis: dict, hosts: list[str]) -> list[str]:
    """Systems other than hosts that the host's chassis links to (``Links.ComputerSystems``): a GPU
    baseboard. GPUs are never credited to a host just because it lists none and another system has some."""
    return [p for p in links(chassis, "Links", "ComputerSystems") if not any(_same(p, h) for h in hosts)]


async def _all_gpus(reader: Reader, profile: Profile, system_paths: list[str], hosts: list[str], system: dict,
                    chassis: dict) -> list[dict]:
    others = [p for p in _linked_systems(chassis, hosts)
              if any(_same(p, s) for s in system_paths)] if profile.quirks.gpu_baseboard_systems else []

    async def in_system(path: str) -> list[dict]:
        return await gpus_in_system(reader, await reader.get(path))

    # The linked systems (a GPU baseboard) are read alongside the host, not after it; they count only
    # when the host itself lists no GPU.
    gpus, *elsewhere = await asyncio.gather(gpus_in_system(reader, system), *(in_system(p) for p in others))
    if not gpus:
        gpus = [gpu for found in elsewhere for gpu in found]
    if not gpus and profile.gpu_finder:
        try:
            gpus = await profile.gpu_finder(reader.client, str(system.get("@odata.id", "")))
        except DEGRADABLE as err:
            reader.record(getattr(err, "path", None) or str(system.get("@odata.id", "")), err)
    return gpus
