"""The IB tier: each planned InfiniBand subnet simulated by ibsim, swept by real OpenSM with the generated
configs, checked with infiniband-diags.

The plan is ``tests/fabric/ib-site.yaml`` (2 units × 2 rails, spines per rail: two subnets, 4 hosts) with
port GUIDs from facts the fixture writes. Per subnet: one network namespace (ibsim's sockets are abstract
unix sockets, so a namespace keeps runs apart), ``ibsim`` on the generated ``ibsim.net``, the primary and
the standby ``opensm`` on their planned host ports with the generated ``primary.conf``/``standby.conf``
(installed paths rewritten to the test's directory), and every diag run from a host port
(``SIM_HOST=<node> <hca>``) through ibsim's LD_PRELOAD library ``libumad2sim.so`` (Debian
``libumad2sim0``, pulled in by ``ibsim-utils``). No kernel module or /dev/infiniband is needed.
Processes are stopped by pid, namespaces deleted, also on failure.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from anyrack.fabric import ib
from anyrack.fabric.load import load_plan
from anyrack.fabric.model import FabricPlan
from anyrack.fabric.render import render
from anyrack.fabric.verify import parse_ibnetdiscover, verify

pytestmark = pytest.mark.fabric

SITE = Path(__file__).with_name("ib-site.yaml")
UMAD2SIM = next(Path("/usr/lib").glob("*/umad2sim/libumad2sim.so"), Path("/usr/lib/umad2sim/libumad2sim.so"))
TOOLS = ("ibsim", "opensm", "ibnetdiscover", "ibtracert", "ibroute", "sminfo", "smpquery", "saquery", "ibstat")


def _missing() -> str | None:
    for tool in TOOLS:
        if shutil.which(tool) is None:
            return f"{tool} missing (Debian packages ibsim-utils, opensm, infiniband-diags)"
    if not UMAD2SIM.exists():
        return f"{UMAD2SIM} missing (Debian package libumad2sim0)"
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return "a network namespace per subnet needs root and ip (iproute2)"
    return None


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 20) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: rc {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def _wait(what: str, probe, timeout: float = 30.0):  # noqa: ANN001, ANN202 - a predicate, its value
    end = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


@dataclass
class SimSubnet:
    subnet: ib.Subnet
    ns: str
    dir: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def env(self, host: str) -> dict[str, str]:
        return {**os.environ, "LD_PRELOAD": str(UMAD2SIM), "SIM_HOST": host}

    def diag(self, *args: str, host: str | None = None) -> str:
        """Run an infiniband-diags command in the subnet from ``host`` (default: a host port no SM runs on)."""
        if host is None:
            host = next(ib.describe(p) for p in self.subnet.ports if p not in self.subnet.managers)
        return _run("ip", "netns", "exec", self.ns, *args, env=self.env(host))

    def start(self, name: str, *args: str, host: str | None = None, env: dict[str, str] | None = None) -> None:
        log = (self.dir / f"{name}.out").open("w")
        self.procs[name] = subprocess.Popen(["ip", "netns", "exec", self.ns, *args], stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.dir,
                                            env=env or (self.env(host) if host else None))

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def sminfo(self) -> tuple[str, int, str]:
        """(master SM port GUID, priority, state) as sminfo reports them."""
        out = self.diag("sminfo")
        m = re.search(r"sm guid (0x[0-9a-f]+), .* priority (\d+) state \d+ (\w+)", out)
        assert m, out
        return f"{int(m[1], 16):#018x}", int(m[2]), m[3]


@dataclass
class IbLab:
    plan: FabricPlan
    files: dict[str, str]
    subnets: list[SimSubnet]
    root: Path


def _install(files: dict[str, str], net: ib.Subnet, into: Path) -> None:
    """The subnet's generated files in ``into``, the installed paths inside them pointed there."""
    for rel, text in files.items():
        if rel.startswith(f"opensm/{net.name}/"):
            text = text.replace(f"{ib.CONF_DIR}/{net.name}", str(into))
            text = re.sub(rf"/var/log/opensm-{net.name}-(\w+)", rf"{into}/\1", text)
            (into / Path(rel).name).write_text(text)
    for role in ("primary", "standby"):
        (into / role).mkdir()
        (into / f"cache-{role}").mkdir()


def _write_facts(plan: FabricPlan, into: Path) -> None:
    for k, node in enumerate(n.name for n in plan.nodes):
        nics = [{"name": f"ibp{r}s0", "port_guid": f"0x0002c903{k:02x}{r:02x}0001"} for r in range(plan.rails)]
        (into / f"{node}.json").write_text(json.dumps({"schema": "anyrack.facts/v1", "node": node,
                                                        "collected_at": "2026-12-07T00:00:00Z", "nics": nics}))


