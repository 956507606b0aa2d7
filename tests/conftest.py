"""Test tiers (every test belongs to exactly one tier, a pytest marker; tests/unit/ is the unit tier),
and the host lab the roles tier shares: three nspawn hosts for the whole session (tests/roles and the
testinfra suites in tests/infra), removed and checked gone at the end."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

TIERS = ("unit", "bmc", "iac", "roles", "fabric", "lab", "package")
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(ROOT / "tests" / "unit"):
            item.add_marker(pytest.mark.unit)
        tiers = [t for t in TIERS if item.get_closest_marker(t)]
        if len(tiers) != 1:
            raise pytest.UsageError(f"{item.nodeid}: needs exactly one tier marker of {TIERS}, has {tiers}")


# roles run on this machine (unit tier) ------------------------------------------------------------
@pytest.fixture(scope="session")
def ansible_play():  # noqa: ANN201
    """A function that runs ``<workdir>/play.yml`` on ``<workdir>/hosts.yml`` with this repo's ansible.cfg, roles
    and collections, the modules in ``<workdir>/library``, Ansible's temporary files under the workdir, and the
    JSON callback; it returns the callback's report (kept as ``<workdir>/report.json`` for a failing test's
    reader). Skips where ansible-playbook is not installed."""
    playbook = BIN / "ansible-playbook"
    if not playbook.is_file():
        pytest.skip("ansible-playbook is not installed in this environment")

    def play(workdir: Path, *, path: str | None = None, timeout: float = 600, env: dict | None = None) -> dict:
        full = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
                "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"), "ANSIBLE_LIBRARY": str(workdir / "library"),
                "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_FORKS": "16", "ANSIBLE_NOCOWS": "1",
                "ANSIBLE_LOCAL_TEMP": str(workdir / "tmp"), "ANSIBLE_HOME": str(workdir / "home"),
                "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_PIPELINING": "1",
                "PATH": path or f"{BIN}:{os.environ.get('PATH', '')}", **(env or {})}
        done = subprocess.run([str(playbook), "-i", str(workdir / "hosts.yml"), str(workdir / "play.yml")],
                              capture_output=True, text=True, env=full, cwd=workdir, timeout=timeout)
        assert done.stdout.lstrip().startswith("{"), done.stdout[-4000:] + done.stderr[-4000:]
        (workdir / "report.json").write_text(done.stdout)
        return json.loads(done.stdout)

    return play


# the host lab (roles tier) ---------------------------------------------------------------------
def _why_not() -> str | None:
    from anyrack.lab.hosts import missing_prerequisites

    missing = missing_prerequisites()
    if missing:
        return "host lab unavailable: " + "; ".join(missing) + \
            " (apt: systemd-container mmdebstrap apt-cacher-ng iproute2 openssh-client util-linux)"
    return None


def run_bounded(argv: list[str], *, timeout: float, **kwargs) -> subprocess.CompletedProcess[str]:
    """subprocess.run that cannot hang: on timeout the command's whole process group is killed (an
    ansible-playbook's workers and ssh hold its pipes, so killing the command alone leaves the read
    waiting on them) and the test fails with what the command wrote so far."""
    with subprocess.Popen(argv, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          start_new_session=True, **kwargs) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            try:
                out, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                out, err = "", "(output lost: something outside the process group kept the pipes open)"
            raise AssertionError(f"{' '.join(argv[:6])}: no answer after {timeout:.0f} s, killed\n"
                                 f"{(out or '')[-6000:]}\n{(err or '')[-2000:]}") from None
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@dataclass
class Lab:
    state_dir: Path

    @staticmethod
    def changed(output: str) -> dict[str, int]:
        """host -> changed count from a PLAY RECAP."""
        return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)}

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run ``anyrack ARGS`` (the installed console script) and return its result."""
        proc = run_bounded([str(BIN / "anyrack"), *args], timeout=timeout,
                           env={**os.environ, "ANYRACK_LAB_BMC_PASSWORD": "anyrack-lab"}, cwd=ROOT)
        if check and proc.returncode != 0:
            raise AssertionError(f"anyrack {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def exec(self, node: str, *command: str, check: bool = True,
             timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.cli("lab", "exec", "--state-dir", str(self.state_dir), node, "--", *command, check=check,
                        timeout=timeout)

    def status(self) -> list[dict[str, str]]:
        return json.loads(self.cli("lab", "status", "--state-dir", str(self.state_dir), "--json").stdout)

    def playbook(self, name: str = "site.yml", *extra: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """Run a playbook against the generated lab inventory, as the lab user with the lab key; a run
        past ``timeout`` seconds is killed and fails the test."""
        env = {**os.environ, "ANSIBLE_ROLES_PATH": str(ROOT / "roles"), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
               "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "ANSIBLE_FORCE_COLOR": "0"}
        return run_bounded([str(BIN / "ansible-playbook"), "-i", str(self.state_dir / "generated"),
                            "--private-key", str(self.state_dir / "id_ed25519"),
                            "-e", f"@{self.state_dir / 'lab-vars.yml'}", *extra, str(ROOT / "playbooks" / name)],
                           timeout=timeout, env=env, cwd=ROOT)


def leftovers(state_dir: Path) -> list[str]:
    """Whatever a lab left behind: bridge, mounts, processes, cgroups, state."""
    found = []
    if subprocess.run(["ip", "link", "show", "anyrack0"], capture_output=True).returncode == 0:
        found.append("bridge anyrack0")
    found += [line for line in Path("/proc/mounts").read_text().splitlines() if str(state_dir) in line]
    for pid in Path("/proc").iterdir():
        if pid.name.isdigit():
            try:
                cmd = (pid / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(state_dir) in cmd:
                found.append(f"process {pid.name}: {cmd[:120]}")
    found += [str(p) for p in Path("/sys/fs/cgroup").glob("*/anyrack-lab")]
    found += [str(state_dir / n) for n in ("state.json", "hosts") if (state_dir / n).exists()]
    return found


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory):
    """Three hosts (ctl1, gpu1, gpu2) up for the session; at the end `lab down` must leave nothing behind."""
    if reason := _why_not():
        pytest.skip(reason)
    if subprocess.run(["ip", "link", "show", "anyrack0"], capture_output=True).returncode == 0:
        pytest.skip("a host lab is already running (bridge anyrack0 exists): `anyrack lab down` first")
    state_dir = tmp_path_factory.mktemp("hostlab")
    lab = Lab(state_dir)
    lab.cli("lab", "up", "--hosts", "4", "--state-dir", str(state_dir), timeout=600)
    try:
        yield lab
    finally:
        lab.cli("lab", "down", "--state-dir", str(state_dir), check=False)
        left = leftovers(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)
        assert not left, f"lab down left: {left}"


@pytest.fixture(scope="session")
def provisioned(lab: Lab) -> dict[str, subprocess.CompletedProcess[str]]:
    """discover → inventory generate → playbooks/site.yml, twice (the second run must change nothing).

    The cluster starts with ctl1, gpu1 and gpu2 (``site-3.yaml``: the lab's site without gpu3); gpu3 is
    the host that tests/roles/test_add_remove_node.py brings in and takes out again.
    """
    site = lab.state_dir / "site.yaml"
    lab.cli("discover", str(site), "--out", str(lab.state_dir / "facts"))
    lab.cli("inventory", "generate", str(first_three(lab)), "--facts", str(lab.state_dir / "facts"))
    first = lab.playbook()
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
    second = lab.playbook()
    assert second.returncode == 0, second.stdout[-6000:] + second.stderr[-2000:]
    return {"first": first, "second": second}


def first_three(lab: Lab) -> Path:
    """The lab's site file without gpu3 (written once; its inventory goes to the same generated/ dir)."""
    import yaml

    path = lab.state_dir / "site-3.yaml"
    if not path.exists():
        doc = yaml.safe_load((lab.state_dir / "site.yaml").read_text())
        doc["nodes"] = [n for n in doc["nodes"] if n["name"] != "gpu3"]
        for partition in doc["slurm"]["partitions"]:
            partition["nodes"] = ",".join(n for n in partition["nodes"].split(",") if n != "gpu3")
        path.write_text(yaml.safe_dump(doc, sort_keys=False, width=200))
    return path


@pytest.fixture(scope="session")
def site_three(lab: Lab) -> Path:
    """The lab's site without gpu3 (see :func:`first_three`)."""
    return first_three(lab)
