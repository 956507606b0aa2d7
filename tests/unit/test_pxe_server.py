"""pxe_server at the configuration level: the role run by ansible-playbook on this machine (no lab, no network)
for a two-node inventory, with pxe_server_root and pxe_server_sysroot in a temporary directory per PXE host and
pxe_server_install false (no packages, no services). The files it writes are compared whole (dnsmasq, nginx, the
iPXE scripts), the dnsmasq file goes through `dnsmasq --test` when dnsmasq is here, the deploy overlay is read back
as a newc cpio, the installer answer files are compared with golden files in tests/fixtures/pxe/ and parsed, bad
values must stop the role at its asserts, and running the role again must change nothing."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "pxe_server"
BIN = Path(sys.executable).parent
GOLDEN = ROOT / "tests" / "fixtures" / "pxe"
INIT = ROLE / "files" / "deploy" / "init"

DEBIAN12 = {"distribution": "Debian", "distribution_major_version": "12", "os_family": "Debian"}
ROCKY9 = {"distribution": "Rocky", "distribution_major_version": "9", "os_family": "RedHat"}
KEYS = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHdGzL0vCpMFdKkB0JY3f0bqZbQ2l6U3gH6n0m2pXy5a admin@ops",
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 second@ops"]
DISK = b"not really a disk image\n" * 64
SHA256 = hashlib.sha256(gzip.compress(DISK, mtime=0)).hexdigest()

# the compute nodes of the inventory: node03 has no boot MAC, so it is not a PXE node; node02 is written
# as `anyrack inventory generate` writes it (anyrack_node.boot_mac, a provisioning address)
NODES = {
    "node01": {"ansible_host": "10.78.0.11", "anyrack_boot_mac": "52:54:00:AA:00:01"},
    "node02": {"ansible_host": "10.77.0.12", "anyrack_node": {
        "boot_mac": "52-54-00-aa-00-02", "addresses": {"management": "10.77.0.12", "provisioning": "10.78.0.12"}}},
    "node03": {"ansible_host": "10.78.0.13"},
}
COMMON = {"pxe_server_interface": "provnic0", "pxe_server_address": "10.78.0.1", "pxe_server_prefix": 24,
          "pxe_server_callback": "http://10.78.0.1:8750", "pxe_server_install": False}
INSTALLER = {"pxe_server_ssh_keys": KEYS, "pxe_server_admin_user": "ops", "pxe_server_installer_disk": "/dev/nvme0n1",
             "pxe_server_timezone": "Europe/Berlin"}
# PXE host -> (facts, role variables); each gets its own root and sysroot
GOOD = {
    "pxe-image": (DEBIAN12, {"pxe_server_gateway": "10.78.0.254", "pxe_server_image_sha256": True}),
    "pxe-nogw": (DEBIAN12, {"pxe_server_efi_binary": "ipxe.efi", "pxe_server_http_port": 8081}),
    "pxe-preseed": (DEBIAN12, {**INSTALLER, "pxe_server_installer": "preseed",
                               "pxe_server_installer_mirror": "http://mirror.site.example/debian/",
                               "pxe_server_installer_proxy": "http://proxy.site.example:3128"}),
    "pxe-autoinstall": (DEBIAN12, {**INSTALLER, "pxe_server_installer": "autoinstall",
                                   "pxe_server_installer_proxy": "http://proxy.site.example:3128"}),
    "pxe-kickstart": (ROCKY9, {**INSTALLER, "pxe_server_installer": "kickstart",
                               "pxe_server_installer_mirror": "http://mirror.site.example/rocky/9"}),
}
# virtual media ISOs need grub-mkrescue (apt: grub-pc-bin grub-efi-amd64-bin xorriso mtools; scripts/system-deps)
MKRESCUE = shutil.which("grub-mkrescue")
if MKRESCUE:
    GOOD["pxe-media"] = (DEBIAN12, {"pxe_server_virtual_media": True, "pxe_server_gateway": "10.78.0.254"})
_OUTSIDE = [{"name": "stray", "mac": "52:54:00:aa:00:09", "address": "10.99.0.9"}]
_TWICE = [{"name": "a", "mac": "52:54:00:aa:00:0a", "address": "10.78.0.21"},
          {"name": "b", "mac": "52:54:00:AA:00:0A", "address": "10.78.0.22"}]
# PXE host -> (role variables, the start of the assert message it must stop at)
BAD = {
    "bad-outside": ({"pxe_server_nodes": _OUTSIDE},
                    "node stray needs a MAC address, an IPv4 address inside 10.78.0.0/24 other than the network, "
                    "broadcast and PXE host's (10.78.0.1)"),
    "bad-same-mac": ({"pxe_server_nodes": _TWICE}, "two nodes share a name, MAC or address"),
    "bad-checksum": ({"pxe_server_image_sha256": "0" * 64}, "/"),
    "bad-no-callback": ({"pxe_server_callback": ""}, "pxe_server_callback must be the URL of the deploy callback"),
    "bad-no-interface": ({"pxe_server_interface": ""}, "pxe_server_interface must name the provisioning NIC"),
    "bad-installer-keys": ({"pxe_server_installer": "kickstart", "pxe_server_ssh_keys": []},
                           "the kickstart answer files need pxe_server_admin_user"),
}
# hosts the role runs on again (changed=0)
AGAIN = ["pxe-image"] + (["pxe-media"] if MKRESCUE else [])

DNSMASQ = """\
# Ansible managed
# anyrack PXE: DHCP and TFTP on the provisioning network only, for the MACs listed here only; no DNS
interface=provnic0
bind-interfaces
port=0

