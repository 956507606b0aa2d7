"""fabric_manager, dcgm and nvidia_container_toolkit at the configuration level: the roles run by ansible-playbook on
this machine (no GPU, no NVIDIA repository, no lab) after nvidia_driver, for Debian 12, Ubuntu 22.04 (aarch64) and
24.04 and RHEL 9, with faked facts, every *_root pointing at a temporary directory per host, the *_install switches
false, a fake sysfs holding module/nvidia/version, and fake nvidia-ctk and dockerd on PATH. Every written file is
compared whole; package names and pins per distribution come from the run's JSON; bad values, a missing CUDA
repository and a Fabric Manager that does not match the driver stop the roles at their checks (the last in a
check-mode play with fabric_manager_install true, before any package task); running the roles again changes
nothing.

No NVIDIA package can be installed here, so the driver's version read from its package is checked with a
STAND-IN dpkg-query on PATH: for the hosts of PACKAGED it prints rows as dpkg-query would for installed driver
packages; for every other host it hands over to the real dpkg-query (which finds no NVIDIA package here)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
ROLES = ("fabric_manager", "dcgm", "nvidia_container_toolkit")
ROOTS = ("nvidia_driver_root", "dcgm_root", "nvidia_container_toolkit_root")
OFF = {"nvidia_driver_install": False, "fabric_manager_install": False, "dcgm_install": False,
       "nvidia_container_toolkit_install": False}
MIRROR = "http://mirror.site.example"
CONFIG_DIRS = ("etc/apt/sources.list.d", "etc/apt/preferences.d", "etc/modprobe.d", "etc/yum.repos.d",
               "etc/dnf/modules.d", "etc/systemd/system", "usr/share/keyrings")
FACTS = ("fabric_manager_driver_found", "fabric_manager_driver_source", "fabric_manager_package",
         "fabric_manager_package_spec", "fabric_manager_not_started_reason", "dcgm_packages", "dcgm_package_specs",
         "dcgm_not_started_reason", "nvidia_container_toolkit_repo", "nvidia_container_toolkit_package_specs",
         "nvidia_container_toolkit_runtimes_found")

_spec = importlib.util.spec_from_file_location("role_vars_checks", ROOT / "tests/unit/test_role_vars.py")
role_vars = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(role_vars)


def _facts(distribution: str, major: str, release: str, family: str, arch: str = "x86_64", virt: str = "") -> dict:
    return {"distribution": distribution, "distribution_major_version": major, "distribution_release": release,
            "os_family": family, "architecture": arch, "kernel": "6.8.0-45-generic",
            "virtualization_role": "guest" if virt else "host", "virtualization_type": virt}


DEBIAN12 = _facts("Debian", "12", "bookworm", "Debian")
UBUNTU22 = _facts("Ubuntu", "22", "jammy", "Debian", arch="aarch64")
UBUNTU24 = _facts("Ubuntu", "24", "noble", "Debian", virt="systemd-nspawn")
RHEL9 = _facts("RedHat", "9", "plow", "RedHat")
EXPORTER = {"dcgm_exporter_enabled": True, "dcgm_exporter_listen_address": "10.1.0.11", "dcgm_exporter_port": 9500,
            "dcgm_exporter_counters": [{"field": "DCGM_FI_DEV_GPU_TEMP", "type": "gauge", "help": "GPU temperature."},
                                       {"field": "DCGM_FI_DEV_XID_ERRORS", "type": "gauge", "help": "Last Xid."}]}

# host -> (facts, role variables, the loaded module's version in the fake sysfs or None)
GOOD = {
    "deb12-hgx": (DEBIAN12, {"fabric_manager_nvswitch": True, "nvidia_driver_branch": "550", **EXPORTER},
                  "550.127.05"),
    "ubu22-gh200": (UBUNTU22, {"fabric_manager_nvswitch": True, "fabric_manager_driver_version": "535.183.01",
                               "fabric_manager_version": "535.183.01", "dcgm_version": "3.3.9",
                               "nvidia_container_toolkit_repo_mirror": MIRROR + "/libnvidia-container/",
                               "nvidia_container_toolkit_runtimes": ["containerd"],
                               "nvidia_container_toolkit_enroot_environ": {"NVIDIA_DRIVER_CAPABILITIES": "all",
                                                                           "NVIDIA_REQUIRE_CUDA": "cuda>=12.2"}},
                    None),
    "ubu24-b200": (UBUNTU24, {"fabric_manager_nvswitch": True, "nvidia_driver_branch": "580",
                              "cuda_toolkit_version": "13.0", "nvidia_container_toolkit_enroot": False},
                   "580.65.06"),
    "rhel9-hgx": (RHEL9, {"anyrack_sku": {"gpu": {"model": "H100", "count": 8, "nvswitch": True}},
                          "fabric_manager_driver_version": "570.124.06", "nvidia_driver_branch": "570",
                          "nvidia_driver_repo_mirror": MIRROR + "/cuda", "dcgm_exporter_enabled": True,
                          "nvidia_container_toolkit_channel": "experimental"}, "570.86.15"),
    "deb12-pcie": (DEBIAN12, {"anyrack_sku": {"gpu": {"model": "L40S", "count": 4}}}, None),
}
MISMATCH = ("Fabric Manager 570.124.06 does not match the NVIDIA driver 570.133.20 on fm-mismatch "
            "({sysfs}/module/nvidia/version (the loaded module)): Fabric Manager runs only against the driver of "
            "exactly its version. Nothing was installed; set fabric_manager_version to 570.133.20 or leave it empty")
# host -> (facts, role variables, loaded module version, the check's message); run in check mode
BAD = {
    "fm-mismatch": (UBUNTU24, {"fabric_manager_nvswitch": True, "fabric_manager_version": "570.124.06",
                               "fabric_manager_install": True, "nvidia_driver_branch": "570"}, "570.133.20", MISMATCH),
    "fm-no-driver": (DEBIAN12, {"fabric_manager_nvswitch": True}, None,
                     "Fabric Manager on fm-no-driver: no NVIDIA driver version found (no package matching "
                     "^nvidia-driver(-[0-9]{3})?(-server)?(-open)?$, no {sysfs}/module/nvidia/version): run "
                     "nvidia_driver first or set fabric_manager_driver_version"),
    "fm-no-repo": (DEBIAN12, {"fabric_manager_nvswitch": True, "nvidia_driver_source": "distro"}, "535.216.03",
                   "Fabric Manager comes from NVIDIA's CUDA repository, which the nvidia_driver role adds with "
                   "nvidia_driver_source nvidia: run nvidia_driver first in the same play (on fm-no-repo "
                   "nvidia_driver_repo is {})"),
    "fm-bad-version": (DEBIAN12, {"fabric_manager_nvswitch": True, "fabric_manager_version": "570"}, None,
                       'fabric_manager_version must be empty (the driver\'s version) or a driver version such as '
                       '"570.124.06", not "570"'),
    "dcgm-bad-version": (RHEL9, {"dcgm_version": "4.2"}, None,
                         'dcgm_version must be a DCGM 3 or 4 release as major.minor.patch such as "4.2.3" or '
                         '"3.3.9", not "4.2"'),
    "dcgm-bad-counter": (RHEL9, {"dcgm_exporter_enabled": True, "dcgm_exporter_counters": [
                             {"field": "DCGM_FI_DEV_GPU_TEMP", "type": "histogram", "help": "x"}]}, None,
                         'dcgm-exporter needs a version such as "4.1.3" (here "4.1.3"), a port from 1 to 65535 '
                         "(here 9400) and at least one counter, each a DCGM_FI_* field of type gauge, counter or "
                         "label (here DCGM_FI_DEV_GPU_TEMP histogram)"),
    "nct-bad-runtime": (UBUNTU24, {"nvidia_container_toolkit_runtimes": ["docker", "podman"]}, None,
                        "Validation of arguments failed:\nvalue of "
                        "nvidia_container_toolkit_runtimes must be one or more of: docker, containerd. Got no match "
                        "for: podman"),
}
# host -> (facts, role variables, loaded module version, the rows the stand-in dpkg-query prints for it); only
# nvidia_driver and fabric_manager run on them
PACKAGED = {
    "deb12-pkg": (DEBIAN12, {"fabric_manager_nvswitch": True, "nvidia_driver_branch": "550"}, "550.54.15",
                  "ii\tnvidia-driver\t550.127.05-1\n"),
    # dpkg-query's order (by name): a removed branch's config files, the held driver, a package that is not it
    "ubu24-held": (_facts("Ubuntu", "24", "noble", "Debian"), {"fabric_manager_nvswitch": True,
                                                               "nvidia_driver_branch": "580"}, None,
                   "rc \tnvidia-driver-570-open\t570.133.20-0ubuntu1\n"
                   "hi \tnvidia-driver-580-open\t1:580.65.06-0ubuntu1\n"
                   "ii \tnvidia-driver-assistant\t0.21.1-1\n"),
}
# the roles run again on these (changed=0): an apt and a dnf host
AGAIN = ["deb12-hgx", "rhel9-hgx"]
DAEMON_JSON = ('{\n    "runtimes": {\n        "nvidia": {\n            "args": [],\n'
               '            "path": "nvidia-container-runtime"\n        }\n    }\n}\n')
# writes the same file every time, as nvidia-ctk does once the runtime is in
FAKE_CTK = ('#!/bin/sh\necho "$*" >> "$ANYRACK_FAKE_CTK_LOG"\n'
            'for arg; do case "$arg" in --config=*) config="${arg#--config=}" ;; esac; done\n'
            'mkdir -p "$(dirname "$config")"\n'
            f"printf '%s' '{DAEMON_JSON}' > \"$config\"\n")
# STAND-IN for dpkg-query: the rows file the play's environment names for a PACKAGED host, else the real one
# (or, where there is none, what it says when no package matches)
FAKE_DPKG_QUERY = ("#!/bin/sh\nprintf '%s\\n' \"$*\" >> \"$ANYRACK_FAKE_DPKG_LOG\"\n"
                   'if [ -n "$ANYRACK_FAKE_DPKG_ROWS" ]; then cat "$ANYRACK_FAKE_DPKG_ROWS"; exit 0; fi\n{real}\n')



def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def _host(workdir: Path, name: str, facts: dict, variables: dict, module: str | None) -> dict:
    root = workdir / "roots" / name
    for directory in CONFIG_DIRS:
        (root / directory).mkdir(parents=True)
    sysfs = workdir / "sysfs" / name
    sysfs.mkdir(parents=True)
    if module:
        (sysfs / "module/nvidia").mkdir(parents=True)
        (sysfs / "module/nvidia/version").write_text(module + "\n")
    return {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "probe_facts": facts,
            **dict.fromkeys(ROOTS, str(root)), "fabric_manager_sysfs": str(sysfs), "dcgm_sysfs": str(sysfs),
            **OFF, **variables}


def _tasks(again: bool, roles: tuple[str, ...] = ("nvidia_driver", *ROLES)) -> list[dict]:
    tasks = [{"name": "Claim the platform", "fake_facts": {"facts": "{{ probe_facts }}"}, "check_mode": False},
             *({"name": f"Run {r}", "ansible.builtin.include_role": {"name": r}} for r in roles),
             {"name": "Show the facts", "ansible.builtin.debug": {
                 "msg": f"{{{{ dict({list(FACTS)!r} | zip(query('ansible.builtin.vars', *{list(FACTS)!r},"
                        " default='undefined'))) }}"}}]
    if again:  # the second run, in the same play to save a playbook start: it must change nothing
        tasks += [{"name": f"Run {r} again", "ansible.builtin.include_role": {"name": r},
                   "when": f"inventory_hostname in {AGAIN!r}"} for r in roles]
    return tasks


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, ansible_play) -> dict:  # noqa: ANN001
    workdir = tmp_path_factory.mktemp("gpu_support_roles")
    shutil.copytree(Path(__file__).resolve().parents[2] / "fixtures/ansible/library", workdir / "library")
    fakebin = workdir / "bin"
    fakebin.mkdir()
    real = shutil.which("dpkg-query")
    dpkg_query = FAKE_DPKG_QUERY.format(real=f'exec {real} "$@"' if real else "exit 1")
    for name, text in (("nvidia-ctk", FAKE_CTK), ("dockerd", "#!/bin/sh\nexit 1\n"), ("dpkg-query", dpkg_query)):
        (fakebin / name).write_text(text)
        (fakebin / name).chmod(0o755)
    path = f"{fakebin}:{BIN}:/usr/local/bin:/usr/bin:/bin"
    hosts = {n: _host(workdir, n, f, v, m) for n, (f, v, m) in GOOD.items()}
    bad = {n: _host(workdir, n, f, v, m) for n, (f, v, m, _) in BAD.items()}
    packaged = {}
    for name, (facts, variables, module, rows) in PACKAGED.items():
        (workdir / f"{name}.rows").write_text(rows)
        packaged[name] = {**_host(workdir, name, facts, variables, module),
                          "fake_dpkg_rows": str(workdir / f"{name}.rows")}
    (workdir / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {
        "good": {"hosts": hosts}, "bad": {"hosts": bad}, "packaged": {"hosts": packaged}}}}))
    (workdir / "play.yml").write_text(yaml.safe_dump([
        {"name": "Configure the GPU support roles under a temporary root", "hosts": "good", "gather_facts": False,
         "tasks": _tasks(again=True)},
        {"name": "Read the driver's version from its package", "hosts": "packaged", "gather_facts": False,
         "environment": {"ANYRACK_FAKE_DPKG_ROWS": "{{ fake_dpkg_rows }}"},
         "tasks": _tasks(again=False, roles=("nvidia_driver", "fabric_manager"))},
        # check mode: were a check to let a host through, no package task could change this machine. Last: a
        # play whose every host fails ends the playbook
        {"name": "Stop at the checks", "hosts": "bad", "gather_facts": False, "check_mode": True,
         "tasks": _tasks(again=False)},
    ], sort_keys=False))
    report = ansible_play(workdir, path=path, timeout=600, env={
        "ANSIBLE_FAKE_UNUSED": "", "ANSIBLE_FAKE_CTK_LOG": "", "ANYRACK_FAKE_CTK_LOG": str(workdir / "ctk.log"),
        "ANYRACK_FAKE_DPKG_LOG": str(workdir / "dpkg-query.log")})
    return {"workdir": workdir, "report": report, "path": path}


def _results(runs: dict, task: str) -> dict[str, dict]:
    """host -> result of the task named ``task`` (the last run of it)."""
    found: dict[str, dict] = {}
    for play in runs["report"]["plays"]:
        for entry in play["tasks"]:
            if entry["task"]["name"] == task:
                found.update(entry["hosts"])
    return found


def _facts_of(runs: dict, host: str) -> dict:
    return _results(runs, "Show the facts")[host]["msg"]



def _failures(runs: dict, host: str) -> list[tuple[str, str]]:
    return [(t["task"]["name"], r["msg"]) for p in runs["report"]["plays"] for t in p["tasks"]
            for h, r in t["hosts"].items() if h == host and r.get("failed")]


def _ran(runs: dict, host: str) -> list[str]:
    """Names of the tasks that really ran on ``host`` (not skipped), in order."""
    return [t["task"]["name"] for p in runs["report"]["plays"] for t in p["tasks"]
            for h, r in t["hosts"].items() if h == host and not r.get("skipped")]


DEB_FM, ARCH = "nvidia-fabricmanager", "$(ARCH)"
NCT = "https://nvidia.github.io/libnvidia-container"


def test_fabric_manager_is_named_and_pinned_to_the_driver_per_distribution(runs: dict) -> None:
    sysfs = runs["workdir"] / "sysfs"
    chosen = {h: tuple(_facts_of(runs, h)[k] for k in ("fabric_manager_driver_found", "fabric_manager_driver_source",
                                                       "fabric_manager_package", "fabric_manager_package_spec"))
              for h in GOOD}
    assert chosen == {
        "deb12-hgx": ("550.127.05", f"{sysfs}/deb12-hgx/module/nvidia/version (the loaded module)",
                      f"{DEB_FM}-550", f"{DEB_FM}-550=550.127.05-*"),
        "ubu22-gh200": ("535.183.01", "fabric_manager_driver_version", f"{DEB_FM}-535", f"{DEB_FM}-535=535.183.01-*"),
        # from branch 580 NVIDIA's apt repositories drop the branch from the name
        "ubu24-b200": ("580.65.06", f"{sysfs}/ubu24-b200/module/nvidia/version (the loaded module)",
                       DEB_FM, f"{DEB_FM}=580.65.06-*"),
        "rhel9-hgx": ("570.124.06", "fabric_manager_driver_version", "nvidia-fabric-manager",
                      "nvidia-fabric-manager-570.124.06"),
        # no NVSwitch on the SKU: the role names nothing
        "deb12-pcie": ("undefined",) * 4,
    }
    skipped = _results(runs, "fabric_manager : Report a host without NVSwitches")
    assert skipped["deb12-pcie"]["msg"] == ("deb12-pcie has no NVSwitch (fabric_manager_nvswitch is false): "
                                            "Fabric Manager is not installed")
    assert skipped["rhel9-hgx"].get("skipped")  # nvswitch from the SKU in the inventory


def test_the_driver_version_comes_from_its_installed_package(runs: dict) -> None:
    """The installed driver package's version wins over the loaded module's (STAND-IN dpkg-query rows); a held
    package counts, a removed one does not, and the epoch and Debian revision are dropped."""
    fm_off = "the role did not install Fabric Manager (fabric_manager_install is false)"
    chosen = {h: tuple(_facts_of(runs, h)[k] for k in ("fabric_manager_driver_found", "fabric_manager_driver_source",
                                                       "fabric_manager_package_spec",
                                                       "fabric_manager_not_started_reason"))
              for h in PACKAGED}
    assert chosen == {
        "deb12-pkg": ("550.127.05", "package nvidia-driver", f"{DEB_FM}-550=550.127.05-*",
                      f"the loaded module is 550.54.15, the installed driver 550.127.05: reboot to load it; {fm_off}"),
        "ubu24-held": ("580.65.06", "package nvidia-driver-580-open", f"{DEB_FM}=580.65.06-*",
                       f"the nvidia module is not loaded; {fm_off}"),
    }
    assert all(runs["report"]["stats"][h]["failures"] == 0 for h in PACKAGED)
    # one read-only query, whatever the host (the others' went to the real dpkg-query)
    calls = set((runs["workdir"] / "dpkg-query.log").read_text().splitlines())
    assert calls == {"--show --showformat=${db:Status-Abbrev}\\t${Package}\\t${Version}\\n nvidia-driver*"}
    queried = _results(runs, "fabric_manager : Read the installed driver packages")
    assert queried["deb12-hgx"]["rc"] == 1 and queried["deb12-hgx"]["changed"] is False  # no NVIDIA package here
    assert queried["fm-no-driver"]["rc"] == 1  # in check mode too: the query only reads
    assert queried["rhel9-hgx"].get("skipped")  # the version is given: nothing to read


def test_services_that_cannot_start_are_reported_not_failed(runs: dict) -> None:
    reasons = {h: (_facts_of(runs, h)["fabric_manager_not_started_reason"],
                   _facts_of(runs, h)["dcgm_not_started_reason"]) for h in GOOD}
    fm_off, dcgm_off = ("the role did not install Fabric Manager (fabric_manager_install is false)",
                        "the role did not install DCGM (dcgm_install is false)")
    container = "this is a container (systemd-nspawn): kernel modules belong to its host"
    assert reasons == {
        "deb12-hgx": (fm_off, dcgm_off),
        "ubu22-gh200": (f"the nvidia module is not loaded; {fm_off}", f"the nvidia module is not loaded; {dcgm_off}"),
        "ubu24-b200": (f"{container}; {fm_off}", f"{container}; {dcgm_off}"),
        # the module is loaded but the installed driver is another version: a reboot is due
        "rhel9-hgx": (f"the loaded module is 570.86.15, the installed driver 570.124.06: reboot to load it; {fm_off}",
                      dcgm_off),
        "deb12-pcie": ("undefined", f"the nvidia module is not loaded; {dcgm_off}"),
    }


def test_a_fabric_manager_that_does_not_match_the_driver_stops_before_any_package_task(runs: dict) -> None:
    sysfs = runs["workdir"] / "sysfs" / "fm-mismatch"
    assert runs["report"]["stats"]["fm-mismatch"]["failures"] == 1
    assert _failures(runs, "fm-mismatch") == [
        ("fabric_manager : Check that Fabric Manager and the driver are the same version",
         MISMATCH.replace("{sysfs}", str(sysfs)))]
    ran = _ran(runs, "fm-mismatch")
    assert ran[-1] == "fabric_manager : Check that Fabric Manager and the driver are the same version"
    assert "fabric_manager : Read the loaded driver's version" in ran  # the version really came from the host
    installing = {t["name"] for t in yaml.safe_load((ROOT / "roles/fabric_manager/tasks/install.yml").read_text())}
    assert "Install Fabric Manager" in installing and "Hold Fabric Manager in dpkg" in installing
    assert [n for n in ran if n.split(" : ")[-1] in installing] == []
    assert not any(n.startswith(("dcgm : ", "nvidia_container_toolkit : ")) for n in ran)


@pytest.mark.parametrize("host", sorted(BAD))
def test_bad_values_stop_at_the_roles_checks(runs: dict, host: str) -> None:
    sysfs = runs["workdir"] / "sysfs" / host
    assert runs["report"]["stats"][host]["failures"] == 1
    assert [m for _, m in _failures(runs, host)] == [BAD[host][3].replace("{sysfs}", str(sysfs))]
    assert not (runs["workdir"] / "roots" / host / "etc/docker").exists()


def test_dcgm_packages_pinned_per_release_and_distribution(runs: dict) -> None:
    specs = {h: _facts_of(runs, h)["dcgm_package_specs"] for h in GOOD}
    assert specs == {
        "deb12-hgx": ["datacenter-gpu-manager-4-core=1:4.2.3*", "datacenter-gpu-manager-4-cuda12=1:4.2.3*",
                      "datacenter-gpu-manager-exporter=4.1.3-*"],
        "ubu22-gh200": ["datacenter-gpu-manager=1:3.3.9*"],
        "ubu24-b200": ["datacenter-gpu-manager-4-core=1:4.2.3*", "datacenter-gpu-manager-4-cuda13=1:4.2.3*"],
        "rhel9-hgx": ["datacenter-gpu-manager-4-core-4.2.3", "datacenter-gpu-manager-4-cuda12-4.2.3",
                      "datacenter-gpu-manager-exporter-4.1.3"],
        "deb12-pcie": ["datacenter-gpu-manager-4-core=1:4.2.3*", "datacenter-gpu-manager-4-cuda12=1:4.2.3*"],
    }
    assert _facts_of(runs, "rhel9-hgx")["dcgm_packages"] == [
        "datacenter-gpu-manager-4-core", "datacenter-gpu-manager-4-cuda12", "datacenter-gpu-manager-exporter"]


def test_container_toolkit_repository_and_pins(runs: dict) -> None:
    facts = {h: (_facts_of(runs, h)["nvidia_container_toolkit_repo"],
                 _facts_of(runs, h)["nvidia_container_toolkit_package_specs"]) for h in GOOD}
    apt_keyring = "/usr/share/keyrings/nvidia-container-toolkit-keyring.asc"
    names = ("nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container-tools",
             "libnvidia-container1")
    assert facts["ubu22-gh200"] == (
        {"url": f"{MIRROR}/libnvidia-container/stable/deb/{ARCH}", "key_url": f"{MIRROR}/libnvidia-container/gpgkey",
         "keyring": apt_keyring}, [f"{n}=1.17.8-*" for n in names])
    assert facts["rhel9-hgx"] == (
        {"url": f"{NCT}/experimental/rpm/$basearch", "key_url": f"{NCT}/gpgkey", "keyring": "rpmdb"},
        [f"{n}-1.17.8" for n in names])
    assert facts["deb12-hgx"][0]["url"] == f"{NCT}/stable/deb/{ARCH}"


def test_nvidia_ctk_runs_only_for_runtimes_on_the_host(runs: dict) -> None:
    if shutil.which("containerd", path=runs["path"]):
        pytest.skip("this machine has containerd, the test's absent runtime")
    found = {h: _facts_of(runs, h)["nvidia_container_toolkit_runtimes_found"] for h in GOOD}
    # the fake dockerd is on PATH; containerd is not; ubu22-gh200 asks for containerd only
    assert found == {h: ([] if h == "ubu22-gh200" else ["docker"]) for h in GOOD}
    roots = runs["workdir"] / "roots"
    calls = (runs["workdir"] / "ctk.log").read_text().splitlines()
    first = [f"runtime configure --runtime=docker --config={roots}/{h}/etc/docker/daemon.json"
             for h in GOOD if h != "ubu22-gh200"]
    again = [f"runtime configure --runtime=docker --config={roots}/{h}/etc/docker/daemon.json" for h in AGAIN]
    assert sorted(calls) == sorted(first + again)
    configured = _results(runs, "nvidia_container_toolkit : Add the nvidia runtime to each runtime found")
    assert all(r["results"][0]["changed"] is False for h, r in configured.items() if h in AGAIN)  # the second run


def test_a_second_run_changes_nothing(runs: dict) -> None:
    tasks = runs["report"]["plays"][0]["tasks"]  # the later plays are other hosts'
    start = next(i for i, t in enumerate(tasks) if t["task"]["name"] == "Run nvidia_driver again")
    again = tasks[start:]
    assert {h for t in again for h, r in t["hosts"].items() if not r.get("skipped")} == set(AGAIN)
    assert [(h, t["task"]["name"]) for t in again for h, r in t["hosts"].items() if r.get("changed")] == []
    first = tasks[:start]
    for host in AGAIN:
        changed = {t["task"]["name"] for t in first if t["hosts"].get(host, {}).get("changed")}
        assert {"nvidia_container_toolkit : Add the nvidia runtime to each runtime found",
                "dcgm : Write the exporter's systemd unit"} <= changed, changed


@pytest.mark.parametrize("role_name", ROLES)
def test_every_family_file_defines_what_the_role_uses(role_name: str) -> None:
    """tests/unit/test_role_vars.py's checks, on these roles."""
    role = ROOT / "roles" / role_name
    assert role_vars.family_var_problems(role) == []
    assert role_vars._candidates(role) == role_vars.CANDIDATES
    assert set(ROLES) <= set(role_vars.ROLES)
    for facts, family in role_vars.PLATFORMS.values():
        picked = role_vars.picked_file(role, facts)
        assert picked is not None and picked.stem == family, (role_name, facts)


