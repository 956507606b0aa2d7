"""Redfish → discovered facts (anyrack.facts/v1), complete on every layout the profiles know.

GPUs are looked for, in order: Processors of type GPU in the host system; the same in any other
ComputerSystem (a GPU baseboard); the profile's own finder (OEM resources). MACs come from the
host's EthernetInterfaces (never the BMC's host interface), else from the chassis NetworkAdapters.
Nothing is invented: what the BMC does not say stays absent, and ``*_complete`` says so.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

from anyrack.bmc.profiles import Profile
from anyrack.bmc.redfish.client import RedfishClient
from anyrack.facts import SCHEMA, NodeFacts

_MAC = re.compile(r"^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$", re.I)
_UNKNOWN = {"", "n/a", "na", "none", "unknown", "not available", "0", "null"}


def known(value: Any) -> str | None:
    """``value`` as text, or None for the placeholders BMCs use for 'not known'."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in _UNKNOWN else text


def link(resource: dict, *keys: str) -> str | None:
    node: Any = resource
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, list):
        node = node[0] if node else None
    return node.get("@odata.id") if isinstance(node, dict) else None


def mac(value: Any) -> str | None:
    text = known(value)
    if not text or not _MAC.match(text):
        return None
    normal = text.lower().replace("-", ":")
    return None if normal in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff") else normal


async def gpus_in_system(client: RedfishClient, system: dict) -> list[dict]:
    processors = [p for p in await client.members(link(system, "Processors"))
                  if str(p.get("ProcessorType", "")).upper() == "GPU"]
    return list(await asyncio.gather(*(_gpu(client, proc) for proc in processors)))


async def _gpu(client: RedfishClient, proc: dict) -> dict:
    model, serial = known(proc.get("Model")), known(proc.get("SerialNumber"))
    pcie_path = link(proc, "Links", "PCIeDevice")
    if pcie_path and not (model and serial):
        # Seen on XCC: the GPU Processor has no Model; its PCIeDevice carries the name.
        pcie = await client.get(pcie_path)
        model = model or known(pcie.get("Model")) or known(pcie.get("Name"))
        serial = serial or known(pcie.get("SerialNumber"))
    location = ((proc.get("Location") or {}).get("PartLocation") or {}).get("ServiceLabel")
    return {"model": model or known(proc.get("Name")) or "unknown GPU", "serial": serial,
            "firmware": known(proc.get("FirmwareVersion")), "location": known(location) or proc.get("Id")}


async def host_interface_paths(client: RedfishClient, manager: dict, system: dict) -> set[str]:
    """EthernetInterfaces that are the BMC's own host interface (not host NICs)."""
    own = (link(system, "EthernetInterfaces") or "").rstrip("/").lower()
    paths: set[str] = set()
    for host_if in await client.members(link(manager, "HostInterfaces")):
        collection = link(host_if, "HostEthernetInterfaces")
        if not collection or collection.rstrip("/").lower() == own:
            # iDRAC9 6.x links HostEthernetInterfaces to the system's whole EthernetInterfaces collection:
            # that names no interface in particular, and excluding it would drop every host NIC.
            continue
        for eth in await client.members(collection):
            paths.add(str(eth.get("@odata.id", "")).rstrip("/").lower())
    return paths


async def _adapter_macs(client: RedfishClient, adapter: dict) -> list[dict]:
    out = []
    for function in await client.members(link(adapter, "NetworkDeviceFunctions")):
        eth = function.get("Ethernet") or {}
        address = mac(eth.get("PermanentMACAddress")) or mac(eth.get("MACAddress"))
        if address:
            out.append({"name": str(function.get("Id")), "mac": address, "speed_mbps": None})
    return out


async def _chassis_functions(client: RedfishClient, chassis_path: str | None) -> tuple[dict, list[dict]]:
    chassis = await client.get(chassis_path) if chassis_path else {}
    adapters = await client.members(link(chassis, "NetworkAdapters"))
    found = await asyncio.gather(*(_adapter_macs(client, a) for a in adapters))
    return chassis, [function for functions in found for function in functions]