# addresses come from the dhcp-host lines only; a MAC not listed there gets no answer at all
dhcp-range=10.78.0.0,static,255.255.255.0
dhcp-ignore=tag:!known
{router}dhcp-host=52:54:00:aa:00:01,10.78.0.11,node01
dhcp-host=52:54:00:aa:00:02,10.78.0.12,node02

# firmware PXE clients load iPXE by TFTP: BIOS (client-arch 0) undionly.kpxe, x86-64 UEFI (7, 9) {efi}
enable-tftp
tftp-root={root}/tftp
dhcp-match=set:bios,option:client-arch,0
dhcp-match=set:efi64,option:client-arch,7
dhcp-match=set:efi64,option:client-arch,9
# iPXE itself (option 175) fetches its node's script over HTTP: ${{mac:hexhyp}} is iPXE's, not dnsmasq's
dhcp-match=set:ipxe,175
dhcp-boot=tag:!ipxe,tag:bios,undionly.kpxe
dhcp-boot=tag:!ipxe,tag:efi64,{efi}
dhcp-boot=tag:ipxe,http://10.78.0.1:{port}/boot/${{mac:hexhyp}}.ipxe
"""
NGINX = """\
# Ansible managed
# anyrack PXE: boot scripts, images, the deploy overlay and answer files on the provisioning address only
server {{
    listen 10.78.0.1:{port};
    server_name _;
    root {root};
    autoindex off;
    server_tokens off;
    access_log /var/log/nginx/anyrack-pxe.access.log;
    error_log /var/log/nginx/anyrack-pxe.error.log;

    location / {{
        return 404;
    }}
    # a node whose script is missing boots its next device
    location /boot/ {{
        default_type text/plain;
        try_files $uri /boot/default.ipxe;
    }}
    location /images/ {{
    }}
    location = /deploy/deploy.cpio.gz {{
    }}
    location /installers/ {{
        default_type text/plain;
    }}
}}
"""
IPXE = """\
#!ipxe
# Ansible managed
# Deploy debian12 to {name}: the image's kernel and initrd plus the deploy overlay, whose /init
# writes the disk. UEFI kernels find the initrds by the names given to iPXE (--name) on their command line.
kernel http://10.78.0.1:{port}/images/debian12/vmlinuz initrd=initrd.img initrd=deploy.cpio.gz \
console=ttyS0,115200 anyrack.node={name} anyrack.mac={mac} anyrack.ip={ip}/24 {gateway}\
anyrack.image=http://10.78.0.1:{port}/images/debian12/disk.raw.gz anyrack.sha256={sha} \
anyrack.callback=http://10.78.0.1:8750
initrd --name initrd.img http://10.78.0.1:{port}/images/debian12/initrd.img
initrd --name deploy.cpio.gz http://10.78.0.1:{port}/deploy/deploy.cpio.gz
boot
"""
DEFAULT_IPXE = "#!ipxe\n# Ansible managed\n# No deploy for this machine: leave iPXE and boot the next device\nexit\n"
# installer host -> {file under installers/node01/: golden file}
GOLDENS = {
    "pxe-preseed": {"preseed.cfg": "preseed.cfg"},
    "pxe-autoinstall": {"user-data": "autoinstall.yaml", "meta-data": "meta-data"},
    "pxe-kickstart": {"ks.cfg": "kickstart.ks"},
}

# a newc cpio writer standing in for GNU cpio where it is not installed (the PXE host installs cpio)
FAKE_CPIO = r'''#!PYTHON
import os, stat, sys
out = sys.stdout.buffer
def entry(name, st, data):
    fields = [0, st.st_mode, 0, 0, 1, int(st.st_mtime), len(data), 0, 0, 0, 0, len(name) + 1, 0]
    head = b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
    out.write(head + b"\0" * (-len(head) % 4) + data + b"\0" * (-len(data) % 4))
    return len(head) + (-len(head) % 4) + len(data) + (-len(data) % 4)
size = 0
for line in sys.stdin.read().splitlines():
    st = os.lstat(line)
    data = open(line, "rb").read() if stat.S_ISREG(st.st_mode) else b""
    size += entry(line[2:] if line.startswith("./") else line, st, data)
size += entry("TRAILER!!!", os.stat_result((0,) * 10), b"")
out.write(b"\0" * (-size % 512))
'''


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_bytes().decode(errors="replace")
            for p in sorted(root.rglob("*")) if p.is_file()}


def read_newc(data: bytes) -> dict[str, tuple[int, bytes]]:
    """name -> (mode, content) of a newc cpio archive."""
    entries, pos = {}, 0
    while True:
        assert data[pos:pos + 6] == b"070701", data[pos:pos + 6]
        fields = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        if name == "TRAILER!!!":
            return entries
        entries[name] = (mode, data[pos:pos + size])
        pos += size + (-size % 4)


def _tools(workdir: Path) -> tuple[str, list[str]]:
    """PATH for the run: the venv, then stand-ins for the tools this machine lacks; and their names."""
    system = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
    fakes = workdir / "fakebin"
    fakes.mkdir()
    faked = []
    if not shutil.which("cpio", path=system):
        (fakes / "cpio").write_text(FAKE_CPIO.replace("PYTHON", sys.executable))
        faked.append("cpio")
    if not shutil.which("dnsmasq", path=system):
        (fakes / "dnsmasq").write_text("#!/bin/sh\nexit 0\n")
        faked.append("dnsmasq")
    for tool in faked:
        (fakes / tool).chmod(0o755)
    return f"{BIN}:{system}:{fakes}", faked


def _tasks(report: dict) -> list[dict]:
    return [t for p in report["plays"] for t in p["tasks"]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, ansible_play) -> dict:  # noqa: ANN001
    workdir = tmp_path_factory.mktemp("pxe_server")
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures/ansible/library", workdir / "library")
    path, faked = _tools(workdir)
    image = workdir / "controller"
    image.mkdir()
    (image / "vmlinuz").write_bytes(b"kernel\n")
    (image / "initrd.img").write_bytes(b"initrd\n")
    (image / "disk.raw.gz").write_bytes(gzip.compress(DISK, mtime=0))
    pxe = {}
    for name, (facts, variables) in {**GOOD, **{h: (DEBIAN12, v) for h, (v, _) in BAD.items()}}.items():
        variables = dict(variables)
        sha = variables.pop("pxe_server_image_sha256", None)
        host_root = workdir / "roots" / name
        (host_root / "srv/boot").mkdir(parents=True)
        # a node that left the list: its script must go, the rest of the directory stays
        (host_root / "srv/boot/52-54-00-aa-00-99.ipxe").write_text("#!ipxe\nboot\n")
        (host_root / "srv/boot/README").write_text("not a boot script\n")
        if name == "pxe-media":  # a node that left the list: its ISO and tree must go
            (host_root / "srv/media/src/gone/boot").mkdir(parents=True)
            (host_root / "srv/media/gone.iso").write_text("stale\n")
        pxe[name] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                     "probe_facts": facts, "pxe_server_root": str(host_root / "srv"),
                     "pxe_server_sysroot": str(host_root / "sys"),
                     "pxe_server_image": {"name": "debian12", "kernel": str(image / "vmlinuz"),
                                          "initrd": str(image / "initrd.img"), "disk": str(image / "disk.raw.gz"),
                                          **({"sha256": SHA256 if sha is True else sha} if sha else {})},
                     **COMMON, **variables}
    inventory = {"all": {"children": {"pxe": {"hosts": pxe}, "compute": {"hosts": NODES}}}}
    (workdir / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (workdir / "play.yml").write_text(yaml.safe_dump([{
        "name": "Run pxe_server under a temporary root", "hosts": "pxe", "gather_facts": False,
        "tasks": [
            {"name": "Claim the platform", "fake_facts": {"facts": "{{ probe_facts }}"}},
            {"name": "Run pxe_server", "ansible.builtin.include_role": {"name": "pxe_server"}},
            {"name": "Run pxe_server again", "ansible.builtin.include_role": {"name": "pxe_server"},
             "when": f"inventory_hostname in {AGAIN!r}"},
        ],
    }], sort_keys=False))
    return {"workdir": workdir, "report": ansible_play(workdir, path=path), "faked": faked}


def _root(runs: dict, host: str) -> Path:
    return runs["workdir"] / "roots" / host


def _boot_files(host_vars: dict, port: int = 8080) -> dict[str, str]:
    gateway = "anyrack.gateway=10.78.0.254 " if host_vars.get("pxe_server_gateway") else ""
    return {
        "srv/boot/default.ipxe": DEFAULT_IPXE,
        "srv/boot/README": "not a boot script\n",
        **{f"srv/boot/{mac}.ipxe": IPXE.format(name=name, mac=mac.replace("-", ":"), ip=ip, gateway=gateway,
                                               port=port, sha=SHA256)
           for name, mac, ip in (("node01", "52-54-00-aa-00-01", "10.78.0.11"),
                                 ("node02", "52-54-00-aa-00-02", "10.78.0.12"))},
    }


def _expected(runs: dict, host: str) -> dict[str, str]:
    variables = GOOD[host][1]
    port = variables.get("pxe_server_http_port", 8080)
    efi = variables.get("pxe_server_efi_binary", "snponly.efi")
    root = _root(runs, host) / "srv"
    router = ("dhcp-option=option:router,10.78.0.254\n" if variables.get("pxe_server_gateway") else
              "# no gateway: an empty router option, or dnsmasq offers itself as the nodes' router\n"
              "dhcp-option=option:router\n")
    return {
        "sys/etc/dnsmasq.d/anyrack-pxe.conf": DNSMASQ.format(router=router, efi=efi, port=port, root=root),
        "sys/etc/nginx/conf.d/anyrack-pxe.conf": NGINX.format(port=port, root=root),
        **_boot_files(variables, port),
        "srv/images/debian12/vmlinuz": "kernel\n",
        "srv/images/debian12/initrd.img": "initrd\n",
        "srv/images/debian12/disk.raw.gz.sha256": f"{SHA256}  disk.raw.gz\n",
        "srv/deploy/src/init": INIT.read_text(),
    }


@pytest.mark.parametrize("host", ["pxe-image", "pxe-nogw"])
def test_the_role_writes_exactly_these_files(runs: dict, host: str) -> None:
    assert runs["report"]["stats"][host]["failures"] == 0, runs["report"]["stats"][host]
    written = _files(_root(runs, host))
    binary = {k: written.pop(k) for k in ("srv/images/debian12/disk.raw.gz", "srv/deploy/deploy.cpio.gz")}
    assert written == _expected(runs, host)
    assert (_root(runs, host) / "srv/images/debian12/disk.raw.gz").read_bytes() == gzip.compress(DISK, mtime=0)
    assert set(binary) == {"srv/images/debian12/disk.raw.gz", "srv/deploy/deploy.cpio.gz"}


def test_only_known_macs_get_dhcp_and_in_a_static_range(runs: dict) -> None:
    conf = (_root(runs, "pxe-image") / "sys/etc/dnsmasq.d/anyrack-pxe.conf").read_text().splitlines()
    assert "dhcp-ignore=tag:!known" in conf
    ranges = [line for line in conf if line.startswith("dhcp-range=")]
    assert ranges == ["dhcp-range=10.78.0.0,static,255.255.255.0"]
    # node03 has no anyrack_boot_mac: no DHCP answer, no boot script
    assert [line.split(",")[-1] for line in conf if line.startswith("dhcp-host=")] == ["node01", "node02"]
    assert not any("node03" in p for p in _files(_root(runs, "pxe-image")))
    # DNS off, one interface only
    assert "port=0" in conf and "bind-interfaces" in conf
    assert [line for line in conf if line.startswith("interface=")] == ["interface=provnic0"]
    # no gateway set: an empty router option (dnsmasq would otherwise offer itself as the router)
    assert [line for line in
            (_root(runs, "pxe-nogw") / "sys/etc/dnsmasq.d/anyrack-pxe.conf").read_text().splitlines()
            if "router" in line and not line.startswith("#")] == ["dhcp-option=option:router"]


def test_the_dnsmasq_configuration_passes_dnsmasq_test(runs: dict) -> None:
    dnsmasq = shutil.which("dnsmasq", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if dnsmasq is None:
        print("skipped: dnsmasq is not installed (apt: dnsmasq-base); the role validates on the PXE host")
        pytest.skip("dnsmasq is not installed here (apt: dnsmasq-base)")
    for host in ("pxe-image", "pxe-nogw"):
        conf = _root(runs, host) / "sys/etc/dnsmasq.d/anyrack-pxe.conf"
        done = subprocess.run([dnsmasq, "--test", "-C", str(conf)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert "syntax check OK" in done.stdout + done.stderr
    broken = runs["workdir"] / "broken.conf"
    broken.write_text(conf.read_text() + "dhcp-boot-typo=x\n")
    assert subprocess.run([dnsmasq, "--test", "-C", str(broken)], capture_output=True, timeout=30).returncode != 0


def test_the_deploy_overlay_is_a_newc_cpio_with_init(runs: dict) -> None:
    data = gzip.decompress((_root(runs, "pxe-image") / "srv/deploy/deploy.cpio.gz").read_bytes())
    entries = read_newc(data)
    mode, content = entries["init"]
    assert mode == 0o100755
    assert content == INIT.read_bytes()
    assert set(entries) <= {".", "init"}


def test_stale_scripts_go_and_unknown_files_stay(runs: dict) -> None:
    boot = _root(runs, "pxe-image") / "srv/boot"
    assert sorted(p.name for p in boot.iterdir()) == [
        "52-54-00-aa-00-01.ipxe", "52-54-00-aa-00-02.ipxe", "README", "default.ipxe"]


GRUB_MENU = """\
# Ansible managed
# Deploy debian12 to {name} from virtual media: the kernel, initrd and deploy overlay on this ISO,
# the same kernel arguments as the node's iPXE script (its address is static: no DHCP needed)
set timeout=1
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
menuentry "anyrack deploy {name}" {{
  linux /vmlinuz console=ttyS0,115200 anyrack.node={name} anyrack.mac={mac} anyrack.ip={ip}/24 \
anyrack.gateway=10.78.0.254 anyrack.image=http://10.78.0.1:8080/images/debian12/disk.raw.gz anyrack.sha256={sha} \
anyrack.callback=http://10.78.0.1:8750
  initrd /initrd.img /deploy.cpio.gz
}}
"""


def _iso_file(iso: Path, inside: str, out: Path) -> bytes:
    """One file read back out of an ISO with xorriso's osirrox (the tool that wrote it, for reading)."""
    done = subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", inside, str(out)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return out.read_bytes()


