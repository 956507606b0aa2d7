"""sushy-tools' emulator (OpenStack): the virtual BMC of libvirt VMs in Ironic's, Metal3's and
anyrack's metal lab. Its service root names no Vendor; its Id is ``RedvirtService``."""

from anyrack.bmc.profiles import Profile, RootInfo
from anyrack.bmc.quirks import Quirks


def _detect(info: RootInfo) -> bool:
    return "redvirt" in info.service.lower()


PROFILE = Profile(
    name="sushy",
    detect=_detect,
    description="sushy-tools emulator (libvirt and fake drivers)",
    quirks=Quirks(
        # libvirt driver (sushy-tools 2.x): a "Once" override rewrites the domain's boot order for good
        # and reads back "Continuous"; the next boot device has to be set explicitly.
        boot_once_is_continuous=True,
        # a single-threaded-per-request Flask server in front of libvirt: a few requests at a time
        max_sessions=2,
    ),
)
