"""Lenovo XClarity Controller (XCC, XCC2)."""

from anyrack.bmc.profiles import Profile, RootInfo
from anyrack.bmc.quirks import Quirks


def _detect(info: RootInfo) -> bool:
    return info.says("lenovo")


PROFILE = Profile(
    # XCC (TGBT 1.40): the BMC's backup image is listed beside the primary (BMC-Backup); LXPM is the
    # provisioning manager, not the BIOS (that is "UEFI").
    firmware_kinds=((r"^BMC-Backup", "ignore"), (r"LXPM", "other")),
    name="lenovo",
    detect=_detect,
    description="Lenovo XClarity Controller",
    quirks=Quirks(
        # XCC 2.x+: PATCH without If-Match answers 428 Precondition Required.
        etag_required=True,
        # XCC: pending BIOS changes live at Bios/Pending.
        bios_settings_path="Pending",
        # XCC: InsertMedia needs Inserted and WriteProtected in the body (sent by default: media_send_inserted).
    ),
)
