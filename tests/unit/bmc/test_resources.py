"""Declared Redfish resources: fields read where they are declared, placeholders are None, and each
value says which resource it came from."""

from __future__ import annotations

import pytest

from anyrack.bmc.redfish.resources import Field, Link, Links, Resource
from anyrack.bmc.redfish.resources.accounts import AccountService, ManagerAccount
from anyrack.bmc.redfish.resources.bios import Bios
from anyrack.bmc.redfish.resources.chassis import Chassis
from anyrack.bmc.redfish.resources.managers import Manager
from anyrack.bmc.redfish.resources.media import VirtualMedia
from anyrack.bmc.redfish.resources.network import EthernetInterface, HostInterface, NetworkDeviceFunction
from anyrack.bmc.redfish.resources.processors import PCIeDevice, Processor
from anyrack.bmc.redfish.resources.sessions import ServiceRoot
from anyrack.bmc.redfish.resources.storage import Drive, Storage
from anyrack.bmc.redfish.resources.systems import ComputerSystem

GPU = {"@odata.id": "/redfish/v1/Systems/Node0/Processors/GPU0", "Id": "GPU0", "ProcessorType": "GPU",
       "Model": "AMD INSTINCT MI200 (MCM) OAM LC", "SerialNumber": "00000000000000",
       "Location": {"PartLocation": {"ServiceLabel": "OAM 1"}},
       "Links": {"PCIeDevice": {"@odata.id": "/redfish/v1/Chassis/1/PCIeDevices/3"}}}


def test_a_processor_reads_its_declared_fields() -> None:
    gpu = Processor(GPU)
    assert (gpu.is_gpu, gpu.model, gpu.location, gpu.pcie_device, gpu.id) == (
        True, "AMD INSTINCT MI200 (MCM) OAM LC", "OAM 1", "/redfish/v1/Chassis/1/PCIeDevices/3", "GPU0")
    assert gpu.serial is None and gpu.firmware is None  # zeros are a placeholder; absent is absent
    assert gpu.source("model") == "/redfish/v1/Systems/Node0/Processors/GPU0"
    assert gpu.source("serial") is None
    assert not Processor({"ProcessorType": "CPU"}).is_gpu
    assert PCIeDevice({"Name": "GA102GL", "SerialNumber": "N/A"}).name == "GA102GL"
    assert PCIeDevice({"Name": "GA102GL", "SerialNumber": "N/A"}).serial is None


def test_chassis_kinds_and_links() -> None:
    card = Chassis({"@odata.id": "/redfish/v1/Chassis/Mezz0", "ChassisType": "Card", "SerialNumber": "DW20430411"})
    blade = Chassis({"ChassisType": "Blade", "Links": {"ComputerSystems": [{"@odata.id": "/redfish/v1/Systems/1"},
                                                                           {"@odata.id": "/redfish/v1/Systems/GPU"}]}})
    module = Chassis({"ChassisType": "Module"})
    assert (card.is_component, blade.is_component, module.is_component, module.is_assembly) == (True, False, True,
                                                                                                 True)
    assert blade.computer_systems == ["/redfish/v1/Systems/1", "/redfish/v1/Systems/GPU"]
    assert card.computer_systems == [] and card.network_adapters is None
    assert not Chassis(None) and Chassis(None).serial is None


def test_fields_declared_on_a_new_resource() -> None:
    class Sample(Resource):
        raw = Field("Nested", "Value", raw=True)
        text = Field("Nested", "Value")
        first = Link("Many")
        every = Links("Many")

    sample = Sample({"Nested": {"Value": "N/A"}, "Many": [{"@odata.id": "/a"}, {"@odata.id": "/b"}, {}]})
    assert (sample.raw, sample.text, sample.first, sample.every) == ("N/A", None, "/a", ["/a", "/b"])
    assert Sample.text.path == ("Nested", "Value") and Sample.text.name == "text"


def test_a_manager_says_which_hosts_it_manages() -> None:
    bmc = Manager({"ManagerType": "EnclosureManager", "FirmwareVersion": "N/A", "Links": {
        "ManagerForServers": [{"@odata.id": "/redfish/v1/Systems/Node2"}, {"@odata.id": "/redfish/v1/Systems/Node0"}],
        "ManagerInChassis": {"@odata.id": "/redfish/v1/Chassis/Enclosure"}}})
    mcu = Manager({"ManagerType": "AuxiliaryController"})
    assert bmc.manages("/redfish/v1/Systems/Node0/") and not bmc.manages("/redfish/v1/Systems/Node1")
    assert (bmc.is_auxiliary, mcu.is_auxiliary, bmc.home, bmc.firmware) == (False, True,
                                                                            "/redfish/v1/Chassis/Enclosure", None)
    assert not mcu.manages("/redfish/v1/Systems/Node0")


