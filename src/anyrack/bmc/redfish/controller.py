"""The BMC verb set over Redfish, with the detected (or named) vendor profile's quirks applied."""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit

import aiohttp

from anyrack.bmc import api
from anyrack.bmc.api import BootOverride, Controller, FirmwareItem, Health, PowerState
from anyrack.bmc.firmware.inventory import components
from anyrack.bmc.profiles import Profile, RootInfo, detect_profile, get_profile
from anyrack.bmc.redfish import settings
from anyrack.bmc.redfish.client import RedfishClient, expand_query, ssl_context
from anyrack.bmc.redfish.inventory import collect_facts, link
from anyrack.bmc.redfish.resources.chassis import Chassis
from anyrack.bmc.redfish.resources.managers import Manager
from anyrack.bmc.redfish.resources.sessions import ServiceRoot
from anyrack.bmc.redfish.resources.systems import ComputerSystem
from anyrack.bmc.redfish.resources.updates import UpdateService
from anyrack.bmc.redfish.target import Target
from anyrack.errors import BmcError, BmcVerifyFailed, Unsupported
from anyrack.facts import NodeFacts

log = logging.getLogger(__name__)

BOOT_TARGETS = {"none": "None", "pxe": "Pxe", "http": "UefiHttp", "cd": "Cd", "disk": "Hdd", "bios": "BiosSetup",
                "usb": "Usb"}
_FROM_REDFISH = {v: k for k, v in BOOT_TARGETS.items()}
_FINAL_STATE = {"on": "On", "off": "Off", "graceful_off": "Off", "cycle": "On", "reset": "On",
                "graceful_restart": "On"}


def http_base(url: str) -> str:
    """``redfish+https://10.0.0.5:443`` → ``https://10.0.0.5:443``."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[-1] if parts.scheme.startswith("redfish") else parts.scheme
    return f"{scheme}://{parts.netloc}"


_WARNED_HTTP: set[str] = set()


def warn_plain_http(base: str) -> None:
    """Warn once per BMC that its password goes over plain HTTP."""
    if base not in _WARNED_HTTP:
        _WARNED_HTTP.add(base)
        log.warning("%s: plain HTTP (redfish+http, allowed in the site file): the BMC password is sent in clear "
                    "text", base)


def system_id(system: dict) -> str:
    """A ComputerSystem's id: its ``Id``, else the last part of its path."""
    return ComputerSystem(system).system_id