@pytest.fixture(scope="module")
def ib_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IbLab]:
    why = _missing()
    if why:
        pytest.skip(why)
    root = tmp_path_factory.mktemp("ib")
    (root / "facts").mkdir()
    _write_facts(load_plan(SITE)[1], root / "facts")
    _, plan, _ = load_plan(SITE, root / "facts")
    files = render(plan)
    tag = f"ar{os.getpid()}{secrets.token_hex(3)}"
    sims: list[SimSubnet] = []
    try:
        for net in ib.subnets(plan):
            sim = SimSubnet(net, f"{tag}-ib-{net.name}", root / net.name)
            sim.dir.mkdir()
            _install(files, net, sim.dir)
            _run("ip", "netns", "add", sim.ns)
            sims.append(sim)
            sim.start("ibsim", "ibsim", "-s", "-n", "ibsim.net", env=dict(os.environ))
            _wait(f"ibsim of {net.name}", lambda s=sim: "simulator ready" in (s.dir / "ibsim.out").read_text())
            for role, nic in zip(("primary", "standby"), net.managers, strict=True):
                env = {**sim.env(ib.describe(nic)), "OSM_CACHE_DIR": str(sim.dir / f"cache-{role}")}
                sim.start(role, "opensm", "-F", f"{role}.conf", env=env)
                # the standby starts once the primary is master, as on a fabric brought up in order
                state, text = ("SUBNET UP", "bring the subnet up") if role == "primary" else (
                    "Entering STANDBY state", "stand by")
                _wait(f"the {role} SM of {net.name} to {text}", lambda s=sim, r=role, w=state: w in _text(
                    s.dir / f"{r}.log"))
        yield IbLab(plan, files, sims, root)
    finally:
        for sim in sims:
            for name in list(sim.procs)[::-1]:
                sim.stop(name)
            subprocess.run(["ip", "netns", "delete", sim.ns], capture_output=True)
        left = _run("ip", "netns", "list")
        assert tag not in left, f"namespaces left behind: {left}"


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def test_a_subnet_per_rail_plane(ib_lab: IbLab) -> None:
    assert [s.subnet.name for s in ib_lab.subnets] == ["rail0", "rail1"]
    for sim in ib_lab.subnets:
        found = parse_ibnetdiscover(sim.diag("ibnetdiscover"))
        hosts = {d for d in found.devices if " " in d}
        assert hosts == {ib.describe(p) for p in sim.subnet.ports}  # only this rail's HCAs, every one
        assert {d for d in found.devices if " " not in d} == {w.name for w in (*sim.subnet.spines,
                                                                               *sim.subnet.leaves)}


def test_every_host_port_active_with_a_lid(ib_lab: IbLab) -> None:
    for sim in ib_lab.subnets:
        for port in sim.subnet.ports:
            out = sim.diag("ibstat", host=ib.describe(port))
            assert re.search(r"State: Active", out), out
            lid = int(re.search(r"Base lid: (\d+)", out)[1])  # type: ignore[index]
            assert 1 <= lid <= ib.UNICAST_LIDS, out
            assert f"Port GUID: {port.guid}" in out  # the GUID from facts, as the plan has it


def test_ftree_routing_chosen_with_the_planned_roots_and_complete(ib_lab: IbLab) -> None:
    for sim in ib_lab.subnets:
        log = _text(sim.dir / "primary.log")
        assert "ftree tables configured on all switches" in log
        assert f"Fabric has {len(sim.subnet.spines)} switches at rank 0 (roots)" in log
        lids = _lids(sim)
        hosts = {lids[ib.describe(p)] for p in sim.subnet.ports}
        for switch in (*sim.subnet.spines, *sim.subnet.leaves):
            table = sim.diag("ibroute", str(lids[switch.name]))
            routed = {int(m, 16) for m in re.findall(r"^(0x[0-9a-f]+) \d+ :", table, re.M)}
            assert hosts <= routed, f"{switch.name} has no route to LIDs {sorted(hosts - routed)}"


def test_host_paths_on_a_rail_go_leaf_spine_leaf(ib_lab: IbLab) -> None:
    checked = 0
    for sim in ib_lab.subnets:
        lids = _lids(sim)
        kind = {s.name: s.role for s in (*sim.subnet.spines, *sim.subnet.leaves)}
        for a in sim.subnet.ports:
            for b in sim.subnet.ports:
                if a == b:
                    continue
                out = sim.diag("ibtracert", str(lids[ib.describe(a)]), str(lids[ib.describe(b)]))
                hops = [kind[name] for name in re.findall(r'-> switch port \{[^}]+\}\[\d+\] lid [\d-]+ "([^"]+)"', out)]
                same_leaf = a.leaf == b.leaf
                assert hops == (["leaf"] if same_leaf else ["leaf", "spine", "leaf"]), out
                checked += 1
    assert checked == 2 * 4 * 3


