"""Supermicro BMC (X11/X12/X13, H12/H13)."""

from anyrack.bmc.profiles import Profile, RootInfo
from anyrack.bmc.quirks import Quirks


def _detect(info: RootInfo) -> bool:
    return info.says("supermicro")


PROFILE = Profile(
    name="supermicro",
    detect=_detect,
    description="Supermicro BMC",
    quirks=Quirks(
        # X12/X13 firmware: the virtual-media image boots as UsbCd, not Cd.
        media_boot_target="UsbCd",
        # X12 (01.0x): InsertMedia rejects Inserted/WriteProtected with 400 PropertyUnknown.
        media_send_inserted=False,
    ),
)
