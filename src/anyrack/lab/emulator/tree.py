"""A recorded Redfish tree in DMTF mockup layout, loaded once and shared read-only by all its BMCs.

``<tree>/redfish/v1/**/index.json`` holds one resource per folder (``index.xml`` for ``$metadata``
and other CSDL documents). A resource is known by its *key*: the URL path without a trailing slash,
for example ``/redfish/v1/Systems/1``. Folder names are taken as recorded, so a key may contain ':'
or '_0x23_' (the mockup spelling of '#') or a literal '%20'.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from anyrack import document
from anyrack.errors import InputError, InvalidInput
from anyrack.lab.emulator.protocol import served_root

ROOT = "/redfish/v1"


class TreeError(InputError):
    """A tree folder that cannot be served."""

    template = "{path}: {reason}"


class NotATree(TreeError):
    """A path that holds no tree at all (an operator's mistake, not a recording's defect)."""


def path_key(path: str) -> str:
    """The key of a request path or link: no query, fragment, repeated or trailing slash."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    while "//" in path:
        path = path.replace("//", "/")
    return path.rstrip("/") or "/"


def request_keys(raw_path: str) -> list[str]:
    """Candidate keys for a raw request path: with its query (a recorded page such as ``X?$skip=50``),
    then as sent, percent-decoded, and with '#' as '_0x23_'."""
    path, sep, query = raw_path.partition("?")
    raw = path_key(path)
    decoded = unquote(path).replace("#", "_0x23_")
    keys = [f"{raw}?{unquote(query)}", f"{raw}?{query}"] if sep and query else []
    keys += [raw, path_key(decoded), raw.replace("%23", "_0x23_")]
    return list(dict.fromkeys(keys))


def etag_of(data: bytes) -> str:
    """A weak ETag for serialised resource bytes."""
    return 'W/"' + hashlib.sha1(data, usedforsecurity=False).hexdigest()[:16] + '"'


