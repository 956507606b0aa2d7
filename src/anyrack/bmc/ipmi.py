"""The BMC verb set over IPMI 2.0 (RMCP+, through pyghmi): power, boot device, FRU identity, sensors.

IPMI has no GPUs, host NICs, virtual media, BIOS attributes or BIOS/device firmware: those verbs (and
``set_user``) raise :class:`~anyrack.errors.Unsupported`. Verbs run on a shared thread pool, one at a
time per BMC, under a deadline; the event loop never blocks (docs/ipmi.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import threading
import time
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from pyghmi import exceptions as pyghmi_errors
from pyghmi.ipmi import fru as ipmi_fru

from anyrack.bmc import api
from anyrack.bmc.api import BootOverride, Controller, FirmwareItem, Health, PowerState
from anyrack.bmc.ipmi_session import Command, Pyghmi, bmc_lock, executor, parse_url
from anyrack.errors import AnyrackError, BmcAuthFailed, BmcError, BmcUnreachable, BmcVerifyFailed
from anyrack.facts import SCHEMA, NodeFacts

log = logging.getLogger(__name__)
T = TypeVar("T")

IDLE_RELOGIN_S = 20.0  # an idle session is replaced: BMCs drop them after ~60 s and nothing keeps it alive

BOOT_DEVICES = {"none": "default", "pxe": "network", "disk": "hd", "cd": "optical", "bios": "setup"}  # → pyghmi
# boot flags device selector (boot option parameter 5, data 2 bits 5:2): 3 is disk in safe mode, 15 removable media
_SELECTOR: dict[int, api.BootTarget] = {0: "none", 1: "pxe", 2: "disk", 3: "disk", 5: "cd", 6: "bios", 15: "usb"}
# pyghmi set_power states; cycle is chassis control 02h, for which pyghmi has no name
_POWER_STATES = {"on": "on", "off": "off", "graceful_off": "shutdown", "reset": "reset"}
_FINAL_STATE: dict[str, PowerState] = {"on": "On", "off": "Off", "graceful_off": "Off", "cycle": "On", "reset": "On"}
_AUTH_ERRORS = ("Incorrect password", "Unauthorized name", "Unauthorized role", "Invalid role",  # RAKP status
                "Insufficient resources", "Unauthorized GUID", "Invalid username")  # or no free session
_NO_ANSWER = ("", "None", "timeout", "Session no longer connected", "Session failed to initialize",
              "Unable to transmit to specified address")
_NO_FRU = (0x81, 0xC3, 0xC9, 0xCB, 0xCC, 0xD5)  # Get FRU Inventory Area Info: no such FRU
_HEALTH = ((4, "Critical"), (2, "Critical"), (1, "Warning"))  # pyghmi health bits, worst first


@dataclass(frozen=True)
class IpmiQuirks:
    """Named switches for the ways an IPMI BMC departs from the spec; every default is spec behaviour."""

    boot_flags_unreported: bool = False
    """Boot flags come back with the device but never the valid, persistent or UEFI bit (OpenIPMI ipmi_sim
    2.0.33, whose chassis_control hook gets the device only): verify the device; persistent reads False."""


class IpmiController(Controller):
    """One BMC over IPMI 2.0 LAN (RMCP+). ``timeout`` bounds each verb's BMC exchanges, login included."""

    transport = "ipmi"

    def __init__(self, url: str, username: str, password: str, node: str | None = None, timeout: float = 10,
                 *, quirks: IpmiQuirks | None = None, poll_interval: float = 1.0) -> None:
        super().__init__(url, node)
        self.host, self.port = parse_url(url)
        self.timeout = timeout
        self.quirks = quirks or IpmiQuirks()
        self.poll_interval = poll_interval
        self._username, self._password = username, password
        self._cmd: Command | None = None
        self._used = 0.0  # when the session last answered
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        await self._call("login", lambda cmd: None)

    async def close(self) -> None:
        with contextlib.suppress(BmcError):  # the BMC drops an unused session on its own after a minute
            await self._call("logout", None)

    async def _call(self, what: str, fn: Callable[[Command], T] | None) -> T | None:
        """Run ``fn(command)`` on the pool with a live session (``None``: log out), within ``timeout`` s."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            started = loop.create_future()

            def job() -> T:
                loop.call_soon_threadsafe(lambda: started.done() or started.set_result(None))
                with bmc_lock(self.host, self.port, self._username):
                    return self._logout() if fn is None else self._in_thread(what, fn)

            future = loop.run_in_executor(executor(), job)
            await asyncio.wait((started, future), return_when=asyncio.FIRST_COMPLETED)  # queue time is free
            try:
                return await asyncio.wait_for(future, self.timeout)
            except TimeoutError:
                raise BmcUnreachable(node=self.node, detail=f"no answer from {self.host}:{self.port} within "
                                                            f"{self.timeout:g} s ({what})") from None
            finally:
                started.cancel()
                future.cancel()  # still queued only when this task was cancelled

    def _in_thread(self, what: str, fn: Callable[[Command], T]) -> T:
        try:
            result = fn(self._session())
            self._used = time.monotonic()
            return result
        except AnyrackError:
            raise
        except (pyghmi_errors.PyghmiException, OSError, IndexError, struct.error, AssertionError) as err:
            failure = self._failure(what, err)
            if isinstance(failure, BmcUnreachable):
                self._logout()  # a request may still be pending in that session: the next call starts afresh
            raise failure from err

    def _session(self) -> Command:
        if self._cmd is not None and time.monotonic() - self._used > IDLE_RELOGIN_S:
            self._logout()
        cmd = self._cmd
        if cmd is None or not cmd.ipmi_session.logged or cmd.ipmi_session.broken:
            cmd = self._cmd = self._login()  # also after another controller logged the shared session out
        return cmd

    def _login(self) -> Command:
        """Log in through pyghmi's callback form. Credentials go in as bytes: pyghmi 1.6 files a login
        under them as given but removes it as bytes, so with str later logins got the first, dead one."""
        answered, answer = threading.Event(), {}

        def onlogon(response: dict, _cmd: object) -> None:
            answer.setdefault("response", response)
            answered.set()

        try:
            with Pyghmi.exchange():
                with Pyghmi.lock:
                    cmd = Command(bmc=self.host, userid=self._username.encode(), password=self._password.encode(),
                                   port=self.port, onlogon=onlogon)
                cmd.reply_timeout = self.timeout
                answered.wait(self.timeout)
        except (pyghmi_errors.PyghmiException, OSError) as err:
            raise self._failure("login", err) from err
        error = answer.get("response", {"error": "timeout"}).get("error")
        if error is not None:
            raise self._failure("login", pyghmi_errors.IpmiException(error))
        if not cmd.ipmi_session.logged or cmd.ipmi_session.broken:
            raise BmcError(node=self.node, detail=f"login to {self.host}:{self.port}: pyghmi returned a dead session")
        self._used = time.monotonic()
        return cmd

    def _logout(self) -> None:
        cmd, self._cmd = self._cmd, None
        if cmd is not None and cmd.ipmi_session.logged and not cmd.ipmi_session.broken:
            with Pyghmi.lock, contextlib.suppress(pyghmi_errors.PyghmiException, OSError):
                cmd.ipmi_session.logout()  # sends Close Session without waiting for the reply

    def _failure(self, what: str, err: Exception) -> BmcError:
        text, where = str(err), f"{self.host}:{self.port}"
        if not isinstance(err, pyghmi_errors.PyghmiException | OSError):  # a short or malformed reply
            return BmcError(node=self.node, detail=f"{what}: malformed IPMI reply ({type(err).__name__}: {err})")
        if text.startswith(_AUTH_ERRORS):
            return BmcAuthFailed(node=self.node, detail=f"{where} refused user {self._username!r} ({what}): {text}")
        if isinstance(err, OSError) or text in _NO_ANSWER:
            cause = text if text not in ("", "None") else "no IPMI reply over UDP"
            return BmcUnreachable(node=self.node, detail=f"no answer from {where} ({what}): {cause}")
        return BmcError(node=self.node, detail=f"{what}: {text}")

    async def inventory(self, node: str) -> NodeFacts:
        """FRU 0 identity, BMC firmware, power state; GPUs and host NICs are beyond IPMI (marked incomplete)."""
        fru, firmware, system_uuid = await self._call("inventory", self._identity)
        power = await self.power_state()
        system = {"manufacturer": _text(fru.get("Manufacturer")), "model": _text(fru.get("Product name")),
                  "serial": _text(fru.get("Serial Number")), "uuid": system_uuid,
                  "power_state": power if power != "Unknown" else None}
        return NodeFacts.model_validate({
            "schema": SCHEMA, "node": node, "collected_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "bmc": {"url": self.url, "firmware": firmware}, "system": {k: v for k, v in system.items() if v},
            "gpus": [], "gpus_complete": False, "nics": [], "nics_complete": False,
            "disks": [], "disks_complete": False, "firmware": {"bmc": firmware},
            "components": [{"id": "bmc", "name": "BMC", "kind": "bmc", "version": firmware}],
            "components_complete": False})

    async def firmware(self) -> list[FirmwareItem]:
        """The BMC's own firmware (Get Device ID); IPMI has no standard view of BIOS or device firmware."""
        return [FirmwareItem(id="bmc", name="BMC", version=await self._call("firmware inventory", _bmc_firmware),
                             kind="bmc")]

    def _identity(self, cmd: Command) -> tuple[dict, str, str | None]:
        """FRU 0 as pyghmi parses it (``{}`` when the BMC has none), BMC firmware, system GUID."""
        try:
            fru = ipmi_fru.FRU(ipmicmd=cmd, fruid=0).info or {}
        except pyghmi_errors.IpmiException as err:
            if err.ipmicode not in _NO_FRU:
                raise
            fru = {}
        guid = cmd.raw_command(netfn=6, command=0x37)  # Get System GUID (an optional command)
        raw = bytes(guid.get("data") or b"")
        system_uuid = None
        if "error" not in guid and len(raw) == 16 and raw not in (bytes(16), b"\xff" * 16):
            system_uuid = str(uuid.UUID(bytes_le=raw))  # SMBIOS byte order, as dmidecode and Redfish show it
        return fru, _bmc_firmware(cmd), system_uuid

    async def health(self) -> Health:
        """Health from the sensors (SDR thresholds, discrete states); ``Unknown`` without an SDR repository."""
        readings = await self._call("health summary", _sensor_readings)
        power = await self.power_state()
        if readings is None:
            return Health(overall="Unknown", power_state=power)
        worst, problems, temperatures = 0, [], {}
        for reading in readings:
            worst |= reading.health
            if reading.health:
                states = f" ({', '.join(reading.states)})" if reading.states else ""
                problems.append(f"{reading.name}: {_health_word(reading.health)}{states}")
            if reading.type == "Temperature" and isinstance(reading.value, int | float) and reading.units == "°C":
                temperatures[reading.name] = float(reading.value)
        return Health(_health_word(worst), power, tuple(problems), temperatures)

    async def power_state(self) -> PowerState:
        state = await self._call("power state", lambda cmd: cmd.get_power()["powerstate"])
        return {"on": "On", "off": "Off"}.get(state, "Unknown")

    async def allowed_power_actions(self) -> tuple[str, ...]:
        """What IPMI chassis control offers every BMC (it cannot list what one accepts)."""
        return tuple(_FINAL_STATE)

    async def power(self, action: api.PowerAction, wait: float = 0) -> PowerState:
        """Do ``action`` (cycle from Off powers on); ``wait`` > 0: poll for the final state (BmcError after)."""
        if action not in _FINAL_STATE:
            raise self._unsupported(f"power action {action!r}")
        current = await self.power_state()
        if (action == "on" and current == "On") or (action in ("off", "graceful_off") and current == "Off"):
            return current
        await self._call(f"power {action}", lambda cmd: _chassis_control(cmd, action, current))
        deadline = time.monotonic() + wait
        while True:
            state = await self.power_state()
            if wait <= 0 or state == _FINAL_STATE[action]:
                return state
            if time.monotonic() >= deadline:
                raise BmcError(node=self.node, detail=f"power {action}: still {state} after {wait:g} s "
                                                      f"(wanted {_FINAL_STATE[action]})")
            await asyncio.sleep(min(self.poll_interval, max(0.0, deadline - time.monotonic())))

    async def boot_override(self) -> BootOverride:
        data = await self._call("boot override", _boot_flags)
        valid, persistent, uefi = bool(data[2] & 0x80), bool(data[2] & 0x40), bool(data[2] & 0x20)
        if not (valid or self.quirks.boot_flags_unreported):
            return BootOverride("none", persistent=False)  # 'boot flags valid' clear: no override
        if (target := _SELECTOR.get((data[3] >> 2) & 0x0F)) is None:
            raise BmcError(node=self.node, detail=f"boot override: device selector {data[3] >> 2 & 15:#x} is unknown")
        if self.quirks.boot_flags_unreported or target == "none":
            return BootOverride(target, persistent=False)
        return BootOverride(target, persistent, "uefi" if uefi else "legacy")

    async def set_boot_override(self, target: api.BootTarget, persistent: bool = False,
                                mode: api.BootMode | None = None) -> BootOverride:
        """Set the next (or every) boot's device and read it back (BmcVerifyFailed if it differs)."""
        if target not in BOOT_DEVICES:
            raise self._unsupported(f"boot target {target!r}")
        await self._call(f"set boot override {target}",
                         lambda cmd: _set_bootdev(cmd, BOOT_DEVICES[target], persistent, mode))
        after = await self.boot_override()
        flags_known = target != "none" and not self.quirks.boot_flags_unreported
        if after.target != target or (flags_known and (after.persistent != persistent
                                                       or (mode is not None and after.mode != mode))):
            raise BmcVerifyFailed(node=self.node, what="boot override", actual=_describe(after),
                                  wanted=_describe(BootOverride(target, persistent, mode)))
        return after


