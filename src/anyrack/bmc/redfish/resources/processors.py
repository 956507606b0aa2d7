"""Redfish Processor (DSP8010 Processor.v1_x) and the PCIeDevice a GPU may link to (PCIeDevice.v1_x)."""

from __future__ import annotations

from anyrack.bmc.redfish.resources import Field, Link, Resource


class Processor(Resource):
    """A CPU, GPU, FPGA, ... of a ComputerSystem."""

    kind = Field("ProcessorType", raw=True)
    """"CPU", "GPU", ... (as sent)."""
    model = Field("Model")
    serial = Field("SerialNumber")
    """Placeholders ("00000000000000") read as None."""
    firmware = Field("FirmwareVersion")
    location = Field("Location", "PartLocation", "ServiceLabel")
    """The slot label printed on the board ("SXM1")."""
    pcie_device = Link("Links", "PCIeDevice")

    @property
    def is_gpu(self) -> bool:
        return str(self.kind or "").upper() == "GPU"


class PCIeDevice(Resource):
    """A PCIe device; seen carrying a GPU's model where its Processor has none (one recorded BMC family)."""

    model = Field("Model")
    serial = Field("SerialNumber")