def test_virtual_media_builds_one_bootable_iso_per_node(runs: dict, tmp_path: Path) -> None:
    if not MKRESCUE:
        pytest.skip("grub-mkrescue is not installed here (apt: grub-pc-bin grub-efi-amd64-bin xorriso mtools)")
    assert runs["report"]["stats"]["pxe-media"]["failures"] == 0, runs["report"]["stats"]["pxe-media"]
    media = _root(runs, "pxe-media") / "srv/media"
    assert sorted(p.name for p in media.iterdir()) == ["node01.iso", "node02.iso", "src"]  # gone.iso removed
    assert sorted(p.name for p in (media / "src").iterdir()) == ["node01", "node02"]
    for name, mac, ip in (("node01", "52:54:00:aa:00:01", "10.78.0.11"), ("node02", "52:54:00:aa:00:02", "10.78.0.12")):
        iso = media / f"{name}.iso"
        assert iso.read_bytes()[0x8001:0x8006] == b"CD001"  # an ISO 9660 volume descriptor
        menu = _iso_file(iso, "/boot/grub/grub.cfg", tmp_path / f"{name}.cfg").decode()
        assert menu == GRUB_MENU.format(name=name, mac=mac, ip=ip, sha=SHA256)
        assert _iso_file(iso, "/vmlinuz", tmp_path / f"{name}.k") == b"kernel\n"
        assert _iso_file(iso, "/initrd.img", tmp_path / f"{name}.i") == b"initrd\n"
        overlay = _root(runs, "pxe-media") / "srv/deploy/deploy.cpio.gz"
        assert _iso_file(iso, "/deploy.cpio.gz", tmp_path / f"{name}.o") == overlay.read_bytes()
        # BIOS (El Torito) and UEFI (an EFI system partition image) boot entries
        report = subprocess.run(["xorriso", "-indev", str(iso), "-report_el_torito", "plain"],
                                capture_output=True, text=True, timeout=60).stdout
        assert "BIOS" in report and "UEFI" in report, report
    # the same kernel arguments as the node's iPXE script
    script = (_root(runs, "pxe-media") / "srv/boot/52-54-00-aa-00-01.ipxe").read_text()
    menu = (media / "src/node01/boot/grub/grub.cfg").read_text()
    ipxe_args = script.split("initrd=deploy.cpio.gz ", 1)[1].split("\n")[0]
    assert ipxe_args == menu.split("linux /vmlinuz ", 1)[1].split("\n")[0]
    nginx = (_root(runs, "pxe-media") / "sys/etc/nginx/conf.d/anyrack-pxe.conf").read_text()
    assert "    location ~ ^/media/[A-Za-z0-9._-]+\\.iso$ {\n" in nginx
    assert "/media/" not in (_root(runs, "pxe-image") / "sys/etc/nginx/conf.d/anyrack-pxe.conf").read_text()
    assert not (_root(runs, "pxe-image") / "srv/media").exists()


