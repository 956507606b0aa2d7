"""The host lab: Debian 12 systemd-nspawn containers booted with systemd on a private bridge.

``up`` builds (or reuses) an mmdebstrap image cached by its package list, mounts one overlay per
host, boots each host in its own cgroup, serves apt through apt-cacher-ng on the bridge address,
starts one emulated BMC per host and writes a lab site file; ``down`` removes everything ``up``
created (it also cleans up after a failed ``up``). State lives in one JSON file under the state dir.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from anyrack.errors import AnyrackError
from anyrack.lab.hostimage import LAB_USER, MIRROR, SUITE, build_image
from anyrack.lab.hostservices import ACNG_PORT, LabNetwork, start_apt_cache, start_bmcs, wait_bmcs
from anyrack.lab.hostsite import BMC_PORT_BASE, lab_vars, site_text

BRIDGE = "anyrack0"
CIDR = "10.77.0.0/24"
CGROUP_GROUP = "anyrack-lab"

Progress = Callable[[str], None]


class HostLabError(AnyrackError):
    """The host lab could not do what was asked."""

    template = "host lab: {what}: {detail}"


@dataclass
class Host:
    """One container: its name, inventory role, management address and launcher pid."""

    name: str
    role: str
    address: str
    pid: int = 0


@dataclass
class LabState(LabNetwork):
    """Everything ``up`` created, so ``down`` can remove it."""

    state_dir: str
    bridge: str = BRIDGE
    cidr: str = CIDR
    image: str = ""
    hosts: list[Host] = field(default_factory=list)
    acng_pid: int = 0
    bmc_pid: int = 0
    bridge_created: bool = False
    site_file: str = ""


def default_state_dir() -> Path:
    """Where the host lab keeps its key, overlays and state file."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local/state")
    return Path(base) / "anyrack" / "hosts"


def default_cache_dir() -> Path:
    """Where built images are cached (by package list)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "anyrack" / "images"


def missing_prerequisites() -> list[str]:
    """Reasons the host lab cannot run here (empty when it can)."""
    reasons = []
    if os.geteuid() != 0:
        reasons.append("needs root")
    for tool in ("systemd-nspawn", "mmdebstrap", "apt-cacher-ng", "ssh", "ssh-keygen", "nsenter"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            reasons.append(f"{tool} not installed")
    return reasons


def _run(cmd: Sequence[str], *, check: bool = True, **kw) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), text=True, capture_output=True, **kw)
    if check and proc.returncode != 0:
        raise HostLabError(what=" ".join(cmd[:3]), detail=(proc.stderr or proc.stdout).strip()[-1500:])
    return proc


def host_plan(count: int, cidr: str = CIDR) -> list[Host]:
    """ctl1 (controller) then gpu1..gpuN-1 (compute), addressed like inventory/examples/lab/site.yaml."""
    net = ipaddress.ip_network(cidr)
    hosts = [Host("ctl1", "controller", str(net.network_address + 11))]
    hosts += [Host(f"gpu{i}", "compute", str(net.network_address + 20 + i)) for i in range(1, count)]
    return hosts


# --- pieces -----------------------------------------------------------------------------------------

def _state_file(state_dir: Path) -> Path:
    return state_dir / "state.json"


def load_state(state_dir: Path | None = None) -> LabState | None:
    """The running lab's state, or None."""
    path = _state_file(state_dir or default_state_dir())
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    data["hosts"] = [Host(**h) for h in data["hosts"]]
    return LabState(**data)


def _save(state: LabState) -> None:
    path = _state_file(Path(state.state_dir))
    path.write_text(json.dumps(asdict(state), indent=2))


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _setup_bridge(state: LabState) -> None:
    if _run(["ip", "link", "show", state.bridge], check=False).returncode == 0:
        raise HostLabError(what="bridge", detail=f"{state.bridge} exists; run `anyrack lab down` first")
    _run(["ip", "link", "add", state.bridge, "type", "bridge"])
    state.bridge_created = True
    _save(state)
    prefix = ipaddress.ip_network(state.cidr).prefixlen
    _run(["ip", "addr", "add", f"{state.gateway}/{prefix}", "dev", state.bridge])
    _run(["ip", "link", "set", state.bridge, "up"])


