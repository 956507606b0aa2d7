"""Each BMC provider's create/read/diff/update/delete, called directly, against the emulator over HTTPS."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from tests.iac.bmclab import behind_pulumis_back

from anyrack.errors import BmcError, BmcVerifyFailed, InputError
from anyrack.iac import providers
from anyrack.iac.ansible import PlaybookRunProvider
from anyrack.iac.files import GeneratedFilesProvider
from anyrack.lab.emulator import BmcEntry, LabOptions, TreeSpec, serve_lab

pytestmark = pytest.mark.iac
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures/redfish"
TREE = FIXTURES / "dell/idrac9-r750"
PASSWORD_ENV = "ANYRACK_TEST_BMC_PASSWORD"
ISO = "http://127.0.0.1:8080/images/deploy.iso"


@pytest.fixture(scope="module")
def lab() -> Iterator[list[BmcEntry]]:
    trees = [TreeSpec(TREE, count=2), TreeSpec(TREE, quirks=["silent-boot-revert"]),
             TreeSpec(TREE, faults={"5xx": 1.0}), TreeSpec(FIXTURES / "hpe/cray-ex4252-4node")]
    with serve_lab(trees, LabOptions(power_delay_s=0.1, password="lab-secret")) as entries:
        yield entries


@pytest.fixture(autouse=True)
def _password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "lab-secret")


def props(entry: BmcEntry, node: str = "gpu001", **extra: object) -> dict:
    """What a resource's inputs look like to its provider (secrets already unwrapped)."""
    return {"node": node, "url": f"redfish+{entry.url}", "username": entry.username, "password": entry.password,
            "credential_ref": {"env": PASSWORD_ENV}, "ca_file": entry.ca, "insecure": False, "profile": None,
            **extra}


def stored(outs: dict) -> dict:
    """What read and delete get back: the outputs (never a password)."""
    assert "password" not in outs and "user_password" not in outs
    return outs


PROVIDERS = [providers.BmcUserProvider, providers.BiosSettingsProvider, providers.BootOverrideProvider,
             providers.VirtualMediaProvider, providers.PowerStateProvider, providers.OsDeployProvider,
             PlaybookRunProvider, GeneratedFilesProvider]


@pytest.mark.parametrize("cls", PROVIDERS, ids=lambda c: c.__name__)
def test_every_provider_pickles(cls: type, lab: list[BmcEntry]) -> None:
    """Pulumi's own serializer (dill, base64), after the provider has been used: it keeps no session."""
    provider = cls()
    if isinstance(provider, providers.BmcProvider):
        provider.read("gpu001/x", props(lab[0], state="on", target="pxe", image=None, attributes={}, user="admin",
                                        user_credential_ref={"env": PASSWORD_ENV}))
    again = dill.loads(base64.b64decode(serialize_provider(provider)))
    assert type(again).__name__ == cls.__name__ and vars(again) == {}


def test_boot_override_lifecycle_and_drift(lab: list[BmcEntry]) -> None:
    p, entry = providers.BootOverrideProvider(), lab[0]
    news = props(entry, target="pxe", persistent=True, mode=None)
    created = p.create(news)
    assert created.id == "gpu001/boot" and stored(created.outs)["target"] == "pxe"
    assert p.read(created.id, created.outs).outs["target"] == "pxe"
    assert not p.diff(created.id, created.outs, news).changes
    behind_pulumis_back(entry, lambda bmc: bmc.set_boot_override("disk", persistent=True))
    refreshed = p.read(created.id, created.outs).outs
    assert refreshed["target"] == "disk"
    drift = p.diff(created.id, refreshed, news)
    assert drift.changes and drift.replaces == []
    assert p.diff(created.id, refreshed, {**news, "url": "redfish+https://10.0.0.9"}).replaces == ["url"]
    updated = p.update(created.id, refreshed, {**news, "target": "cd"})
    assert updated.outs["target"] == "cd"
    p.delete(created.id, stored(updated.outs))
    assert behind_pulumis_back(entry, lambda bmc: bmc.boot_override()).target == "none"


