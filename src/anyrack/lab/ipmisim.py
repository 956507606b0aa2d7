"""The lab's IPMI side: OpenIPMI's ``ipmi_sim`` serving simulated BMCs on 127.0.0.1.

Each simulated BMC is one ``ipmi_sim`` process on its own UDP port, with its own ``lan.conf``,
emulator command file, FRU 0 image (manufacturer, model, serial chosen per BMC) and state
directory. ``ipmi_sim`` has no chassis of its own: power and boot-device commands go to a
``chassis_control`` hook script that keeps them in files (``power``: ``0``/``1``; ``boot``: the
simulator's device name), so changes persist between calls and tests can read them back::

    with ipmisim.simulate(3) as bmcs:
        bmc = bmcs[0]
        async with IpmiController(bmc.url, bmc.username, bmc.password, node=bmc.name,
                                  quirks=bmc.quirks) as ctl:
            await ctl.power("off")
        assert not bmc.power_is_on()

What the simulator cannot do is listed in ``docs/ipmi.md`` (its boot flags carry the device only:
no valid, persistent or UEFI bit, hence ``SimulatedBmc.quirks``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from anyrack.bmc.ipmi import IpmiQuirks
from anyrack.errors import AnyrackError, InputError

HOST = "127.0.0.1"
ENTERPRISE_NUMBER = 32473
"""The simulated BMCs' IANA manufacturer ID: RFC 5612's number reserved for documentation."""
MANUFACTURER = "Anyrack Lab Systems"
MODELS = ("LAB-G8-A", "LAB-G8-B", "LAB-G4-C")
INLET_NOMINAL = 25
INLET_LIMITS = (80, 90)
"""Inlet temperature thresholds, °C: upper non-critical (warning), upper critical."""
SIM_QUIRKS = IpmiQuirks(boot_flags_unreported=True)
"""``ipmi_sim`` returns the boot device selector but never the valid, persistent or UEFI bits."""

_HOOK = r"""#!/bin/sh
# chassis_control hook of one simulated BMC, written by anyrack.lab.ipmisim.
# ipmi_sim runs:  HOOK STATE_DIR get PARM...   or   HOOK STATE_DIR set PARM VALUE...
dir=$1
op=$2
shift 2
echo "$op $*" >> "$dir/calls"
case $op in
  get)
    for parm in "$@"; do
      case $parm in
        power|boot) echo "$parm:$(cat "$dir/$parm")" ;;
        *) echo "Invalid parameter: $parm"; exit 1 ;;
      esac
    done ;;
  set)
    while [ $# -ge 2 ]; do
      parm=$1
      value=$2
      shift 2
      case $parm in
        power|boot) echo "$value" > "$dir/$parm.new" && mv "$dir/$parm.new" "$dir/$parm" ;;
        shutdown) echo 0 > "$dir/power.new" && mv "$dir/power.new" "$dir/power" ;;  # the OS stops at once
        reset) ;;                           # the simulated host reboots instantly; power stays
        identify) [ $# -ge 1 ] && shift ;;  # identify INTERVAL FORCE: nothing to light
        *) echo "Invalid parameter: $parm"; exit 1 ;;
      esac
    done ;;
  *) echo "Unknown operation: $op"; exit 1 ;;