@pytest.mark.parametrize("host", sorted(GOLDENS))
def test_installer_answer_files_match_the_golden_files(runs: dict, host: str) -> None:
    assert runs["report"]["stats"][host]["failures"] == 0
    installers = _root(runs, host) / "srv/installers"
    assert sorted(p.name for p in installers.iterdir()) == ["node01", "node02"]
    for name, golden in GOLDENS[host].items():
        rendered = (installers / "node01" / name).read_text()
        if os.environ.get("ANYRACK_UPDATE_GOLDEN"):
            (GOLDEN / golden).write_text(rendered)
        assert rendered == (GOLDEN / golden).read_text(), f"{host}: {name} differs from tests/fixtures/pxe/{golden}"
    # the image path stays the default boot: the per-node scripts are there as on the other hosts
    assert (_root(runs, host) / "srv/boot/52-54-00-aa-00-01.ipxe").is_file()


def test_the_autoinstall_user_data_parses() -> None:
    text = (GOLDEN / "autoinstall.yaml").read_text()
    assert text.startswith("#cloud-config\n")
    data = yaml.safe_load(text)["autoinstall"]
    assert data["version"] == 1
    assert data["ssh"]["authorized-keys"] == KEYS and data["ssh"]["allow-pw"] is False
    assert data["storage"]["layout"]["match"]["path"] == "/dev/nvme0n1"
    assert data["apt"]["primary"][0]["uri"] == "http://archive.ubuntu.com/ubuntu"
    assert data["proxy"] == "http://proxy.site.example:3128"
    user = data["user-data"]["users"][0]
    assert (user["name"], user["ssh_authorized_keys"], user["lock_passwd"]) == ("ops", KEYS, True)
    assert data["user-data"]["hostname"] == "node01" and data["user-data"]["timezone"] == "Europe/Berlin"
    assert yaml.safe_load((GOLDEN / "meta-data").read_text()) == {"instance-id": "node01", "local-hostname": "node01"}


