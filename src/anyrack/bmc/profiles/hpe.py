"""HPE iLO 5 and iLO 6."""

from __future__ import annotations

import asyncio
from typing import Any

from anyrack.bmc.profiles import Profile, RootInfo
from anyrack.bmc.quirks import Quirks

# PCI class 0x03 (display controller), subclass 0x02 (3D controller): data-centre GPUs. The iLO's
# own VGA (subclass 0x00) and NVSwitches (class 0x06, bridge) are not GPUs.
_GPU_CLASS, _GPU_SUBCLASS = 3, 2


def _detect(info: RootInfo) -> bool:
    return info.says("hpe", "hewlett packard enterprise") or "Hp" in info.oem


def _link(resource: dict, *keys: str) -> str | None:
    node: Any = resource
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node.get("@odata.id") if isinstance(node, dict) else None


async def find_gpus(client: Any, system_path: str) -> list[dict]:
    """iLO 5 lists GPUs only in OEM resources: PCIDevices (class codes) and Chassis Devices (serials).

    Seen on ProLiant XL675d Gen10 Plus, iLO 5 2.6x: Processors holds the CPUs only.
    """
    system = await client.get(system_path)
    chassis_links = (system.get("Links") or {}).get("Chassis") or []
    chassis_paths = [c["@odata.id"] for c in chassis_links if isinstance(c, dict) and "@odata.id" in c]
    pci, *chassis = await asyncio.gather(client.members(_link(system, "Oem", "Hpe", "Links", "PCIDevices")),
                                         *(client.get(p) for p in chassis_paths))
    gpu_pci = {d.get("@odata.id", "").rstrip("/"): d for d in pci
               if d.get("ClassCode") == _GPU_CLASS and d.get("SubclassCode") == _GPU_SUBCLASS}
    if not gpu_pci:
        return []
    devices = [d for found in await asyncio.gather(*(client.members(_link(c, "Oem", "Hpe", "Links", "Devices"))
                                                     for c in chassis)) for d in found]
    by_pci: dict[str, dict] = {}
    for device in devices:
        for instance in device.get("DeviceInstances") or []:
            by_pci[str(instance.get("@odata.id", "")).rstrip("/")] = device
    gpus = []
    for path, pci_device in sorted(gpu_pci.items(), key=lambda kv: kv[1].get("LocationString", "")):
        device = by_pci.get(path, {})
        firmware = ((device.get("FirmwareVersion") or {}).get("Current") or {}).get("VersionString")
        gpus.append({
            "model": device.get("Name") or pci_device.get("Name"),
            "serial": device.get("SerialNumber") or None,
            "firmware": firmware if firmware not in (None, "", "N/A") else None,
            "location": device.get("Location") or pci_device.get("LocationString"),
        })
    return gpus


PROFILE = Profile(
    # iLO 5 2.70: "iLO 5" is the BMC, "System ROM" the BIOS ("Redundant System ROM" its backup image), the
    # HGX baseboard, the NVSwitch and each GPU appear by product name only.
    firmware_kinds=((r"Redundant System ROM", "ignore"), (r"(^|\s)iLO", "bmc"), (r"System ROM", "bios"),
                    (r"NV ?Switch", "nvswitch"), (r"HGX", "other"), (r"NVIDIA", "gpu")),
    name="hpe",
    detect=_detect,
    description="HPE iLO 5/6",
    gpu_finder=find_gpus,
    quirks=Quirks(
        # iLO 5: a Boot PATCH naming BootSourceOverrideMode is refused (the mode is a BIOS setting).
        boot_mode_rejected=True,
        # iLO 5/6: pending BIOS changes go to bios/settings (lowercase; links are used as given).
        bios_settings_path="settings",
        # iLO 5 2.x+: PATCH needs If-Match.
        etag_required=True,
        # iLO: InvalidOperationForSystemState while the server is in POST.
        transient_message_ids=("InvalidOperationForSystemState",),
    ),
)
