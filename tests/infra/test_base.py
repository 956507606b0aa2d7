"""Role base on every lab host."""

from __future__ import annotations

import pytest

ADDRESSES = {"ctl1": "10.77.0.11", "gpu1": "10.77.0.21", "gpu2": "10.77.0.22"}
pytestmark = pytest.mark.roles


@pytest.mark.parametrize("name", sorted(ADDRESSES))
def test_etc_hosts_lists_every_node(hosts, name: str) -> None:
    text = hosts[name].file("/etc/hosts").content_string
    for other, address in ADDRESSES.items():
        assert f"{address} {other}" in text


@pytest.mark.parametrize("name", sorted(ADDRESSES))
def test_base_tools_and_timezone(hosts, name: str) -> None:
    host = hosts[name]
    for package in ("ca-certificates", "curl", "rsync", "python3-apt"):
        assert host.package(package).is_installed, package
    assert host.file("/etc/localtime").linked_to.endswith("Etc/UTC")


@pytest.mark.parametrize("name", sorted(ADDRESSES))
def test_sysctls_in_a_container_are_net_only_and_applied(hosts, name: str) -> None:
    host = hosts[name]
    conf = host.file("/etc/sysctl.d/80-anyrack-base.conf")
    assert conf.mode == 0o644 and conf.user == "root"
    assert "vm.swappiness" not in conf.content_string
    assert host.sysctl("net.core.somaxconn") >= 4096


@pytest.mark.parametrize("name", sorted(ADDRESSES))
def test_hostname_is_the_inventory_name(hosts, name: str) -> None:
    assert hosts[name].check_output("hostname") == name


@pytest.mark.parametrize("name", sorted(ADDRESSES))
def test_chrony_runs_without_setting_the_clock_in_a_container(hosts, name: str) -> None:
    host = hosts[name]
    assert host.service("chrony").is_running and host.service("chrony").is_enabled
    assert host.file("/etc/chrony/chrony.conf").contains("^pool pool.ntp.org iburst")
    assert " -x" in host.check_output("ps -o args= -C chronyd")


@pytest.mark.parametrize("name", sorted(ADDRESSES))
def test_sshd_is_hardened(hosts, name: str) -> None:
    effective = hosts[name].check_output("sshd -T").lower().splitlines()
    for line in ("passwordauthentication no", "kbdinteractiveauthentication no", "permitrootlogin without-password",
                 "x11forwarding no", "maxauthtries 4"):
        assert line in effective, line
