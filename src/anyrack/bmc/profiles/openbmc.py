"""OpenBMC (bmcweb), including NVIDIA HGX baseboard BMCs, where GPUs live in ``HGX_Baseboard_0``."""

from anyrack.bmc.profiles import Profile, RootInfo
from anyrack.bmc.quirks import Quirks


def _detect(info: RootInfo) -> bool:
    return info.says("openbmc") or any(s.startswith("HGX_") for s in info.system_ids) or info.manager_ids == ("bmc",)


PROFILE = Profile(
    name="openbmc",
    detect=_detect,
    description="OpenBMC bmcweb, NVIDIA HGX BMCs",
    quirks=Quirks(
        # HGX H100 BMC: the host system has no model/serial; GPUs are Processors of HGX_Baseboard_0.
        gpu_baseboard_systems=True,
        # bmcweb is one asynchronous process that accepts up to 100 connections (openbmc/bmcweb#145,
        # limit added in 2022; IBM's tree raised it to 200): eight requests at a time fetch an 8-GPU
        # baseboard's Processors in one round trip instead of two.
        max_sessions=8,
    ),
)
