"""What a BMC's answers must not be able to do to the client: send its credentials elsewhere, or lose a
whole node over one dangling link; and a session refusal is not taken for a wrong credential.

The BMC is the emulator serving a copy of the EX235a recording (tests/fixtures/redfish/hpe/) with one
link changed per test; the "other host" is a second local HTTP server that records every request
and whether it carried an Authorization or X-Auth-Token header.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import shutil
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from anyrack.bmc import connect
from anyrack.errors import BmcAuthFailed
from anyrack.facts import NodeFacts
from anyrack.inventory.reconcile import reconcile
from anyrack.lab.emulator import BmcEntry, LabOptions, TreeSpec, serve_lab
from anyrack.lab.emulator.tls import Authority
from anyrack.site.model import Site

pytestmark = pytest.mark.bmc
TREE = Path(__file__).resolve().parents[1] / "fixtures/redfish/hpe/cray-ex235a-mi250x"
SYSTEM = "redfish/v1/Systems/Node0/index.json"
NICS = "redfish/v1/Systems/Node0/EthernetInterfaces/index.json"


def edited_tree(tmp_path: Path, edits: dict[str, Callable[[dict], None]], source: Path = TREE) -> Path:
    """A copy of the recording with ``edits`` (file → change to its JSON) applied."""
    tree = tmp_path / "tree"
    shutil.copytree(source, tree)
    for name, edit in edits.items():
        doc = json.loads((tree / name).read_text())
        edit(doc)
        (tree / name).write_text(json.dumps(doc, indent=4))
    return tree


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def serving(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def recorder(seen: list[dict]) -> web.Application:
    """The other host: answers a plausible EthernetInterfaces collection and records what it was sent."""
    async def answer(request: web.Request) -> web.Response:
        seen.append({"path": request.path, "authorization": "Authorization" in request.headers,
                     "token": "X-Auth-Token" in request.headers})
        return web.json_response({"@odata.id": request.path, "Members": []})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


def inventory_with(entry: BmcEntry, app: web.Application | None, port: int) -> Awaitable[NodeFacts]:
    async def go() -> NodeFacts:
        runner = await serving(app, port) if app else None
        try:
            async with connect(f"redfish+{entry.url}", entry.username, entry.password, ca_file=entry.ca,
                               node="n1") as bmc:
                return await bmc.inventory("n1")
        finally:
            if runner:
                await runner.cleanup()

    return go()


@pytest.mark.parametrize("auth", ["session", "basic"])
def test_a_link_to_another_host_gets_no_credentials(tmp_path: Path, auth: str) -> None:
    port = free_port()
    foreign = f"http://127.0.0.1:{port}/redfish/v1/Systems/Node0/EthernetInterfaces"

    def to_elsewhere(system: dict) -> None:
        system["EthernetInterfaces"]["@odata.id"] = foreign

    tree = edited_tree(tmp_path, {SYSTEM: to_elsewhere})
    # "session-limit": the BMC's session pool is full, so the client uses basic auth for everything
    spec = TreeSpec(tree, faults={"session-limit": 1.0} if auth == "basic" else {})
    seen: list[dict] = []
    with serve_lab([spec], LabOptions()) as (entry,):
        facts = asyncio.run(inventory_with(entry, recorder(seen), port))
    assert seen == []  # not a request, so neither a token nor a password
    assert [(p.path, p.status) for p in facts.problems] == [(foreign, None)]
    assert "refused: the link leads to http://127.0.0.1:" in facts.problems[0].message
    # the rest of the node is reported; its NICs are unknown, not "none"
    assert (facts.system.serial, len(facts.gpus), facts.nics_complete) == ("GE21100074", 8, False)


def test_a_dangling_collection_leaves_its_fields_unknown(tmp_path: Path) -> None:
    def dangling(system: dict) -> None:
        system["Processors"]["@odata.id"] = "/redfish/v1/Systems/Node0/Processors-removed"

    def dangling_member(collection: dict) -> None:
        collection["Members"][0]["@odata.id"] = "/redfish/v1/Systems/Node0/EthernetInterfaces/Gone"

    tree = edited_tree(tmp_path, {SYSTEM: dangling, NICS: dangling_member})
    with serve_lab([TreeSpec(tree)], LabOptions()) as (entry,):
        facts = asyncio.run(inventory_with(entry, None, 0))
    assert sorted((p.path, p.status) for p in facts.problems) == [
        ("/redfish/v1/Systems/Node0/EthernetInterfaces/Gone", 404),
        ("/redfish/v1/Systems/Node0/Processors-removed", 404)]
    assert (facts.gpus, facts.gpus_complete, facts.nics_complete) == ([], False, False)
    assert sorted(n.name for n in facts.nics) == ["HPCNet0", "HPCNet2", "HPCNet3", "ManagementEthernet"]
    assert (facts.system.serial, facts.firmware["bios"]) == ("GE21100074", "ex235a.bios-1.3.6")
    # reconciliation: 0 GPUs read of 8 declared is unknown (not a mismatch); the serial still matches
    site = Site.model_validate({
        "site": "s", "credentials": {"c": {"username": "u", "password": {"env": "X"}}},
        "defaults": {"bmc_credential": "c"},
        "networks": {"bmc": {"cidr": "127.0.0.0/8"}, "management": {"cidr": "10.0.0.0/24"}},
        "racks": [{"name": "r"}], "skus": {"g": {"cpu": "c", "memory_gib": 1, "gpu": {"model": "MI200", "count": 8}}},
        "nodes": [{"name": "n1", "rack": "r", "u": 1, "sku": "g", "role": "controller", "bmc": entry.url.replace(
            "https", "redfish+https"), "addresses": {"management": "10.0.0.5"}, "serial": "GE21100074"}]})
    (report,) = reconcile(site, {"n1": facts})
    assert report.status == "ok"
    assert [(f.check, f.severity) for f in report.findings] == [("gpu_count", "unknown"), ("discovery", "unknown")]


def test_a_failing_storage_read_leaves_the_disks_incomplete(tmp_path: Path) -> None:
    """One storage subsystem that 404s and one drive link that dangles: the readable drive is reported, the
    disks are incomplete (a root-device hint cannot be checked), the node itself is reported whole."""
    storage = "redfish/v1/Systems/1/Storage"

    def dangling_subsystem(collection: dict) -> None:
        collection["Members"].append({"@odata.id": "/redfish/v1/Systems/1/Storage/Gone/"})

    def dangling_drive(subsystem: dict) -> None:
        subsystem["Drives"][1]["@odata.id"] = "/redfish/v1/Systems/1/Storage/DE07A000/Drives/9/"

    ilo = TREE.parent / "ilo5-xl675d"
    tree = edited_tree(tmp_path, {f"{storage}/index.json": dangling_subsystem,
                                  f"{storage}/DE07A000/index.json": dangling_drive}, source=ilo)
    with serve_lab([TreeSpec(tree)], LabOptions()) as (entry,):
        facts = asyncio.run(inventory_with(entry, None, 0))
    assert sorted((p.path, p.status) for p in facts.problems) == [
        ("/redfish/v1/Systems/1/Storage/DE07A000/Drives/9/", 404), ("/redfish/v1/Systems/1/Storage/Gone/", 404)]
    assert [(d.id, d.serial, d.controller) for d in facts.disks] == [("0", "21122DE9C12C", "DE07A000")]
    assert facts.disks_complete is False
    assert (facts.system.serial, len(facts.gpus), facts.gpus_complete) == ("JS05NP0896", 8, True)


# A stand-in BMC: the emulator has no switch for "sessions refused, basic auth accepted" (a user allowed
# basic auth only, or sessions disabled), so this small aiohttp service answers exactly that.
USER, PASSWORD = "admin", "right-Pa55"


def sessions_refused_bmc() -> web.Application:
    async def root(_: web.Request) -> web.Response:
        return web.json_response({"@odata.id": "/redfish/v1", "Systems": {"@odata.id": "/redfish/v1/Systems"},
                                  "Links": {"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"}}})

    async def sessions(_: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "sessions are disabled"}}, status=401)

    def checked(body: dict) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def answer(request: web.Request) -> web.Response:
            auth = request.headers.get("Authorization", "")
            if auth != "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode():
                return web.json_response({"error": {"message": "bad credential"}}, status=401)
            return web.json_response(body)
        return answer

    app = web.Application()
    app.router.add_get("/redfish/v1", root)
    app.router.add_post("/redfish/v1/SessionService/Sessions", sessions)
    app.router.add_get("/redfish/v1/Systems", checked({"Members": [{"@odata.id": "/redfish/v1/Systems/1"}]}))
    app.router.add_get("/redfish/v1/Systems/1", checked({"@odata.id": "/redfish/v1/Systems/1", "Id": "1",
                                                         "Boot": {}, "PowerState": "On"}))
    return app


def power_state_with(password: str, state_dir: Path) -> str:
    port = free_port()
    authority = Authority(state_dir)

    async def go() -> str:
        runner = web.AppRunner(sessions_refused_bmc())
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=authority.server_context("127.0.0.1")).start()
        try:
            async with connect(f"redfish+https://127.0.0.1:{port}", USER, password, node="n1",
                               ca_file=str(authority.cert_path), profile="generic", retries=0) as bmc:
                return await bmc.power_state()
        finally:
            await runner.cleanup()

    return asyncio.run(go())


def test_session_refused_with_401_then_basic_auth(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    assert power_state_with(PASSWORD, tmp_path) == "On"
    warnings = [r.getMessage() for r in caplog.records]
    assert any("session creation refused (HTTP 401" in w and "basic auth is accepted" in w for w in warnings)
    with pytest.raises(BmcAuthFailed, match=r"n1: login refused: session creation HTTP 401 \(sessions are "
                                            r"disabled\), basic auth HTTP 401 \(bad credential\); check the"):
        power_state_with("wrong", tmp_path)
    assert not any(PASSWORD in r.getMessage() or "wrong" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("chassis", "serial", "source"), [
    (["Mezz0"], None, None),  # a board's component chassis (ChassisType Card) alone: no identity
    (["Mezz0", "Enclosure"], "GE21100074", "/redfish/v1/Chassis/Enclosure"),  # the whole chassis, not the card
])
def test_a_component_chassis_is_never_the_nodes_identity(tmp_path: Path, chassis: list[str], serial: str | None,
                                                         source: str | None) -> None:
    def anonymous(system: dict) -> None:
        for key in ("SerialNumber", "Model"):
            system.pop(key)
        system["Links"] = {"Chassis": [{"@odata.id": f"/redfish/v1/Chassis/{c}"} for c in chassis]}

    tree = edited_tree(tmp_path, {SYSTEM: anonymous})
    with serve_lab([TreeSpec(tree)], LabOptions()) as (entry,):
        facts = asyncio.run(inventory_with(entry, None, 0))
    assert facts.system.serial == serial
    assert facts.system.provenance.get("serial") == source
    assert facts.system.provenance["manufacturer"] == "/redfish/v1/Systems/Node0"


def test_gpus_of_another_system_need_an_explicit_link(tmp_path: Path) -> None:
    """The HGX layout without the chassis link to HGX_Baseboard_0: the host lists no GPU, the baseboard
    has eight, and none is credited to the host (before: all eight were, because the host had none)."""
    def unlinked(chassis: dict) -> None:
        chassis.pop("Links")

    hgx = TREE.parents[1] / "openbmc/hgx-h100-baseboard"
    tree = edited_tree(tmp_path, {"redfish/v1/Chassis/HGX_Chassis_0/index.json": unlinked}, hgx)
    with serve_lab([TreeSpec(tree)], LabOptions()) as (entry,):
        facts = asyncio.run(inventory_with(entry, None, 0))
    assert facts.gpus == []
    assert (facts.bmc.profile, facts.system.path) == ("openbmc", "/redfish/v1/Systems/System_0")
