"""UpdateService, its FirmwareInventory members (SoftwareInventory) and the Task an update runs as."""

from __future__ import annotations

from anyrack.bmc.redfish.resources import Field, Link, Links, Resource, known

_SIMPLE = "#UpdateService.SimpleUpdate"
_NO_VERSION = {"undefined", "unknown", "none", "null"}
"""Version texts BMCs write for "not known" beyond the usual placeholders (a recorded blade enclosure BMC
writes ``undefined``)."""


class UpdateService(Resource):
    """How this BMC takes images: pushed (multipart or plain) or pulled (SimpleUpdate), and where it lists
    what is installed."""

    multipart_uri = Field("MultipartHttpPushUri")
    push_uri = Field("HttpPushUri")
    simple_uri = Field("Actions", _SIMPLE, "target")
    pull_protocols_raw = Field("Actions", _SIMPLE, "TransferProtocol@Redfish.AllowableValues", raw=True)
    firmware_inventory = Link("FirmwareInventory")

    @property
    def methods(self) -> dict[str, str]:
        """Update method → URI, as advertised (empty: the BMC cannot be updated over Redfish)."""
        found = {"multipart": self.multipart_uri, "simple": self.simple_uri, "push": self.push_uri}
        return {k: v for k, v in found.items() if v}

    @property
    def pull_protocols(self) -> list[str]:
        """The transfer protocols SimpleUpdate allows (empty: not said)."""
        value = self.pull_protocols_raw
        return [str(p) for p in value] if isinstance(value, list) else []


class SoftwareInventory(Resource):
    """One FirmwareInventory member: a component's installed image."""

    version_raw = Field("Version", raw=True)
    updateable_raw = Field("Updateable", raw=True)
    related = Links("RelatedItem")

    @property
    def member_id(self) -> str:
        """``Id``, or the last segment of its path where the BMC leaves Id out."""
        return self.id or self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def version(self) -> str | None:
        """The version as text; control characters dropped (one recorded BMC reports a drive firmware as
        "0\\x14"); None where the BMC does not know it."""
        value = self.version_raw
        text = known("".join(ch for ch in value if ch.isprintable()) if isinstance(value, str) else value)
        return None if text is None or text.lower() in _NO_VERSION else text

    @property
    def updateable(self) -> bool | None:
        value = self.updateable_raw
        return value if isinstance(value, bool) else None


class Task(Resource):
    """A long operation (an update) as the task monitor reports it."""

    state = Field("TaskState", raw=True)
    percent = Field("PercentComplete", raw=True)
    messages_raw = Field("Messages", raw=True)

    @property
    def messages(self) -> list[dict]:
        value = self.messages_raw
        return [m for m in value if isinstance(m, dict)] if isinstance(value, list) else []

    @property
    def summary(self) -> str:
        """Every message as ``text [MessageId's last part]``, joined."""
        return "; ".join(f"{m.get('Message') or ''} [{str(m.get('MessageId') or '').rsplit('.', 1)[-1]}]"
                         for m in self.messages)

    def says(self, message_id: str) -> bool:
        """Whether a message has this MessageId (any registry prefix)."""
        return any(message_id in str(m.get("MessageId")) for m in self.messages)