class RedfishController(Controller):
    transport = "redfish"

    def __init__(self, url: str, username: str, password: str, *, node: str | None = None,
                 http: aiohttp.ClientSession | None = None, ca_file: str | None = None, insecure: bool = False,
                 profile: str | Profile | None = None, timeout: float = 30.0, retries: int = 4, backoff: float = 0.5,
                 poll_interval: float = 5.0, system: str | None = None) -> None:
        super().__init__(url, node)
        self.system_id = system
        """The ComputerSystem id this controller acts on (a BMC may manage several hosts); None: the only one."""
        self.systems: dict[str, str] = {}
        """Every host system the BMC lists, id → path (GPU baseboards without Boot are not hosts)."""
        self._http, self._own_http = http, http is None
        self._explicit_profile = profile
        if insecure:
            log.warning("%s: TLS verification is off for this BMC (insecure)", self.node)
        if http_base(url).startswith("http:"):
            warn_plain_http(http_base(url))
        self._client_args = dict(username=username, password=password, node=self.node,
                                 tls=ssl_context(ca_file, insecure), use_session=True, timeout=timeout,
                                 retries=retries, backoff=backoff)
        self.poll_interval = poll_interval
        self.client: RedfishClient | None = None
        self.profile: Profile | None = None
        self.root: dict = {}
        self.system_paths: list[str] = []
        self.system_path = ""
        self.manager_path: str | None = None
        self._warm: dict[str, dict] | None = None

    # session -----------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8))
        self.client = RedfishClient(self._http, http_base(self.url), **self._client_args)
        self.root = await self.client.connect()
        # What open() reads is kept for an inventory() that follows (one read-only pass), then dropped.
        self.client.cache = self._warm = {}
        self.client.expand = expand_query(self.root)
        root = ServiceRoot(self.root)
        managers_path, chassis_path = root.managers, root.chassis
        if self.client.expand:
            # Expanded collections cost one round trip each, in parallel: managers and chassis come
            # along with the systems, ready for an inventory().
            systems, managers, _chassis = await asyncio.gather(
                self.client.members(root.systems), self.client.members(managers_path),
                self.client.members(chassis_path))
            manager_paths = [m["@odata.id"] for m in managers]
        else:
            systems, manager_paths = await asyncio.gather(self.client.members(root.systems),
                                                          self._manager_paths(managers_path))
        info = RootInfo.from_root(self.root, tuple(str(s.get("Id")) for s in systems),
                                  tuple(p.rstrip("/").rsplit("/", 1)[-1] for p in manager_paths))
        explicit = self._explicit_profile
        self.profile = (get_profile(explicit) if isinstance(explicit, str) else explicit) or detect_profile(info)
        self.client.with_quirks(self.profile.quirks)
        if not systems:
            raise BmcError(node=self.node, detail="the BMC lists no ComputerSystem")
        self.system_paths = [s["@odata.id"] for s in systems]
        host = self._host(systems)
        self.system_path = host["@odata.id"]
        self.manager_path = await self._manager_of(host, manager_paths)
        self.client.cache = None

    def _host(self, systems: list[dict]) -> dict:
        """The system this node is: the one named by ``system``, else the only one that can be booted (a GPU
        baseboard system has no Boot property); a BMC with several hosts needs the name."""
        hosts = [s for s in systems if ComputerSystem(s).is_host] or systems[:1]
        self.systems = {system_id(s): s["@odata.id"] for s in hosts}
        if self.system_id is not None:
            found = [s for s in systems if system_id(s) == self.system_id] or \
                [s for s in systems if system_id(s).lower() == self.system_id.lower()]
            if not found:
                raise BmcError(node=self.node, detail=f"the BMC has no system {self.system_id!r} (it lists: "
                                                      f"{', '.join(system_id(s) for s in systems)})")
            return found[0]
        if len(hosts) > 1:
            names = ", ".join(sorted(self.systems))
            raise BmcError(node=self.node, detail=f"the BMC manages {len(hosts)} hosts ({names}): name this node's "
                                                  "one as bmc.system in the site file")
        return hosts[0]

    async def _manager_of(self, host: dict, manager_paths: list[str]) -> str | None:
        """The host's own manager: the one its ``Links.ManagedBy`` names, else the one whose
        ``ManagerForServers`` lists it, else the first that is not an auxiliary controller. A service may
        list others first (sushy-tools lists a manager per libvirt domain; a blade enclosure lists the
        micro-controllers of its boards, ManagerType AuxiliaryController, beside its BMC)."""
        listed = {p.rstrip("/"): p for p in manager_paths}
        managed_by = [listed[m.rstrip("/")] for m in ComputerSystem(host).managed_by if m.rstrip("/") in listed]
        if managed_by or len(manager_paths) < 2:
            return (managed_by or manager_paths or [None])[0]
        managers = [Manager(m) for m in await asyncio.gather(*(self.c.get(p) for p in manager_paths))]
        return next((p for p, m in zip(manager_paths, managers, strict=True) if m.manages(host["@odata.id"])),
                    next((p for p, m in zip(manager_paths, managers, strict=True) if not m.is_auxiliary),
                         manager_paths[0]))

    async def _manager_paths(self, managers_path: str | None) -> list[str]:
        """The managers' paths; the first manager is read too (an inventory needs it), in the same pass."""
        collection = await self.c.get(managers_path) if managers_path else {}
        paths = [m["@odata.id"] for m in collection.get("Members") or [] if isinstance(m, dict) and "@odata.id" in m]
        if paths:
            await self.c.get(paths[0])
        return paths

    async def close(self) -> None:
        try:
            if self.client:
                await self.client.logout()
        finally:
            if self._own_http and self._http is not None:
                await self._http.close()
                self._http = None

    @property
    def target(self) -> Target:
        """This node on its BMC, for the verbs in settings.py."""
        return Target(self.c, self.node, self.root, self.system_path, self.manager_path)

    @property
    def c(self) -> RedfishClient:
        if self.client is None:
            raise BmcError(node=self.node, detail="not connected (use 'async with')")
        return self.client

    # facts -------------------------------------------------------------------------------------
    async def inventory(self, node: str) -> NodeFacts:
        assert self.profile is not None
        self.c.cache, self._warm = (self._warm if self._warm is not None else {}), None
        try:
            return await collect_facts(self.c, node, self.url, self.profile, self.root, self.system_paths,
                                       self.system_path, self.manager_path, list(self.systems.values()))
        finally:
            self.c.cache = None

    # power -------------------------------------------------------------------------------------
    async def power_state(self) -> PowerState:
        return ComputerSystem(await self.c.get(self.system_path)).power_state or "Unknown"  # type: ignore[return-value]

    async def _reset_types(self) -> tuple[str, ...]:
        system = ComputerSystem(await self.c.get(self.system_path))
        allowed = system.reset_types
        if allowed is None and system.reset_info:
            info = await self.c.get(system.reset_info)
            for param in info.get("Parameters") or []:
                if param.get("Name") == "ResetType":
                    allowed = param.get("AllowableValues")
        return tuple(allowed or ())

    async def allowed_power_actions(self) -> tuple[str, ...]:
        allowed = await self._reset_types()
        if not allowed:
            return tuple(api.RESET_TYPES)
        return tuple(a for a, types in api.RESET_TYPES.items() if any(t in allowed for t in types))

    async def power(self, action: api.PowerAction, wait: float = 0) -> PowerState:
        if action not in api.RESET_TYPES:
            raise BmcError(node=self.node, detail=f"unknown power action {action!r}")
        current = await self.power_state()
        if (action == "on" and current == "On") or (action in ("off", "graceful_off") and current == "Off"):
            return current
        allowed = await self._reset_types()
        choices = [t for t in api.RESET_TYPES[action] if not allowed or t in allowed]
        if not choices:
            raise Unsupported(what=f"power {action}", by=f"{self.node} (allowed ResetType: {', '.join(allowed)})")
        target = ComputerSystem(await self.c.get(self.system_path)).reset_target or \
            f"{self.system_path.rstrip('/')}/Actions/ComputerSystem.Reset"
        await self.c.post(target, {"ResetType": choices[0]})
        if wait <= 0:
            return await self.power_state()
        return await self._wait_power(_FINAL_STATE.get(action, "On"), wait, action)

    async def _wait_power(self, wanted: str, wait: float, action: str) -> PowerState:
        deadline = time.monotonic() + wait
        pause = 0.25  # quick first looks, then back off to poll_interval: BMC CPUs are slow and shared
        while True:
            state = await self.power_state()
            if state == wanted:
                return state
            if time.monotonic() >= deadline:
                raise BmcVerifyFailed(node=self.node, what=f"power {action}", actual=state, wanted=wanted)
            await asyncio.sleep(min(pause, max(deadline - time.monotonic(), 0.01)))
            pause = min(pause * 2, self.poll_interval)

    # boot --------------------------------------------------------------------------------------
    def _from_redfish(self) -> dict[str, str]:
        """Redfish boot target → anyrack's; the virtual-media target of the profile (UsbCd) reads as ``cd``."""
        return {**_FROM_REDFISH, self.c.quirks.media_boot_target: "cd"}

    async def boot_override(self) -> BootOverride:
        system = ComputerSystem(await self.c.get(self.system_path))
        enabled = system.boot_enabled or "Disabled"
        names = self._from_redfish()
        target = names.get(system.boot_target or "None", "none")
        mode = {"UEFI": "uefi", "Legacy": "legacy"}.get(system.boot_mode or "")
        allowed = tuple(dict.fromkeys(names[v] for v in system.boot_targets or [] if v in names))
        return BootOverride("none" if enabled == "Disabled" else target, enabled == "Continuous", mode, allowed)

    async def set_boot_override(self, target: api.BootTarget, persistent: bool = False,
                                mode: api.BootMode | None = None) -> BootOverride:
        if target not in BOOT_TARGETS:
            raise BmcError(node=self.node, detail=f"unknown boot target {target!r} ({', '.join(BOOT_TARGETS)})")
        if ComputerSystem(await self.c.get(self.system_path)).boot_target is None:
            # The system's Boot has no BootSourceOverrideTarget (recorded on blade nodes that boot by their
            # BootOrder only): a PATCH would be refused with PropertyUnknown.
            raise Unsupported(what="a boot override", by=f"{self.node} (its Boot has no BootSourceOverrideTarget)")
        before = await self.boot_override()
        if before.allowed and target != "none" and target not in before.allowed:
            raise Unsupported(what=f"boot target {target!r}", by=f"{self.node} (allowed: {', '.join(before.allowed)})")
        enabled = ComputerSystem(await self.c.get(self.system_path)).boot_enabled_values
        if persistent and enabled and "Continuous" not in enabled:
            raise Unsupported(what="a persistent boot override", by=f"{self.node} (allowed: {', '.join(enabled)})")
        boot: dict = {"BootSourceOverrideTarget": await self._boot_target(target),
                      "BootSourceOverrideEnabled": "Disabled" if target == "none" else
                      ("Continuous" if persistent else "Once")}
        if mode and not self.c.quirks.boot_mode_rejected:
            boot["BootSourceOverrideMode"] = {"uefi": "UEFI", "legacy": "Legacy"}[mode]
        await self.c.patch(self.system_path, {"Boot": boot})
        after = await self.boot_override()
        # a BMC that keeps every override persistent: "once" reads back continuous, which callers expect
        once_kept = not persistent and after.persistent and self.c.quirks.boot_once_is_continuous
        if after.target != target or (target != "none" and after.persistent != persistent and not once_kept):
            raise BmcVerifyFailed(node=self.node, what="boot override",
                                  actual=f"{after.target} ({'continuous' if after.persistent else 'once'})",
                                  wanted=f"{target} ({'continuous' if persistent else 'once'})")
        return after

    async def _boot_target(self, target: api.BootTarget) -> str:
        """The Redfish value for ``target``: for ``cd``, the profile's virtual-media target where the system
        allows it (some boards boot the virtual-media image only as UsbCd), else Cd."""
        quirk = self.c.quirks.media_boot_target
        if target == "cd" and quirk != BOOT_TARGETS["cd"]:
            allowed = ComputerSystem(await self.c.get(self.system_path)).boot_targets or []
            if quirk in allowed:
                return quirk
        return BOOT_TARGETS[target]

    # virtual media and BIOS live in settings.py -------------------------------------------------
    async def media_status(self) -> api.MediaStatus:
        return await settings.media_status(self.target)

    async def insert_media(self, image_url: str) -> api.MediaStatus:
        return await settings.insert_media(self.target, image_url)

    async def eject_media(self) -> api.MediaStatus:
        return await settings.eject_media(self.target)

    async def bios(self) -> api.BiosState:
        return await settings.bios(self.target)

    async def set_bios(self, attributes: dict[str, object]) -> api.BiosState:
        return await settings.set_bios(self.target, attributes)

    async def set_user(self, username: str, password: str, role: str = "Administrator") -> None:
        await settings.set_user(self.target, username, password, role)

    # firmware and health -----------------------------------------------------------------------
    async def firmware(self) -> list[FirmwareItem]:
        """This node's firmware images by component kind (docs/firmware.md)."""
        assert self.profile is not None
        update = UpdateService(await self.c.get(link(self.root, "UpdateService") or "/redfish/v1/UpdateService"))
        found = components(await self.c.members(update.firmware_inventory), self.profile.firmware_kinds,
                           self.system_id or next(iter(self.systems), None), tuple(self.systems))
        return [FirmwareItem(c["id"], c["name"], c["version"] or "", c["updateable"], c["kind"], c["path"])
                for c in found]

    async def health(self) -> Health:
        system = ComputerSystem(await self.c.get(self.system_path))
        overall = system.health_rollup or system.health or "Unknown"
        problems = []
        chassis_path = next(iter(system.chassis), None)
        temps: dict[str, float] = {}
        if chassis_path:
            chassis = Chassis(await self.c.get(chassis_path))
            thermal = await self.c.get(chassis.thermal) if chassis.thermal else {}
            for sensor in thermal.get("Temperatures") or []:
                name = str(sensor.get("Name") or sensor.get("MemberId"))
                if isinstance(sensor.get("ReadingCelsius"), int | float):
                    temps[name] = float(sensor["ReadingCelsius"])
                health = (sensor.get("Status") or {}).get("Health")
                if health and health != "OK":
                    problems.append(f"{name}: {health}")
            for fan in thermal.get("Fans") or []:
                health = (fan.get("Status") or {}).get("Health")
                if health and health != "OK":
                    problems.append(f"{fan.get('Name') or fan.get('MemberId')}: {health}")
        overall = overall if overall in ("OK", "Warning", "Critical") else "Unknown"
        return Health(overall, await self.power_state(), tuple(problems), temps)
