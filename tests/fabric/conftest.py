"""The FRR tier's lab: one network namespace per switch and host of a plan, veths for its cables, FRR
(zebra + bgpd) in each switch namespace with the generated frr.conf, host rails configured from the
generated systemd-networkd files.

Everything is named ``ar<pid><random>-...`` so parallel runs do not clash. Teardown kills each
daemon by pid, deletes each namespace it created and checks none is left, also when a test fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from anyrack.fabric.plan import FabricPlan
from anyrack.fabric.render import host_files, render

FRR = Path("/usr/lib/frr")
ROOT = Path(__file__).resolve().parents[2]
SITE = Path(__file__).with_name("site.yaml")


def missing_tools() -> str | None:
    """Why this tier cannot run here, or None."""
    for tool in (FRR / "zebra", FRR / "bgpd", Path(shutil.which("vtysh") or "/nonexistent/vtysh")):
        if not tool.exists():
            return f"FRR is not installed ({tool} missing; Debian package 'frr')"
    if shutil.which("ip") is None or shutil.which("ping") is None:
        return "ip (iproute2) or ping (iputils-ping) missing"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"ar{os.getpid()}{secrets.token_hex(3)}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return None


def run(*args: str, check: bool = True, timeout: float = 20, stdin: str | None = None) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, input=stdin)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: rc {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def parse_unit_file(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """systemd-style INI with repeated sections: [(section, [(key, value), ...]), ...]."""
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            sections.append((line.strip("[]"), []))
        else:
            key, _, value = line.partition("=")
            sections[-1][1].append((key.strip(), value.strip()))
    return sections


def network_file_commands(text: str) -> list[str]:
    """``ip -batch`` lines that do what one generated .network file asks (the subset we generate)."""
    sections = parse_unit_file(text)
    name = next(v for s, kv in sections if s == "Match" for k, v in kv if k == "Name")
    links, addrs, routes, rules = [], [], [], []
    for section, items in sections:
        values = dict(items)
        if section == "Link" and "MTUBytes" in values:
            links.append(f"link set dev {name} mtu {values['MTUBytes']}")
        elif section == "Network":
            addrs += [f"addr add {v} dev {name}" for k, v in items if k == "Address"]
            unknown = {k for k, _ in items} - {"Address", "IPv6AcceptRA", "ConfigureWithoutCarrier"}
            assert not unknown, f"the test applier does not know [Network] {unknown}"
        elif section == "Route":
            table = f" table {values['Table']}" if "Table" in values else ""
            routes.append(f"route replace {values['Destination']} via {values['Gateway']} dev {name}{table}")
        elif section == "RoutingPolicyRule":
            rules.append(f"rule add from {values['From']} table {values['Table']} priority {values['Priority']}")
    return [*links, f"link set dev {name} up", *addrs, *routes, *rules]


class NetnsLab:
    """Namespaces, veths and FRR daemons for one plan; :meth:`close` undoes everything it made."""

    def __init__(self, plan: FabricPlan) -> None:
        self.plan = plan
        self.files = render(plan)
        self.prefix = f"ar{os.getpid()}{secrets.token_hex(2)}"
        # FRR drops to user frr, which cannot enter pytest's 0700 temporary directories
        self.work = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
        self.work.chmod(0o755)
        self.namespaces: list[str] = []
        self.daemons: list[subprocess.Popen] = []

    def ns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def _add_ns(self, name: str, router: bool) -> None:
        ns = self.ns(name)
        run("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        if router:
            run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")

    def _veth(self, a_ns: str, a_if: str, b_ns: str, b_if: str) -> None:
        run("ip", "link", "add", a_if, "netns", self.ns(a_ns), "mtu", str(self.plan.mtu), "type", "veth",
            "peer", "name", b_if, "netns", self.ns(b_ns), "mtu", str(self.plan.mtu))
        run("ip", "-n", self.ns(a_ns), "link", "set", a_if, "up")

    def build(self) -> None:
        """Namespaces for every switch and host, a veth per cable, host rails from the .network files."""
        switches = [s for s in self.plan.switches if s.role in ("leaf", "spine")]
        for switch in switches:
            self._add_ns(switch.name, router=True)
        for node in self.plan.nodes:
            self._add_ns(node.name, router=False)
        for link in self.plan.uplinks:
            self._veth(link.leaf, link.leaf_interface, link.spine, link.spine_interface)
            run("ip", "-n", self.ns(link.spine), "link", "set", link.spine_interface, "up")
        for node in self.plan.nodes:
            batch = []
            for nic in node.nics:
                self._veth(nic.leaf, nic.leaf_interface, node.name, nic.interface)
                text = host_files(self.plan, node)[f"/etc/systemd/network/20-anyrack-{nic.interface}.network"]
                batch += network_file_commands(text)
            run("ip", "-n", self.ns(node.name), "-batch", "-", stdin="\n".join(batch) + "\n")

    def start_frr(self) -> None:
        """zebra and bgpd per switch (explicit config and socket paths), then boot the generated frr.conf."""
        for switch in (s for s in self.plan.switches if s.role in ("leaf", "spine")):
            home = self.work / switch.name
            home.mkdir(parents=True)
            (home / "frr.conf").write_text(self.files[f"switches/{switch.name}/frr.conf"])
            (home / "vtysh.conf").write_text("service integrated-vtysh-config\n")
            (home / "empty.conf").write_text("")
            shutil.chown(home, "frr", "frr")
            for entry in home.iterdir():
                shutil.chown(entry, "frr", "frr")
            for daemon in ("zebra", "bgpd"):
                args = [str(FRR / daemon), "-f", str(home / "empty.conf"), "-i", str(home / f"{daemon}.pid"),
                        "-z", str(home / "zserv.api"), "--vty_socket", str(home), "-P", "0",
                        "--log", f"file:{home / daemon}.log"]
                with open(home / f"{daemon}.out", "w") as out:
                    self.daemons.append(subprocess.Popen(["ip", "netns", "exec", self.ns(switch.name), *args],
                                                         stdout=out, stderr=subprocess.STDOUT,
                                                         start_new_session=True))
        for switch in (s for s in self.plan.switches if s.role in ("leaf", "spine")):
            home = self.work / switch.name
            wait_for(lambda h=home: (h / "zebra.vty").exists() and (h / "bgpd.vty").exists(), 15,
                     f"{switch.name}: FRR daemons did not open their vty sockets")
            run("vtysh", "--vty_socket", str(home), "--config_dir", str(home), "-b")

    def vtysh(self, switch: str, command: str) -> str:
        return run("vtysh", "--vty_socket", str(self.work / switch), "-c", command)

    def vtysh_json(self, switch: str, command: str) -> dict:
        return json.loads(self.vtysh(switch, command) or "{}")

    def close(self) -> list[str]:
        """Kill the daemons (by pid), delete the namespaces; return namespaces still present."""
        for proc in self.daemons:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 3
        for proc in self.daemons:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        return [line.split()[0] for line in listed.splitlines() if line.startswith(self.prefix)]


def wait_for(predicate: Callable[[], object], timeout: float, message: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} (after {timeout:.0f} s)")
        time.sleep(interval)


@pytest.fixture(scope="module")
def netns_lab() -> Iterator[Callable[[FabricPlan], NetnsLab]]:
    """Build labs for plans; every lab is torn down at the end of the module, even on failure."""
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    labs: list[NetnsLab] = []

    def make(plan: FabricPlan) -> NetnsLab:
        lab = NetnsLab(plan)
        labs.append(lab)
        lab.build()
        lab.start_frr()
        return lab

    try:
        yield make
    finally:
        left = [ns for lab in labs for ns in lab.close()]
        assert left == [], f"network namespaces left behind: {left}"
