"""Redfish service root and sessions (DSP0266, DSP8010 ServiceRoot/SessionService): where a client logs in
and where every area starts."""

from __future__ import annotations

from anyrack.bmc.redfish.resources import Link, Resource


class ServiceRoot(Resource):
    """``/redfish/v1``: readable without credentials; every area is linked from here."""

    systems = Link("Systems")
    chassis = Link("Chassis")
    managers = Link("Managers")
    account_service = Link("AccountService")
    update_service = Link("UpdateService")
    session_service = Link("SessionService")
    sessions = Link("Links", "Sessions")
    """The session collection a login POSTs to (DSP0266 fixes /redfish/v1/SessionService/Sessions)."""
