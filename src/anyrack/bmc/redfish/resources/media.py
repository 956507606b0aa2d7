"""Redfish VirtualMedia (DSP8010 VirtualMedia.v1_x): a slot that takes an image by URL."""

from __future__ import annotations

from anyrack.bmc.redfish.resources import Field, Resource

CD_TYPES = frozenset({"CD", "DVD"})


class VirtualMedia(Resource):
    """One virtual-media slot, under a Manager (most BMCs) or a ComputerSystem."""

    slot_id = Field("Id", raw=True)
    image = Field("Image")
    """The attached image's URL; some firmware writes the text "None" for no image (read as None)."""
    inserted_flag = Field("Inserted", raw=True)
    media_types = Field("MediaTypes", raw=True)
    insert_target = Field("Actions", "#VirtualMedia.InsertMedia", "target", raw=True)
    eject_target = Field("Actions", "#VirtualMedia.EjectMedia", "target", raw=True)

    @property
    def takes_cd(self) -> bool:
        """The slot takes CD/DVD images (an ISO)."""
        return bool(CD_TYPES & set(self.media_types or []))

    @property
    def inserted(self) -> bool:
        """``Inserted`` where the BMC reports it, else whether an image is attached."""
        return bool(self.inserted_flag) if "Inserted" in self.doc else self.image is not None