def test_the_gpu_playbook_runs_them_in_order_on_the_right_skus() -> None:
    play = yaml.safe_load((ROOT / "playbooks/gpu.yml").read_text())[0]
    order = [r["role"] for r in play["roles"]]
    assert order == ["nvidia_driver", "fabric_manager", "cuda_toolkit", "dcgm", "nvidia_container_toolkit",
                     "gpu_facts"]
    fm = play["roles"][1]["when"]
    assert "anyrack_sku.gpu.nvswitch | default(false) | bool" in fm and len(fm) == 3
    assert all("anyrack_sku.gpu.count" in str(r["when"]) for r in play["roles"])
    # only in NVIDIA's repositories: skipped with Debian's own driver packages (nvidia_driver_source=distro)
    nvidia_only = [r["role"] for r in play["roles"] if "nvidia_driver_source | default('nvidia') != 'distro'"
                   in str(r["when"])]
    assert nvidia_only == ["fabric_manager", "dcgm", "nvidia_container_toolkit"]


NCT_LIST = ("# Ansible managed\n# NVIDIA Container Toolkit (stable); apt fills in $(ARCH)\n"
            "deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.asc] {base}/stable/deb/$(ARCH) /\n")
NCT_REPO = ("# Ansible managed\n# NVIDIA Container Toolkit (experimental): NVIDIA signs the repository metadata, "
            "not the packages\n[nvidia-container-toolkit]\nname=NVIDIA Container Toolkit\n"
            f"baseurl={NCT}/experimental/rpm/$basearch\nenabled=1\ngpgcheck=0\nrepo_gpgcheck=1\ngpgkey={NCT}/gpgkey\nsslverify=1\n")
