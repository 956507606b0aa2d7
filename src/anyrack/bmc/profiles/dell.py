"""Dell iDRAC (9 and later)."""

from anyrack.bmc.profiles import Profile, RootInfo
from anyrack.bmc.quirks import Quirks


def _detect(info: RootInfo) -> bool:
    return info.says("dell") or "iDRAC.Embedded.1" in info.manager_ids


PROFILE = Profile(
    name="dell",
    detect=_detect,
    description="Dell iDRAC 9/10",
    # iDRAC9 6.x FirmwareInventory lists each running image twice (Current-…, Installed-…) and the rollback
    # images (Previous-…); only Installed-… is counted. The iDRAC names itself, not "BMC".
    firmware_kinds=((r"^(Current|Previous)-", "ignore"), (r"ServiceModule|Diagnostics|DriverPack", "other"),
                    (r"iDRAC", "bmc")),
    quirks=Quirks(
        # iDRAC9 (6.x, 7.x): BIOS changes go to Bios/Settings and need a config job applied at reboot.
        bios_settings_path="Settings",
        # iDRAC9: "SYS518 iDRAC is not ready" / "RAC0508" for a while after a reset or power change.
        transient_message_ids=("SYS518", "RAC0508", "SYS446"),
        # iDRAC locks a client out at ~8 sessions when sessions leak; keep well under.
        max_sessions=3,
    ),
)
