"""The BMC emulator: recorded Redfish trees served over HTTPS, many stateful BMCs from one process.

``serve_lab([TreeSpec(path, count)])`` runs it in a background thread for tests; ``Lab`` runs it in
the caller's event loop; ``spawn_lab`` runs it as a subprocess; ``run_lab`` serves until a signal.
"""

from anyrack.lab.emulator.listing import BmcEntry, read_listing, write_listing
from anyrack.lab.emulator.process import spawn_lab
from anyrack.lab.emulator.quirks import QUIRK_NAMES, EmulatedQuirks
from anyrack.lab.emulator.server import Lab, run_lab, serve_lab
from anyrack.lab.emulator.spec import FAULT_KINDS, LabOptions, TreeSpec, load_config, parse_fault, parse_tree

__all__ = [
    "FAULT_KINDS", "QUIRK_NAMES", "BmcEntry", "EmulatedQuirks", "Lab", "LabOptions", "TreeSpec", "load_config",
    "parse_fault", "parse_tree", "read_listing", "run_lab", "serve_lab", "spawn_lab", "write_listing",
]
