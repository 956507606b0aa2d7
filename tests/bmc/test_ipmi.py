"""IpmiController against OpenIPMI's ipmi_sim (anyrack.lab.ipmisim) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from anyrack.bmc.api import Health
from anyrack.bmc.ipmi import IpmiController, parse_url
from anyrack.errors import AnyrackError, BmcAuthFailed, BmcUnreachable, BmcVerifyFailed, InputError, Unsupported
from anyrack.lab import ipmisim
from anyrack.lab.ipmisim import SimulatedBmc

pytestmark = [
    pytest.mark.bmc,
    pytest.mark.skipif(shutil.which("ipmi_sim") is None,
                       reason="ipmi_sim not on PATH (Debian package 'openipmi'; run scripts/system-deps)"),
]
needs_ipmitool = pytest.mark.skipif(shutil.which("ipmitool") is None,
                                    reason="ipmitool not on PATH (Debian package 'ipmitool'; run scripts/system-deps)")


@pytest.fixture
def bmc() -> Iterator[SimulatedBmc]:
    with ipmisim.simulate(1) as bmcs:
        yield bmcs[0]


def controller(bmc: SimulatedBmc, **kwargs: object) -> IpmiController:
    return IpmiController(bmc.url, bmc.username, bmc.password, node=bmc.name, quirks=bmc.quirks,
                          poll_interval=0.2, **kwargs)


def ipmitool(bmc: SimulatedBmc, *args: str) -> str:
    return subprocess.run(["ipmitool", "-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p", str(bmc.port),
                           "-U", bmc.username, "-P", bmc.password, *args],
                          capture_output=True, text=True, timeout=20, check=True).stdout


def test_url() -> None:
    assert parse_url("ipmi://10.1.0.5") == ("10.1.0.5", 623)
    assert parse_url("ipmi://127.0.0.1:9001") == ("127.0.0.1", 9001)
    assert parse_url("ipmi://[::1]:700") == ("::1", 700)
    for bad in ("redfish+https://10.1.0.5", "ipmi://", "ipmi://host:port", "ipmi://h/redfish/v1"):
        with pytest.raises(InputError, match="not an IPMI BMC address"):
            parse_url(bad)


def test_inventory_reports_the_fru_and_nothing_invented(bmc: SimulatedBmc) -> None:
    async def go() -> object:
        async with controller(bmc) as ctl:
            return await ctl.inventory("node01")

    facts = asyncio.run(go())
    assert facts.node == "node01"
    assert (facts.system.manufacturer, facts.system.model, facts.system.serial) == \
        (bmc.manufacturer, bmc.model, bmc.serial)
    assert facts.system.uuid == bmc.uuid
    assert facts.system.power_state == "On"
    assert facts.system.bios_version is None
    assert facts.bmc.url == bmc.url and facts.bmc.firmware == bmc.firmware and facts.bmc.profile is None
    assert facts.firmware == {"bmc": bmc.firmware}
    # IPMI sees the BMC's own firmware only: every other component kind is unknown, not missing
    assert [(c.kind, c.version) for c in facts.components] == [("bmc", bmc.firmware)]
    assert facts.components_complete is False
    assert (facts.gpus, facts.gpus_complete, facts.nics, facts.nics_complete) == ([], False, [], False)
    assert facts.collected_at.endswith("Z")
    doc = json.loads(facts.to_json())
    assert doc["schema"] == "anyrack.facts/v1" and "profile" not in doc["bmc"] and "bios_version" not in doc["system"]


def test_firmware_is_the_bmc_version(bmc: SimulatedBmc) -> None:
    async def go() -> list:
        async with controller(bmc) as ctl:
            return await ctl.firmware()

    [item] = asyncio.run(go())
    assert (item.id, item.name, item.version, item.kind) == ("bmc", "BMC", bmc.firmware, "bmc")


def test_power_round_trip(bmc: SimulatedBmc) -> None:
    async def go() -> None:
        async with controller(bmc) as ctl:
            assert await ctl.allowed_power_actions() == ("on", "off", "graceful_off", "cycle", "reset")
            assert await ctl.power_state() == "On"
            assert await ctl.power("off", wait=5) == "Off"
            assert not bmc.power_is_on() and await ctl.power_state() == "Off"
            assert await ctl.power("off") == "Off"  # already off: nothing sent
            assert await ctl.power("on", wait=5) == "On"
            assert bmc.power_is_on()
            calls = len(bmc.hook_calls())
            started = time.monotonic()
            assert await ctl.power("cycle", wait=10) == "On"
            assert time.monotonic() - started >= 0.5  # ipmi_sim powers back on a second after the off
            assert [c for c in bmc.hook_calls()[calls:] if c.startswith("set")] == ["set power 0", "set power 1"]
            assert await ctl.power("reset", wait=5) == "On"
            assert "set reset 1" in bmc.hook_calls()
            assert await ctl.power("graceful_off", wait=5) == "Off"
            assert "set shutdown 1" in bmc.hook_calls() and not bmc.power_is_on()
            assert await ctl.power("cycle", wait=5) == "On"  # a cycle from Off powers on

    asyncio.run(go())


def test_boot_override_round_trip(bmc: SimulatedBmc) -> None:
    async def go() -> None:
        async with controller(bmc) as ctl:
            assert (await ctl.boot_override()).target == "none"
            once = await ctl.set_boot_override("pxe")
            assert once.target == "pxe" and bmc.boot_device() == "pxe"
            assert (await ctl.boot_override()).target == "pxe"
            always = await ctl.set_boot_override("disk", persistent=True, mode="uefi")
            # ipmi_sim keeps only the device ("default" is its word for the hard disk); the
            # persistent and UEFI flags are not reported (SimulatedBmc.quirks), so they read as unknown
            assert (always.target, always.persistent, always.mode) == ("disk", False, None)
            assert bmc.boot_device() == "default"
            for target, sim_word in (("cd", "cdrom"), ("bios", "bios"), ("none", "none")):
                assert (await ctl.set_boot_override(target)).target == target
                assert bmc.boot_device() == sim_word

    asyncio.run(go())


def test_health_follows_the_sensors(bmc: SimulatedBmc) -> None:
    async def settled(ctl: IpmiController, celsius: int) -> Health:
        bmc.set_temperature(celsius)
        for _ in range(30):  # ipmi_sim polls the sensor file every 0.2 s
            health = await ctl.health()
            if health.temperatures_c.get("Inlet Temp") == celsius:
                return health
            await asyncio.sleep(0.1)
        raise AssertionError(f"the sensor never read {celsius}")

    async def go() -> None:
        async with controller(bmc) as ctl:
            assert await ctl.health() == Health("OK", "On", (), {"Inlet Temp": 25.0})
            warm = await settled(ctl, 85)
            assert warm.overall == "Warning"
            assert warm.problems == ("Inlet Temp: Warning (upper non-critical threshold)",)
            hot = await settled(ctl, 95)
            assert hot.overall == "Critical" and hot.problems[0].startswith("Inlet Temp: Critical (")
            assert (await settled(ctl, 30)).overall == "OK"

    asyncio.run(go())


def test_health_without_sensors_is_unknown() -> None:
    async def go(bmc: SimulatedBmc) -> Health:
        async with controller(bmc) as ctl:
            return await ctl.health()

    with ipmisim.simulate(1, sensors=False, power_on=False) as bmcs:
        assert asyncio.run(go(bmcs[0])) == Health("Unknown", "Off")


def test_spec_read_back_catches_the_dropped_boot_flags(bmc: SimulatedBmc) -> None:
    async def go() -> None:  # without the simulator's quirk: the 'valid' bit never comes back
        async with IpmiController(bmc.url, bmc.username, bmc.password, node=bmc.name) as ctl:
            await ctl.set_boot_override("pxe")

    with pytest.raises(BmcVerifyFailed, match=r"boot override was accepted but reads back as 'none \(once\)', "
                                              r"not 'pxe \(once\)'"):
        asyncio.run(go())
    assert bmc.boot_device() == "pxe"  # the simulator took it; only the flags were lost


def test_unsupported_verbs_name_the_verb_and_the_node(bmc: SimulatedBmc) -> None:
    async def go() -> None:
        async with controller(bmc) as ctl:
            cases = [
                ("virtual media", ctl.media_status()), ("virtual media", ctl.insert_media("http://x/a.iso")),
                ("virtual media", ctl.eject_media()), ("BIOS attributes", ctl.bios()),
                ("BIOS attributes", ctl.set_bios({"SriovGlobalEnable": "Enabled"})),
                ("BMC users", ctl.set_user("ops", "pw")),
                ("power action 'nmi'", ctl.power("nmi")),
                ("power action 'graceful_restart'", ctl.power("graceful_restart")),
                ("boot target 'http'", ctl.set_boot_override("http")),
                ("boot target 'usb'", ctl.set_boot_override("usb")),
            ]
            for verb, call in cases:
                with pytest.raises(Unsupported) as err:
                    await call
                assert verb in str(err.value) and bmc.name in str(err.value) and "ipmi" in str(err.value)

    asyncio.run(go())


def test_wrong_password_is_auth_failed(bmc: SimulatedBmc) -> None:
    async def go(username: str, password: str) -> None:
        async with IpmiController(bmc.url, username, password, node="node07", timeout=5) as ctl:
            await ctl.power_state()

    with pytest.raises(BmcAuthFailed, match=r"^node07: .*refused user 'admin'.*password"):
        asyncio.run(go(bmc.username, bmc.password + "x"))
    with pytest.raises(BmcAuthFailed, match=r"^node07: .*refused user 'nobody'"):
        asyncio.run(go("nobody", bmc.password))


def test_silent_port_is_unreachable_within_the_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there

    async def go() -> None:
        async with IpmiController(f"ipmi://127.0.0.1:{port}", "admin", "pw", node="node09", timeout=2) as ctl:
            await ctl.power_state()

    started = time.monotonic()
    with pytest.raises(BmcUnreachable, match=rf"^node09: no answer from 127\.0\.0\.1:{port}"):
        asyncio.run(go())
    assert time.monotonic() - started < 3


def test_ten_bmcs_concurrently() -> None:
    async def one(bmc: SimulatedBmc, index: int) -> tuple[str, str, str]:
        async with controller(bmc) as ctl:
            facts = await ctl.inventory(f"node{index:02d}")
            await ctl.power("off", wait=5)
            await ctl.set_boot_override("pxe")
            state = await ctl.power("on", wait=5)
            return facts.system.serial or "", state, (await ctl.boot_override()).target

    async def all_of(bmcs: list[SimulatedBmc]) -> list[tuple[str, str, str]]:
        return await asyncio.wait_for(asyncio.gather(*(one(b, i) for i, b in enumerate(bmcs))), 30)

    with ipmisim.simulate(10) as bmcs:
        assert len({b.port for b in bmcs}) == 10
        results = asyncio.run(all_of(bmcs))
        assert results == [(b.serial, "On", "pxe") for b in bmcs]
        assert all(b.power_is_on() and b.boot_device() == "pxe" for b in bmcs)


@needs_ipmitool
def test_close_logs_the_session_out(bmc: SimulatedBmc) -> None:
    def active_sessions() -> int:  # ipmitool's own session counts as one
        out = ipmitool(bmc, "session", "info", "active")
        return int(next(line for line in out.splitlines() if "active sessions" in line).split(":")[1])

    async def go() -> None:
        ctl = controller(bmc)
        await ctl.open()
        assert active_sessions() == 2
        await ctl.close()
        assert active_sessions() == 1
        await ctl.close()  # twice is harmless

    assert active_sessions() == 1
    asyncio.run(go())


def test_logging_in_again_and_a_second_controller_on_the_same_bmc(bmc: SimulatedBmc) -> None:
    async def go() -> None:
        first, second = controller(bmc), controller(bmc)
        for _ in range(3):  # pyghmi 1.6 handed out the first, dead session to every later login
            await first.open()
            assert await first.power_state() == "On"
            await first.close()
        await first.open()
        await second.open()  # pyghmi shares the session of one BMC and user between the two
        await first.close()
        assert await second.power_state() == "On"  # logs in afresh
        await second.close()

    asyncio.run(go())


@pytest.mark.parametrize("close", [True, False], ids=["closed", "never-closed"])
def test_interpreter_exits_promptly_after_use(bmc: SimulatedBmc, close: bool) -> None:
    script = textwrap.dedent(f"""
        import asyncio, sys, threading, time
        from anyrack.bmc.ipmi import IpmiController

        async def main():
            ctl = IpmiController(sys.argv[1], sys.argv[2], sys.argv[3], node="node01", timeout=5)
            await ctl.open()
            facts = await ctl.inventory("node01")
            await ctl.health()
            if {close}:
                await ctl.close()
            return facts.system.serial

        print(asyncio.run(main()))
        print([t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon
               and not t.name.startswith("anyrack-ipmi")])
        print(time.time(), flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script, bmc.url, bmc.username, bmc.password],
                          capture_output=True, text=True, timeout=60)
    exited = time.time()
    assert done.returncode == 0, done.stderr
    serial, blocking, finished = done.stdout.splitlines()
    assert (serial, blocking) == (bmc.serial, "[]")
    assert exited - float(finished) < 2, f"the interpreter took {exited - float(finished):.1f} s to exit"


