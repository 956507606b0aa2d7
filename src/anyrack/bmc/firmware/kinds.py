"""Component kinds of a firmware inventory member: the words every vendor uses, then the profile's own.

A ``UpdateService/FirmwareInventory`` member names what it is in its ``Id`` and ``Name`` only, in each
vendor's words. The generic rules below match the words of the standard and of the hardware itself
(BMC, BIOS, GPU, power supply, CPLD/FPGA, retimer, network); a profile adds its vendor's words first
(``Profile.firmware_kinds``), including ``ignore`` for members that are not the running firmware
(rollback or backup images).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

KINDS = ("bmc", "bios", "gpu", "nvswitch", "nic", "psu", "cpld", "retimer", "other")
"""Every kind a component may have; a golden BOM (``skus.X.firmware``) is keyed by them."""
IGNORE = "ignore"
"""A profile rule's kind for a member that is not running firmware (a backup or rollback image)."""

GENERIC_RULES: tuple[tuple[str, str], ...] = (
    (r"nv ?switch", "nvswitch"),
    (r"retimer", "retimer"),
    (r"(^|[^a-z])gpu|vbios", "gpu"),
    (r"(^|[^a-z])bmc([^a-z]|$)|baseboard management", "bmc"),
    (r"(^|[^a-z])(bios|uefi)([^a-z]|$)", "bios"),
    (r"cpld|fpga|programmable logic", "cpld"),
    (r"power ?supply|(^|[^a-z])psu", "psu"),
    (r"ethernet|network|(^|[^a-z])nic([^a-z]|$)|infiniband", "nic"),
)


def _compiled(rules: Sequence[tuple[str, str]]) -> list[tuple[re.Pattern[str], str]]:
    return [(re.compile(pattern, re.I), kind) for pattern, kind in rules]


_GENERIC = _compiled(GENERIC_RULES)


def classify(member_id: str, name: str, profile_rules: Sequence[tuple[str, str]] = ()) -> str:
    """The kind of one member (``ignore`` when the profile says it is no running firmware).

    >>> classify("FW_GPU_SXM_1", "Software Inventory")
    'gpu'
    >>> classify("MB_CPLD1", "MB_CPLD1")
    'cpld'
    >>> classify("Disk1", "Firmware:DISK-SSD")
    'other'
    """
    text = f"{member_id} {name}"
    for pattern, kind in (*_compiled(profile_rules), *_GENERIC):
        if pattern.search(text):
            return kind
    return "other"
