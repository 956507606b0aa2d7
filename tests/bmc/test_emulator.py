"""The BMC emulator over real HTTPS (lab CA verified): auth, ETags, power, boot, media, BIOS, accounts, faults."""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from anyrack.errors import InputError
from anyrack.lab import BmcEntry, LabOptions, TreeSpec, serve_lab, spawn_lab
from anyrack.lab.emulator import read_listing
from anyrack.lab.emulator.plan import plan

pytestmark = pytest.mark.bmc

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures/redfish"
DELL, HPE, LENOVO = FIXTURES / "dell/idrac9-r750", FIXTURES / "hpe/ilo5-xl675d", FIXTURES / "lenovo/xcc-sr670v2"
TREES = (DELL, HPE, LENOVO)
SYSTEM = {DELL: "/redfish/v1/Systems/System.Embedded.1", HPE: "/redfish/v1/Systems/1", LENOVO: "/redfish/v1/Systems/1"}
SETTINGS = {DELL: "/redfish/v1/Systems/System.Embedded.1/Bios/Settings",
            HPE: "/redfish/v1/systems/1/bios/settings/", LENOVO: "/redfish/v1/Systems/1/Bios/Pending"}


def recorded(tree: Path, path: str) -> Any:
    """The tree's own JSON for ``path`` (folder names matched case-insensitively)."""
    folder = tree
    for part in path.strip("/").split("/"):
        folder = next(p for p in folder.iterdir() if p.name.lower() == part.lower())
    return json.loads((folder / "index.json").read_text())


@dataclass
class Resp:
    status: int
    headers: http.client.HTTPMessage
    data: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.data)

    @property
    def message_id(self) -> str:
        return self.json["error"]["@Message.ExtendedInfo"][0]["MessageId"].rsplit(".", 1)[-1]


