"""Named switches for the ways real BMCs depart from the Redfish spec; every default is spec behaviour.

Generic code consults ``quirks.<switch>``; a vendor profile (``bmc/profiles/``) sets the switches its
BMCs need, each with a comment naming the model, firmware and symptom. The symptoms themselves are
named once in :mod:`anyrack.bmc.symptoms` (shared with the lab's emulator); a unit test checks that
every switch here is read by the client.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quirks:
    etag_required: bool = False
    """PATCH without If-Match is refused (428): fetch the ETag first and always send it."""
    boot_mode_rejected: bool = False
    """A Boot PATCH that names BootSourceOverrideMode is refused: never send the mode."""
    bios_settings_path: str = "Settings"
    """Where BIOS changes go, relative to the Bios resource, when it has no @Redfish.Settings link."""
    media_boot_target: str = "Cd"
    """Boot target that boots the inserted virtual-media image (boot target ``cd``), used when the system
    allows it; else Cd."""
    media_send_inserted: bool = True
    """Attaching media sends Inserted and WriteProtected (optional InsertMedia parameters that some BMCs
    require); False for BMCs that refuse them."""
    media_on_systems: bool = False
    """VirtualMedia lives under Systems/<id> rather than Managers/<id>."""
    transient_message_ids: tuple[str, ...] = ()
    """Message ids (any case, matched as substrings) that mean 'not ready, retry' even with a 4xx status."""
    max_sessions: int = 4
    """Concurrent requests to one BMC; sessions and BMC CPUs are scarce."""
    gpu_baseboard_systems: bool = False
    """GPUs may sit in a second ComputerSystem (e.g. a GPU baseboard) rather than the host system; that
    system counts only when the host's chassis links to it (``Links.ComputerSystems``)."""
    boot_once_is_continuous: bool = False
    """A one-time boot override is kept as a persistent one (reads back Continuous): whoever boots once
    must set the next boot device itself afterwards, as ``anyrack deploy`` does."""
    host_interface_macs_excluded: bool = True
    """EthernetInterfaces that are the BMC's host interface are not host NICs."""
