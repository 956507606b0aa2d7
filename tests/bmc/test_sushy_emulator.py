"""sushy-tools' emulator (its fake driver: no libvirt needed) as the BMC of one node among several.

sushy-tools lists a Manager for every machine it knows, also those the node's BMC may not touch
(SUSHY_EMULATOR_ALLOWED_INSTANCES only filters the Systems): the metal lab once inserted a node's ISO into
the PXE server's VM this way, because the controller took the first Manager listed. The controller must
take the host system's own manager (Links.ManagedBy) and put virtual media there.
"""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from anyrack import aio
from anyrack.bmc import connect

pytestmark = pytest.mark.bmc
SUSHY = Path(sys.executable).parent / "sushy-emulator"
OTHER, NODE = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fake(uuid: str, name: str, mac: str) -> dict:
    return {"uuid": uuid, "name": name, "power_state": "Off", "external_notifier": False,
            "nics": [{"mac": mac, "ip": "10.0.0.1"}]}


@pytest.fixture(scope="module")
def sushy(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    if not SUSHY.is_file() and not shutil.which("sushy-emulator"):
        pytest.skip("sushy-emulator is not installed (dev dependency sushy-tools)")
    work = tmp_path_factory.mktemp("sushy")
    port = _free_port()
    conf = work / "sushy.conf"
    settings = {"SUSHY_EMULATOR_LISTEN_IP": "127.0.0.1", "SUSHY_EMULATOR_LISTEN_PORT": port,
                "SUSHY_EMULATOR_FAKE_DRIVER": True, "SUSHY_EMULATOR_STATE_DIR": str(work / "state"),
                "SUSHY_EMULATOR_FAKE_SYSTEMS": [_fake(OTHER, "pxe-server", "52:54:00:00:00:01"),
                                                _fake(NODE, "node", "52:54:00:00:00:02")],
                "SUSHY_EMULATOR_ALLOWED_INSTANCES": [NODE]}
    conf.write_text("".join(f"{k} = {v!r}\n" for k, v in settings.items()))
    log = (work / "sushy.log").open("w")
    proc = subprocess.Popen([str(SUSHY) if SUSHY.is_file() else "sushy-emulator", "--config", str(conf)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/redfish/v1", timeout=2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture(scope="module")
def iso_url(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A small file served over HTTP for the emulator to fetch as the ISO."""
    root = tmp_path_factory.mktemp("media")
    (root / "node.iso").write_bytes(b"not really an ISO\n" * 64)
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(root))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/node.iso"
    server.shutdown()


def _get(url: str) -> dict:
    import json

    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def test_the_host_systems_own_manager_is_used_not_the_first_listed(sushy: str) -> None:
    managers = [m["@odata.id"] for m in _get(f"{sushy}/redfish/v1/Managers")["Members"]]
    assert managers[0].endswith(OTHER)  # the condition: another machine's manager comes first

    async def paths() -> tuple:
        async with connect(f"redfish+{sushy}", "admin", "x", node="node", timeout=30, allow_http=True) as bmc:
            return bmc.system_path, bmc.manager_path, bmc.profile.name

    system, manager, profile = aio.run(paths())
    assert (system, manager, profile) == (f"/redfish/v1/Systems/{NODE}", f"/redfish/v1/Managers/{NODE}", "sushy")


def test_virtual_media_goes_to_the_nodes_own_machine(sushy: str, iso_url: str) -> None:
    slot = f"{sushy}/redfish/v1/Systems/{{}}/VirtualMedia/Cd"

    async def insert() -> tuple:
        async with connect(f"redfish+{sushy}", "admin", "x", node="node", timeout=30, allow_http=True) as bmc:
            inserted = await bmc.insert_media(iso_url)
            while_in = _get(slot.format(NODE)), _get(slot.format(OTHER))  # read past anyrack: the BMC's view
            return inserted, while_in, await bmc.eject_media()

    inserted, (node, other), ejected = aio.run(insert())
    assert (inserted.inserted, inserted.image) == (True, iso_url)
    assert (node["Inserted"], node["Image"]) == (True, iso_url)
    assert (other["Inserted"], other["Image"]) == (False, "")  # the other machine's virtual CD untouched
    assert not ejected.inserted and not _get(slot.format(NODE))["Inserted"]
