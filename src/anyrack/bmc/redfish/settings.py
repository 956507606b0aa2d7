"""Virtual media, BIOS attributes and BMC users over Redfish; every write is verified by reading back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from anyrack.bmc.api import BiosState, MediaStatus
from anyrack.bmc.redfish.client import RedfishClient
from anyrack.bmc.redfish.resources.accounts import AccountService, ManagerAccount
from anyrack.bmc.redfish.resources.bios import Bios
from anyrack.bmc.redfish.resources.managers import Manager
from anyrack.bmc.redfish.resources.media import VirtualMedia
from anyrack.bmc.redfish.resources.sessions import ServiceRoot
from anyrack.bmc.redfish.resources.systems import ComputerSystem
from anyrack.errors import BmcAuthFailed, BmcVerifyFailed, Unsupported

if TYPE_CHECKING:
    from anyrack.bmc.redfish.controller import RedfishController

async def _media_slot(ctl: RedfishController) -> VirtualMedia:
    """The virtual-media member that takes CD/DVD images (under the Manager, or the System if so quirked)."""
    system = (ctl.system_path, ComputerSystem)
    manager = [(ctl.manager_path, Manager)] if ctl.manager_path else []
    owners = [system] if ctl.c.quirks.media_on_systems else [*manager, system]
    for owner, kind in owners:
        collection = kind(await ctl.c.get(owner)).virtual_media
        slots = [VirtualMedia(s) for s in await ctl.c.members(collection)]
        for slot in slots:
            if slot.takes_cd:
                return slot
        if slots:
            return slots[0]
    raise Unsupported(what="virtual media", by=ctl.node)


def _status(slot: VirtualMedia) -> MediaStatus:
    return MediaStatus(str(slot.slot_id), slot.inserted, slot.image, None)


async def media_status(ctl: RedfishController) -> MediaStatus:
    return _status(await _media_slot(ctl))


async def insert_media(ctl: RedfishController, image_url: str) -> MediaStatus:
    slot = await _media_slot(ctl)
    path = slot.path
    body: dict = {"Image": image_url}
    if ctl.c.quirks.media_send_inserted:
        body.update({"Inserted": True, "WriteProtected": True})
    if slot.insert_target:
        await ctl.c.post(slot.insert_target, body)
    else:
        await ctl.c.patch(path, {**body, "Inserted": True})
    after = _status(VirtualMedia(await ctl.c.get(path)))
    if after.image != image_url or not after.inserted:
        raise BmcVerifyFailed(node=ctl.node, what="virtual media insert", actual=after.image, wanted=image_url)
    return after


async def eject_media(ctl: RedfishController) -> MediaStatus:
    slot = await _media_slot(ctl)
    path = slot.path
    if slot.eject_target:
        await ctl.c.post(slot.eject_target, {})
    else:
        await ctl.c.patch(path, {"Image": None, "Inserted": False})
    after = _status(VirtualMedia(await ctl.c.get(path)))
    if after.inserted:
        raise BmcVerifyFailed(node=ctl.node, what="virtual media eject", actual=after.image, wanted=None)
    return after


async def _bios_paths(ctl: RedfishController) -> tuple[str, str]:
    bios_path = ComputerSystem(await ctl.c.get(ctl.system_path)).bios
    if not bios_path:
        raise Unsupported(what="BIOS attributes", by=ctl.node)
    settings = Bios(await ctl.c.get(bios_path)).settings_object
    return bios_path, settings or f"{bios_path.rstrip('/')}/{ctl.c.quirks.bios_settings_path}"


async def bios(ctl: RedfishController) -> BiosState:
    bios_path, settings_path = await _bios_paths(ctl)
    current = Bios(await ctl.c.get(bios_path)).values
    if any(isinstance(v, dict | list) for v in current.values()):
        # The Bios schema's attribute values are strings, numbers, booleans or null; a BMC that answers
        # objects ({"current_value": …, "AllowableValues": …}) keeps its BIOS in a form of its own.
        raise Unsupported(what="BIOS attributes in a non-standard form (objects, not values)", by=ctl.node)
    try:
        staged = Bios(await ctl.c.get(settings_path)).values
    except BmcAuthFailed:
        raise
    except Exception:  # noqa: BLE001 - no settings object yet means nothing is pending
        staged = {}
    pending = {k: v for k, v in staged.items() if current.get(k) != v}
    return BiosState(current, pending)


async def set_bios(ctl: RedfishController, attributes: dict[str, object]) -> BiosState:
    _, settings_path = await _bios_paths(ctl)
    await ctl.c.patch(settings_path, {"Attributes": attributes})
    state = await bios(ctl)
    for key, value in attributes.items():
        if state.pending.get(key, state.current.get(key)) != value:
            raise BmcVerifyFailed(node=ctl.node, what=f"BIOS attribute {key}",
                                  actual=state.pending.get(key, state.current.get(key)), wanted=value)
    return state


async def set_user(ctl: RedfishController, username: str, password: str, role: str) -> None:
    root = ServiceRoot(ctl.root)
    accounts_path = AccountService(await ctl.c.get(root.account_service or "/redfish/v1/AccountService")).accounts
    if not accounts_path:
        raise Unsupported(what="BMC users", by=ctl.node)
    accounts = [ManagerAccount(a) for a in await ctl.c.members(accounts_path)]
    mine = next((a for a in accounts if a.username == username), None)
    if mine:
        await ctl.c.patch(mine.path, {"Password": password})
    else:
        free = next((a for a in accounts if a.is_free_slot), None)
        body = {"UserName": username, "Password": password, "RoleId": role, "Enabled": True}
        if free:  # fixed-slot BMCs: fill an empty account instead of POSTing a new one
            await ctl.c.patch(free.path, body)
        else:
            await ctl.c.post(accounts_path, body)
    # Verify: the new credentials must log in.
    probe = RedfishClient(ctl.c.http, ctl.c.base, username, password, node=ctl.node, tls=ctl.c.tls,
                          quirks=ctl.c.quirks, use_session=False, retries=1)
    try:
        await probe.get(root.systems or "/redfish/v1/Systems")
    except BmcAuthFailed:
        raise BmcVerifyFailed(node=ctl.node, what=f"BMC user {username!r}", actual="login refused",
                              wanted="login accepted") from None
