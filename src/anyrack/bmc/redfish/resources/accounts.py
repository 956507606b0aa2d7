"""Redfish AccountService and ManagerAccount (DSP8010): the BMC's local users."""

from __future__ import annotations

from anyrack.bmc.redfish.resources import Field, Link, Resource


class AccountService(Resource):
    accounts = Link("Accounts")


class ManagerAccount(Resource):
    """One local user; fixed-slot BMCs list empty slots (no UserName) to be filled by PATCH."""

    username = Field("UserName", raw=True)
    slot_id = Field("Id", raw=True)

    @property
    def is_free_slot(self) -> bool:
        """An empty account slot that may be filled (slot 1 is reserved on fixed-slot BMCs)."""
        return not self.username and self.slot_id not in ("1", None)