def _bmc_firmware(cmd: Command) -> str:
    """BMC firmware from Get Device ID: major (binary) . minor (two BCD digits), as ipmitool prints it."""
    data = cmd.xraw_command(netfn=6, command=1)["data"]
    return f"{data[2] & 0x7F}.{data[3]:02x}"


def _sensor_readings(cmd: Command) -> list | None:
    """Every sensor reading (pyghmi SensorReading), or None when the BMC has no SDR repository to read."""
    try:
        return list(cmd.get_sensor_data())
    except (NotImplementedError, pyghmi_errors.IpmiException) as err:  # pyghmi reads SDR version 51h only
        if isinstance(err, NotImplementedError) or err.ipmicode in (0xC1, 0xCB, 0xD4) \
                or str(err).startswith("Requested sensor, data, or record not"):  # Get SDR's code is dropped
            return None
        raise


def _health_word(bits: int) -> typing.Literal["OK", "Warning", "Critical"]:
    return next((word for bit, word in _HEALTH if bits & bit), "OK")  # type: ignore[return-value]


def _chassis_control(cmd: Command, action: str, current: str) -> None:
    if action == "cycle" and current == "Off":
        cmd.set_power("on")  # a power cycle does nothing while off (IPMI 2.0, 28.3); on is where a cycle ends
    elif action == "cycle":
        cmd.xraw_command(netfn=0, command=2, data=[2])  # Chassis Control: power cycle
    else:
        cmd.set_power(_POWER_STATES[action])


def _boot_flags(cmd: Command) -> bytes:
    """Get System Boot Options, parameter 5 (boot flags): version, parameter, data 1..5."""
    data = bytes(cmd.xraw_command(netfn=0, command=9, data=(5, 0, 0))["data"])
    if len(data) < 4 or data[1] & 0x7F != 5:
        raise pyghmi_errors.IpmiException(f"boot flags reply is malformed: {data.hex()}")
    return data


def _set_bootdev(cmd: Command, device: str, persistent: bool, mode: str | None) -> None:
    result = cmd.set_bootdev(device, persist=persistent, uefiboot=mode == "uefi")
    if isinstance(result, dict) and "error" in result:  # pyghmi returns some errors instead of raising
        raise pyghmi_errors.IpmiException(result["error"])


def _describe(boot: BootOverride) -> str:
    return f"{boot.target} ({'persistent' if boot.persistent else 'once'}{', ' + boot.mode if boot.mode else ''})"


def _text(value: object) -> str | None:  # a FRU text field; None when absent, binary or blank
    return value.strip() or None if isinstance(value, str) else None