def _write_host_files(root: Path, host: Host, state: LabState, pubkey: str) -> None:
    prefix = ipaddress.ip_network(state.cidr).prefixlen
    (root / "etc/hostname").write_text(host.name + "\n")
    net = root / "etc/systemd/network"
    net.mkdir(parents=True, exist_ok=True)
    (net / "80-anyrack-host0.network").write_text(
        f"[Match]\nName=host0\n\n[Network]\nAddress={host.address}/{prefix}\nGateway={state.gateway}\n"
        f"DNS={state.gateway}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n")
    lines = [f"127.0.0.1 localhost\n{host.address} {host.name}\n"]
    lines += [f"{h.address} {h.name}\n" for h in state.hosts if h.name != host.name]
    (root / "etc/hosts").write_text("".join(lines))
    (root / "etc/apt/sources.list").write_text(
        f"deb {state.apt_url}/debian {SUITE} main\n"
        f"deb {state.apt_url}/debian {SUITE}-updates main\n")
    ssh = root / f"home/{LAB_USER}/.ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    (ssh / "authorized_keys").write_text(pubkey)
    os.chmod(ssh, 0o700)
    uid_gid = _passwd_ids(root, LAB_USER)
    for p in (ssh, ssh / "authorized_keys"):
        os.chown(p, *uid_gid)


def _passwd_ids(root: Path, user: str) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        parts = line.split(":")
        if parts[0] == user:
            return int(parts[2]), int(parts[3])
    raise HostLabError(what="image", detail=f"no user {user}")


def _mount_overlay(state: LabState, host: Host) -> Path:
    base = Path(state.state_dir) / "hosts" / host.name
    upper, work, merged = base / "upper", base / "work", base / "root"
    for d in (upper, work, merged):
        d.mkdir(parents=True, exist_ok=True)
    _run(["mount", "-t", "overlay", "overlay", "-o",
          f"lowerdir={state.image},upperdir={upper},workdir={work}", str(merged)])
    return merged


def _cgroup_launcher(name: str) -> str:
    """Shell that moves itself into a per-host cgroup in every v1 hierarchy, then execs nspawn."""
    return (f'for d in /sys/fs/cgroup/*/; do [ -e "$d/cgroup.procs" ] || continue; '
            f'g="${{d}}{CGROUP_GROUP}/{name}"; mkdir -p "$g" 2>/dev/null || continue; '
            f'if [ -e "$g/cpuset.cpus" ]; then '
            f'cat "${{d}}cpuset.cpus" > "${{d}}{CGROUP_GROUP}/cpuset.cpus" 2>/dev/null; '
            f'cat "${{d}}cpuset.mems" > "${{d}}{CGROUP_GROUP}/cpuset.mems" 2>/dev/null; '
            f'cat "${{d}}cpuset.cpus" > "$g/cpuset.cpus"; cat "${{d}}cpuset.mems" > "$g/cpuset.mems"; fi; '
            f'echo $$ > "$g/cgroup.procs" 2>/dev/null; done; exec "$@"')