def lowercase_links(value: Any) -> Any:
    """A copy of ``value`` with every Redfish path in it in lowercase (fragments kept as they are)."""
    if isinstance(value, dict):
        return {k: lowercase_links(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lowercase_links(v) for v in value]
    if isinstance(value, str) and value.startswith("/redfish"):
        path, sep, fragment = value.partition("#")
        return path.lower() + sep + fragment
    return value


def serialise(doc: dict[str, Any], lowercase: bool = False) -> tuple[bytes, str]:
    """Body bytes and ETag of a resource; ``@odata.etag`` (where present) is set to the same ETag."""
    if lowercase:
        doc = lowercase_links(doc)
    if "@odata.etag" not in doc:
        data = json.dumps(doc, indent=2).encode()
        return data, etag_of(data)
    bare = {k: v for k, v in doc.items() if k != "@odata.etag"}
    tag = etag_of(json.dumps(bare).encode())
    return json.dumps({**doc, "@odata.etag": tag}, indent=2).encode(), tag


class Tree:
    """The resources of one recorded tree: parsed JSON per key, CSDL bytes, and a cache of served bodies."""

    def __init__(self, root: Path, docs: dict[str, Any], xml: dict[str, bytes],
                 behaviour: dict[str, Any] | None = None) -> None:
        self.root = root
        self.behaviour = behaviour or {}
        """What the firmware does that the recording cannot show (``emulator.yaml`` beside ``redfish/``)."""
        self.docs = docs
        self.xml = xml
        self._lower = {k.lower(): k for k in list(docs) + list(xml)}
        self._bodies: dict[tuple[str, bool], tuple[bytes, str]] = {}

    @property
    def name(self) -> str:
        """The tree's folder path as given, for listings."""
        return str(self.root)

    def find(self, key: str, case_sensitive: bool = False) -> str | None:
        """The canonical key of ``key`` (exact match first, then any case unless ``case_sensitive``)."""
        if key in self.docs or key in self.xml:
            return key
        return None if case_sensitive else self._lower.get(key.lower())

    def link(self, value: Any) -> str | None:
        """The canonical key a link (``{"@odata.id": ...}`` or a path string) points to, if in the tree."""
        if isinstance(value, dict):
            value = value.get("@odata.id")
        return self.find(path_key(value)) if isinstance(value, str) else None

    def body(self, key: str, lowercase: bool = False) -> tuple[bytes, str]:
        """Serialised bytes and ETag of an unchanged tree resource, computed once and shared."""
        cached = self._bodies.get((key, lowercase))
        if cached is None:
            cached = self._bodies[(key, lowercase)] = serialise(self.docs[key], lowercase)
        return cached


_TREES: dict[Path, Tree] = {}
_TREES_LOCK = threading.Lock()


def tree_root(path: Path | str) -> Path:
    """The folder that holds ``redfish/v1`` for ``path`` (the tree itself or its ``redfish/v1``)."""
    path = Path(path).expanduser().resolve()
    if (path / "redfish/v1/index.json").is_file():
        return path
    if path.parts[-2:] == ("redfish", "v1") and (path / "index.json").is_file():
        return path.parent.parent
    raise NotATree(path=str(path), reason="not a Redfish mockup tree (no redfish/v1/index.json)")


def load_tree(path: Path | str) -> Tree:
    """The tree at ``path``, read from disk on first use and shared afterwards; raises TreeError."""
    root = tree_root(path)
    with _TREES_LOCK:
        tree = _TREES.get(root)
        if tree is None:
            tree = _TREES[root] = _read_tree(root)
        return tree


def _read_tree(root: Path) -> Tree:
    docs: dict[str, Any] = {}
    xml: dict[str, bytes] = {}
    base = root / "redfish" / "v1"
    for folder, _dirs, files in os.walk(base):
        rel = Path(folder).relative_to(base).as_posix()
        key = ROOT if rel == "." else f"{ROOT}/{rel}"
        if "index.json" in files:
            file = Path(folder) / "index.json"
            try:
                docs[key] = json.loads(file.read_bytes().decode("utf-8-sig"))
            except (UnicodeDecodeError, ValueError) as err:
                raise TreeError(path=str(file), reason=f"not JSON: {err}") from None
        elif "index.xml" in files:
            xml[key] = (Path(folder) / "index.xml").read_bytes()
    if not isinstance(docs.get(ROOT), dict):
        kind = type(docs.get(ROOT)).__name__.replace("NoneType", "null")
        raise TreeError(path=str(base / "index.json"), reason=f"the service root is {kind}, not a JSON object")
    docs[ROOT] = served_root(docs[ROOT])
    return Tree(root, docs, xml, _behaviour(root))


BEHAVIOUR_FILE = "emulator.yaml"
BEHAVIOUR_KEYS = {"bios_settings_path": str, "not_ready_message_id": str, "update_service": dict}
"""``bios_settings_path``: where the firmware takes BIOS changes when its Bios resource names no
SettingsObject (relative to the Bios resource; default ``Settings``). ``not_ready_message_id``: the
MessageId the firmware answers with while it is not ready (symptom busy_after_power). ``update_service``:
properties the firmware's UpdateService has that the recording lacks (an update method), merged over it
(updates.py)."""


def _behaviour(root: Path) -> dict[str, Any]:
    """The tree's ``emulator.yaml`` (optional), checked like every other input file."""
    path = root / BEHAVIOUR_FILE
    if not path.is_file():
        return {}
    doc = document.load(path)
    data = doc.data if isinstance(doc.data, dict) else {}
    problems = [doc.problem((key,), f"unknown key (known: {', '.join(BEHAVIOUR_KEYS)})")
                for key in data if key not in BEHAVIOUR_KEYS]
    problems += [doc.problem((key,), f"expected {kind.__name__}") for key, kind in BEHAVIOUR_KEYS.items()
                 if key in data and not isinstance(data[key], kind)]
    if problems or not isinstance(doc.data, dict):
        raise InvalidInput(problems or [doc.problem((), "expected a mapping")])
    return data
