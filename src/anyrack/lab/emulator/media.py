"""Virtual media: InsertMedia/EjectMedia actions and PATCH of Image/Inserted, wherever the tree has them."""

from __future__ import annotations

from posixpath import basename
from typing import Any
from urllib.parse import urlsplit

from anyrack.lab.emulator.messages import error_response
from anyrack.lab.emulator.reply import Answer, Reply
from anyrack.lab.emulator.state import BmcState

ACTIONS = ("#VirtualMedia.InsertMedia", "#VirtualMedia.EjectMedia")
INSERT_PARAMETERS = ("Image", "Inserted", "WriteProtected", "TransferProtocolType", "TransferMethod", "UserName",
                     "Password", "MediaType")
FLAGS = ("Inserted", "WriteProtected")


def media_view(state: BmcState, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` without the media actions when the BMC attaches media by PATCH only."""
    if not state.quirks.media_patch_only or not isinstance(doc.get("Actions"), dict):
        return doc
    actions = {k: v for k, v in doc["Actions"].items() if k not in ACTIONS}
    view = {k: v for k, v in doc.items() if k != "Actions"}
    if actions:
        view["Actions"] = actions
    return view


def _check_flags(state: BmcState, body: dict[str, Any]) -> Answer | None:
    sent = [f for f in FLAGS if f in body]
    if state.quirks.media_rejects_inserted and sent:
        return error_response(400, "PropertyUnknown", sent[0])
    if state.quirks.media_requires_inserted and len(sent) < len(FLAGS):
        return error_response(400, "PropertyMissing", next(f for f in FLAGS if f not in body))
    for flag in sent:
        if not isinstance(body[flag], bool):
            return error_response(400, "PropertyValueTypeError", body[flag], flag)
    return None


def _attach(state: BmcState, key: str, body: dict[str, Any]) -> None:
    doc = state.edit(key)
    image = body["Image"]
    doc["Image"] = image
    if "ImageName" in doc:
        doc["ImageName"] = basename(urlsplit(image).path) or image
    doc["Inserted"] = body.get("Inserted", True)
    doc["WriteProtected"] = body.get("WriteProtected", True)
    if "ConnectedVia" in doc:
        doc["ConnectedVia"] = "URI"
    for name in ("TransferProtocolType", "TransferMethod", "UserName"):
        if name in body and name in doc:
            doc[name] = body[name]


def _detach(state: BmcState, key: str) -> None:
    recorded = state.tree.docs.get(key, {})
    empty = recorded if recorded.get("Inserted") is False else {}
    doc = state.edit(key)
    for name, default in (("Image", None), ("ImageName", None), ("ConnectedVia", "NotConnected"),
                          ("Inserted", False), ("WriteProtected", doc.get("WriteProtected"))):
        if name in doc:
            doc[name] = empty.get(name, default)
    doc["Inserted"] = False


def _check_image(body: dict[str, Any]) -> Answer | None:
    image = body.get("Image")
    if not isinstance(image, str) or not image:
        return error_response(400, "PropertyMissing", "Image")
    if not urlsplit(image).scheme:
        return error_response(400, "PropertyValueTypeError", image, "Image")
    return None


def insert(state: BmcState, key: str, body: Any) -> Answer:
    """VirtualMedia.InsertMedia: 204, 400 on a bad or missing parameter, 409 if media is already inserted."""
    if state.quirks.media_patch_only:
        return error_response(404, "ResourceNotFound", "Action", "VirtualMedia.InsertMedia")
    if not isinstance(body, dict):
        return error_response(400, "ActionParameterMissing", "VirtualMedia.InsertMedia", "Image")
    unknown = [p for p in body if p not in INSERT_PARAMETERS and "@" not in p]
    if unknown:
        return error_response(400, "ActionParameterNotSupported", unknown[0], "VirtualMedia.InsertMedia")
    problem = _check_image(body) or _check_flags(state, body)
    if problem is not None:
        return problem
    if state.doc(key).get("Inserted") is True:
        return error_response(409, "ResourceInUse")
    _attach(state, key, body)
    return Reply(None, 204)


def eject(state: BmcState, key: str, body: Any) -> Answer:
    """VirtualMedia.EjectMedia: 204 (also when nothing is inserted)."""
    if state.quirks.media_patch_only:
        return error_response(404, "ResourceNotFound", "Action", "VirtualMedia.EjectMedia")
    _detach(state, key)
    return Reply(None, 204)


def update(state: BmcState, key: str, body: dict[str, Any]) -> Answer:
    """PATCH of a media slot: a URL in Image attaches it; Image null/empty or Inserted false detaches it."""
    unknown = [p for p in body if p not in INSERT_PARAMETERS and "@" not in p]
    if unknown:
        return error_response(400, "PropertyUnknown", unknown[0])
    detach = body.get("Inserted") is False or ("Image" in body and body["Image"] in (None, ""))
    if detach:
        if state.quirks.media_rejects_inserted and any(f in body for f in FLAGS):
            return error_response(400, "PropertyUnknown", next(f for f in FLAGS if f in body))
        _detach(state, key)
        return Reply(key)
    problem = _check_image(body) or _check_flags(state, body)
    if problem is not None:
        return problem
    _attach(state, key, body)
    return Reply(key)