def test_the_kickstart_has_its_sections_and_commands() -> None:
    lines = (GOLDEN / "kickstart.ks").read_text().splitlines()
    assert lines.count("%end") == 2
    assert "%packages" in lines and "%post --erroronfail" in lines
    assert lines.index("%packages") < lines.index("%post --erroronfail")
    for command in ("text", "lang ", "keyboard ", "timezone Europe/Berlin", "rootpw --lock", "reboot",
                    "url --url=http://mirror.site.example/rocky/9/BaseOS/x86_64/os/",
                    "user --name=ops ", "ignoredisk --only-use=nvme0n1", "clearpart --all", "bootloader "):
        assert any(line.startswith(command) for line in lines), command
    assert [line for line in lines if line.startswith("sshkey ")] == [
        f'sshkey --username=ops "{key}"' for key in KEYS]


def test_the_preseed_has_mirror_user_and_key_lines() -> None:
    text = (GOLDEN / "preseed.cfg").read_text()
    lines = text.splitlines()
    for line in ("d-i mirror/protocol string http", "d-i mirror/http/hostname string mirror.site.example",
                 "d-i mirror/http/directory string /debian",
                 "d-i mirror/http/proxy string http://proxy.site.example:3128",
                 "d-i passwd/username string ops", "d-i passwd/root-login boolean false",
                 "d-i partman-auto/disk string /dev/nvme0n1", "d-i time/zone string Europe/Berlin",
                 "d-i apt-setup/security_path string /debian-security"):
        assert line in lines, line
    # the late command, continued over lines, puts every key into the user's authorized_keys
    late = text[text.index("d-i preseed/late_command string"):].replace("\\\n", " ")
    assert f"echo '{KEYS[0]}' > /target/home/ops/.ssh/authorized_keys" in late
    assert f"echo '{KEYS[1]}' >> /target/home/ops/.ssh/authorized_keys" in late
    assert late.strip().endswith("in-target chmod 0440 /etc/sudoers.d/anyrack-admin") and "\n" not in late.strip()


