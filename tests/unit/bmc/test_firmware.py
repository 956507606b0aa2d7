"""Firmware pieces that need no BMC: component kinds, bundle manifests, the choice of update method."""

from __future__ import annotations

import pytest

from anyrack.bmc.firmware.bundle import BundleError, image_ok, make_bundle, read_manifest
from anyrack.bmc.firmware.kinds import classify
from anyrack.bmc.firmware.update import Bundle, UpdateFailed, advertised, choose, multipart
from anyrack.bmc.profiles import get_profile


@pytest.mark.parametrize(("member_id", "name", "profile", "kind"), [
    ("HGX_FW_GPU_SXM_1", "Software Inventory", "openbmc", "gpu"),
    ("HGX_FW_BMC_0", "Software Inventory", "openbmc", "bmc"),
    ("Installed-25227-6.00.30.00__iDRAC.Embedded.1-1", "Integrated Dell Remote Access Controller", "dell", "bmc"),
    ("Previous-159-1.2.4__BIOS.Setup.1-1", "BIOS", "dell", "ignore"),
    ("Installed-25806-4301A56__Diagnostics.Embedded.1:LC.Embedded.1", "Dell 64 Bit uEFI Diagnostics", "dell",
     "other"),
    ("25", "NVIDIA NV Switch", "hpe", "nvswitch"), ("24", "NVIDIA HGX A100 8 GPU 40", "hpe", "other"),
    ("16", "NVIDIA A100-SXM4-40GB", "hpe", "gpu"), ("2", "System ROM", "hpe", "bios"),
    ("10", "Redundant System ROM", "hpe", "ignore"), ("4", "System Programmable Logic Device", "hpe", "cpld"),
    ("BMC-Backup", "Firmware:BMC", "lenovo", "ignore"), ("UEFI", "Firmware:UEFI", "lenovo", "bios"),
    ("PSU1", "POWER-PSU1", "lenovo", "psu"), ("PCIeRetimer_0", "Software Inventory", "generic", "retimer"),
    ("Node0.ManagementEthernet", "Node0.ManagementEthernet", "generic", "nic"),
    ("Bootloader", "Bootloader", "generic", "other"),
])
def test_kinds(member_id: str, name: str, profile: str, kind: str) -> None:
    assert classify(member_id, name, get_profile(profile).firmware_kinds) == kind


def test_bundle_manifest() -> None:
    data = make_bundle("1.2.3", ["BIOS"], b"payload")
    assert read_manifest(data).targets == ("BIOS",) and image_ok(data)
    assert not image_ok(data[:-1] + b"X")
    for bad, why in ((b"\x7fELF binary", "no anyrack manifest"), (b'{"a": 1}\n', "not an anyrack manifest"),
                     (b'{"anyrack_bundle": 1, "version": 7, "targets": ["x"]}\n', "'version' must be"),
                     (b'{"anyrack_bundle": 1, "version": "1", "targets": []}\n', "'targets' must be")):
        with pytest.raises(BundleError, match=why):
            read_manifest(bad)


def test_method_choice() -> None:
    data = make_bundle("1", ["BIOS"])
    pushed, pulled = Bundle(read_manifest(data), data), Bundle(read_manifest(data), data, "http://10.0.0.1/b.bin")
    every = {"MultipartHttpPushUri": "/m", "HttpPushUri": "/p",
             "Actions": {"#UpdateService.SimpleUpdate": {"target": "/s"}}}
    assert advertised(every) == {"multipart": "/m", "simple": "/s", "push": "/p"}
    assert choose(every, pushed, "n1") == ("multipart", "/m")
    assert choose(every, pulled, "n1") == ("simple", "/s")
    assert choose(every, pulled, "n1", "push") == ("push", "/p")
    with pytest.raises(UpdateFailed, match="n1: the BMC's UpdateService advertises no update method"):
        choose({"FirmwareInventory": {}}, pushed, "n1")
    with pytest.raises(UpdateFailed, match="does not advertise multipart"):
        choose({"HttpPushUri": "/p"}, pushed, "n1", "multipart")


def test_multipart_body() -> None:
    body, content_type = multipart({"Targets": ["/redfish/v1/UpdateService/FirmwareInventory/BIOS"]}, b"IMAGE")
    boundary = content_type.split("boundary=", 1)[1]
    assert body.startswith(f"--{boundary}\r\n".encode()) and body.endswith(f"--{boundary}--\r\n".encode())
    assert b'name="UpdateParameters"\r\nContent-Type: application/json\r\n\r\n{"Targets": ' in body
    assert b'name="UpdateFile"; filename="bundle.bin"' in body and b"\r\n\r\nIMAGE\r\n" in body
