"""Deploy settings of the site file: how many nodes at once, power-on staggering, root-device hints.

```yaml
deploy:
  concurrency: 64                          # nodes in flight at once (BMC stages to SSH)
  power_on: {per_rack: 4, interval_s: 10}  # at most 4 power-ons per rack in any 10 s
skus:
  hgx: {..., root_device: {model: "SAMSUNG MZ1L2960HCJR", size_gb: 960}}
nodes:
  - {name: gpu001, ..., root_device: {serial: S6EWNA0T123456}}   # a node's hint replaces its SKU's
```
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from anyrack.site.fields import Model

HINTS = ("serial", "wwn", "model", "size_gb", "by_path", "rotational")


class RootDevice(Model):
    """Which disk the image goes to, as Ironic's root-device hints: every given field must match, and the
    ramdisk writes only when exactly one disk matches (strings exact, ``size_gb`` in whole GB, rounded down)."""

    serial: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    wwn: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    model: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    size_gb: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    by_path: Annotated[str, Field(pattern=r"^/dev/disk/by-path/[^\s]+$")] | None = None
    rotational: bool | None = None

    @model_validator(mode="after")
    def _one_at_least(self) -> RootDevice:
        if not self.given():
            raise ValueError(f"give at least one of {', '.join(HINTS)}")
        return self

    def given(self) -> dict[str, str | int | bool]:
        """The hint's fields that are set."""
        return {k: v for k in HINTS if (v := getattr(self, k)) is not None}


class PowerOnStagger(Model):
    per_rack: Annotated[int, Field(ge=1, le=64)] = 4
    """Power-on requests sent to the nodes of one rack within any ``interval_s`` seconds."""
    interval_s: Annotated[float, Field(ge=0, le=3600)] = 10.0


class DeploySettings(Model):
    concurrency: Annotated[int, Field(ge=1, le=10_000)] = 64
    """Nodes in flight at once (from opening the BMC to SSH)."""
    power_on: PowerOnStagger = Field(default_factory=PowerOnStagger)