@pytest.mark.parametrize("host", sorted(BAD))
def test_bad_values_stop_at_the_roles_asserts(runs: dict, host: str) -> None:
    results = [r for t in _tasks(runs["report"]) for h, r in t["hosts"].items() if h == host and r.get("failed")]
    # a loop's failed items carry the messages
    failed = [m for r in results for m in ([i["msg"] for i in r["results"] if i.get("failed")]
                                           if r.get("results") else [r["msg"]])]
    assert runs["report"]["stats"][host]["failures"] == 1
    assert len(failed) == 1 and failed[0].startswith(BAD[host][1]), failed
    written = _files(_root(runs, host))
    if host == "bad-checksum":  # the mismatching disk never reaches the served tree
        assert failed[0] == f"{_root(runs, 'bad-checksum').parent.parent}/controller/disk.raw.gz has sha256 " \
                            f"{SHA256}, not {'0' * 64}"
        assert not any(p.startswith("srv/images/") for p in written)
    if host != "bad-checksum" and host != "bad-installer-keys":  # nothing written before the assert
        assert set(written) == {"srv/boot/52-54-00-aa-00-99.ipxe", "srv/boot/README"}


def test_a_second_run_changes_nothing(runs: dict) -> None:
    tasks = _tasks(runs["report"])
    start = next(i for i, t in enumerate(tasks) if t["task"]["name"] == "Run pxe_server again")
    again = tasks[start:]
    ran = {h for t in again for h, r in t["hosts"].items() if not r.get("skipped")}
    assert ran == set(AGAIN)
    changed = [(h, t["task"]["name"]) for t in again for h, r in t["hosts"].items() if r.get("changed")]
    assert changed == []
    built = [t for t in tasks[:start] if t["task"]["name"].endswith("Build the deploy overlay (newc cpio, gzip)")]
    assert all(built[0]["hosts"][h].get("changed") for h in AGAIN)
    assert all(runs["report"]["stats"][h]["failures"] == 0 for h in AGAIN)


