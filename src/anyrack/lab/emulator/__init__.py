"""The BMC emulator: recorded Redfish trees served over HTTPS, many stateful BMCs from one process.

``serve_lab([TreeSpec(path, count)])`` runs it in a background thread for tests; ``Lab`` runs it in
the caller's event loop; ``spawn_lab`` runs it as a subprocess; ``run_lab`` serves until a signal.
Names are loaded on first use, so that ``anyrack`` commands that only describe a lab do not pay for
the HTTP server and TLS imports.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BmcEntry": "listing", "read_listing": "listing", "write_listing": "listing", "spawn_lab": "process",
    "QUIRK_NAMES": "quirks", "EmulatedQuirks": "quirks", "Lab": "server", "run_lab": "server", "serve_lab": "server",
    "FAULT_KINDS": "spec", "LabOptions": "spec", "TreeSpec": "spec", "load_config": "spec", "parse_fault": "spec",
    "parse_tree": "spec",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
