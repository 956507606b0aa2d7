"""The test lab as a product feature: the BMC emulator (``anyrack.lab.emulator``), simulated IPMI,
nspawn hosts. The emulator's names are re-exported here and loaded on first use."""

from __future__ import annotations

from typing import Any

__all__ = ["BmcEntry", "Lab", "LabOptions", "TreeSpec", "run_lab", "serve_lab", "spawn_lab"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from anyrack.lab import emulator

    return getattr(emulator, name)