async def nics(client: RedfishClient, system: dict, manager: dict, chassis_path: str | None,
               profile: Profile) -> tuple[dict, list[dict]]:
    """The chassis, and the host NICs from EthernetInterfaces plus adapter functions (rail NICs) the
    interfaces do not list."""
    # The longest chain (chassis → adapters → functions) is asked first: the BMC's request slots are
    # handed out in order, and round trips, not requests, set a BMC's time.
    (chassis, functions), excluded, interfaces = await asyncio.gather(
        _chassis_functions(client, chassis_path),
        host_interface_paths(client, manager, system) if profile.quirks.host_interface_macs_excluded else _set(),
        client.members(link(system, "EthernetInterfaces")))
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
    return chassis, out


async def _set() -> set[str]:
    return set()


async def collect_facts(client: RedfishClient, node: str, url: str, profile: Profile, root: dict,
                        system_paths: list[str], host_path: str, manager_path: str | None) -> NodeFacts:
    """Read everything discovery records about one node."""
    system, manager = await asyncio.gather(client.get(host_path), client.get(manager_path) if manager_path
                                           else _empty())
    # Every independent chain starts at once, NICs first (see nics()).
    (chassis, nic_list), gpus = await asyncio.gather(
        nics(client, system, manager, link(system, "Links", "Chassis"), profile),
        _all_gpus(client, profile, system_paths, host_path, system))
    firmware = {"bios": known(system.get("BiosVersion")), "bmc": known(manager.get("FirmwareVersion"))}
    gpu_fw = {g["firmware"] for g in gpus if g.get("firmware")}
    if len(gpu_fw) == 1:
        firmware["gpu_vbios"] = gpu_fw.pop()
    doc = {
        "schema": SCHEMA, "node": node, "collected_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bmc": {"url": url, "profile": profile.name, "firmware": known(manager.get("FirmwareVersion")),
                "model": known(manager.get("Model")),
                "manufacturer": known(manager.get("Manufacturer")) or known(root.get("Vendor"))},
        "system": {
            "manufacturer": known(system.get("Manufacturer")) or known(chassis.get("Manufacturer")),
            "model": known(system.get("Model")) or known(chassis.get("Model")),
            "serial": known(system.get("SerialNumber")) or known(chassis.get("SerialNumber")),
            "uuid": known(system.get("UUID")), "bios_version": known(system.get("BiosVersion")),
            "power_state": system.get("PowerState") if system.get("PowerState") in
            ("On", "Off", "PoweringOn", "PoweringOff", "Paused") else None,
        },
        "gpus": [{k: v for k, v in g.items() if v is not None} for g in gpus],
        "nics": [{k: v for k, v in n.items() if v is not None} for n in nic_list],
        "nics_complete": any(n["mac"] for n in nic_list),
        "firmware": {k: v for k, v in firmware.items() if v},
    }
    for section in ("bmc", "system"):
        doc[section] = {k: v for k, v in doc[section].items() if v is not None}
    return NodeFacts.model_validate(doc)


async def _all_gpus(client: RedfishClient, profile: Profile, system_paths: list[str], host_path: str,
                    system: dict) -> list[dict]:
    others = [p for p in system_paths if p != host_path] if profile.quirks.gpu_baseboard_systems else []

    async def in_system(path: str) -> list[dict]:
        return await gpus_in_system(client, await client.get(path))

    # The other systems (a GPU baseboard) are read alongside the host, not after it; they count only
    # when the host itself lists no GPU.
    gpus, *elsewhere = await asyncio.gather(gpus_in_system(client, system), *(in_system(p) for p in others))
    if not gpus:
        gpus = [gpu for found in elsewhere for gpu in found]
    if not gpus and profile.gpu_finder:
        gpus = await profile.gpu_finder(client, host_path)
    return gpus


async def _empty() -> dict:
    return {}