def test_the_role_loads_its_vars_like_the_others() -> None:
    spec = importlib.util.spec_from_file_location("role_vars_checks", ROOT / "tests/unit/test_role_vars.py")
    role_vars = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(role_vars)
    assert "pxe_server" in role_vars.ROLES
    assert role_vars.family_var_problems(ROLE) == []
    for facts, family in role_vars.PLATFORMS.values():
        assert role_vars.picked_file(ROLE, facts).stem == family


def test_argument_specs_cover_every_default() -> None:
    spec = yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    assert set(spec) == set(defaults)
    assert all(option.get("description") and option.get("type") for option in spec.values())
    assert {k for k, v in spec.items() if v.get("required")} == {"pxe_server_address"}
    assert set(spec["pxe_server_image"]["options"]) == {"name", "kernel", "initrd", "disk", "sha256"}
    assert set(spec["pxe_server_nodes"]["options"]) == {"name", "mac", "address", "prefix", "image"}


def test_no_vendor_names_in_the_role_or_its_docs() -> None:
    files = [p for p in (*ROLE.rglob("*"), *GOLDEN.rglob("*"), ROOT / "docs/pxe.md") if p.is_file()]
    vendors = ("dell", "hpe", "lenovo", "supermicro")
    found = [(str(p.relative_to(ROOT)), v) for p in files for v in vendors
             if v in p.read_text(errors="replace").lower().replace("hpet", "")]
    assert found == []
