"""Profile detection from recorded service roots, selection rules, and the entry-point group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anyrack.bmc.profiles import ENTRY_POINT_GROUP, Profile, RootInfo, all_profiles, detect_profile, get_profile
from anyrack.bmc.quirks import Quirks
from anyrack.errors import InputError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures/redfish"


def root_info(tree: str) -> RootInfo:
    base = FIXTURES / tree / "redfish/v1"
    root = json.loads((base / "index.json").read_text())
    ids = lambda coll: tuple(sorted(p.name for p in (base / coll).iterdir() if p.is_dir()))  # noqa: E731
    return RootInfo.from_root(root, ids("Systems"), ids("Managers"))


@pytest.mark.parametrize(("tree", "profile"), [
    ("dell/idrac9-r750", "dell"), ("hpe/ilo5-xl675d", "hpe"), ("lenovo/xcc-sr670v2", "lenovo"),
    ("ami/megarac-h262-z63", "ami"),
])
def test_detect_recorded_roots(tree: str, profile: str) -> None:
    assert detect_profile(root_info(tree)).name == profile


def test_detect_by_ids_and_fallback() -> None:
    assert detect_profile(RootInfo(system_ids=("System_0", "HGX_Baseboard_0"))).name == "openbmc"
    assert detect_profile(RootInfo(vendor="", manager_ids=("iDRAC.Embedded.1",))).name == "dell"
    assert detect_profile(RootInfo(vendor="Acme BMC")).name == "generic"


def test_every_builtin_has_a_unique_name_and_generic_is_last() -> None:
    names = [p.name for p in all_profiles()]
    assert len(names) == len(set(names)) and names[-1] == "generic"
    assert {"ami", "dell", "hpe", "lenovo", "supermicro", "openbmc"} <= set(names)


def test_get_profile_unknown() -> None:
    assert get_profile("hpe").quirks.boot_mode_rejected is True
    with pytest.raises(InputError, match=r"unknown BMC profile 'nope' \(known: .*generic"):
        get_profile("nope")


def test_third_party_profile_from_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = Profile(name="acme", detect=lambda info: info.says("acme"), quirks=Quirks(max_sessions=1))

    class EntryPoint:
        name = "acme"

        def load(self) -> Profile:
            return plugin

    import anyrack.bmc.profiles as profiles

    monkeypatch.setattr(profiles, "entry_points", lambda group: [EntryPoint()] if group == ENTRY_POINT_GROUP else [])
    profiles.all_profiles.cache_clear()
    try:
        assert detect_profile(RootInfo(vendor="ACME Corp")) is plugin
        assert get_profile("acme").quirks.max_sessions == 1
    finally:
        profiles.all_profiles.cache_clear()
