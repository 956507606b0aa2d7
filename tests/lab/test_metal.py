"""The metal lab end to end (tier: lab): `vagrant up` builds the lab and provisions the PXE server with
the generated inventory; a blank VM behind sushy-tools goes from powered-off to an installed Debian
reachable over SSH entirely through `anyrack deploy`; the base role and its checks pass on it; a PXE
server that does not answer fails the deploy naming node and stage; the same node is deployed again
through its BMC's virtual media with DHCP stopped; `vagrant destroy -f` leaves nothing behind. QEMU
runs under TCG here (no usable KVM): each step's time is printed.

The tests share one lab and run in file order (each builds on the one before).

The tier starts cold, as on a new user's machine: its own empty cache directory (``XDG_CACHE_HOME``), so the
box, the lab's SSH key and the apt cache are made from nothing while ``vagrant up`` brings both machines
up in parallel (the race a warm cache hides). ``ANYRACK_LAB_WARM=1`` keeps the user's cache instead, for
quicker runs by hand. The box this run added to Vagrant is removed again at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import testinfra

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _why_not() -> str | None:
    from anyrack.lab.metal import box, virt

    missing = virt.missing_prerequisites() + box.missing_prerequisites()
    if shutil.which("sushy-emulator", path=str(BIN)) is None:
        missing.append("sushy-emulator (dev dependency sushy-tools)")
    if missing:
        return "metal lab unavailable: " + "; ".join(missing)
    if virt.domains():
        return f"metal lab domains exist already ({', '.join(virt.domains())}): `vagrant destroy -f` first"
    return None


class Metal:
    def __init__(self) -> None:
        from anyrack.lab.metal.lab import key_path
        from anyrack.lab.metal.plan import LabSpec, make_plan

        self.plan = make_plan(LabSpec())
        self.state = Path(self.plan.state_dir)
        self.site = self.state / "site.yaml"
        self.key = key_path()
        self.env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "VAGRANT_CHECKPOINT_DISABLE": "1",
                    "VAGRANT_DEFAULT_PROVIDER": "libvirt", "ANYRACK": str(BIN / "anyrack")}
        self.times: dict[str, float] = {}
        self.cold = False

    def run(self, step: str, cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        start = time.monotonic()
        logs = ROOT / ".cache" / "metal-lab"  # kept for CI's artifacts and for reading a failure whole
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{step.replace(' ', '-')}.log"
        try:
            done = subprocess.run(cmd, cwd=ROOT, env=self.env, text=True, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:  # what it had said so far, to see where it stood
            said = [x.decode(errors="replace") if isinstance(x, bytes) else (x or "") for x in (err.stdout, err.stderr)]
            log.write_text(f"$ {' '.join(cmd)}\n(timed out after {timeout:.0f} s)\n{said[0]}\n{said[1]}")
            pytest.fail(f"{step}: timed out after {timeout:.0f} s; last output:\n{said[0][-3000:]}\n{said[1][-1000:]}")
        self.times[step] = time.monotonic() - start
        log.write_text(f"$ {' '.join(cmd)}\n{done.stdout}\n{done.stderr}")
        print(f"\nmetal lab: {step}: {self.times[step]:.0f} s (rc {done.returncode})")
        return done

    def anyrack(self, step: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.run(step, [str(BIN / "anyrack"), *args], timeout)

    def ssh(self, address: str, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ssh", "-i", str(self.key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                               "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", f"anyrack@{address}",
                               command], text=True, capture_output=True, timeout=120)

    def keep_bmc_logs(self) -> None:
        """The BMCs' logs (sushy-tools' requests and errors) kept beside the step logs: destroy removes them."""
        logs = ROOT / ".cache" / "metal-lab"
        logs.mkdir(parents=True, exist_ok=True)
        for log in (self.state / "bmc").glob("*/*.log"):
            shutil.copyfile(log, logs / f"bmc-{log.parent.name}-{log.name}")

    def machine(self, name: str):  # noqa: ANN201
        return next(m for m in self.plan.machines if m.name == name)


@pytest.fixture(scope="module")
def cold_cache():  # noqa: ANN201
    """An empty XDG cache for this module (see the module's docstring), removed afterwards."""
    if os.environ.get("ANYRACK_LAB_WARM") == "1":
        yield None
        return
    cache = ROOT / ".cache" / "metal-lab-xdg-cache"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache))
        yield cache
    shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(scope="module")
