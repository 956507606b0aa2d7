"""Standards-only Redfish: every quirk at its spec default."""

from anyrack.bmc.profiles import Profile

PROFILE = Profile(name="generic", detect=lambda info: True, description="any DMTF Redfish service")