esac
"""


@dataclass(frozen=True)
class SimulatedBmc:
    """One running simulated BMC: how to reach it, what it reports, and where it keeps its state."""

    name: str
    url: str
    username: str
    password: str
    port: int
    manufacturer: str
    model: str
    serial: str
    firmware: str
    """BMC firmware as ``major.minor`` (minor as two BCD digits, the way IPMI tools print it)."""
    uuid: str
    state_dir: Path
    pid: int
    quirks: IpmiQuirks = field(default=SIM_QUIRKS)
    """Pass to ``IpmiController(quirks=...)``: how this simulator departs from the IPMI spec."""

    def power_is_on(self) -> bool:
        """The chassis power the hook recorded."""
        return (self.state_dir / "power").read_text().strip() == "1"

    def boot_device(self) -> str:
        """The boot device the hook recorded, in ipmi_sim's words: none, pxe, default (disk), cdrom, bios."""
        return (self.state_dir / "boot").read_text().strip()

    def set_temperature(self, celsius: int) -> None:
        """Set the inlet temperature sensor (0-127 °C; warning from 80, critical from 90); polled every 0.2 s."""
        new = self.state_dir / "temp.new"
        new.write_text(f"{max(0, min(127, celsius))}\n")
        new.replace(self.state_dir / "temp")  # the simulator never reads a half-written file

    def hook_calls(self) -> list[str]:
        """Every chassis_control call so far, oldest first: ``'set power 0'``, ``'get boot'``..."""
        path = self.state_dir / "calls"
        return path.read_text().splitlines() if path.exists() else []


def ipmi_sim_path() -> str:
    """Where ``ipmi_sim`` is; raises a clear error naming the package when it is not installed."""
    path = shutil.which("ipmi_sim")
    if path is None:
        raise AnyrackError(detail="ipmi_sim is not installed (Debian/Ubuntu package 'openipmi'; "
                                  "scripts/system-deps installs it)")
    return path