def test_power_state_lifecycle_and_drift(lab: list[BmcEntry]) -> None:
    p, entry = providers.PowerStateProvider(), lab[0]
    news = props(entry, state="on", off_on_delete=False, wait=15)
    created = p.create(news)
    assert created.outs["state"] == "on"
    behind_pulumis_back(entry, lambda bmc: bmc.power("off", wait=15))
    refreshed = p.read(created.id, created.outs).outs
    assert refreshed["state"] == "off" and p.diff(created.id, refreshed, news).changes
    assert p.update(created.id, refreshed, news).outs["state"] == "on"
    p.delete(created.id, created.outs)  # not asked to power off: stays on
    assert behind_pulumis_back(entry, lambda bmc: bmc.power_state()) == "On"
    p.delete(created.id, {**created.outs, "off_on_delete": True})
    assert behind_pulumis_back(entry, lambda bmc: bmc.power_state()) == "Off"


def test_virtual_media_lifecycle_and_drift(lab: list[BmcEntry]) -> None:
    p, entry = providers.VirtualMediaProvider(), lab[0]
    news = props(entry, image=ISO)
    created = p.create(news)
    assert created.outs["image"] == ISO
    behind_pulumis_back(entry, lambda bmc: bmc.eject_media())
    refreshed = p.read(created.id, created.outs).outs
    assert refreshed["image"] is None and p.diff(created.id, refreshed, news).changes
    other = ISO.replace("deploy", "rescue")
    assert p.update(created.id, refreshed, {**news, "image": other}).outs["image"] == other
    p.delete(created.id, created.outs)
    assert not behind_pulumis_back(entry, lambda bmc: bmc.media_status()).inserted


def test_bios_settings_lifecycle_and_drift(lab: list[BmcEntry]) -> None:
    p, entry = providers.BiosSettingsProvider(), lab[1]
    news = props(entry, attributes={"AcPwrRcvry": "Off"})
    created = p.create(news)
    assert created.outs["attributes"] == {"AcPwrRcvry": "Off"} and created.outs["pending"] == ["AcPwrRcvry"]
    assert not p.diff(created.id, p.read(created.id, created.outs).outs, news).changes
    behind_pulumis_back(entry, lambda bmc: bmc.set_bios({"AcPwrRcvry": "On"}))
    refreshed = p.read(created.id, created.outs).outs
    assert refreshed["attributes"] == {"AcPwrRcvry": "On"} and p.diff(created.id, refreshed, news).changes
    assert p.update(created.id, refreshed, news).outs["attributes"] == {"AcPwrRcvry": "Off"}
    p.delete(created.id, created.outs)  # leaves the settings


def test_bmc_user_rotation_and_drift(lab: list[BmcEntry], monkeypatch: pytest.MonkeyPatch) -> None:
    p, entry = providers.BmcUserProvider(), lab[1]
    monkeypatch.setenv("ANYRACK_TEST_OPS_PASSWORD", "ops-secret-1")
    news = props(entry, user="ops", user_password="ops-secret-1", user_role="Administrator",
                 user_credential_ref={"env": "ANYRACK_TEST_OPS_PASSWORD"}, verified=None)
    created = p.create(news)
    assert stored(created.outs)["verified"] is True
    assert p.read(created.id, created.outs).outs["verified"] is True
    monkeypatch.setenv("ANYRACK_TEST_OPS_PASSWORD", "changed-elsewhere")  # the BMC still has the old one
    refreshed = p.read(created.id, created.outs).outs
    assert refreshed["verified"] is False and p.diff(created.id, refreshed, {**news, "verified": True}).changes
    assert p.diff(created.id, created.outs, {**news, "user": "other"}).replaces == ["user"]
    assert p.update(created.id, refreshed, {**news, "user_password": "changed-elsewhere"}).outs["verified"] is True
    assert p.read(created.id, created.outs).outs["verified"] is True


