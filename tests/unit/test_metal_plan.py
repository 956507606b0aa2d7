"""The metal lab's plan (what the Vagrantfile reads), its site file and the accelerator choice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from anyrack.lab.metal.box import Box, box_key
from anyrack.lab.metal.plan import LabSpec, MetalSpecError, detect_accel, load_spec, make_plan
from anyrack.lab.metal.site import site_text, vars_text
from anyrack.lab.metal.virt import network_xml
from anyrack.site import load_site

pytestmark = pytest.mark.unit
VMX = "processor : 0\nflags\t\t: fpu vme sse2 vmx ept\n"
NO_VMX = "processor : 0\nflags\t\t: fpu vme sse2 hypervisor\n"


def test_accel_is_kvm_only_with_the_device_and_the_cpu_flag(tmp_path: Path) -> None:
    dev = tmp_path / "kvm"
    assert detect_accel(VMX, str(dev))[0] == "qemu"
    dev.touch()
    assert detect_accel(VMX, str(dev)) == ("kvm", "KVM (hardware virtualisation)")
    accel, reason = detect_accel(NO_VMX, str(dev))
    assert accel == "qemu" and "no vmx/svm flag" in reason


def test_default_plan_has_a_pxe_server_and_one_bare_metal_vm(tmp_path: Path) -> None:
    plan = make_plan(LabSpec(), state=tmp_path / "s", cache=tmp_path / "c", cpuinfo=NO_VMX)
    assert [(m.name, m.kind, m.address, m.mac, m.redfish_port, m.ipmi_port) for m in plan.machines] == [
        ("pxe1", "installed", "10.78.0.2", "52:54:00:78:00:02", 8100, 6230),
        ("metal1", "metal", "10.78.0.11", "52:54:00:78:00:11", 8101, 6231)]
    assert plan.gateway == "10.78.0.1" and plan.prefix == 24
    key = box_key((tmp_path / "c/id_ed25519.pub").read_text(), apt_url="http://10.78.0.1:3142")
    assert plan.box == f"anyrack/debian12-{key}" and plan.ssh_key == str(tmp_path / "c/id_ed25519")
    assert plan.box_file == str(tmp_path / f"c/debian-bookworm-{key}/anyrack-debian12.box")


def test_lab_yaml_sizes_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text("installed: [{name: head, memory_mib: 2048}]\nmetal: {count: 3, prefix: node, disk_gib: 8}\n"
                    "accel: qemu\n")
    plan = make_plan(load_spec(path), state=tmp_path, cache=tmp_path)
    assert plan.box == "anyrack/debian12" or plan.box.startswith("anyrack/debian12-")
    assert [m.name for m in plan.machines] == ["head", "node1", "node2", "node3"]
    assert plan.machines[0].memory_mib == 2048 and plan.metal()[2].disk_gib == 8
    assert plan.accel == "qemu" and plan.accel_reason == "qemu (lab.yaml)"


@pytest.mark.parametrize(("text", "message"), [
    ("metal: {count: 99}\n", "lab.yaml: metal.count: Input should be less than or equal to 8"),
    ("installed: []\n", "lab.yaml: installed: List should have at least 1 item"),
    ("box: [x\n", "lab.yaml: line 2:"),
    ("metal: {disks: 2}\n", "lab.yaml: metal.disks: Extra inputs are not permitted"),
])
def test_bad_lab_yaml_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    with pytest.raises(MetalSpecError) as err:
        load_spec(path)
    assert str(err.value).startswith(str(tmp_path / message))
    assert err.value.exit_code == 2


def test_the_lab_site_file_is_a_valid_site(tmp_path: Path) -> None:
    plan = make_plan(LabSpec(), state=tmp_path, cache=tmp_path, cpuinfo=NO_VMX)
    (tmp_path / "pw").write_text("secret")
    site_file = tmp_path / "site.yaml"
    site_file.write_text(site_text(plan, tmp_path / "pw"))
    site = load_site(site_file)
    roles = {n.name: (n.role, n.boot_mac, n.addresses.management, n.bmc.url) for n in site.nodes}
    assert roles == {"pxe1": ("controller", "52:54:00:78:00:02", "10.78.0.2", "redfish+https://127.0.0.1:8100"),
                     "metal1": ("compute", "52:54:00:78:00:11", "10.78.0.11", "redfish+https://127.0.0.1:8101")}
    assert "secret" not in site_file.read_text()


def test_lab_vars_point_the_pxe_server_at_the_box(tmp_path: Path) -> None:
    plan = make_plan(LabSpec(), state=tmp_path, cache=tmp_path, cpuinfo=NO_VMX)
    box = Box(tmp_path / "box")
    box.dir.mkdir()
    (box.dir / "disk.raw.gz.sha256").write_text("ab" * 32 + "  disk.raw.gz\n")
    data = yaml.safe_load(vars_text(plan, box, tmp_path / "key"))
    assert data["pxe_server_address"] == "10.78.0.2" and data["pxe_server_callback"] == "http://10.78.0.1:8750"
    assert data["pxe_server_image"] == {"name": "debian12", "kernel": str(box.kernel), "initrd": str(box.initrd),
                                        "disk": str(box.disk_gz), "sha256": "ab" * 32}
    assert data["pxe_server_virtual_media"] is True  # ISOs for `anyrack deploy --via virtual-media`
    assert "base_apt_mirror" not in data  # the box's sources.list points at the lab's apt cache already


def test_provisioning_network_is_isolated_without_dhcp() -> None:
    xml = network_xml(make_plan(LabSpec(), cpuinfo=NO_VMX))
    assert "<forward" not in xml and "<dhcp" not in xml and "<dns enable='no'/>" in xml
    assert "<ip address='10.78.0.1' prefix='24'/>" in xml


def test_box_key_changes_with_the_key_baked_in() -> None:
    assert box_key("ssh-ed25519 AAA one") != box_key("ssh-ed25519 AAA two")
    assert box_key("ssh-ed25519 AAA one") == box_key("ssh-ed25519 AAA one\n")


def test_plan_json_is_what_the_vagrantfile_reads(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "anyrack.cli.main", "lab", "metal", "plan", "--json",
                           "--config", str(tmp_path / "absent.yaml")], capture_output=True, text=True, check=True)
    data = json.loads(done.stdout)
    vagrantfile = (Path(__file__).resolve().parents[2] / "Vagrantfile").read_text()
    for key in ("accel", "accel_reason", "box", "box_file", "ssh_key", "state_dir", "vm_dir", "emulator", "network",
                "pool", "mgmt_network", "mgmt_cidr"):
        assert key in data and (f'PLAN["{key}"]' in vagrantfile or f"PLAN['{key}']" in vagrantfile), key
    for key in ("name", "kind", "address", "mac", "memory_mib", "cpus", "disk_gib"):
        assert key in data["machines"][0] and (f'm["{key}"]' in vagrantfile or f"m['{key}']" in vagrantfile)
