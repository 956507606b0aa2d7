"""Virtual BMCs for the bare-metal VMs, one pair per domain, as Ironic's and Metal3's CI run them:
sushy-tools' libvirt driver (Redfish over HTTPS, basic auth, restricted to its one domain) and
virtualbmc (IPMI over lanplus). Both listen on 127.0.0.1 ports the plan assigns; their pids are kept
in the lab's state dir so ``stop`` finds them again from any process.

The password is generated once per lab (``bmc-password``, mode 0600) and reaches the site file only
as a ``{file: ...}`` reference. virtualbmc keeps its own copy in its config dir (also 0600).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import bcrypt

from anyrack.errors import AnyrackError
from anyrack.filetree import write_atomic
from anyrack.lab.emulator.tls import Authority
from anyrack.lab.hostservices import pid_running
from anyrack.lab.metal import virt
from anyrack.lab.metal.plan import Machine, MetalPlan

USER = "admin"
Progress = Callable[[str], None]


class BmcLabError(AnyrackError):
    template = "metal lab BMC {what}: {detail}"


def password_file(plan: MetalPlan) -> Path:
    path = Path(plan.state_dir) / "bmc-password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, secrets.token_urlsafe(18), mode=0o600)
    return path


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _pids(plan: MetalPlan) -> dict[str, dict[str, int]]:
    path = Path(plan.state_dir) / "bmcs.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _save_pids(plan: MetalPlan, pids: dict[str, dict[str, int]]) -> None:
    write_atomic(Path(plan.state_dir) / "bmcs.json", json.dumps(pids, indent=1) + "\n")


def _sushy_config(plan: MetalPlan, vm: Machine, uuid: str, base: Path) -> Path:
    password = password_file(plan).read_text().strip()
    htpasswd = base / "htpasswd"
    write_atomic(htpasswd, f"{USER}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=6)).decode()}\n",
                 mode=0o600)
    pem = Authority(Path(plan.state_dir) / "ca").server_file("127.0.0.1")
    conf = base / "sushy.conf"
    lines = {
        "SUSHY_EMULATOR_LISTEN_IP": "127.0.0.1", "SUSHY_EMULATOR_LISTEN_PORT": vm.redfish_port,
        "SUSHY_EMULATOR_SSL_CERT": str(pem), "SUSHY_EMULATOR_SSL_KEY": str(pem),
        "SUSHY_EMULATOR_AUTH_FILE": str(htpasswd), "SUSHY_EMULATOR_LIBVIRT_URI": virt.URI,
        "SUSHY_EMULATOR_ALLOWED_INSTANCES": [uuid],
        # virtual media: the fetched ISO becomes a volume of the lab's pool (where QEMU may read it), not 'default'
        "SUSHY_EMULATOR_STORAGE_POOL": plan.pool,
    }
    write_atomic(conf, "".join(f"{k} = {v!r}\n" for k, v in lines.items()), mode=0o600)
    return conf


def _vbmc(plan: MetalPlan, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIRTUALBMC_CONFIG": str(Path(plan.state_dir) / "vbmc" / "virtualbmc.conf")}
    return subprocess.run([_bin("vbmc"), *args], text=True, capture_output=True, env=env)


def _start_vbmcd(plan: MetalPlan) -> int:
    base = Path(plan.state_dir) / "vbmc"
    (base / "domains").mkdir(parents=True, exist_ok=True)
    conf = base / "virtualbmc.conf"
    conf.write_text(f"[default]\nconfig_dir = {base / 'domains'}\npid_file = {base / 'vbmcd.pid'}\n"
                    f"server_port = 50891\n[log]\nlogfile = {base / 'vbmcd.log'}\n")
    env = {**os.environ, "VIRTUALBMC_CONFIG": str(conf)}
    proc = subprocess.Popen([_bin("vbmcd"), "--foreground"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 20
    while _vbmc(plan, "list").returncode != 0:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise BmcLabError(what="vbmcd", detail=f"not answering (log: {base / 'vbmcd.log'})")
        time.sleep(0.3)
    return proc.pid


def start(plan: MetalPlan, progress: Progress = print, timeout_s: float = 30) -> None:
    """A Redfish and an IPMI BMC for every lab domain that exists and has none running."""
    pids = _pids(plan)
    existing = set(virt.domains())
    if not pid_running(pids.get("vbmcd", {}).get("pid", 0)) and any(virt.domain(m.name) in existing
                                                                 for m in plan.machines):
        pids["vbmcd"] = {"pid": _start_vbmcd(plan)}
    password = password_file(plan).read_text().strip()
    for vm in plan.machines:
        name = virt.domain(vm.name)
        if name not in existing or pid_running(pids.get(vm.name, {}).get("pid", 0)):
            continue
        base = Path(plan.state_dir) / "bmc" / vm.name
        base.mkdir(parents=True, exist_ok=True)
        conf = _sushy_config(plan, vm, virt.domain_uuid(name), base)
        with (base / "sushy.log").open("w") as log:
            proc = subprocess.Popen([_bin("sushy-emulator"), "--config", str(conf)], stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        pids[vm.name] = {"pid": proc.pid, "port": vm.redfish_port}
        _save_pids(plan, pids)
        if _vbmc(plan, "show", name).returncode != 0:
            added = _vbmc(plan, "add", name, "--address", "127.0.0.1", "--port", str(vm.ipmi_port),
                          "--username", USER, "--password", password, "--libvirt-uri", virt.URI)
            if added.returncode != 0:
                raise BmcLabError(what=f"vbmc add {name}", detail=added.stderr.strip())
        _vbmc(plan, "start", name)
        _wait_port(vm.redfish_port, proc, base / "sushy.log", timeout_s)
        progress(f"bmc {vm.name}: Redfish https://127.0.0.1:{vm.redfish_port} (sushy-tools), "
                 f"IPMI 127.0.0.1:{vm.ipmi_port} (virtualbmc)")
    _save_pids(plan, pids)


def _wait_port(port: int, proc: subprocess.Popen, log: Path, timeout_s: float) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text()[-800:] if log.exists() else ""
            raise BmcLabError(what=f"on port {port}", detail=f"did not come up: {tail.strip()}")
        time.sleep(0.3)


def stop(plan: MetalPlan, progress: Progress = print, only: set[str] | None = None) -> None:
    """Stop the BMCs of ``only`` these machines (all when None); vbmcd goes when no BMC is left."""
    pids = _pids(plan)
    for name, entry in list(pids.items()):
        if name == "vbmcd" or (only is not None and name not in only):
            continue
        _kill(entry["pid"])
        _vbmc(plan, "delete", virt.domain(name))
        del pids[name]
        progress(f"bmc {name}: stopped")
    if set(pids) <= {"vbmcd"} and "vbmcd" in pids:
        _kill(pids.pop("vbmcd")["pid"])
    _save_pids(plan, pids)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while pid_running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def running(plan: MetalPlan) -> dict[str, int]:
    return {name: e["pid"] for name, e in _pids(plan).items() if pid_running(e["pid"])}