def test_a_computer_system_reads_identity_boot_and_reset() -> None:
    node = ComputerSystem({"@odata.id": "/redfish/v1/Systems/Node2", "SerialNumber": "PR12378794", "PowerState": "On",
                           "Boot": {"BootOrder": ["ME0-PXE-IP4"]}, "Status": {"Health": "OK"},
                           "Actions": {"#ComputerSystem.Reset": {"ResetType@Redfish.AllowableValues": ["On"],
                                                                 "target": "/redfish/v1/Systems/Node2/Reset"}}})
    baseboard = ComputerSystem({"Id": "HGX_Baseboard_0", "PowerState": "Booting", "UUID": "N/A"})
    assert (node.system_id, node.is_host, node.serial, node.power_state, node.health) == (
        "Node2", True, "PR12378794", "On", "OK")
    assert (node.boot_target, node.reset_types, node.reset_target) == (None, ["On"], "/redfish/v1/Systems/Node2/Reset")
    assert (baseboard.system_id, baseboard.is_host, baseboard.power_state, baseboard.uuid) == (
        "HGX_Baseboard_0", False, None, None)
    assert node.chassis == [] and node.managed_by == []


def test_network_resources_read_macs_speeds_and_host_interface_links() -> None:
    nic = EthernetInterface({"@odata.id": "/s/1/E/1", "Id": "NIC.1", "PermanentMACAddress": "00:00:00:00:00:00",
                             "MACAddress": "B8-CE-F6-0A-0B-0C", "SpeedMbps": 0})
    assert (nic.mac, nic.speed_mbps, nic.label, nic.host_interface) == ("b8:ce:f6:0a:0b:0c", None, "NIC.1", None)
    usb = EthernetInterface({"Name": "usb0", "SpeedMbps": 100, "Links": {"HostInterface": {"@odata.id": "/m/H/1"}}})
    assert (usb.label, usb.speed_mbps, usb.host_interface, usb.mac) == ("usb0", 100, "/m/H/1", None)
    port = NetworkDeviceFunction({"Ethernet": {"PermanentMACAddress": "N/A", "MACAddress": "08:c0:eb:53:c9:f0"}})
    assert port.mac == "08:c0:eb:53:c9:f0"
    assert HostInterface({"HostEthernetInterfaces": {"@odata.id": "/m/H/1/E"}}).host_ethernet_interfaces == "/m/H/1/E"


def test_media_bios_accounts_and_service_root() -> None:
    slot = VirtualMedia({"@odata.id": "/m/VM/CD", "Id": "CD", "Image": "None", "MediaTypes": ["CD", "DVD"],
                         "Actions": {"#VirtualMedia.InsertMedia": {"target": "/m/VM/CD/Actions/Insert"}}})
    assert (slot.image, slot.inserted, slot.takes_cd, slot.insert_target, slot.eject_target) == (
        None, False, True, "/m/VM/CD/Actions/Insert", None)
    assert VirtualMedia({"Image": "http://x/a.iso", "Inserted": False, "MediaTypes": ["USBStick"]}).inserted is False
    bios = Bios({"Attributes": {"BootMode": "Uefi"}, "@Redfish.Settings": {"SettingsObject": {"@odata.id": "/B/S"}}})
    assert (bios.values, bios.settings_object, Bios({"@Redfish.Settings": {}}).settings_object) == (
        {"BootMode": "Uefi"}, "/B/S", None)
    assert AccountService({"Accounts": {"@odata.id": "/A/Accounts"}}).accounts == "/A/Accounts"
    slots = [ManagerAccount({"Id": "1", "UserName": ""}), ManagerAccount({"Id": "3", "UserName": ""}),
             ManagerAccount({"Id": "2", "UserName": "admin"})]
    assert [a.is_free_slot for a in slots] == [False, True, False]
    root = ServiceRoot({"Systems": {"@odata.id": "/redfish/v1/Systems"},
                        "Links": {"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"}}})
    assert (root.systems, root.sessions, root.managers) == ("/redfish/v1/Systems",
                                                           "/redfish/v1/SessionService/Sessions", None)