def metal(cold_cache):  # noqa: ANN001, ANN201
    if (reason := _why_not()) is not None:
        pytest.skip(reason)
    lab = Metal()
    lab.cold = cold_cache is not None
    try:
        yield lab
    finally:
        if lab.times.get("destroy") is None:
            lab.keep_bmc_logs()
            lab.run("destroy", ["vagrant", "destroy", "-f"], 600)
        if cold_cache is not None:  # this run's box (named by its fresh key) is of no use to a later run
            lab.run("box remove", ["vagrant", "box", "remove", "--force", "--all", lab.plan.box], 300)
        print("\nmetal lab timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in lab.times.items()))


def test_vagrant_up_builds_the_lab_and_provisions_the_pxe_server(metal: Metal) -> None:
    done = metal.run("vagrant up", ["vagrant", "up"], 1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    out = done.stdout
    assert "QEMU TCG" in out or "KVM" in out  # the accelerator is said
    if metal.cold:  # both machines' triggers ran on an empty cache: exactly one built the box, the other reused it
        assert out.count("box: mmdebstrap") == 1 and out.count("box: built in") == 1, out[-6000:]
        assert "box: cached" in out
    assert "PLAY RECAP" in out and "pxe1" in out.split("PLAY RECAP", 1)[1]
    recap = out.split("PLAY RECAP", 1)[1].splitlines()[1]
    assert "failed=0" in recap and "unreachable=0" in recap, recap
    pxe = metal.machine("pxe1").address
    active = metal.ssh(pxe, "systemctl is-active dnsmasq nginx")
    assert active.stdout.split() == ["active", "active"], active.stdout + active.stderr
    with urllib.request.urlopen(f"http://{pxe}:8080/boot/52-54-00-78-00-11.ipxe", timeout=30) as answer:
        script = answer.read().decode()
    assert "anyrack.node=metal1" in script and "anyrack.callback=http://10.78.0.1:8750" in script


def test_bare_metal_waits_powered_off_behind_its_bmc(metal: Metal) -> None:
    out = metal.state / "facts"
    env_pw = (metal.state / "bmc-password").read_text().strip()
    done = metal.anyrack("discover", "discover", str(metal.site), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    facts = json.loads((out / "metal1.json").read_text())
    assert facts["system"]["power_state"] == "Off"
    assert metal.machine("metal1").mac in [n["mac"].lower() for n in facts["nics"]]
    assert env_pw not in done.stdout + done.stderr


def test_a_pxe_server_that_does_not_answer_fails_naming_node_and_stage(metal: Metal) -> None:
    pxe = metal.machine("pxe1").address
    assert metal.ssh(pxe, "sudo systemctl stop dnsmasq").returncode == 0
    try:
        done = metal.anyrack("deploy without DHCP", "deploy", str(metal.site), "--limit", "metal1", "--force", "--yes",
                             "--pxe-timeout", "120", "--ssh-user", "anyrack", "--ssh-key", str(metal.key))
    finally:
        assert metal.ssh(pxe, "sudo systemctl start dnsmasq").returncode == 0
    assert done.returncode == 1
    assert "metal1: FAILED at pxe: no deploy ramdisk called back within 120 s" in done.stdout
    assert "52:54:00:78:00:11" in done.stdout


def test_anyrack_deploy_takes_a_blank_vm_to_ssh(metal: Metal) -> None:
    done = metal.anyrack("deploy", "deploy", str(metal.site), "--limit", "metal1", "--force", "--yes",
                         "--ssh-user", "anyrack", "--ssh-key", str(metal.key), "--json", timeout=2400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    node = json.loads(done.stdout)["nodes"][0]
    assert node["ok"] and node["attempts"] == 1
    assert list(node["stages"]) == ["bmc", "boot-override", "power-on", "pxe", "write", "power-off", "boot-disk",
                                    "ssh"]
    print("metal lab: deploy stages: " + ", ".join(f"{k} {v:.0f} s" for k, v in node["stages"].items()))
    for line in ("metal1: boot-override: network boot (PXE), once", "metal1: write: ramdisk up: writing the image",
                 "metal1: deployed in"):
        assert line in done.stderr
    assert metal.ssh(metal.machine("metal1").address, "hostname").stdout.strip() == "metal1"


def test_the_base_role_passes_on_the_deployed_node(metal: Metal) -> None:
    args = ["provision", str(metal.site), "--playbook", "base.yml", "--limit", "metal1",
            "--private-key", str(metal.key), "-e", f"@{metal.state / 'lab-vars.yml'}"]
    first = metal.anyrack("base role", *args, timeout=1800)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    second = metal.anyrack("base role again", *args, timeout=900)
    assert second.returncode == 0
    recap = [line for line in second.stdout.splitlines() if line.startswith("metal1")]
    assert recap and recap[0].split()[2] == "0", second.stdout[-2000:]  # changed column: nothing changed


def test_base_testinfra_on_the_deployed_node(metal: Metal, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host metal1\n  HostName {metal.machine('metal1').address}\n  User anyrack\n"
                      f"  IdentityFile {metal.key}\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n")
    host = testinfra.get_host("paramiko://metal1", ssh_config=str(config), sudo=True)
    assert host.check_output("hostname") == "metal1"
    for package in ("ca-certificates", "curl", "rsync", "python3-apt", "chrony"):
        assert host.package(package).is_installed, package
    assert host.service("chrony").is_running and host.service("chrony").is_enabled
    assert " -x" not in host.check_output("ps -o args= -C chronyd")  # a VM sets its own clock
    assert host.sysctl("vm.swappiness") == 10  # not a container: vm.* applies
    assert host.file("/etc/localtime").linked_to.endswith("Etc/UTC")
    effective = host.check_output("sshd -T").lower().splitlines()
    for line in ("passwordauthentication no", "x11forwarding no", "maxauthtries 4"):
        assert line in effective, line
    assert host.mount_point("/").filesystem == "ext4"
    assert host.check_output("lsblk -dno NAME,SIZE /dev/vda").split() == ["vda", "4G"]


def test_virtual_media_deploys_the_node_again_without_dhcp(metal: Metal) -> None:
    """The second path: the node's ISO through sushy-tools' virtual media, with DHCP stopped on the PXE
    server until the ramdisk has called back (firmware, GRUB, kernel and ramdisk ran with no DHCP, TFTP or
    iPXE). DHCP comes back then, because the lab box's installed OS takes its own address by DHCP; the disk
    is written afresh (a marker left on the old OS is gone)."""
    pxe, node = metal.machine("pxe1").address, metal.machine("metal1").address
    with urllib.request.urlopen(f"http://{pxe}:8080/media/metal1.iso", timeout=30) as answer:
        assert answer.read(0x8006)[0x8001:] == b"CD001"  # an ISO 9660 volume, served by the PXE server
    assert metal.ssh(node, "sudo touch /var/tmp/before-virtual-media").returncode == 0
    assert metal.ssh(pxe, "sudo systemctl stop dnsmasq").returncode == 0
    cmd = [str(BIN / "anyrack"), "deploy", str(metal.site), "--limit", "metal1", "--force", "--yes",
           "--via", "virtual-media", "--media-url", f"http://{pxe}:8080/media/{{node}}.iso",
           "--ssh-user", "anyrack", "--ssh-key", str(metal.key), "--json"]
    start, progress = time.monotonic(), []
    proc = subprocess.Popen(cmd, cwd=ROOT, env=metal.env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for line in proc.stderr:  # progress, one line per stage
            progress.append(line)
            if "metal1: write: ramdisk up" in line:
                break
    finally:
        dhcp_back = metal.ssh(pxe, "sudo systemctl start dnsmasq").returncode == 0
    err, out = proc.stderr.read(), proc.stdout.read()  # the JSON report (stdout) is small and comes last
    proc.wait(timeout=60)
    metal.times["deploy by virtual media"] = time.monotonic() - start
    stderr = "".join(progress) + err
    (ROOT / ".cache/metal-lab/deploy-by-virtual-media.log").write_text(f"$ {' '.join(cmd)}\n{out}\n{stderr}")
    assert dhcp_back and proc.returncode == 0, out[-3000:] + stderr[-3000:]
    assert "metal1: write: ramdisk up" in "".join(progress)  # reached while DHCP was still stopped
    result = json.loads(out)["nodes"][0]
    assert result["ok"] and result["attempts"] == 1
    assert list(result["stages"]) == ["bmc", "media", "boot-override", "power-on", "media-boot", "write",
                                      "power-off", "boot-disk", "ssh"]
    print("metal lab: virtual media stages: " + ", ".join(f"{k} {v:.0f} s" for k, v in result["stages"].items()))
    assert "metal1: boot-override: virtual CD, once" in stderr
    assert metal.ssh(node, "hostname").stdout.strip() == "metal1"
    assert metal.ssh(node, "test -e /var/tmp/before-virtual-media").returncode == 1  # a fresh disk


def test_vagrant_destroy_leaves_nothing_behind(metal: Metal) -> None:
    from anyrack.lab.metal import bmcs, virt

    metal.keep_bmc_logs()
    done = metal.run("destroy", ["vagrant", "destroy", "-f"], 600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert virt.domains() == []
    nets = virt.virsh("net-list", "--all", "--name").stdout.split()
    assert metal.plan.network not in nets and metal.plan.mgmt_network not in nets
    assert metal.plan.pool not in virt.virsh("pool-list", "--all", "--name").stdout.split()
    assert subprocess.run(["ip", "link", "show", metal.plan.bridge], capture_output=True).returncode != 0
    assert bmcs.running(metal.plan) == {}
    live = subprocess.run(["ps", "-eo", "stat=,args="], capture_output=True, text=True).stdout.splitlines()
    for proc in ("sushy-emulator", "vbmcd"):  # zombies left to a PID 1 that reaps nothing do not count
        assert not [line for line in live if proc in line and not line.lstrip().startswith("Z")], proc
    assert not Path(metal.plan.vm_dir).exists() and not metal.site.exists()