def test_os_deploy_from_iso_boots_the_node(lab: list[BmcEntry]) -> None:
    boot, deploy, entry = providers.BootOverrideProvider(), providers.OsDeployProvider(), lab[1]
    boot.create(props(entry, target="cd", persistent=False, mode=None))
    news = props(entry, method="iso", image=ISO, wait=15)
    created = deploy.create(news)
    assert created.outs["started"] is True and created.outs["power"] == "on"
    assert behind_pulumis_back(entry, lambda bmc: bmc.media_status()).image == ISO
    assert created.outs["installed"] == {"method": "iso", "image": ISO}
    newer = deploy.diff(created.id, created.outs, {**news, "image": ISO + "?v2"})
    assert newer.changes and newer.replaces == []  # a new image alone reinstalls nothing
    recorded = deploy.update(created.id, created.outs, {**news, "image": ISO + "?v2"}).outs
    assert recorded["image"] == ISO + "?v2" and recorded["installed"] == {"method": "iso", "image": ISO}
    asked = {**news, "image": ISO + "?v2", "redeploy": "2026-12-07"}
    assert deploy.diff(created.id, recorded, asked).replaces == ["redeploy"]
    assert not deploy.diff(created.id, {**recorded, "redeploy": "2026-12-07"}, {**asked, "redeploy": None}).changes
    deploy.delete(created.id, created.outs)
    assert not behind_pulumis_back(entry, lambda bmc: bmc.media_status()).inserted


def test_a_silently_reverted_write_fails_create_clearly(lab: list[BmcEntry]) -> None:
    p = providers.BootOverrideProvider()
    with pytest.raises(BmcVerifyFailed, match=r"gpu003: .*reverted"):
        p.create(props(lab[2], node="gpu003", target="pxe", persistent=True, mode=None))


def test_a_faulty_bmc_gives_an_error_naming_the_node(lab: list[BmcEntry]) -> None:
    with pytest.raises(BmcError, match=r"^gpu004: ") as err:
        providers.PowerStateProvider().create(props(lab[3], node="gpu004", state="on", wait=1, retries=0))
    assert "500" in str(err.value) or "InternalError" in str(err.value)


def test_read_without_a_usable_reference_says_so(lab: list[BmcEntry]) -> None:
    outs = {**props(lab[0], target="pxe", persistent=True), "credential_ref": {"vault": "bmc_pw"}}
    del outs["password"]
    with pytest.raises(Exception, match="gpu001: vault id 'bmc_pw'"):
        providers.BootOverrideProvider().read("gpu001/boot", outs)


def test_os_deploy_over_pxe_and_a_used_up_override_is_not_drift(lab: list[BmcEntry]) -> None:
    boot, deploy, entry = providers.BootOverrideProvider(), providers.OsDeployProvider(), lab[0]
    behind_pulumis_back(entry, lambda bmc: bmc.power("off", wait=15))
    boot_in = props(entry, target="pxe", persistent=False, mode=None)
    made = boot.create(boot_in)
    created = deploy.create(props(entry, method="pxe", image=None, wait=15))
    assert created.outs["power"] == "on"  # powered on to boot from the override
    refreshed = boot.read(made.id, made.outs).outs
    assert refreshed["consumed"] is True and refreshed["target"] == "pxe"  # cleared by the BMC at boot
    assert not boot.diff(made.id, refreshed, boot_in).changes
    deploy.delete(created.id, created.outs)  # pxe: nothing to eject, power untouched
    assert behind_pulumis_back(entry, lambda bmc: bmc.power_state()) == "On"


def test_a_node_behind_a_shared_bmc_reaches_its_own_system(lab: list[BmcEntry]) -> None:
    """Providers pass the site's ``bmc.system`` and ``allow_http`` through to the BMC layer."""
    p, shared = providers.PowerStateProvider(), lab[4]  # one BMC, four hosts (Node0..Node3)
    with pytest.raises(BmcError, match="manages 4 hosts"):
        p.read("gpu005/power", props(shared, node="gpu005", state="on"))
    assert p.read("gpu005/power", props(shared, node="gpu005", state="on", system="Node2")).outs["state"] == "on"
    with pytest.raises(BmcError, match="has no system 'Node9'"):
        p.read("gpu005/power", props(shared, node="gpu005", state="on", system="Node9"))
    moved = p.diff("gpu005/power", props(shared, state="on", system="Node2"), props(shared, state="on", system="Node3"))
    assert moved.replaces == ["system"]
    plain = props(lab[0], state="on", retries=0, url=f"redfish+{lab[0].url.replace('https:', 'http:')}")
    with pytest.raises(InputError, match="plain HTTP"):
        p.read("gpu001/power", plain)
    with pytest.raises(BmcError) as allowed:  # allowed: it gets as far as talking HTTP to an HTTPS port
        p.read("gpu001/power", {**plain, "allow_http": True})
    assert not isinstance(allowed.value, InputError)
