"""Redfish Bios (DSP8010 Bios.v1_x): current attributes, and the settings object pending changes go to."""

from __future__ import annotations

from anyrack.bmc.redfish.resources import Field, Link, Resource


class Bios(Resource):
    """A system's BIOS attributes; changes go to the settings object, applied at the next boot."""

    attributes = Field("Attributes", raw=True)
    settings_object = Link("@Redfish.Settings", "SettingsObject")
    """Where changes go; absent on some BMCs (the profile's ``bios_settings_path`` names it then)."""

    @property
    def values(self) -> dict:
        return dict(self.attributes) if isinstance(self.attributes, dict) else {}
