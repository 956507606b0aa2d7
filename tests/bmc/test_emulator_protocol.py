"""The emulator as a protocol peer (DSP0266): any recording loads or is refused alone, Allow/Link/OData-Version,
405 for PATCH on read-only resources, 501/400 for query options it does not serve, array PATCH element by element."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import ssl
from pathlib import Path
from typing import Any

import pytest

from anyrack.lab import BmcEntry, TreeSpec, serve_lab

pytestmark = pytest.mark.bmc

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures/redfish"
DELL = FIXTURES / "dell/idrac9-r750"
ALL = sorted(p for p in FIXTURES.glob("*/*") if (p / "redfish/v1").is_dir())
NTP = "/redfish/v1/Managers/iDRAC.Embedded.1/NetworkProtocol"


def call(entry: BmcEntry, method: str, path: str, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, Any]:
    """One HTTPS request with basic auth, the lab CA verified; status, headers and the JSON body (or None)."""
    auth = base64.b64encode(f"{entry.username}:{entry.password}".encode()).decode()
    conn = http.client.HTTPSConnection(entry.host, entry.port, context=ssl.create_default_context(cafile=entry.ca),
                                       timeout=10)
    try:
        conn.request(method, path, None if body is None else json.dumps(body),
                     {"Authorization": f"Basic {auth}", "Content-Type": "application/json", **(headers or {})})
        answer = conn.getresponse()
        data = answer.read()
        return answer.status, answer.headers, json.loads(data) if data.strip().startswith(b"{") else None
    finally:
        conn.close()


def test_a_null_service_root_is_refused_alone_by_name(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = tmp_path / "null-root"
    (broken / "redfish/v1").mkdir(parents=True)
    (broken / "redfish/v1/index.json").write_text("null\n")
    with caplog.at_level(logging.ERROR), serve_lab([TreeSpec(DELL), TreeSpec(broken, count=2), *map(TreeSpec, ALL)]) \
            as entries:
        assert len(entries) == 1 + len(ALL)  # the broken tree's two BMCs are not made; every other tree serves
        assert all(call(e, "GET", "/redfish/v1/Systems")[0] == 200 for e in entries)
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refused == [f"tree {broken} refused: {broken}/redfish/v1/index.json: the service root is null, "
                       "not a JSON object"]


def test_every_recording_serves_every_system_including_the_new_hpe_trees() -> None:
    with serve_lab([TreeSpec(t) for t in ALL]) as entries:
        counts = {}
        for tree, entry in zip(ALL, entries, strict=True):
            status, _h, systems = call(entry, "GET", "/redfish/v1/Systems")
            assert status == 200
            members = [m["@odata.id"] for m in systems["Members"]]
            assert all(call(entry, "GET", m)[0] == 200 for m in members)
            counts[f"{tree.parent.name}/{tree.name}"] = len(members)
    assert counts["hpe/cray-ex4252-4node"] == 4 and counts["hpe/cray-ex235a-mi250x"] >= 1


@pytest.fixture(scope="module")
def dell() -> Any:
    with serve_lab([TreeSpec(DELL)]) as (entry,):
        yield entry


def test_allow_and_link_headers_and_the_odata_version_check(dell: BmcEntry) -> None:
    status, headers, root = call(dell, "GET", "/redfish/v1/")
    assert (status, headers["Allow"]) == (200, "GET, HEAD")
    version = root["@odata.type"].split(".")[1]
    assert headers["Link"] == f"<https://redfish.dmtf.org/schemas/v1/ServiceRoot.{version}.json>; rel=describedby"
    assert call(dell, "HEAD", "/redfish/v1/Systems/System.Embedded.1")[1]["Allow"] == "GET, HEAD, PATCH"
    assert call(dell, "GET", "/redfish/v1/SessionService/Sessions")[1]["Allow"] == "GET, HEAD, POST"
    assert "rel=describedby" in call(dell, "GET", "/redfish/v1/Systems")[1]["Link"]
    assert call(dell, "GET", "/redfish/v1/", headers={"OData-Version": "4.1"})[0] == 412
    assert call(dell, "GET", "/redfish/v1/", headers={"OData-Version": "4.0"})[0] == 200


def test_patch_of_a_read_only_resource_is_405_with_allow(dell: BmcEntry) -> None:
    for path, body in (("/redfish/v1", {"Name": "x"}), ("/redfish/v1/Systems", {"Name": "x"}),
                       ("/redfish/v1/AccountService/Roles/ReadOnly", {"AssignedPrivileges": ["Login"]})):
        status, headers, error = call(dell, "PATCH", path, body)
        assert status == 405, path
        assert "PATCH" not in headers["Allow"] and "GET" in headers["Allow"]
        assert error["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith("OperationNotAllowed")
    assert call(dell, "GET", "/redfish/v1")[2]["Name"] != "x"


def test_query_options_it_does_not_serve_are_refused_and_not_advertised(dell: BmcEntry) -> None:
    features = call(dell, "GET", "/redfish/v1")[2]["ProtocolFeaturesSupported"]
    assert not any(features.get(k) for k in ("FilterQuery", "SelectQuery", "OnlyMemberQuery", "ExcerptQuery"))
    for query in ("$filter=Id%20eq%20'1'", "$select=Id", "$top=1", "$rpvunknown"):
        assert call(dell, "GET", f"/redfish/v1/Systems?{query}")[0] == 501, query
    assert call(dell, "GET", "/redfish/v1/SessionService/Sessions?only=foo")[0] == 400
    assert call(dell, "GET", "/redfish/v1/Systems?somethingelse=1")[0] == 200  # unknown, no $: ignored (DSP0266)
    assert call(dell, "GET", "/redfish/v1/Systems?$expand=.")[0] == 200


def test_array_patch_is_applied_element_by_element(dell: BmcEntry) -> None:
    def ntp(servers: list) -> list:
        status, _h, _b = call(dell, "PATCH", NTP, {"NTP": {"NTPServers": servers}})
        assert status == 200
        return call(dell, "GET", NTP)[2]["NTP"]["NTPServers"]

    assert ntp(["a.example", "b.example"]) == ["a.example", "b.example"]
    assert ntp([{}, "d.example"]) == ["a.example", "d.example"]  # {} leaves an element as it is
    assert ntp([None, "d.example"]) == ["d.example"]  # null removes it
    assert ntp(["e.example", "f.example"]) == ["e.example", "f.example"]
    assert ntp(["g.example"]) == ["g.example"]  # a shorter array drops the rest