def _boot(state: LabState, host: Host, root: Path) -> None:
    log = (Path(state.state_dir) / "hosts" / host.name / "console.log").open("w")
    nspawn = ["systemd-nspawn", "--boot", "--register=no", "--keep-unit", f"--network-bridge={state.bridge}",
              f"--machine={host.name}", f"--hostname={host.name}", "-D", str(root), "--console=read-only"]
    proc = subprocess.Popen(["sh", "-c", _cgroup_launcher(host.name), "launcher", *nspawn],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    host.pid = proc.pid
    _save(state)


def leader_pid(host: Host) -> int:
    """PID of the container's init (the nspawn launcher's child)."""
    try:
        children = Path(f"/proc/{host.pid}/task/{host.pid}/children").read_text().split()
    except OSError:
        return 0
    return int(children[0]) if children else 0


def host_state(host: Host) -> str:
    """systemd's state inside the host ("running", "degraded", ...), "stopped" or "starting"."""
    if not _alive(host.pid):
        return "stopped"
    pid = leader_pid(host)
    if not pid:
        return "starting"
    proc = _run(["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "--",
                 "systemctl", "is-system-running"], check=False)
    return proc.stdout.strip() or "starting"


def _wait_booted(state: LabState, progress: Progress, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    pending = {h.name: h for h in state.hosts}
    while pending:
        for name, host in list(pending.items()):
            s = host_state(host)
            if s in ("running", "degraded"):
                progress(f"host {name}: booted ({s})")
                del pending[name]
            elif s == "stopped":
                log = Path(state.state_dir) / "hosts" / name / "console.log"
                raise HostLabError(what=f"host {name}", detail="container exited: " + log.read_text()[-1000:])
        if time.monotonic() > deadline:
            raise HostLabError(what="boot", detail=f"not booted after {timeout_s:.0f} s: {sorted(pending)}")
        time.sleep(0.5)


def key_path(state_dir: Path | None = None) -> Path:
    """The lab SSH private key."""
    return (state_dir or default_state_dir()) / "id_ed25519"


def ssh_command(state: LabState, host: Host, command: Sequence[str]) -> list[str]:
    """An ssh command line that runs ``command`` on ``host`` as the lab user with the lab key."""
    return ["ssh", "-i", str(key_path(Path(state.state_dir))), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=5", f"{LAB_USER}@{host.address}", *command]


def _wait_ssh(state: LabState, progress: Progress, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    for host in state.hosts:
        while _run(ssh_command(state, host, ["true"]), check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise HostLabError(what=f"host {host.name}", detail="ssh not answering")
            time.sleep(0.5)
        progress(f"host {host.name}: ssh {LAB_USER}@{host.address} ok")


# --- verbs ------------------------------------------------------------------------------------------

def up(count: int = 3, *, state_dir: Path | None = None, cache_dir: Path | None = None,
       bmcs: bool = True, progress: Progress = print) -> LabState:
    """Start ``count`` hosts (ctl1 + computes); on any failure everything created is removed again."""
    if missing := missing_prerequisites():
        raise HostLabError(what="prerequisites", detail="; ".join(missing))
    if count < 1 or count > 60:
        raise HostLabError(what="up", detail="between 1 and 60 hosts")
    state_dir = state_dir or default_state_dir()
    if (old := load_state(state_dir)) is not None:
        raise HostLabError(what="up", detail=f"a lab is running ({len(old.hosts)} hosts); `anyrack lab down` first")
    state_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    image = build_image(cache_dir or default_cache_dir(), progress)
    state = LabState(state_dir=str(state_dir), image=str(image), hosts=host_plan(count))
    _save(state)
    try:
        key = key_path(state_dir)
        if not key.exists():
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "anyrack-lab", "-f", str(key)])
        pubkey = key.with_suffix(".pub").read_text()
        _setup_bridge(state)
        progress(f"bridge: {state.bridge} {state.gateway}/{ipaddress.ip_network(state.cidr).prefixlen}")
        apt_cache = (cache_dir or default_cache_dir()).parent / "apt"
        state.acng_pid = start_apt_cache(Path(state.state_dir) / "acng", state.gateway, MIRROR, apt_cache).pid
        _save(state)
        progress(f"apt: apt-cacher-ng on {state.gateway}:{ACNG_PORT}")
        for host in state.hosts:
            root = _mount_overlay(state, host)
            _write_host_files(root, host, state, pubkey)
            _boot(state, host, root)
            progress(f"host {host.name}: starting ({host.role}, {host.address})")
        _wait_booted(state, progress)
        _wait_ssh(state, progress)
        if bmcs:
            proc = start_bmcs(Path(state.state_dir) / "bmc", len(state.hosts))
            state.bmc_pid = proc.pid
            _save(state)
            wait_bmcs(proc, Path(state.state_dir) / "bmc")
            progress(f"bmc: {len(state.hosts)} emulated BMCs on 127.0.0.1:{BMC_PORT_BASE}..")
        site = state_dir / "site.yaml"
        site.write_text(site_text(state))
        (state_dir / "lab-vars.yml").write_text(lab_vars(state))
        state.site_file = str(site)
        _save(state)
        progress(f"site file: {site}")
    except BaseException:
        progress("up failed: cleaning up")
        down(state_dir=state_dir, progress=progress)
        raise
    progress(f"lab up: {count} hosts in {time.monotonic() - started:.1f} s")
    return state


def _stop(pid: int, timeout_s: float = 10) -> None:
    if not _alive(pid):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _stop_hosts(hosts: Sequence[Host]) -> None:
    """Power every container off at once (SIGRTMIN+4 to its init), wait, then stop what is left of nspawn."""
    for host in hosts:
        if pid := leader_pid(host):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGRTMIN + 4)
    deadline = time.monotonic() + 10
    while any(_alive(h.pid) and not _zombie(h.pid) for h in hosts) and time.monotonic() < deadline:
        time.sleep(0.1)
    for host in hosts:
        _stop(host.pid, timeout_s=5)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def down(*, state_dir: Path | None = None, progress: Progress = print) -> bool:
    """Stop hosts, BMCs and apt-cacher-ng, unmount overlays, delete the bridge; False if no lab ran."""
    state_dir = state_dir or default_state_dir()
    state = load_state(state_dir)
    if state is None:
        return False
    _stop_hosts(state.hosts)
    for host in state.hosts:
        merged = state_dir / "hosts" / host.name / "root"
        if os.path.ismount(merged):
            _run(["umount", "-l", str(merged)], check=False)
        progress(f"host {host.name}: removed")
    _stop(state.bmc_pid)
    _stop(state.acng_pid)
    if state.bridge_created:
        _run(["ip", "link", "del", state.bridge], check=False)
        progress(f"bridge: {state.bridge} removed")
    for d in Path("/sys/fs/cgroup").glob(f"*/{CGROUP_GROUP}"):
        for sub in sorted(d.rglob("*"), reverse=True):
            if sub.is_dir():
                with contextlib.suppress(OSError):
                    sub.rmdir()
        with contextlib.suppress(OSError):
            d.rmdir()
    for sub in ("hosts", "acng", "bmc"):
        shutil.rmtree(state_dir / sub, ignore_errors=True)
    for name in ("state.json", "site.yaml", "lab-vars.yml"):
        (state_dir / name).unlink(missing_ok=True)
    progress("lab down")
    return True


def find_host(state: LabState, name: str) -> Host:
    """The host called ``name``."""
    for host in state.hosts:
        if host.name == name:
            return host
    raise HostLabError(what="exec", detail=f"no host {name}; hosts: {', '.join(h.name for h in state.hosts)}")


def exec_command(state: LabState, name: str, command: Sequence[str]) -> int:
    """Run ``command`` inside host ``name`` as root (nsenter into its namespaces); returns its exit code."""
    host = find_host(state, name)
    pid = leader_pid(host)
    if not pid:
        raise HostLabError(what="exec", detail=f"{name} is not running")
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
           "TERM": os.environ.get("TERM", "dumb"), "LANG": "C.UTF-8"}
    return subprocess.call(["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "--", "env", "-i",
                            *[f"{k}={v}" for k, v in env.items()], *command])


def status(state_dir: Path | None = None) -> list[dict[str, str]]:
    """One row per host: name, role, address, state (empty when no lab runs)."""
    state = load_state(state_dir)
    if state is None:
        return []
    return [{"name": h.name, "role": h.role, "address": h.address, "state": host_state(h)} for h in state.hosts]