def test_partitions_from_facts_guids(ib_lab: IbLab) -> None:
    gpu = next(p for p in ib_lab.plan.partitions if p.name == "gpu")
    for sim in ib_lab.subnets:
        lids = _lids(sim)
        for port in sim.subnet.ports:
            table = sim.diag("smpquery", "pkeys", str(lids[ib.describe(port)]))
            member = f"{0x8000 | gpu.pkey:#06x}" in table
            assert member == (port.node in gpu.nodes), f"{port.node}: {table}"


def test_verify_sees_the_simulated_fabric_cabled_as_planned(ib_lab: IbLab) -> None:
    for sim in ib_lab.subnets:
        report = verify(ib_lab.files["cabling.csv"], ib_lab.files["plan.json"],
                        ibnetdiscover=sim.diag("ibnetdiscover"))
        assert report.checked == len(sim.subnet.ports) + len(sim.subnet.leaves) * len(sim.subnet.spines)
        assert report.miswires == [], report.miswires


def test_verify_finds_two_swapped_cables_in_a_simulated_fabric(ib_lab: IbLab) -> None:
    """ibsim on the rail-0 topology with two host cables swapped on purpose (gpu1 and gpu3 trade leaf ports)."""
    sim = ib_lab.subnets[0]
    text = (sim.dir / "ibsim.net").read_text()
    text = text.replace('"gpu1 mlx5_0"', '"@A@"').replace('"gpu3 mlx5_0"', '"gpu1 mlx5_0"').replace('"@A@"',
                                                                                                    '"gpu3 mlx5_0"')
    bad = SimSubnet(sim.subnet, f"{sim.ns}x", sim.dir.with_name("swapped"))
    bad.dir.mkdir()
    (bad.dir / "ibsim.net").write_text(text)
    _run("ip", "netns", "add", bad.ns)
    try:
        bad.start("ibsim", "ibsim", "-s", "-n", "ibsim.net", env=dict(os.environ))
        _wait("ibsim (swapped)", lambda: "simulator ready" in (bad.dir / "ibsim.out").read_text())
        report = verify(ib_lab.files["cabling.csv"], ib_lab.files["plan.json"],
                        ibnetdiscover=bad.diag("ibnetdiscover", host="gpu2 mlx5_0"))
    finally:
        bad.stop("ibsim")
        subprocess.run(["ip", "netns", "delete", bad.ns], capture_output=True)
    assert sorted((m.expected, m.seen) for m in report.miswires) == [
        ("leaf-su01-r0 1 — gpu1 rail0", "leaf-su01-r0 1 — gpu3 rail0"),
        ("leaf-su02-r0 1 — gpu3 rail0", "leaf-su02-r0 1 — gpu1 rail0"),
    ]
    assert len({m.fix for m in report.miswires}) == 1 and "swap" in report.miswires[0].fix


def test_standby_sm_takes_over_when_the_primary_stops(ib_lab: IbLab) -> None:
    """Last in the file: it stops the primaries."""
    for sim in ib_lab.subnets:
        primary, standby = sim.subnet.managers
        assert sim.sminfo() == (primary.guid, ib.PRIMARY_PRIORITY, "SMINFO_MASTER")
        started = time.monotonic()
        sim.stop("primary")
        _wait(f"the standby of {sim.subnet.name} to become master",
              lambda s=sim, g=standby.guid: _master(s) == g, timeout=60)
        took = time.monotonic() - started
        assert sim.sminfo() == (standby.guid, ib.STANDBY_PRIORITY, "SMINFO_MASTER")
        out = sim.diag("ibstat", host=ib.describe(sim.subnet.ports[-1]))
        assert re.search(r"SM lid: (\d+)", out)[1] == str(_lids(sim)[ib.describe(standby)]), out  # type: ignore[index]
        print(f"{sim.subnet.name}: standby master {took:.1f} s after the primary stopped")


def _master(sim: SimSubnet) -> str | None:
    """The master SM's port GUID; None while the SM lid the ports know answers nothing (between masters)."""
    try:
        return sim.sminfo()[0]
    except AssertionError:
        return None


def _lids(sim: SimSubnet) -> dict[str, int]:
    """Node description → LID (switch port 0 or host port) from ibnetdiscover."""
    return parse_ibnetdiscover(sim.diag("ibnetdiscover")).lids
