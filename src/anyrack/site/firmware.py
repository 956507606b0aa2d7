"""A SKU's golden firmware BOM (``skus.X.firmware``): a version per component kind, exact or a minimum.

::

    firmware: {bmc: "7.10.30.00", bios: ">=2.19.1", gpu: "96.00.89.00.01", nic: {NIC-MODEL-7: "28.39.1002"}}

A kind maps to one version for every component of that kind, or to a mapping of model → version (the
model is matched against the component's name, ignoring case, spaces, '-' and '_'). ``>=`` makes it a
minimum; anything else is the exact version. How versions compare: anyrack.inventory.firmware.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field

FirmwareKind = Literal["bmc", "bios", "gpu", "nvswitch", "nic", "psu", "cpld", "retimer", "other"]
_SPEC = re.compile(r"^(>=)?\s*\S(.*\S)?$")


def _version(value: str) -> str:
    if not _SPEC.match(value) or value.strip() == ">=":
        raise ValueError(f"{value!r} is not a version: write it as the BMC reports it ('2.19.1'), or '>=2.19.1' "
                         "for a minimum")
    return value


def _shape(value: Any) -> Any:
    if isinstance(value, str | dict):
        return value
    kind = "a number" if isinstance(value, int | float) and not isinstance(value, bool) else type(value).__name__
    hint = f" (quote it: '{value}')" if kind == "a number" else ""
    raise ValueError(f"expected a version as text, or a mapping of model to version, got {kind}{hint}")


Version = Annotated[str, AfterValidator(_version)]
ModelName = Annotated[str, Field(min_length=1, max_length=64)]
Wanted = Annotated[Version | dict[ModelName, Version], BeforeValidator(_shape)]
FirmwareBom = dict[FirmwareKind, Wanted]
