"""Virtual media, BIOS attributes and BMC users over Redfish; every write is verified by reading back."""

from __future__ import annotations

from anyrack.bmc.api import BiosState, MediaStatus
from anyrack.bmc.redfish.client import RedfishClient
from anyrack.bmc.redfish.resources.accounts import AccountService, ManagerAccount
from anyrack.bmc.redfish.resources.bios import Bios
from anyrack.bmc.redfish.resources.managers import Manager
from anyrack.bmc.redfish.resources.media import VirtualMedia
from anyrack.bmc.redfish.resources.sessions import ServiceRoot
from anyrack.bmc.redfish.resources.systems import ComputerSystem
from anyrack.bmc.redfish.target import Target
from anyrack.errors import BmcAuthFailed, BmcVerifyFailed, Unsupported


async def _media_slot(bmc: Target) -> VirtualMedia:
    """The virtual-media member that takes CD/DVD images (under the Manager, or the System if so quirked)."""
    system = (bmc.system, ComputerSystem)
    manager = [(bmc.manager, Manager)] if bmc.manager else []
    owners = [system] if bmc.client.quirks.media_on_systems else [*manager, system]
    for owner, kind in owners:
        collection = kind(await bmc.client.get(owner)).virtual_media
        slots = [VirtualMedia(s) for s in await bmc.client.members(collection)]
        for slot in slots:
            if slot.takes_cd:
                return slot
        if slots:
            return slots[0]
    raise Unsupported(what="virtual media", by=bmc.node)


def _status(slot: VirtualMedia) -> MediaStatus:
    return MediaStatus(str(slot.slot_id), slot.inserted, slot.image, None)


async def media_status(bmc: Target) -> MediaStatus:
    return _status(await _media_slot(bmc))


async def insert_media(bmc: Target, image_url: str) -> MediaStatus:
    slot = await _media_slot(bmc)
    path = slot.path
    body: dict = {"Image": image_url}
    if bmc.client.quirks.media_send_inserted:
        body.update({"Inserted": True, "WriteProtected": True})
    if slot.insert_target:
        await bmc.client.post(slot.insert_target, body)
    else:
        await bmc.client.patch(path, {**body, "Inserted": True})
    after = _status(VirtualMedia(await bmc.client.get(path)))
    if after.image != image_url or not after.inserted:
        raise BmcVerifyFailed(node=bmc.node, what="virtual media insert", actual=after.image, wanted=image_url)
    return after


async def eject_media(bmc: Target) -> MediaStatus:
    slot = await _media_slot(bmc)
    path = slot.path
    if slot.eject_target:
        await bmc.client.post(slot.eject_target, {})
    else:
        await bmc.client.patch(path, {"Image": None, "Inserted": False})
    after = _status(VirtualMedia(await bmc.client.get(path)))
    if after.inserted:
        raise BmcVerifyFailed(node=bmc.node, what="virtual media eject", actual=after.image, wanted=None)
    return after


async def _bios_paths(bmc: Target) -> tuple[str, str]:
    bios_path = ComputerSystem(await bmc.client.get(bmc.system)).bios
    if not bios_path:
        raise Unsupported(what="BIOS attributes", by=bmc.node)
    settings = Bios(await bmc.client.get(bios_path)).settings_object
    return bios_path, settings or f"{bios_path.rstrip('/')}/{bmc.client.quirks.bios_settings_path}"


async def bios(bmc: Target) -> BiosState:
    bios_path, settings_path = await _bios_paths(bmc)
    current = Bios(await bmc.client.get(bios_path)).values
    if any(isinstance(v, dict | list) for v in current.values()):
        # The Bios schema's attribute values are strings, numbers, booleans or null; a BMC that answers
        # objects ({"current_value": …, "AllowableValues": …}) keeps its BIOS in a form of its own.
        raise Unsupported(what="BIOS attributes in a non-standard form (objects, not values)", by=bmc.node)
    try:
        staged = Bios(await bmc.client.get(settings_path)).values
    except BmcAuthFailed:
        raise
    except Exception:  # noqa: BLE001 - no settings object yet means nothing is pending
        staged = {}
    pending = {k: v for k, v in staged.items() if current.get(k) != v}
    return BiosState(current, pending)


async def set_bios(bmc: Target, attributes: dict[str, object]) -> BiosState:
    _, settings_path = await _bios_paths(bmc)
    await bmc.client.patch(settings_path, {"Attributes": attributes})
    state = await bios(bmc)
    for key, value in attributes.items():
        if state.pending.get(key, state.current.get(key)) != value:
            raise BmcVerifyFailed(node=bmc.node, what=f"BIOS attribute {key}",
                                  actual=state.pending.get(key, state.current.get(key)), wanted=value)
    return state


async def set_user(bmc: Target, username: str, password: str, role: str) -> None:
    root = ServiceRoot(bmc.root)
    accounts_path = AccountService(await bmc.client.get(root.account_service or "/redfish/v1/AccountService")).accounts
    if not accounts_path:
        raise Unsupported(what="BMC users", by=bmc.node)
    accounts = [ManagerAccount(a) for a in await bmc.client.members(accounts_path)]
    mine = next((a for a in accounts if a.username == username), None)
    if mine:
        await bmc.client.patch(mine.path, {"Password": password})
    else:
        free = next((a for a in accounts if a.is_free_slot), None)
        body = {"UserName": username, "Password": password, "RoleId": role, "Enabled": True}
        if free:  # fixed-slot BMCs: fill an empty account instead of POSTing a new one
            await bmc.client.patch(free.path, body)
        else:
            await bmc.client.post(accounts_path, body)
    # Verify: the new credentials must log in.
    probe = RedfishClient(bmc.client.http, bmc.client.base, username, password, node=bmc.node, tls=bmc.client.tls,
                          quirks=bmc.client.quirks, use_session=False, retries=1)
    try:
        await probe.get(root.systems or "/redfish/v1/Systems")
    except BmcAuthFailed:
        raise BmcVerifyFailed(node=bmc.node, what=f"BMC user {username!r}", actual="login refused",
                              wanted="login accepted") from None
