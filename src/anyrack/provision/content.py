"""Where the Ansible content comes from: the repository checkout, or the copy an installed wheel carries.

The content is the collection ``anyrack.hpc`` (``galaxy.yml``, ``playbooks/``, ``roles/``, ``plugins/``)
plus ``ansible.cfg``. In a checkout they are the repository's own top-level folders and the third-party
collections live in ``collections/`` (scripts/collections). The wheel carries the same files as package
data under ``anyrack/ansible/``: ``ansible.cfg`` and ``ansible_collections/anyrack/hpc/`` (pyproject.toml,
``force-include``); the third-party collections are then the user's (``ANSIBLE_COLLECTIONS_PATH`` or
Ansible's default paths, where ``ansible-galaxy collection install`` puts them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from anyrack.errors import AnyrackError

COLLECTION = "anyrack.hpc"
CHECKOUT = Path(__file__).resolve().parents[3]
"""The repository root when anyrack runs from a checkout (src/anyrack/provision/ → three levels up)."""
PACKAGED = Path(__file__).resolve().parents[1] / "ansible"
"""``anyrack/ansible`` inside an installed wheel."""
DEFAULT_COLLECTIONS = ("~/.ansible/collections", "/usr/share/ansible/collections")


class ContentMissing(AnyrackError):
    template = ("the Ansible content (collection {collection}) is neither in a checkout ({checkout}) nor installed "
                "with the package ({packaged}); reinstall anyrack")


@dataclass(frozen=True)
class Content:
    """The playbooks, roles, config and collection search path one anyrack installation uses."""

    collection: Path
    """The anyrack.hpc tree: galaxy.yml, playbooks/, roles/, plugins/."""
    config: Path
    collections_path: tuple[Path, ...]
    source: str
    """``checkout`` or ``package``."""

    @property
    def playbooks(self) -> Path:
        return self.collection / "playbooks"

    @property
    def roles(self) -> Path:
        return self.collection / "roles"

    @property
    def version(self) -> str:
        """The collection's version, read from its galaxy.yml (a line ``version: X``)."""
        for line in (self.collection / "galaxy.yml").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == "version":
                return value.strip().strip("'\"")
        return "unknown"


def _user_collections() -> tuple[Path, ...]:
    configured = os.environ.get("ANSIBLE_COLLECTIONS_PATH", "")
    entries = [p for p in configured.split(os.pathsep) if p] or list(DEFAULT_COLLECTIONS)
    return tuple(Path(p).expanduser() for p in entries)


def locate(checkout: Path = CHECKOUT, packaged: Path = PACKAGED) -> Content:
    """The checkout's content when anyrack runs from one, else the wheel's; raises ContentMissing."""
    if (checkout / "galaxy.yml").is_file() and (checkout / "roles").is_dir():
        return Content(collection=checkout, config=checkout / "ansible.cfg",
                       collections_path=(checkout / "collections",), source="checkout")
    tree = packaged / "ansible_collections" / "anyrack" / "hpc"
    if (tree / "galaxy.yml").is_file():
        return Content(collection=tree, config=packaged / "ansible.cfg",
                       collections_path=(packaged, *_user_collections()), source="package")
    raise ContentMissing(collection=COLLECTION, checkout=checkout, packaged=packaged)