class Client:
    """Stdlib HTTPS client verifying the lab CA and the BMC's IP against its certificate."""

    def __init__(self, entry: BmcEntry, timeout: float = 10) -> None:
        self.entry, self.timeout = entry, timeout
        self.context = ssl.create_default_context(cafile=entry.ca)
        self.token: str | None = None
        self.basic = (entry.username, entry.password)

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                auth: bool = True) -> Resp:
        headers = dict(headers or {})
        if auth and self.token:
            headers["X-Auth-Token"] = self.token
        elif auth:
            headers["Authorization"] = "Basic " + base64.b64encode(":".join(self.basic).encode()).decode()
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPSConnection(self.entry.host, self.entry.port, context=self.context,
                                           timeout=self.timeout)
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            response = conn.getresponse()
            return Resp(response.status, response.headers, response.read())
        finally:
            conn.close()

    def get(self, path: str, **kw: Any) -> Resp:
        return self.request("GET", path, **kw)

    def patch(self, path: str, body: Any, **kw: Any) -> Resp:
        return self.request("PATCH", path, body, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> Resp:
        return self.request("POST", path, body, **kw)

    def reset(self, tree: Path, kind: str) -> Resp:
        return self.post(f"{SYSTEM[tree]}/Actions/ComputerSystem.Reset", {"ResetType": kind})

    def power(self, tree: Path) -> str:
        return self.get(SYSTEM[tree]).json["PowerState"]


@contextmanager
def lab(*specs: TreeSpec, **options: Any) -> Iterator[list[Client]]:
    with serve_lab(list(specs), LabOptions(**options)) as entries:
        yield [Client(e) for e in entries]


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@pytest.mark.parametrize("tree", TREES, ids=lambda t: t.parent.name)
def test_service_root_is_open_and_everything_else_needs_credentials(tree: Path) -> None:
    with lab(TreeSpec(tree)) as (bmc,):
        root = bmc.get("/redfish/v1", auth=False)
        assert root.status == 200 and root.json["Id"] == recorded(tree, "redfish/v1")["Id"]
        assert bmc.get("/redfish/v1/", auth=False).json == root.json
        assert bmc.get("/redfish", auth=False).json == {"v1": "/redfish/v1/"}
        assert bmc.get("/redfish/v1/$metadata", auth=False).headers["Content-Type"].startswith("application/xml")
        denied = bmc.get("/redfish/v1/Systems", auth=False)
        assert denied.status == 401 and denied.message_id == "NoValidSession"
        assert "Basic" in denied.headers["WWW-Authenticate"]
        bmc.basic = (bmc.entry.username, "wrong")
        assert bmc.get(SYSTEM[tree]).status == 401


def test_get_paths_etags_404_and_lowercase_links() -> None:
    with lab(TreeSpec(DELL), TreeSpec(HPE), TreeSpec(HPE, quirks=("lowercase-links",))) as (dell, hpe, lower):
        system = dell.get(SYSTEM[DELL] + "/")
        assert system.status == 200 and system.headers["ETag"].startswith('W/"')
        assert system.json["Boot"] == recorded(DELL, SYSTEM[DELL])["Boot"]
        assert dell.get(SYSTEM[DELL].lower()).json["Id"] == "System.Embedded.1"  # not case-sensitive by default
        assert dell.get(SYSTEM[DELL], headers={"If-None-Match": system.headers["ETag"]}).status == 304
        fru = "/redfish/v1/Chassis/System.Embedded.1/Oem/Dell/DellAssembly/Disk.Bay.0:Enclosure.Internal.0-1%23FRU"
        assert dell.get(fru).json["@odata.id"].endswith("Disk.Bay.0:Enclosure.Internal.0-1_0x23_FRU")
        missing = dell.get("/redfish/v1/Registries")  # trimmed from the fixture: a link that answers 404
        assert missing.status == 404 and missing.message_id == "ResourceNotFound"
        # where the tree has @odata.etag, the body carries the same ETag as the header
        root = hpe.get("/redfish/v1/")
        assert "@odata.etag" in recorded(HPE, "redfish/v1") and root.json["@odata.etag"] == root.headers["ETag"]
        assert hpe.get("/redfish/v1/systems/1/bios/").json["Id"] == "bios"  # the tree's lowercase links
        assert lower.get("/redfish/v1/").json["Systems"]["@odata.id"] == "/redfish/v1/systems/"
        assert lower.get("/redfish/v1/Systems/1/").status == 404  # case-sensitive: the canonical case is gone
        assert lower.get("/redfish/v1/systems/1/").json["PowerState"] == recorded(HPE, SYSTEM[HPE])["PowerState"]


def test_sessions_create_list_delete_and_limit() -> None:
    with lab(TreeSpec(LENOVO), session_limit=3) as (bmc,):
        login = {"UserName": bmc.entry.username, "Password": bmc.entry.password}
        assert bmc.post("/redfish/v1/SessionService/Sessions", {**login, "Password": "x"}, auth=False).status == 401
        made = [bmc.post("/redfish/v1/SessionService/Sessions", login, auth=False) for _ in range(3)]
        assert [m.status for m in made] == [201] * 3
        refused = bmc.post("/redfish/v1/SessionService/Sessions", login, auth=False)
        assert refused.status == 503 and refused.message_id == "SessionLimitExceeded"
        bmc.token = made[0].headers["X-Auth-Token"]
        listed = bmc.get("/redfish/v1/SessionService/Sessions").json
        assert sorted(m["@odata.id"] for m in listed["Members"]) == sorted(m.headers["Location"] for m in made)
        assert bmc.get(made[1].headers["Location"]).json["UserName"] == bmc.entry.username
        assert bmc.request("DELETE", made[0].headers["Location"]).status == 204
        assert bmc.get(SYSTEM[LENOVO]).status == 401  # the token died with its session
        bmc.token = None
        assert bmc.get("/redfish/v1/SessionService/Sessions").json["Members@odata.count"] == 2
        assert bmc.post("/redfish/v1/SessionService/Sessions", login, auth=False).status == 201


def test_if_match_and_etag_required_quirk() -> None:
    with lab(TreeSpec(DELL), TreeSpec(DELL, quirks=("etag-required",))) as (plain, strict):
        path = SYSTEM[DELL]
        etag = plain.get(path).headers["ETag"]
        stale = plain.patch(path, {"AssetTag": "a"}, headers={"If-Match": 'W/"0000"'})
        assert stale.status == 412 and stale.message_id == "PreconditionFailed"
        assert plain.patch(path, {"AssetTag": "a"}, headers={"If-Match": etag}).status == 200
        new = plain.get(path)
        assert new.json["AssetTag"] == "a" and new.headers["ETag"] != etag
        opaque = new.headers["ETag"][3:-1]
        for form in (f'"{opaque}"', f'"W/\\"{opaque}\\""', opaque):  # plain, double-quoted, bare
            assert plain.patch(path, {"AssetTag": "a"}, headers={"If-Match": form}).status == 200
        assert plain.patch(path, {"AssetTag": "b"}).status == 200  # If-Match is optional without the quirk
        required = strict.patch(path, {"AssetTag": "b"})
        assert required.status == 428 and required.message_id == "PreconditionRequired"
        etag = strict.get(path).headers["ETag"]
        assert strict.patch(path, {"AssetTag": "b"}, headers={"If-Match": etag}).status == 200
        unknown = plain.patch(path, {"NoSuchProperty": 1})
        assert unknown.status == 400 and unknown.message_id == "PropertyUnknown"


def test_power_transitions_take_the_delay_and_bmcs_are_independent() -> None:
    allowed = recorded(DELL, SYSTEM[DELL])["Actions"]["#ComputerSystem.Reset"]["ResetType@Redfish.AllowableValues"]
    assert recorded(DELL, SYSTEM[DELL])["PowerState"] == "On"
    with lab(TreeSpec(DELL, count=2), power_delay_s=0.4) as (bmc, twin):
        assert bmc.power(DELL) == "On"
        assert "ForceOff" in allowed and bmc.reset(DELL, "ForceOff").status == 204
        assert bmc.power(DELL) == "PoweringOff"
        wait_for(lambda: bmc.power(DELL) == "Off")
        bmc.patch(SYSTEM[DELL], {"Boot": {"BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Once"}})
        assert twin.power(DELL) == "On" and twin.get(SYSTEM[DELL]).json["Boot"] == recorded(DELL, SYSTEM[DELL])["Boot"]
        assert bmc.entry.password != twin.entry.password  # each BMC has its own default password
        assert bmc.reset(DELL, "On").status == 204
        assert bmc.power(DELL) == "PoweringOn"
        wait_for(lambda: bmc.power(DELL) == "On")
        assert bmc.reset(DELL, "GracefulRestart").status == 204
        assert bmc.power(DELL) == "PoweringOn"
        not_advertised = next(v for v in ("Suspend", "Pause", "Resume") if v not in allowed)
        refused = bmc.reset(DELL, not_advertised)
        assert refused.status == 400 and refused.message_id == "ActionParameterValueNotInList"
        assert bmc.post(f"{SYSTEM[DELL]}/Actions/ComputerSystem.Reset", {}).message_id == "ActionParameterMissing"


def minimal_tree(root: Path) -> Path:
    """A tree with a reset ActionInfo, a Bios without a settings link, and no accounts."""
    link = {"Systems": "Systems", "Bios": "Systems/1/Bios", "Info": "Systems/1/ResetActionInfo"}
    link = {k: {"@odata.id": f"/redfish/v1/{v}"} for k, v in link.items()}
    reset = {"target": "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
             "@Redfish.ActionInfo": link["Info"]["@odata.id"]}
    docs = {
        "": {"@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot", "Id": "RootService", "Systems": link["Systems"]},
        "Systems": {"@odata.type": "#ComputerSystemCollection.ComputerSystemCollection",
                    "Members": [{"@odata.id": "/redfish/v1/Systems/1"}]},
        "Systems/1": {"@odata.type": "#ComputerSystem.v1_10_0.ComputerSystem", "Id": "1", "PowerState": "On",
                      "Bios": link["Bios"], "Actions": {"#ComputerSystem.Reset": reset}},
        "Systems/1/ResetActionInfo": {"Parameters": [{"Name": "ResetType", "AllowableValues": ["On", "ForceOff"]}]},
        "Systems/1/Bios": {"@odata.type": "#Bios.v1_1_0.Bios", "Id": "Bios", "Attributes": {"Mode": "A", "Count": 1}},
    }
    for rel, doc in docs.items():
        folder = root / "redfish/v1" / rel
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.json").write_text(json.dumps(doc))
    return root


def test_action_info_values_and_made_up_settings_object(tmp_path: Path) -> None:
    reset, settings = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", "/redfish/v1/Systems/1/Bios/Settings"
    with lab(TreeSpec(minimal_tree(tmp_path))) as (bmc,):  # the default user logs in without an account tree
        bad = bmc.post(reset, {"ResetType": "GracefulShutdown"})
        assert bad.status == 400  # a standard value, but not in this tree's ActionInfo
        assert bmc.patch(settings, {"Attributes": {"Count": 2}}).status == 200
        assert bmc.get(settings).json["Attributes"] == {"Count": 2}
        typed = bmc.patch(settings, {"Attributes": {"Count": "two"}})
        assert typed.status == 400 and typed.message_id == "PropertyValueTypeError"
        assert bmc.post(reset, {"ResetType": "ForceOff"}).status == 204
        assert bmc.get("/redfish/v1/Systems/1").json["PowerState"] == "Off"
        assert bmc.post(reset, {"ResetType": "On"}).status == 204
        assert bmc.get("/redfish/v1/Systems/1/Bios").json["Attributes"] == {"Mode": "A", "Count": 2}


@pytest.mark.parametrize("tree", TREES, ids=lambda t: t.parent.name)
def test_boot_override_checked_against_the_tree(tree: Path) -> None:
    boot = recorded(tree, SYSTEM[tree])["Boot"]
    allowed = boot["BootSourceOverrideTarget@Redfish.AllowableValues"]
    with lab(TreeSpec(tree), power_delay_s=0.0) as (bmc,):
        ok = bmc.patch(SYSTEM[tree], {"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}})
        assert ok.status == 200 and ok.json["Boot"]["BootSourceOverrideTarget"] == "Pxe"
        assert bmc.get(SYSTEM[tree]).json["Boot"]["BootSourceOverrideEnabled"] == "Once"
        not_allowed = next(t for t in ("Floppy", "Usb", "UefiShell", "Recovery") if t not in allowed)
        bad = bmc.patch(SYSTEM[tree], {"Boot": {"BootSourceOverrideTarget": not_allowed}})
        assert bad.status == 400 and bad.message_id == "PropertyValueNotInList"
        assert bmc.patch(SYSTEM[tree], {"Boot": {"BootSourceOverrideEnabled": "Sometimes"}}).status == 400
        mode = bmc.patch(SYSTEM[tree], {"Boot": {"BootSourceOverrideMode": "UEFI"}})
        assert mode.status == (200 if "BootSourceOverrideMode" in boot else 400)
        assert bmc.reset(tree, "ForceRestart").status == 204  # the boot uses up a one-time override
        assert bmc.get(SYSTEM[tree]).json["Boot"]["BootSourceOverrideEnabled"] == "Disabled"


def test_boot_quirks_revert_silently_and_reject_the_mode() -> None:
    with lab(TreeSpec(DELL, quirks=("silent-boot-revert",)), TreeSpec(DELL, quirks=("reject-boot-mode",))) as (
            revert, no_mode):
        before = revert.get(SYSTEM[DELL]).json["Boot"]
        change = {"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Continuous"}}
        assert revert.patch(SYSTEM[DELL], change).status == 200
        assert revert.get(SYSTEM[DELL]).json["Boot"] == before
        refused = no_mode.patch(SYSTEM[DELL], {"Boot": {"BootSourceOverrideMode": "UEFI"}})
        assert refused.status == 400
        assert no_mode.patch(SYSTEM[DELL], {"Boot": {"BootSourceOverrideTarget": "Cd"}}).status == 200


@pytest.mark.parametrize("media", ["/redfish/v1/Managers/iDRAC.Embedded.1/VirtualMedia/CD",
                                   "/redfish/v1/Systems/System.Embedded.1/VirtualMedia/1"])
def test_virtual_media_actions(media: str) -> None:
    image = "http://10.0.0.1/images/installer.iso"
    assert "#VirtualMedia.InsertMedia" in recorded(DELL, media)["Actions"]
    with lab(TreeSpec(DELL)) as (bmc,):
        assert bmc.post(f"{media}/Actions/VirtualMedia.InsertMedia", {"Image": image}).status == 204
        slot = bmc.get(media).json
        assert (slot["Image"], slot["Inserted"], slot["ImageName"], slot["ConnectedVia"]) == (
            image, True, "installer.iso", "URI")
        assert bmc.post(f"{media}/Actions/VirtualMedia.InsertMedia", {"Image": image}).status == 409
        assert bmc.post(f"{media}/Actions/VirtualMedia.EjectMedia", {}).status == 204
        slot = bmc.get(media).json
        assert (slot["Image"], slot["Inserted"]) == (recorded(DELL, media)["Image"], False)
        assert bmc.post(f"{media}/Actions/VirtualMedia.InsertMedia", {"Image": "no-scheme"}).status == 400


def test_virtual_media_by_patch_and_media_quirks() -> None:
    image = "https://10.0.0.1/os.iso"
    ext1 = "/redfish/v1/Managers/1/VirtualMedia/EXT1"
    cd = "/redfish/v1/Managers/iDRAC.Embedded.1/VirtualMedia/CD"
    assert "Actions" not in recorded(LENOVO, ext1)
    with lab(TreeSpec(LENOVO, quirks=("media-requires-inserted",)),
             TreeSpec(DELL, quirks=("media-rejects-inserted",)),
             TreeSpec(DELL, quirks=("media-patch-only",))) as (needs, rejects, patch_only):
        missing = needs.patch(ext1, {"Image": image})
        assert missing.status == 400 and missing.message_id == "PropertyMissing"
        full = needs.patch(ext1, {"Image": image, "Inserted": True, "WriteProtected": True})
        assert full.status == 200 and full.json["Image"] == image and full.json["Inserted"] is True
        assert needs.patch(ext1, {"Image": None}).json["Inserted"] is False
        insert = f"{cd}/Actions/VirtualMedia.InsertMedia"
        assert rejects.post(insert, {"Image": image, "Inserted": True, "WriteProtected": True}).status == 400
        assert rejects.post(insert, {"Image": image}).status == 204
        assert "#VirtualMedia.InsertMedia" not in patch_only.get(cd).json.get("Actions", {})
        assert patch_only.post(insert, {"Image": image}).status == 404
        assert patch_only.patch(cd, {"Image": image, "Inserted": True}).json["Inserted"] is True


@pytest.mark.parametrize("tree", TREES, ids=lambda t: t.parent.name)
def test_bios_pending_is_applied_at_the_next_reset(tree: Path) -> None:
    bios_path = SYSTEM[tree] + "/Bios"
    current = recorded(tree, bios_path)["Attributes"]
    name = next(k for k, v in current.items() if v == "Enabled" or v == "Disabled")
    new = "Disabled" if current[name] == "Enabled" else "Enabled"
    with lab(TreeSpec(tree), power_delay_s=0.2) as (bmc,):
        assert bmc.patch(bios_path, {"Attributes": {name: new}}).status == 405  # current values are read-only
        assert bmc.patch(SETTINGS[tree], {"Attributes": {name: new}}).status == 200
        pending = bmc.get(SETTINGS[tree]).json["Attributes"]
        assert pending[name] == new and (len(pending) == 1) == (recorded(tree, SETTINGS[tree])["Attributes"] == {})
        assert bmc.get(bios_path).json["Attributes"][name] == current[name]
        unknown = bmc.patch(SETTINGS[tree], {"Attributes": {"NoSuchAttribute": 1}})
        assert unknown.status == 400 and unknown.message_id == "PropertyUnknown"
        assert bmc.reset(tree, "ForceRestart").status == 204
        wait_for(lambda: bmc.power(tree) == "On")
        applied = bmc.get(bios_path).json["Attributes"]
        assert applied[name] == new
        after = bmc.get(SETTINGS[tree]).json["Attributes"]  # pending cleared
        assert after == ({} if recorded(tree, SETTINGS[tree])["Attributes"] == {} else applied)


@pytest.mark.parametrize("tree", TREES, ids=lambda t: t.parent.name)
def test_accounts_create_and_rotate_passwords(tree: Path) -> None:
    with lab(TreeSpec(tree)) as (bmc,):
        accounts = "/redfish/v1/AccountService/Accounts"
        made = bmc.post(accounts, {"UserName": "ops", "Password": "first-Pass1", "RoleId": "Operator"})
        assert made.status == 201 and made.json["UserName"] == "ops" and made.json.get("Password") is None
        location = made.headers["Location"]
        listed = [m["@odata.id"].rstrip("/") for m in bmc.get(accounts).json["Members"]]
        assert location.rstrip("/") in listed
        assert bmc.post(accounts, {"UserName": "ops", "Password": "x", "RoleId": "Operator"}).status == 409
        other = Client(bmc.entry)
        other.basic = ("ops", "first-Pass1")
        assert other.get(SYSTEM[tree]).status == 200
        assert bmc.patch(location, {"Password": "second-Pass2"}).status == 200
        assert other.get(SYSTEM[tree]).status == 401
        other.basic = ("ops", "second-Pass2")
        assert other.get(SYSTEM[tree]).status == 200
        mine = next(m for m in listed if bmc.get(m).json.get("UserName") == bmc.entry.username)
        assert bmc.patch(mine, {"Password": "rotated-Pass3"}).status == 200
        assert bmc.get(SYSTEM[tree]).status == 401
        bmc.basic = (bmc.entry.username, "rotated-Pass3")
        assert bmc.request("DELETE", location).status == 204
        assert other.get(SYSTEM[tree]).status == 401


def test_faults_behave_as_described() -> None:
    kinds = ("timeout", "5xx", "401", "503", "reset", "session-limit", "slow-power-on")
    specs = [TreeSpec(DELL, faults={kind: 1.0}) for kind in kinds]
    with lab(*specs, power_delay_s=0.2) as bmcs:
        by = dict(zip(kinds, bmcs, strict=True))
        assert [b.entry.faults for b in bmcs] == [(k,) for k in kinds]
        with pytest.raises(TimeoutError):
            Client(by["timeout"].entry, timeout=0.5).get("/redfish/v1")
        assert by["5xx"].get("/redfish/v1").status == 500
        assert by["401"].get("/redfish/v1").status == 200 and by["401"].get(SYSTEM[DELL]).status == 401
        first = [by["503"].get(SYSTEM[DELL]) for _ in range(3)]
        assert [r.status for r in first] == [503, 503, 200] and first[0].headers["Retry-After"] == "1"
        assert by["503"].get("/redfish/v1/Managers").status == 503  # counted per resource
        with pytest.raises((http.client.IncompleteRead, ConnectionError)):
            by["reset"].get("/redfish/v1")
        full = by["session-limit"]
        login = {"UserName": full.entry.username, "Password": full.entry.password}
        assert full.post("/redfish/v1/SessionService/Sessions", login, auth=False).status == 503
        held = full.get("/redfish/v1/SessionService/Sessions").json["Members"]
        assert len(held) == 8 and full.request("DELETE", held[0]["@odata.id"]).status == 204
        assert full.post("/redfish/v1/SessionService/Sessions", login, auth=False).status == 201
        slow = by["slow-power-on"]
        slow.reset(DELL, "ForceOff")
        wait_for(lambda: slow.power(DELL) == "Off")
        slow.reset(DELL, "On")
        time.sleep(1.0)
        assert slow.power(DELL) == "PoweringOn"  # 46 s, not the lab's 0.2 s


def test_fault_shares_are_deterministic_and_latency_is_added() -> None:
    specs = [TreeSpec(DELL, count=10, faults={"timeout": 0.3, "503": 0.5})]
    chosen = [[c.faults for c in plan(specs, LabOptions(seed=seed))[0]] for seed in (1, 1, 2)]
    assert chosen[0] == chosen[1] and chosen[0] != chosen[2]
    assert sum("timeout" in f for f in chosen[0]) == 3 and sum("503" in f for f in chosen[0]) == 5
    with lab(TreeSpec(HPE), latency_ms=300) as (bmc,):
        started = time.monotonic()
        assert bmc.get("/redfish/v1").status == 200
        assert time.monotonic() - started >= 0.3
    with pytest.raises(InputError, match="unknown quirk"):
        TreeSpec(DELL, quirks=("nope",))
    with pytest.raises(InputError, match="unknown kind"):
        TreeSpec(DELL, faults={"nope": 0.1})


def test_fifty_bmcs_in_one_process_and_the_listing(tmp_path: Path) -> None:
    listing = tmp_path / "bmcs.json"
    specs = [TreeSpec(tree, count=20) for tree in TREES]
    with serve_lab(specs, LabOptions(state_dir=tmp_path / "state", port=0), listing=listing) as entries:
        assert len(entries) == 60 and len({e.host for e in entries}) == 60
        assert entries[0].host == "127.0.1.1" and entries[-1].host == "127.0.1.60"
        assert listing.stat().st_mode & 0o777 == 0o600
        assert read_listing(listing) == entries
        written = json.loads(listing.read_text())[0]
        assert set(written) == {"url", "username", "password", "ca", "tree", "faults", "quirks"}
        assert written["ca"] == str(tmp_path / "state/ca.pem") and written["tree"] == str(DELL)
        for number, entry in enumerate(entries):
            tree = TREES[number // 20]
            assert Client(entry).get(SYSTEM[tree]).json["Id"] == recorded(tree, SYSTEM[tree])["Id"]
        ca = (tmp_path / "state/ca.pem").read_bytes()
    with serve_lab(specs[:1], LabOptions(state_dir=tmp_path / "state", port_base=free_port())) as again:
        assert (tmp_path / "state/ca.pem").read_bytes() == ca  # the CA is reused
        assert {e.host for e in again} == {"127.0.0.1"}
        assert [e.port for e in again] == list(range(again[0].port, again[0].port + 20))
        assert Client(again[19]).get("/redfish/v1").status == 200


def free_port(room: int = 20) -> int:
    """A port below the ephemeral range from which ``room`` ports are free now."""
    rng = random.Random(os.getpid())
    while True:
        base = rng.randrange(20000, 32000 - room)
        try:
            for port in range(base, base + room):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    listing = tmp_path / "bmcs.json"
    command = [sys.executable, "-m", "anyrack.cli.lab", "bmc", "serve", "--tree", f"{DELL}:2",
               "--quirk", "etag-required", "--tree", str(HPE), "--fault", "5xx:1", "--port", "0",
               "--state-dir", str(tmp_path / "state"), "--listing", str(listing), "--password", "pw"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_for(listing.exists, timeout=30)
        entries = read_listing(listing)
        assert [e.quirks for e in entries] == [("etag-required",)] * 2 + [()]
        assert [e.faults for e in entries] == [(), (), ("5xx",)]
        assert Client(entries[0]).patch(SYSTEM[DELL], {"AssetTag": "x"}).status == 428
        assert Client(entries[2]).get("/redfish/v1").status == 500
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"{DELL}: 2 BMCs at https://127.0.1.1:") and "quirks: etag-required" in lines[0]
    assert "faults: 5xx x1" in lines[1] and lines[2] == f"CA: {tmp_path / 'state/ca.pem'}"


def test_spawn_lab_runs_a_subprocess() -> None:
    with spawn_lab([TreeSpec(LENOVO, quirks=("etag-required",))]) as (entry,):
        assert entry.quirks == ("etag-required",)
        assert Client(entry).get(SYSTEM[LENOVO]).json["Id"] == "1"
