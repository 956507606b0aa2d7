"""Where anyrack finds its Ansible content: the checkout first, else the copy an installed wheel carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from anyrack.provision.content import ContentMissing, locate

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_checkout_content() -> None:
    content = locate()
    assert (content.source, content.collection, content.config) == ("checkout", ROOT, ROOT / "ansible.cfg")
    assert content.collections_path == (ROOT / "collections",)
    assert (content.playbooks / "site.yml").is_file() and (content.roles / "base").is_dir()
    assert content.version == "0.1.0"


def test_packaged_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside a checkout: the wheel's anyrack/ansible, then the user's collections (their env or Ansible's)."""
    tree = tmp_path / "ansible/ansible_collections/anyrack/hpc"
    tree.mkdir(parents=True)
    (tree / "galaxy.yml").write_text("namespace: anyrack\nname: hpc\nversion: '9.8.7'\n")
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", "/opt/a:/opt/b")
    content = locate(checkout=tmp_path / "nothing", packaged=tmp_path / "ansible")
    assert (content.source, content.collection, content.version) == ("package", tree, "9.8.7")
    assert content.collections_path == (tmp_path / "ansible", Path("/opt/a"), Path("/opt/b"))
    monkeypatch.delenv("ANSIBLE_COLLECTIONS_PATH")
    defaults = locate(checkout=tmp_path / "nothing", packaged=tmp_path / "ansible").collections_path
    assert defaults == (tmp_path / "ansible", Path("~/.ansible/collections").expanduser(),
                        Path("/usr/share/ansible/collections"))


def test_no_content(tmp_path: Path) -> None:
    with pytest.raises(ContentMissing, match="neither in a checkout"):
        locate(checkout=tmp_path, packaged=tmp_path / "ansible")