@pytest.mark.parametrize(("identifiers", "wwn"), [
    ([{"DurableName": "31402EC014CD7DB0", "DurableNameFormat": "NAA"}], "31402ec014cd7db0"),  # as recorded (iLO 5)
    ([{"DurableName": "00-25-38-8B-11-11-00-00", "DurableNameFormat": "EUI"}], "eui.0025388b11110000"),
    ([{"DurableName": "", "DurableNameFormat": "UUID"}], None),  # as recorded (XCC): not a WWN, and empty
    ([{"DurableName": None, "DurableNameFormat": None}], None),  # as recorded (iDRAC 9)
    (None, None),
])
def test_a_drive_wwn_as_lsblk_writes_it(identifiers: object, wwn: str | None) -> None:
    assert Drive({"Identifiers": identifiers}).wwn == wwn


def test_a_drive_fields_and_its_subsystem() -> None:
    drive = Drive({"@odata.id": "/redfish/v1/Systems/1/Storage/S/Drives/0", "Id": "0", "SerialNumber": "S4  ",
                   "CapacityBytes": 960197124096, "MediaType": "HDD", "Status": {"State": "Absent"},
                   "PhysicalLocation": {"PartLocation": {"LocationType": "Slot", "LocationOrdinalValue": 2}}})
    assert (drive.serial, drive.size_bytes, drive.rotational, drive.absent, drive.location) == (
        "S4", 960197124096, True, True, "Slot 2")
    assert (Drive({"CapacityBytes": 0}).size_bytes, Drive({"MediaType": "SSD"}).rotational, Drive({}).rotational) \
        == (None, False, None)
    storage = Storage({"Drives": [{"@odata.id": "/a"}, {"@odata.id": "/b"}], "StorageControllers": [
        {"Model": "VMD"}, {"Model": "N/A"}]})
    assert (storage.drives, storage.controller_models) == (["/a", "/b"], ["VMD"])


def test_update_service_methods_inventory_members_and_tasks() -> None:
    """The update side as declared fields: advertised methods and pull protocols, a member's version with the
    placeholders and control characters BMCs send, and a task's state, messages and activation hint."""
    from anyrack.bmc.redfish.resources.updates import SoftwareInventory, Task, UpdateService

    service = UpdateService({"MultipartHttpPushUri": "/redfish/v1/UpdateService/upload", "HttpPushUri": "",
                             "FirmwareInventory": {"@odata.id": "/redfish/v1/UpdateService/FirmwareInventory"},
                             "Actions": {"#UpdateService.SimpleUpdate": {
                                 "target": "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                                 "TransferProtocol@Redfish.AllowableValues": ["HTTP", "HTTPS"]}}})
    assert service.methods == {"multipart": "/redfish/v1/UpdateService/upload",
                               "simple": "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"}
    assert service.pull_protocols == ["HTTP", "HTTPS"]
    assert service.firmware_inventory == "/redfish/v1/UpdateService/FirmwareInventory"
    assert UpdateService({}).methods == {} and UpdateService({}).pull_protocols == []

    member = SoftwareInventory({"@odata.id": "/redfish/v1/UpdateService/FirmwareInventory/Disk0", "Version": "1.2\x14",
                                "Updateable": "yes", "RelatedItem": [{"@odata.id": "/redfish/v1/Chassis/1/Drives/0"}]})
    assert (member.member_id, member.version, member.updateable, member.related) == \
        ("Disk0", "1.2", None, ["/redfish/v1/Chassis/1/Drives/0"])
    assert SoftwareInventory({"Id": "BMC", "Version": "undefined", "Updateable": False}).version is None
    assert SoftwareInventory({"Id": "BMC", "Version": "N/A", "Updateable": False}).updateable is False

    task = Task({"TaskState": "Completed", "PercentComplete": 100, "Messages": [
        {"MessageId": "Update.1.1.AwaitToActivate", "Message": "Reset to apply."}, "junk"]})
    assert (task.state, task.percent) == ("Completed", 100)
    assert task.says("AwaitToActivate") and not task.says("UpdateSuccessful")
    assert task.summary == "Reset to apply. [AwaitToActivate]"
    assert Task({}).messages == [] and Task({}).summary == ""
