"""AMI MegaRAC: Gigabyte, ASRock Rack and many white-box and domestic OEM servers."""

from anyrack.bmc.profiles import Profile, RootInfo
from anyrack.bmc.quirks import Quirks


def _detect(info: RootInfo) -> bool:
    return info.says("ami", "megarac") or ("Self" in info.system_ids and "Self" in info.manager_ids)


PROFILE = Profile(
    name="ami",
    detect=_detect,
    description="AMI MegaRAC (SP-X) and OEM builds of it",
    quirks=Quirks(
        # MegaRAC 12.x (Gigabyte H262-Z63): Bios names no SettingsObject; changes go to Bios/SD.
        bios_settings_path="SD",
        # MegaRAC: PATCH needs If-Match (428 without), and the ETag is sometimes sent unquoted.
        etag_required=True,
        # MegaRAC 12.x: InsertMedia needs Inserted/WriteProtected (sent by default: media_send_inserted).
    ),
)