def fru_image(manufacturer: str, model: str, serial: str, part_number: str = "", version: str = "") -> bytes:
    """An IPMI FRU 0 image (spec v1.0) with a chassis area and a product area naming the system."""
    chassis = _fru_area(bytes([0x17]), [part_number, serial])  # 17h: rack mount chassis
    product = _fru_area(bytes([0]), [manufacturer, model, part_number, version, serial, "", ""])  # 0: English
    # version, internal use, chassis, board (none), product, multi-record, pad; offsets in 8-byte units
    header = [1, 0, 1, 0, 1 + len(chassis) // 8, 0, 0]
    return bytes([*header, -sum(header) & 0xFF]) + chassis + product


def _temperature_sdr(number: int, name: str, nominal: int, warning: int, critical: int) -> bytes:
    """A full sensor record (SDR type 01h) for a threshold temperature sensor in whole °C."""
    body = bytes([
        0x20, 0x00, number,        # owner: the BMC, LUN 0, sensor number
        0x07, 0x01,                # entity: system board, instance 1
        0x7F, 0x68,                # initialisation; capabilities: thresholds readable and settable
        0x01, 0x01,                # sensor type: temperature; event/reading type: threshold
        0x00, 0x00, 0x00, 0x00,    # assertion and deassertion event masks: none
        0x18, 0x18,                # readable and settable thresholds: upper non-critical, upper critical
        0x00, 0x01, 0x00,          # unsigned; unit: degrees C; no modifier
        0x00, 0x01, 0x00, 0x00,    # linear, M=1, tolerance 0, B=0
        0x00, 0x00, 0x00, 0x00,    # accuracy, accuracy and its exponent, R and B exponents, analog flags
        nominal, 0x00, 0x00,       # nominal, normal max, normal min
        0x7F, 0x00,                # sensor max, min
        0x00, critical, warning,   # upper non-recoverable (unused), critical, non-critical
        0x00, 0x00, 0x00,          # lower thresholds: unused
        0x00, 0x00, 0x00, 0x00, 0x00,  # hysteresis, reserved, OEM
        0xC0 | len(name), *name.encode("ascii")])
    return bytes([0x00, 0x00, 0x51, 0x01, len(body)]) + body  # record id (set by ipmi_sim), SDR 51h, type 01h


def _hex(data: bytes) -> str:
    """Bytes as ipmi_sim command arguments (it reads bare numbers as decimal)."""
    return " ".join(f"0x{b:02x}" for b in data)


def _fru_area(prefix: bytes, fields: list[str]) -> bytes:
    body = b""
    for text in fields:
        raw = text.encode("ascii")
        if len(raw) > 63:
            raise InputError(detail=f"FRU field {text!r} is longer than 63 bytes")
        body += bytes([0xC0 | len(raw)]) + raw  # type 3 (8-bit ASCII), length
    body += b"\xc1"  # end of fields
    size = 2 + len(prefix) + len(body) + 1
    size += -size % 8
    area = bytes([1, size // 8]) + prefix + body
    area += b"\x00" * (size - 1 - len(area))
    return area + bytes([-sum(area) & 0xFF])


@contextlib.contextmanager
def simulate(count: int = 1, *, power_on: bool = True, sensors: bool = True, username: str = "admin",
             password: str | None = None, name_prefix: str = "sim",
             start_timeout: float = 10.0) -> Iterator[list[SimulatedBmc]]:
    """Run ``count`` simulated BMCs on 127.0.0.1 (one ``ipmi_sim`` each, distinct UDP ports).

    Each gets a FRU of its own (model from :data:`MODELS`, serial ``LAB<n>``), a firmware version,
    a random system UUID and, with ``sensors``, an inlet temperature sensor
    (:meth:`SimulatedBmc.set_temperature`); ``password`` defaults to a random one per BMC.
    Processes and files are removed on exit, also when starting fails half way.

    Raises:
        AnyrackError: ipmi_sim is not installed, or a simulator did not start (its log is quoted).
    """
    binary = ipmi_sim_path()
    if not re.fullmatch(r"[A-Za-z0-9._@-]{1,16}", username):
        raise InputError(detail=f"simulated BMC user name {username!r}: 1-16 of A-Z a-z 0-9 . _ @ -")
    if password is not None and not re.fullmatch(r'[!#-\[\]-~]{1,20}', password):
        raise InputError(detail="simulated BMC password: 1-20 printable characters, no space, quote or backslash")
    with contextlib.ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="anyrack-ipmisim-"))
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        if re.search(r'[\s"\\]', str(root)):
            raise AnyrackError(detail=f"{root}: ipmi_sim cannot take a path with spaces or quotes (set TMPDIR)")
        bmcs = []
        for index in range(count):
            name = f"{name_prefix}{index + 1:02d}"
            bmc = _prepare(root / name, name, index, power_on, sensors, username, password or secrets.token_hex(8))
            bmcs.append(_launch(stack, binary, bmc, start_timeout))
        yield bmcs


def _prepare(home: Path, name: str, index: int, power_on: bool, sensors: bool, username: str,
             password: str) -> SimulatedBmc:
    """Write one BMC's state files, hook, FRU image and emulator commands; the port is set at launch."""
    state = home / "state"
    state.mkdir(parents=True)
    (home / "persist").mkdir()
    (state / "power").write_text("1\n" if power_on else "0\n")
    (state / "boot").write_text("none\n")
    (state / "temp").write_text(f"{INLET_NOMINAL}\n")
    hook = home / "chassis-control"
    hook.write_text(_HOOK)
    hook.chmod(0o755)
    model, serial = MODELS[index % len(MODELS)], f"LAB{index + 1:05d}"
    major, minor = 1 + index % 3, (7 * index + 10) % 100
    fru = fru_image(MANUFACTURER, model, serial, part_number=f"{model}-P", version="A1")
    (home / "fru0.bin").write_bytes(fru)
    commands = [
        "mc_setbmc 0x20",
        # address, device id, SDRs, device revision, firmware major, minor (BCD), device support bits,
        # IANA number, product id (pyghmi caches SDRs per product and firmware: one id per sensor set)
        f"mc_add 0x20 0 no-device-sdrs 0x03 {major:#04x} 0x{minor:02d} 0x9f {ENTERPRISE_NUMBER:#x} {1 + (not sensors)}",
        f'mc_add_fru_data 0x20 0 {len(fru)} file 0 "{home / "fru0.bin"}"',
    ]
    if sensors:  # sensor 1: inlet temperature read from state/temp every 200 ms, readable, no events
        commands += [
            f'sensor_add 0x20 0 1 0x01 0x01 poll 200 file "{state / "temp"}"',
            f"main_sdr_add 0x20 {_hex(_temperature_sdr(1, 'Inlet Temp', INLET_NOMINAL, *INLET_LIMITS))}",
            f"sensor_set_threshold 0x20 0 1 settable 011000 0 {INLET_LIMITS[1]:#x} {INLET_LIMITS[0]:#x} 0 0 0",
            f"sensor_set_event_support 0x20 0 1 disable scanning none {' '.join(['0' * 15] * 4)}",
        ]
    (home / "bmc.emu").write_text("\n".join([*commands, "mc_enable 0x20", ""]))
    return SimulatedBmc(name=name, url="", username=username, password=password, port=0, manufacturer=MANUFACTURER,
                        model=model, serial=serial, firmware=f"{major}.{minor:02d}", uuid=str(uuid.uuid4()),
                        state_dir=state, pid=0)


def _launch(stack: contextlib.ExitStack, binary: str, bmc: SimulatedBmc, start_timeout: float) -> SimulatedBmc:
    """Start ``ipmi_sim`` for a prepared BMC on a free port (three tries: a port can be taken meanwhile)."""
    home = bmc.state_dir.parent
    for attempt in range(3):
        port = _free_udp_port()
        (home / "lan.conf").write_text(
            f'name "{bmc.name}"\n'
            "set_working_mc 0x20\n"
            "  startlan 1\n"
            f"    addr {HOST} {port}\n"
            "    priv_limit admin\n"
            "    allowed_auths_callback md5\n"
            "    allowed_auths_user md5\n"
            "    allowed_auths_operator md5\n"
            "    allowed_auths_admin md5\n"
            f"    guid {uuid.UUID(bmc.uuid).bytes_le.hex()}\n"  # Get System GUID answers these bytes
            "  endlan\n"
            f'  chassis_control "{home / "chassis-control"} {bmc.state_dir}"\n'
            f'  user 2 true "{bmc.username}" "{bmc.password}" admin 10 md5\n')
        log = home / "ipmi_sim.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([binary, "-n", "-c", str(home / "lan.conf"), "-f", str(home / "bmc.emu"),
                                     "-s", str(home / "persist")], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, cwd=home, start_new_session=True)
        stack.callback(_stop, proc)
        ready = _wait_ready(proc, port, start_timeout)
        exited = proc.poll()
        if ready:
            return dataclasses.replace(bmc, url=f"ipmi://{HOST}:{port}", port=port, pid=proc.pid)
        _stop(proc)
        if exited is None or attempt == 2:  # silent while running, or kept failing (not a port clash)
            tail = log.read_text(errors="replace").strip()[-800:] or "no output"
            how = f"exit status {exited}" if exited is not None else f"no answer within {start_timeout:g} s"
            raise AnyrackError(detail=f"ipmi_sim for {bmc.name} on {HOST}:{port} did not start ({how}): {tail}")
    raise AssertionError("unreachable")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _wait_ready(proc: subprocess.Popen, port: int, timeout: float) -> bool:
    """True once the simulator answers an RMCP presence ping; False if it exits or stays silent."""
    ping = bytes([0x06, 0x00, 0xFF, 0x06, 0x00, 0x00, 0x11, 0xBE, 0x80, 0x01, 0x00, 0x00])  # RMCP/ASF ping
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.05)
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(OSError):
                sock.sendto(ping, (HOST, port))
                reply = sock.recv(64)
                if len(reply) >= 9 and reply[8] == 0x40:  # presence pong
                    return True
    return False


def _stop(proc: subprocess.Popen) -> None:
    """Stop one simulator and any hook it is running (its own process group, while it still exists)."""
    for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 3)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
