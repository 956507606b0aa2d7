"""``$expand``: collections read in one request where the BMC advertises it, with the same facts.

Each expanding tree is served twice by the emulator over HTTPS: as recorded (the service root
advertises ``ExpandQuery``), and with the ``expand-refused`` quirk (advertised, but every ``$expand``
answers 501, as some firmware does). The facts must be identical; expansion must save requests.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from anyrack.bmc import connect
from anyrack.bmc.redfish.client import expand_query
from anyrack.lab.emulator import BmcEntry, LabOptions, TreeSpec, serve_lab

pytestmark = pytest.mark.bmc
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures/redfish"
EXPANDING = ["dell/idrac9-r750", "hpe/ilo5-xl675d", "lenovo/xcc-sr670v2", "ami/megarac-h262-z63"]


@pytest.fixture(scope="module")
def lab() -> Iterator[dict[tuple[str, bool], BmcEntry]]:
    specs = [TreeSpec(FIXTURES / t) for t in EXPANDING] + [TreeSpec(FIXTURES / t, quirks=["expand-refused"])
                                                           for t in EXPANDING]
    specs.append(TreeSpec(FIXTURES / "openbmc/hgx-h100-baseboard"))
    with serve_lab(specs, LabOptions()) as entries:
        keys = [(t, True) for t in EXPANDING] + [(t, False) for t in EXPANDING] + [("openbmc", True)]
        yield dict(zip(keys, entries, strict=True))


def inventory(entry: BmcEntry) -> tuple[dict, int, str | None]:
    async def go():  # noqa: ANN202
        async with connect(f"redfish+{entry.url}", entry.username, entry.password, ca_file=entry.ca,
                           node="n1") as bmc:
            facts = await bmc.inventory("n1")
            return facts, bmc.client.requests, bmc.client.expand

    facts, requests, expand = asyncio.run(go())
    doc = facts.model_dump(mode="json")
    doc.pop("collected_at")
    doc["bmc"].pop("url")  # each BMC has its own address
    return doc, requests, expand


def get(entry: BmcEntry, path: str) -> tuple[int, dict]:
    context = ssl.create_default_context(cafile=entry.ca)
    request = urllib.request.Request(entry.url + path, headers={"Authorization": _basic(entry)})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def _basic(entry: BmcEntry) -> str:
    return "Basic " + base64.b64encode(f"{entry.username}:{entry.password}".encode()).decode()


@pytest.mark.parametrize("tree", EXPANDING)
def test_expanded_inventory_equals_member_by_member(lab: dict, tree: str) -> None:
    expanded, fewer, used = inventory(lab[(tree, True)])
    one_by_one, more, fallback = inventory(lab[(tree, False)])
    assert used is not None and used.startswith("$expand=")
    assert fallback is None  # turned off after the first refusal
    assert expanded == one_by_one
    assert expanded["gpus"] or expanded["nics"]
    assert fewer < more, (fewer, more)


def test_tree_without_expand_is_read_member_by_member(lab: dict) -> None:
    facts, _requests, used = inventory(lab[("openbmc", True)])
    assert used is None
    assert len(facts["gpus"]) == 8
    status, body = get(lab[("openbmc", True)], "/redfish/v1/Systems?$expand=.")
    assert status == 501 and "QueryNotSupported" in body["error"]["code"]


def test_emulator_expands_members_one_level(lab: dict) -> None:
    entry = lab[("dell/idrac9-r750", True)]
    status, plain = get(entry, "/redfish/v1/Systems/System.Embedded.1/Processors")
    assert status == 200 and all(set(m) == {"@odata.id"} for m in plain["Members"])
    status, body = get(entry, "/redfish/v1/Systems/System.Embedded.1/Processors?$expand=.($levels=1)")
    assert status == 200
    assert [m["@odata.id"] for m in body["Members"]] == [m["@odata.id"] for m in plain["Members"]]
    first_status, first = get(entry, plain["Members"][0]["@odata.id"])
    assert first_status == 200 and body["Members"][0] == first


@pytest.mark.parametrize("query", ["$expand=~", "$expand=.($levels=9)", "$expand=nonsense"])
def test_emulator_refuses_what_the_root_does_not_advertise(lab: dict, query: str) -> None:
    # The HPE tree advertises NoLinks and Levels (MaxLevels 1) but not Links.
    status, body = get(lab[("hpe/ilo5-xl675d", True)], f"/redfish/v1/Systems?{query}")
    assert status == 400 and "QueryParameterValueFormatError" in body["error"]["code"]


def test_expand_query_follows_the_advertisement() -> None:
    assert expand_query({}) is None
    assert expand_query({"ProtocolFeaturesSupported": {"ExpandQuery": {"NoLinks": True, "Levels": True}}}) == \
        "$expand=.($levels=1)"
    assert expand_query({"ProtocolFeaturesSupported": {"ExpandQuery": {"ExpandAll": True}}}) == "$expand=*"
    assert expand_query({"ProtocolFeaturesSupported": {"ExpandQuery": {"Links": True}}}) is None