@needs_ipmitool
def test_ipmitool_sees_the_same_peer(bmc: SimulatedBmc) -> None:
    assert ipmitool(bmc, "chassis", "power", "status").strip() == "Chassis Power is on"

    async def go() -> None:
        async with controller(bmc) as ctl:
            await ctl.power("off", wait=5)

    asyncio.run(go())
    assert ipmitool(bmc, "chassis", "power", "status").strip() == "Chassis Power is off"
    fru = ipmitool(bmc, "fru", "print", "0")
    assert bmc.serial in fru and bmc.model in fru and bmc.manufacturer in fru
    assert f"Firmware Revision         : {bmc.firmware}" in ipmitool(bmc, "mc", "info")


def test_missing_ipmi_sim_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(AnyrackError, match="ipmi_sim is not installed .*openipmi"), ipmisim.simulate(1):
        pass


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_simulator_cleans_up() -> None:
    with ipmisim.simulate(2) as bmcs:
        homes = [b.state_dir.parent for b in bmcs]
        assert all(h.exists() for h in homes) and not any(gone(b.pid) for b in bmcs)
    assert not any(h.exists() for h in homes)
    assert all(gone(b.pid) for b in bmcs)


def test_simulator_cleans_up_when_a_start_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    real_wait = ipmisim._wait_ready

    def second_one_silent(proc: subprocess.Popen, port: int, timeout: float) -> bool:
        started.append(proc.pid)
        return len(started) == 1 and real_wait(proc, port, timeout)

    monkeypatch.setattr(ipmisim, "_wait_ready", second_one_silent)
    with pytest.raises(AnyrackError, match=r"ipmi_sim for sim02 on 127\.0\.0\.1:\d+ did not start \(no answer"), \
            ipmisim.simulate(3, start_timeout=0.5):
        pass
    assert len(started) == 2 and all(gone(pid) for pid in started)
