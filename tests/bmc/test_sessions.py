"""Logging in while the service root is read, and falling back to the root's own Sessions link.

The session is posted to the URI DSP0266 fixes at the same time as the root is read (one round
trip saved per BMC). A case-sensitive BMC that serves only lowercase links refuses that URI (404):
the client must then log in through the root's link, and the session must still be deleted.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import urllib.request
from pathlib import Path

import pytest

from anyrack.bmc import connect
from anyrack.lab.emulator import BmcEntry, LabOptions, TreeSpec, serve_lab

pytestmark = pytest.mark.bmc
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures/redfish"


def sessions(entry: BmcEntry, path: str) -> list[str]:
    auth = "Basic " + base64.b64encode(f"{entry.username}:{entry.password}".encode()).decode()
    request = urllib.request.Request(entry.url + path, headers={"Authorization": auth})
    context = ssl.create_default_context(cafile=entry.ca)
    with urllib.request.urlopen(request, context=context, timeout=10) as resp:
        return [m["@odata.id"] for m in json.load(resp)["Members"]]


def test_session_is_created_used_and_deleted() -> None:
    specs = [TreeSpec(FIXTURES / "hpe/ilo5-xl675d"), TreeSpec(FIXTURES / "hpe/ilo5-xl675d", quirks=["lowercase-links"])]
    with serve_lab(specs, LabOptions()) as entries:
        requests = []
        for entry, path in zip(entries, ["/redfish/v1/SessionService/Sessions/",
                                         "/redfish/v1/sessionservice/sessions/"], strict=True):
            before = sessions(entry, path)

            async def go(entry: BmcEntry = entry, path: str = path):  # noqa: ANN202
                async with connect(f"redfish+{entry.url}", entry.username, entry.password, ca_file=entry.ca,
                                   node="n1") as bmc:
                    during = sessions(entry, path)
                    facts = await bmc.inventory("n1")
                    return bmc.client.use_session, bmc.client.requests, during, facts

            used, count, during, facts = asyncio.run(go())
            assert used is True  # a session, not basic auth
            assert len(during) == len(before) + 1
            assert sessions(entry, path) == before  # deleted on close
            assert len(facts.gpus) == 8
            requests.append(count)
        # the spec URI refused by the lowercase-only BMC costs one request more, and nothing else
        assert requests[1] == requests[0] + 1


def test_wrong_password_fails_at_login() -> None:
    with serve_lab([TreeSpec(FIXTURES / "dell/idrac9-r750")], LabOptions()) as (entry,):
        async def go() -> None:
            async with connect(f"redfish+{entry.url}", entry.username, "not-the-password", ca_file=entry.ca,
                               node="n1") as bmc:
                await bmc.inventory("n1")

        with pytest.raises(Exception, match="login refused"):
            asyncio.run(go())
