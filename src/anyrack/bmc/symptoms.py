"""The ways real BMCs depart from the Redfish spec, each named once: the one list of symptoms.

The client copes with a symptom through the :class:`~anyrack.bmc.quirks.Quirks` switch named in
``quirk`` (None: the client copes by itself, or reports it, with no switch). The lab's BMC emulator
(``anyrack.lab.emulator.quirks``) builds its switches from this list, so a symptom the client is
tested against is exactly the one the emulator shows. The product never imports the lab; the lab
imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Symptom:
    name: str
    description: str
    """What a client sees when the symptom is on (the emulator does exactly this)."""
    quirk: str | None = None
    """The Quirks field that copes with it; None when no switch is needed (or none can help)."""


SYMPTOMS: tuple[Symptom, ...] = (
    Symptom("etag_required", "PATCH without If-Match is refused with 428 Precondition Required.", "etag_required"),
    Symptom("silent_boot_revert", "A PATCH of Boot answers 200 but the boot override does not change (anyrack's "
                                  "read-back reports it)."),
    Symptom("lowercase_links", "Links are served in lowercase and the server is case-sensitive: the canonical "
                               "case answers 404 (anyrack follows links as given)."),
    Symptom("reject_boot_mode", "A PATCH of Boot that names BootSourceOverrideMode is refused with 400.",
            "boot_mode_rejected"),
    Symptom("media_patch_only", "VirtualMedia has no InsertMedia/EjectMedia actions; media is attached by PATCH "
                                "of Image (anyrack uses the actions the resource lists)."),
    Symptom("media_rejects_inserted", "Attaching media with Inserted or WriteProtected in the request is refused "
                                      "with 400.", "media_send_inserted"),
    Symptom("media_requires_inserted", "Attaching media without both Inserted and WriteProtected in the request is "
                                       "refused with 400.", "media_send_inserted"),
    Symptom("expand_refused", "The service root advertises $expand but every $expand request is answered 501 "
                              "(anyrack falls back to one request per member)."),
    Symptom("bios_settings_unlinked", "The Bios resource names no @Redfish.Settings SettingsObject: pending "
                                      "changes go to a path below Bios that only the vendor documents.",
            "bios_settings_path"),
    Symptom("media_boots_as_usbcd", "The virtual-media image boots as boot target UsbCd: Cd is not among the "
                                    "allowed BootSourceOverrideTarget values and is refused with 400.",
            "media_boot_target"),
    Symptom("boot_once_kept", "A one-time boot override (Once) is stored, and read back, as Continuous.",
            "boot_once_is_continuous"),
    Symptom("busy_after_power", "After a power change the next write (PATCH or action) is refused once with 400 "
                                "and the firmware's own not-ready message id (in the lab: the tree's "
                                "not_ready_message_id); the same write a moment later succeeds.",
            "transient_message_ids"),
)

SYMPTOM_NAMES: tuple[str, ...] = tuple(s.name for s in SYMPTOMS)


def symptom(name: str) -> Symptom:
    """The symptom called ``name``; raises KeyError."""
    return {s.name: s for s in SYMPTOMS}[name]
