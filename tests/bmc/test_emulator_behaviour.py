"""A tree's emulator.yaml says what the firmware does that its recording cannot show."""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import ssl
from pathlib import Path

import pytest

from anyrack.errors import InvalidInput
from anyrack.lab import TreeSpec, serve_lab

pytestmark = pytest.mark.bmc
HGX = Path(__file__).resolve().parents[1] / "fixtures/redfish/openbmc/hgx-h100-baseboard"


def tree_with_bios(tmp_path: Path, behaviour: str | None) -> Path:
    """The HGX tree plus a Bios resource that names no SettingsObject (as some firmware records it)."""
    tree = tmp_path / "tree"
    shutil.copytree(HGX, tree)
    system = tree / "redfish/v1/Systems/System_0"
    doc = json.loads((system / "index.json").read_text())
    doc["Bios"] = {"@odata.id": "/redfish/v1/Systems/System_0/Bios"}
    (system / "index.json").write_text(json.dumps(doc))
    (system / "Bios").mkdir()
    (system / "Bios/index.json").write_text(json.dumps({
        "@odata.id": "/redfish/v1/Systems/System_0/Bios", "@odata.type": "#Bios.v1_1_0.Bios", "Id": "Bios",
        "Name": "BIOS", "Attributes": {"SriovEnable": "Disabled"}, "@Redfish.Settings": {"Messages": []}}))
    if behaviour is not None:
        (tree / "emulator.yaml").write_text(behaviour)
    return tree


def request(entry, method: str, path: str, body: dict | None = None) -> int:  # noqa: ANN001
    auth = base64.b64encode(f"{entry.username}:{entry.password}".encode()).decode()
    conn = http.client.HTTPSConnection(entry.host, entry.port, context=ssl.create_default_context(cafile=entry.ca))
    try:
        conn.request(method, path, body=json.dumps(body) if body else None,
                     headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_bios_settings_path_from_behaviour_file(tmp_path: Path) -> None:
    tree = tree_with_bios(tmp_path, "bios_settings_path: SD\n")
    with serve_lab([TreeSpec(tree)]) as (entry,):
        bios = "/redfish/v1/Systems/System_0/Bios"
        assert request(entry, "PATCH", f"{bios}/SD", {"Attributes": {"SriovEnable": "Enabled"}}) == 200
        assert request(entry, "GET", f"{bios}/SD") == 200
        assert request(entry, "GET", f"{bios}/Settings") == 404


def test_default_settings_path_without_behaviour_file(tmp_path: Path) -> None:
    with serve_lab([TreeSpec(tree_with_bios(tmp_path, None))]) as (entry,):
        assert request(entry, "GET", "/redfish/v1/Systems/System_0/Bios/Settings") == 200


def test_bad_behaviour_file_is_located(tmp_path: Path) -> None:
    tree = tree_with_bios(tmp_path, "bios_setings_path: SD\n")
    with pytest.raises(InvalidInput, match=r"emulator.yaml:1: bios_setings_path: unknown key"), \
            serve_lab([TreeSpec(tree)]):
        pass
