"""The test lab as a product feature; so far the BMC emulator (``anyrack.lab.emulator``)."""

from anyrack.lab.emulator import BmcEntry, Lab, LabOptions, TreeSpec, run_lab, serve_lab, spawn_lab

__all__ = ["BmcEntry", "Lab", "LabOptions", "TreeSpec", "run_lab", "serve_lab", "spawn_lab"]
