"""nvidia_driver and cuda_toolkit at the configuration level: the roles run by ansible-playbook on this machine
(no GPU, no lab) for every platform × source (Rocky 9 loads RHEL 9's vars: the role-vars check below), with
nvidia_driver_root/cuda_toolkit_root pointing at a temporary directory per host and
nvidia_driver_install/cuda_toolkit_install false (no network, no packages). The files they write are compared
whole; the facts they set (module flavour, repository, driver not loaded) are read from the run's JSON; bad values
must stop the role at its asserts; running the roles again must change nothing."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = ("nvidia_driver", "cuda_toolkit")
NVIDIA = "https://developer.download.nvidia.com/compute/cuda/repos"
MIRROR = "http://mirror.site.example/cuda"

_spec = importlib.util.spec_from_file_location("role_vars_checks", ROOT / "tests/unit/test_role_vars.py")
role_vars = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(role_vars)


def _facts(distribution: str, major: str, release: str, family: str, arch: str = "x86_64", virt: str = "") -> dict:
    return {"distribution": distribution, "distribution_major_version": major, "distribution_release": release,
            "os_family": family, "architecture": arch, "kernel": "6.1.0-28-amd64",
            "virtualization_role": "guest" if virt else "host", "virtualization_type": virt}


DEBIAN12 = _facts("Debian", "12", "bookworm", "Debian")
UBUNTU22 = _facts("Ubuntu", "22", "jammy", "Debian")
UBUNTU24 = _facts("Ubuntu", "24", "noble", "Debian")
RHEL9 = _facts("RedHat", "9", "plow", "RedHat")

# host -> (facts, role variables); every host gets its own root
GOOD = {
    "deb12-distro-h100": (DEBIAN12, {"nvidia_driver_source": "distro", "cuda_toolkit_version": "11.8",
                                     "nvidia_driver_gpu_model": "NVIDIA H100 80GB HBM3",
                                     "base_apt_mirror": "http://mirror.site.example"}),
    "deb12-distro-a100": (DEBIAN12, {"nvidia_driver_source": "distro", "cuda_toolkit_version": "11.8",
                                     "nvidia_driver_gpu_model": "NVIDIA A100-SXM4-80GB"}),
    "deb12-nvidia": (_facts("Debian", "12", "bookworm", "Debian", virt="systemd-nspawn"),
                     {"nvidia_driver_branch": "550", "nvidia_driver_gpu_model": "NVIDIA H200",
                      "nvidia_driver_kernel_modules": "proprietary"}),
    "ubu22-nvidia": (_facts("Ubuntu", "22", "jammy", "Debian", arch="aarch64"),
                     {"nvidia_driver_branch": 535, "nvidia_driver_gpu_model": "NVIDIA GH200 480GB",
                      "cuda_toolkit_version": "12.2"}),
    "ubu24-nvidia": (UBUNTU24, {"nvidia_driver_branch": "580", "nvidia_driver_gpu_model": "NVIDIA B200",
                                "nvidia_driver_repo_mirror": MIRROR, "cuda_toolkit_version": "12.8"}),
    "rhel9-nvidia": (RHEL9, {"nvidia_driver_branch": "570", "nvidia_driver_gpu_model": "NVIDIA L40S",
                             "nvidia_driver_repo_mirror": MIRROR + "/", "cuda_toolkit_version": "12.6"}),
}
# host -> (facts, role variables, the assert message it must stop at)
BAD = {
    "bad-branch": (DEBIAN12, {"nvidia_driver_branch": "5x5"},
                   'nvidia_driver_branch must be a driver branch of three digits such as "535", "550", "570" or '
                   '"580", not "5x5"'),
    "bad-source": (DEBIAN12, {"nvidia_driver_source": "cuda"},
                   "nvidia_driver_source must be 'distro' (Debian 12's non-free packages) or 'nvidia' (NVIDIA's CUDA "
                   "repository), not 'cuda'"),
    "bad-modules": (DEBIAN12, {"nvidia_driver_kernel_modules": "closed"},
                    "nvidia_driver_kernel_modules must be auto, open or proprietary, not 'closed'"),
    "bad-distro-ubuntu": (UBUNTU24, {"nvidia_driver_source": "distro"},
                          "nvidia_driver_source distro is Debian 12's non-free archive, which has the 535 branch only "
                          "(this host: Ubuntu 24, branch 535): use nvidia_driver_source nvidia"),
    "bad-blackwell-proprietary": (UBUNTU24, {"nvidia_driver_branch": "570", "nvidia_driver_gpu_model": "NVIDIA B200",
                                             "nvidia_driver_kernel_modules": "proprietary"},
                                  "NVIDIA B200 is a Blackwell GPU: it needs the open kernel modules and branch 570 or "
                                  "later (here: proprietary, branch 570)"),
    "bad-blackwell-535": (UBUNTU24, {"nvidia_driver_gpu_model": "NVIDIA GB200"},
                          "NVIDIA GB200 is a Blackwell GPU: it needs the open kernel modules and branch 570 or later "
                          "(here: open, branch 535)"),
    "bad-distro-open": (DEBIAN12, {"nvidia_driver_source": "distro", "nvidia_driver_kernel_modules": "open"},
                        "Debian 12's archive (nvidia_driver_source distro) has no open kernel modules package: use "
                        "nvidia_driver_kernel_modules proprietary, or nvidia_driver_source nvidia"),
    "bad-cuda-version": (DEBIAN12, {"cuda_toolkit_version": "12"},
                         'cuda_toolkit_version must be a CUDA release as major.minor such as "11.8" or "12.4", '
                         'not "12"'),
    "bad-cuda-distro": (DEBIAN12, {"nvidia_driver_source": "distro", "cuda_toolkit_version": "12.4"},
                        "cuda_toolkit_source distro is Debian 12's nvidia-cuda-toolkit, which is CUDA 11.8 only "
                        "(this host: Debian 12, version 12.4): use cuda_toolkit_source nvidia"),
}
# the roles run again on these (changed=0): an apt and a dnf host, to keep the tier fast
AGAIN = ["deb12-distro-h100", "rhel9-nvidia"]
CONFIG_DIRS = ("etc/apt/sources.list.d", "etc/apt/preferences.d", "etc/modprobe.d", "etc/yum.repos.d",
               "etc/dnf/modules.d", "etc/profile.d", "usr/share/keyrings")
FACTS = ("nvidia_driver_modules", "nvidia_driver_modules_reason", "nvidia_driver_repo", "nvidia_driver_loaded",
         "nvidia_driver_not_loaded_reason", "cuda_toolkit_home", "cuda_toolkit_packages")

BLACKLIST = ("# Ansible managed\n# The NVIDIA driver drives the GPUs: nouveau must not bind them first\n"
             "blacklist nouveau\noptions nouveau modeset=0\n")
PIN = ("# Ansible managed\n# The driver's packages come from the {b} branch only; dpkg holds keep upgrades off them\n"
       "Package: nvidia-* libnvidia-* libcuda1* libnvcuvid* libnvoptix* libxnvctrl* xserver-xorg-video-nvidia* "
       "firmware-nvidia-gsp* cuda-drivers*\nPin: version {b}.*\nPin-Priority: 1001\n")
NON_FREE = ("# Ansible managed\n# Debian's contrib (nvidia-persistenced), non-free and non-free-firmware components "
            "for the NVIDIA driver\n# (the mirror's main stays in sources.list)\n"
            "deb {m} bookworm contrib non-free non-free-firmware\n"
            "deb {m} bookworm-updates contrib non-free non-free-firmware\n"
            "deb {s} bookworm-security contrib non-free non-free-firmware\n")
APT_REPO = "# Ansible managed\ndeb [signed-by=/usr/share/keyrings/cuda-archive-keyring.asc] {url} /\n"
DNF_REPO = ("# Ansible managed\n[cuda-{d}]\nname=NVIDIA CUDA {d}\nbaseurl={url}\nenabled=1\ngpgcheck=1\n"
            "gpgkey={url}D42D0685.pub\n")
DNF_MODULE = "[nvidia-driver]\nname=nvidia-driver\nstream={stream}\nprofiles=\nstate=enabled\n"
PROFILE_NVIDIA = ('# Ansible managed\n# CUDA {v} from NVIDIA\'s repository (/usr/local/cuda points at it too)\n'
                  'case ":${{PATH}}:" in\n  *:/usr/local/cuda-{v}/bin:*) ;;\n'
                  '  *) export PATH="/usr/local/cuda-{v}/bin:${{PATH}}" ;;\nesac\n'
                  'export CUDA_HOME=/usr/local/cuda-{v}\n')
PROFILE_DISTRO = ("# Ansible managed\n# CUDA 11.8 from Debian's nvidia-cuda-toolkit: nvcc is in /usr/bin already\n"
                  "export CUDA_HOME=/usr/lib/nvidia-cuda-toolkit\n")

# host -> every file the roles write under its root, exactly
EXPECTED = {
    "deb12-distro-h100": {
        "etc/apt/sources.list.d/anyrack-debian-non-free.list": NON_FREE.format(
            m="http://mirror.site.example/debian", s="http://mirror.site.example/debian-security"),
        "etc/apt/preferences.d/anyrack-nvidia-driver.pref": PIN.format(b="535"),
        "etc/modprobe.d/blacklist-nouveau.conf": BLACKLIST,
        "etc/profile.d/cuda.sh": PROFILE_DISTRO,
    },
    "deb12-distro-a100": {
        "etc/apt/sources.list.d/anyrack-debian-non-free.list": NON_FREE.format(
            m="http://deb.debian.org/debian", s="http://security.debian.org/debian-security"),
        "etc/apt/preferences.d/anyrack-nvidia-driver.pref": PIN.format(b="535"),
        "etc/modprobe.d/blacklist-nouveau.conf": BLACKLIST,
        "etc/profile.d/cuda.sh": PROFILE_DISTRO,
    },
    "deb12-nvidia": {
        "etc/apt/sources.list.d/cuda-debian12.list": APT_REPO.format(url=f"{NVIDIA}/debian12/x86_64/"),
        "etc/apt/preferences.d/anyrack-nvidia-driver.pref": PIN.format(b="550"),
        "etc/modprobe.d/blacklist-nouveau.conf": BLACKLIST,
        "etc/profile.d/cuda.sh": PROFILE_NVIDIA.format(v="12.4"),
    },
    "ubu22-nvidia": {
        "etc/apt/sources.list.d/cuda-ubuntu2204.list": APT_REPO.format(url=f"{NVIDIA}/ubuntu2204/sbsa/"),
        "etc/apt/preferences.d/anyrack-nvidia-driver.pref": PIN.format(b="535"),
        "etc/modprobe.d/blacklist-nouveau.conf": BLACKLIST,
        "etc/profile.d/cuda.sh": PROFILE_NVIDIA.format(v="12.2"),
    },
    "ubu24-nvidia": {
        "etc/apt/sources.list.d/cuda-ubuntu2404.list": APT_REPO.format(url=f"{MIRROR}/ubuntu2404/x86_64/"),
        "etc/apt/preferences.d/anyrack-nvidia-driver.pref": PIN.format(b="580"),
        "etc/modprobe.d/blacklist-nouveau.conf": BLACKLIST,
        "etc/profile.d/cuda.sh": PROFILE_NVIDIA.format(v="12.8"),
    },
    "rhel9-nvidia": {
        "etc/yum.repos.d/cuda-rhel9.repo": DNF_REPO.format(d="rhel9", url=f"{MIRROR}/rhel9/x86_64/"),
        "etc/dnf/modules.d/nvidia-driver.module": DNF_MODULE.format(stream="570-dkms"),
        "etc/modprobe.d/blacklist-nouveau.conf": BLACKLIST,
        "etc/profile.d/cuda.sh": PROFILE_NVIDIA.format(v="12.6"),
    },
}


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def _results(report: dict, task: str) -> dict[str, dict]:
    """host -> result of the task named ``task`` (the last run of it)."""
    found: dict[str, dict] = {}
    for play in report["plays"]:
        for entry in play["tasks"]:
            if entry["task"]["name"] == task:
                found.update(entry["hosts"])
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, ansible_play) -> dict:  # noqa: ANN001
    workdir = tmp_path_factory.mktemp("nvidia_roles")
    shutil.copytree(Path(__file__).resolve().parents[2] / "fixtures/ansible/library", workdir / "library")
    hosts = {}
    for name, (facts, variables, *_) in {**GOOD, **BAD}.items():
        root = workdir / "roots" / name
        for directory in CONFIG_DIRS:
            (root / directory).mkdir(parents=True)
        hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                       "probe_facts": facts, "nvidia_driver_root": str(root), "cuda_toolkit_root": str(root),
                       "nvidia_driver_install": False, "cuda_toolkit_install": False, **variables}
    (workdir / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    (workdir / "play.yml").write_text(yaml.safe_dump([{
        "name": "Configure the NVIDIA roles under a temporary root", "hosts": "all", "gather_facts": False,
        "tasks": [
            {"name": "Claim the platform", "fake_facts": {"facts": "{{ probe_facts }}"}},
            {"name": "Run nvidia_driver", "ansible.builtin.include_role": {"name": "nvidia_driver"}},
            {"name": "Run cuda_toolkit", "ansible.builtin.include_role": {"name": "cuda_toolkit"}},
            {"name": "Show the facts", "ansible.builtin.debug": {
                "msg": f"{{{{ dict({list(FACTS)!r} | zip(query('ansible.builtin.vars', *{list(FACTS)!r}))) }}}}"}},
            # the second run, in the same play to save a playbook start: it must change nothing
            {"name": "Run nvidia_driver again", "ansible.builtin.include_role": {"name": "nvidia_driver"},
             "when": f"inventory_hostname in {AGAIN!r}"},
            {"name": "Run cuda_toolkit again", "ansible.builtin.include_role": {"name": "cuda_toolkit"},
             "when": f"inventory_hostname in {AGAIN!r}"},
        ],
    }], sort_keys=False))
    return {"workdir": workdir, "first": ansible_play(workdir, timeout=600)}


@pytest.mark.parametrize("host", sorted(EXPECTED))
def test_the_roles_write_exactly_these_files(runs: dict, host: str) -> None:
    assert runs["first"]["stats"][host]["failures"] == 0, _results(runs["first"], "Run nvidia_driver")
    assert _files(runs["workdir"] / "roots" / host) == EXPECTED[host]


def _facts_of(runs: dict, host: str) -> dict:
    return _results(runs["first"], "Show the facts")[host]["msg"]


def test_repository_and_key_per_distribution_and_the_mirror_override(runs: dict) -> None:
    repos = {h: _facts_of(runs, h)["nvidia_driver_repo"] for h in GOOD}
    keyring = "/usr/share/keyrings/cuda-archive-keyring.asc"
    assert repos == {
        "deb12-distro-h100": {}, "deb12-distro-a100": {},
        "deb12-nvidia": {"distro": "debian12", "url": f"{NVIDIA}/debian12/x86_64/",
                         "key_url": f"{NVIDIA}/debian12/x86_64/3bf863cc.pub", "keyring": keyring},
        "ubu22-nvidia": {"distro": "ubuntu2204", "url": f"{NVIDIA}/ubuntu2204/sbsa/",
                         "key_url": f"{NVIDIA}/ubuntu2204/sbsa/3bf863cc.pub", "keyring": keyring},
        "ubu24-nvidia": {"distro": "ubuntu2404", "url": f"{MIRROR}/ubuntu2404/x86_64/",
                         "key_url": f"{MIRROR}/ubuntu2404/x86_64/3bf863cc.pub", "keyring": keyring},
        "rhel9-nvidia": {"distro": "rhel9", "url": f"{MIRROR}/rhel9/x86_64/",
                         "key_url": f"{MIRROR}/rhel9/x86_64/D42D0685.pub", "keyring": "rpmdb"},
    }


def test_module_flavour_open_for_hopper_and_blackwell_proprietary_before(runs: dict) -> None:
    chosen = {h: (_facts_of(runs, h)["nvidia_driver_modules"], _facts_of(runs, h)["nvidia_driver_modules_reason"])
              for h in GOOD}
    assert chosen == {
        # Debian 12's archive has no open kernel modules package (seen on a lab host: no nvidia-open-kernel-dkms)
        "deb12-distro-h100": ("proprietary", "auto: Debian 12's archive has the proprietary modules only"),
        "deb12-distro-a100": ("proprietary", "auto: Debian 12's archive has the proprietary modules only"),
        "deb12-nvidia": ("proprietary", "nvidia_driver_kernel_modules is proprietary"),
        "ubu22-nvidia": ("open", "auto: NVIDIA GH200 480GB is Hopper (open modules for Hopper and later)"),
        "ubu24-nvidia": ("open", "auto: NVIDIA B200 is Blackwell (open modules for Hopper and later)"),
        "rhel9-nvidia": ("proprietary", "auto: NVIDIA L40S is older than Hopper (proprietary modules)"),
    }


def test_toolkit_packages_and_home(runs: dict) -> None:
    toolkit = {h: (_facts_of(runs, h)["cuda_toolkit_packages"], _facts_of(runs, h)["cuda_toolkit_home"]) for h in GOOD}
    assert toolkit["deb12-distro-h100"] == (["nvidia-cuda-toolkit"], "/usr/lib/nvidia-cuda-toolkit")
    assert toolkit["ubu24-nvidia"] == (["cuda-toolkit-12-8"], "/usr/local/cuda-12.8")
    assert toolkit["rhel9-nvidia"] == (["cuda-toolkit-12-6"], "/usr/local/cuda-12.6")


def test_a_host_without_a_loaded_driver_is_reported_not_failed(runs: dict) -> None:
    loaded = Path("/proc/driver/nvidia/version").exists()  # a GPU machine would have it
    for host in GOOD:
        facts = _facts_of(runs, host)
        assert facts["nvidia_driver_loaded"] is loaded, host
        if not loaded:
            assert "the role did not install the driver (nvidia_driver_install is false)" in \
                facts["nvidia_driver_not_loaded_reason"], facts
    if not loaded:
        reason = _facts_of(runs, "deb12-nvidia")["nvidia_driver_not_loaded_reason"]
        assert reason.startswith("this is a container (systemd-nspawn): kernel modules belong to its host; "), reason
        warnings = _results(runs["first"], "nvidia_driver : Warn that the driver is not loaded")
        assert warnings["deb12-nvidia"]["msg"] == f"WARNING: the NVIDIA driver is not loaded on deb12-nvidia: {reason}"


@pytest.mark.parametrize("host", sorted(BAD))
def test_bad_values_stop_at_the_roles_asserts(runs: dict, host: str) -> None:
    failed = {h: r for p in runs["first"]["plays"] for t in p["tasks"] for h, r in t["hosts"].items()
              if r.get("failed") and h == host}
    assert runs["first"]["stats"][host]["failures"] == 1
    assert [r["msg"] for r in failed.values()] == [BAD[host][2]]
    written = _files(runs["workdir"] / "roots" / host)
    if host.startswith("bad-cuda"):  # nvidia_driver ran first; cuda_toolkit wrote nothing
        assert "etc/profile.d/cuda.sh" not in written and written
    else:  # nothing written before the assert
        assert written == {}


def test_a_second_run_changes_nothing(runs: dict) -> None:
    tasks = [t for p in runs["first"]["plays"] for t in p["tasks"]]
    start = next(i for i, t in enumerate(tasks) if t["task"]["name"] == "Run nvidia_driver again")
    again = tasks[start:]
    ran = {h for t in again for h, r in t["hosts"].items() if not r.get("skipped")}
    assert ran == set(AGAIN)
    assert len([t for t in again if t["task"]["name"].endswith("Blacklist nouveau")]) == 1
    changed = [(h, t["task"]["name"]) for t in again for h, r in t["hosts"].items() if r.get("changed")]
    assert changed == []
    first = tasks[:start]
    assert all(any(t["hosts"].get(h, {}).get("changed") for t in first) for h in AGAIN)
    assert all(runs["first"]["stats"][h]["failures"] == 0 for h in AGAIN)


@pytest.mark.parametrize("role_name", ROLES)
def test_every_family_file_defines_what_the_role_uses(role_name: str) -> None:
    """tests/unit/test_role_vars.py's checks, on these roles."""
    role = ROOT / "roles" / role_name
    assert role_vars.family_var_problems(role) == []
    assert role_vars._candidates(role) == role_vars.CANDIDATES
    for platform in role_vars.PLATFORMS.values():
        picked = role_vars.picked_file(role, platform[0])
        assert picked is not None and picked.stem == platform[1], (role_name, platform)


def test_ansible_lint_covers_these_roles() -> None:
    spec = importlib.util.spec_from_file_location("lint_checks", ROOT / "tests/unit/test_ansible_lint.py")
    lint = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lint)
    assert {f"roles/{r}" for r in ROLES} <= set(lint.TARGETS)