ENVIRON = ("# Ansible managed\n# Every enroot container's environment: enroot's 98-nvidia.sh hook gives it the GPUs "
           "and driver libraries named here\n{lines}")
UNIT = ("# Ansible managed\n[Unit]\nDescription=NVIDIA DCGM exporter: GPU metrics for Prometheus on port {port}\n"
        "Wants=nvidia-dcgm.service\nAfter=nvidia-dcgm.service network-online.target\n\n[Service]\n"
        "ExecStart=/usr/bin/dcgm-exporter --address {address}:{port} --collectors "
        "/etc/dcgm-exporter/anyrack-counters.csv --collect-interval 30000 --remote-hostengine-info localhost:5555\n"
        "Restart=on-failure\nRestartSec=5\n\n[Install]\nWantedBy=multi-user.target\n")
CSV_HEAD = "# Ansible managed\n# DCGM field, Prometheus type, help text (dcgm-exporter --collectors)\n"
DEFAULT_ENV = "NVIDIA_DRIVER_CAPABILITIES=compute,utility\nNVIDIA_VISIBLE_DEVICES=all\n"
# host -> every file these roles write under its root (nvidia_driver's are test_nvidia_roles.py's), exactly
EXPECTED = {
    "deb12-hgx": {
        "etc/apt/sources.list.d/nvidia-container-toolkit.list": NCT_LIST.format(base=NCT),
        "etc/enroot/environ.d/50-anyrack-nvidia.env": ENVIRON.format(lines=DEFAULT_ENV),
        "etc/docker/daemon.json": DAEMON_JSON,
        "etc/dcgm-exporter/anyrack-counters.csv": CSV_HEAD + "DCGM_FI_DEV_GPU_TEMP, gauge, GPU temperature.\n"
                                                             "DCGM_FI_DEV_XID_ERRORS, gauge, Last Xid.\n",
        "etc/systemd/system/nvidia-dcgm-exporter.service": UNIT.format(address="10.1.0.11", port=9500),
    },
    "ubu22-gh200": {
        "etc/apt/sources.list.d/nvidia-container-toolkit.list": NCT_LIST.format(base=f"{MIRROR}/libnvidia-container"),
        "etc/enroot/environ.d/50-anyrack-nvidia.env": ENVIRON.format(
            lines="NVIDIA_DRIVER_CAPABILITIES=all\nNVIDIA_REQUIRE_CUDA=cuda>=12.2\nNVIDIA_VISIBLE_DEVICES=all\n"),
    },
    "ubu24-b200": {
        "etc/apt/sources.list.d/nvidia-container-toolkit.list": NCT_LIST.format(base=NCT),
        "etc/docker/daemon.json": DAEMON_JSON,
    },
    "rhel9-hgx": {
        "etc/yum.repos.d/nvidia-container-toolkit.repo": NCT_REPO,
        "etc/enroot/environ.d/50-anyrack-nvidia.env": ENVIRON.format(lines=DEFAULT_ENV),
        "etc/docker/daemon.json": DAEMON_JSON,
        "etc/dcgm-exporter/anyrack-counters.csv": CSV_HEAD + "".join(
            f"{c['field']}, {c['type']}, {c['help']}\n"
            for c in yaml.safe_load((ROOT / "roles/dcgm/defaults/main.yml").read_text())["dcgm_exporter_counters"]),
        "etc/systemd/system/nvidia-dcgm-exporter.service": UNIT.format(address="", port=9400),
    },
}
DRIVER_FILES = ("etc/apt/preferences.d/", "etc/apt/sources.list.d/cuda-", "etc/modprobe.d/", "etc/yum.repos.d/cuda-",
                "etc/dnf/modules.d/", "etc/apt/sources.list.d/anyrack-debian")


@pytest.mark.parametrize("host", sorted(EXPECTED))
def test_the_roles_write_exactly_these_files(runs: dict, host: str) -> None:
    assert runs["report"]["stats"][host]["failures"] == 0, _failures(runs, host)
    written = {p: t for p, t in _files(runs["workdir"] / "roots" / host).items() if not p.startswith(DRIVER_FILES)}
    assert written == EXPECTED[host]



def test_the_rolling_upgrade_moves_fabric_manager_with_the_driver() -> None:
    play = yaml.safe_load((ROOT / "playbooks/upgrade_driver.yml").read_text())[0]
    roles = [r["role"] for r in play["roles"]]
    assert roles == ["nvidia_driver", "fabric_manager"]
    assert "anyrack_sku.gpu.nvswitch | default(false) | bool" in play["roles"][1]["when"]
