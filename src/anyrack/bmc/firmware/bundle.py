"""A firmware bundle as anyrack reads it before any write: what it updates, to which version.

A vendor image is opaque; anyrack needs a manifest beside it to check, before touching a BMC, that
the bundle fits the node (its target names exist in the node's FirmwareInventory) and to verify
afterwards that the version changed. The manifest is the first line of the bundle file (JSON), the
image follows; or, for an opaque vendor image, ``FILE.manifest.json`` beside it::

    {"anyrack_bundle": 1, "version": "96.00.89.00.01", "targets": ["FW_GPU_1", ...],
     "sha256": "<of the image bytes after the first line>"}

``targets`` are FirmwareInventory member ids (or a kind: ``gpu`` means every GPU component). The
emulator (anyrack.lab.emulator.updates) verifies ``sha256`` as a BMC verifies an image's signature:
a corrupt image fails its task with an Exception.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

MAGIC = "anyrack_bundle"


class BundleError(ValueError):
    """Bytes that are not a bundle anyrack can read."""


@dataclass(frozen=True)
class Manifest:
    version: str
    targets: tuple[str, ...]
    sha256: str | None = None


def make_bundle(version: str, targets: list[str], image: bytes = b"\0" * 64) -> bytes:
    """A bundle: manifest line + image (the lab's and the tests' own images)."""
    head = {MAGIC: 1, "version": version, "targets": targets, "sha256": hashlib.sha256(image).hexdigest()}
    return json.dumps(head).encode() + b"\n" + image


def read_manifest(data: bytes) -> Manifest:
    """The manifest of a bundle (its first line); raises BundleError."""
    head = data.split(b"\n", 1)[0]
    try:
        doc = json.loads(head)
    except (UnicodeDecodeError, ValueError):
        raise BundleError("no anyrack manifest on the first line (nor a FILE.manifest.json beside it)") from None
    if not isinstance(doc, dict) or doc.get(MAGIC) != 1:
        raise BundleError(f"the first line is JSON but not an anyrack manifest ({MAGIC}: 1 missing)")
    version, targets = doc.get("version"), doc.get("targets")
    if not isinstance(version, str) or not version.strip():
        raise BundleError("the manifest's 'version' must be a non-empty text")
    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) and t for t in targets):
        raise BundleError("the manifest's 'targets' must be a non-empty list of FirmwareInventory ids or kinds")
    sha = doc.get("sha256")
    return Manifest(version.strip(), tuple(targets), sha if isinstance(sha, str) else None)


def image_ok(data: bytes) -> bool:
    """Whether the image after the manifest line has the manifest's sha256 (what a BMC's signature check is)."""
    try:
        manifest = read_manifest(data)
    except BundleError:
        return False
    image = data.split(b"\n", 1)[1] if b"\n" in data else b""
    return manifest.sha256 is None or hashlib.sha256(image).hexdigest() == manifest.sha256
