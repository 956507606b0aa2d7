"""AnsibleRun: the content hash, the diff that re-runs, and one real run against localhost."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from anyrack.iac.ansible import AnsibleRunFailed, PlaybookRunProvider, content_hash, run_playbook

pytestmark = pytest.mark.iac
ANSIBLE = Path(sys.executable).parent / "ansible-playbook"
needs_ansible = pytest.mark.skipif(not ANSIBLE.exists() and not shutil.which("ansible-playbook"),
                                   reason="ansible-playbook is not installed")


@pytest.fixture
def project(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "roles/demo/tasks").mkdir(parents=True)
    (tmp_path / "roles/demo/tasks/main.yml").write_text("- ansible.builtin.debug: {msg: hi}\n")
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "hosts.ini").write_text(f"[compute]\nlocalhost ansible_connection=local "
                                         f"ansible_python_interpreter={sys.executable}\n")
    playbook = tmp_path / "site.yml"
    playbook.write_text(f"""- hosts: all
  gather_facts: false
  tasks:
    - name: Write the marker
      ansible.builtin.copy: {{dest: "{tmp_path}/marker", content: "anyrack\\n"}}
""")
    return {"root": tmp_path, "playbook": playbook, "inventory": inventory, "roles": tmp_path / "roles"}


def test_hash_changes_with_playbook_roles_and_inventory(project: dict[str, Path]) -> None:
    paths = (project["playbook"], project["inventory"], project["roles"])
    first = content_hash(*paths)
    assert content_hash(*paths) == first and len(first) == 64
    seen = {first}
    for path, text in ((project["roles"] / "demo/tasks/main.yml", "- ansible.builtin.debug: {msg: bye}\n"),
                       (project["inventory"] / "hosts.ini", "[compute]\nother\n"),
                       (project["playbook"], "- hosts: all\n  tasks: []\n")):
        path.write_text(text)
        now = content_hash(*paths)
        assert now not in seen
        seen.add(now)
    (project["roles"] / "demo/tasks/extra.yml").write_text("[]\n")  # a new file counts too
    assert content_hash(*paths) not in seen


def test_diff_reruns_on_a_new_hash_and_never_replaces() -> None:
    p = PlaybookRunProvider()
    olds = {"playbook": "site.yml", "inventory": "inv", "group": "all", "hash": "a", "extra_vars": {}, "changed": 3}
    assert not p.diff("id", olds, {**olds, "changed": None}).changes
    for key, value in (("hash", "b"), ("group", "compute"), ("playbook", "other.yml"), ("extra_vars", {"x": 1})):
        result = p.diff("id", olds, {**olds, key: value})
        assert result.changes and result.replaces == [], key


@needs_ansible
def test_create_then_update_against_localhost(project: dict[str, Path]) -> None:
    p = PlaybookRunProvider()
    news = {"playbook": str(project["playbook"]), "inventory": str(project["inventory"]), "group": "compute",
            "hash": content_hash(project["playbook"], project["inventory"]), "extra_vars": {}}
    created = p.create(news)
    assert (created.outs["changed"], created.outs["failed"]) == (1, 0)
    assert (project["root"] / "marker").read_text() == "anyrack\n"
    again = p.update(created.id, created.outs, news)
    assert (again.outs["changed"], again.outs["failed"]) == (0, 0)
    assert created.outs["runner"] == "ansible-runner"
    runs = sorted((project["root"] / ".anyrack/runs").iterdir())  # artifacts kept beside the inventory
    assert len(runs) == 2 and all((r / "job_events").is_dir() for r in runs)


@needs_ansible
def test_a_failing_play_fails_create_with_counts(project: dict[str, Path]) -> None:
    project["playbook"].write_text("- hosts: all\n  gather_facts: false\n  tasks:\n"
                                   "    - ansible.builtin.fail: {msg: broken on purpose}\n")
    with pytest.raises(AnsibleRunFailed, match=r"failed=1[\s\S]*localhost: failed: broken on purpose"):
        PlaybookRunProvider().create({"playbook": str(project["playbook"]), "inventory": str(project["inventory"]),
                                      "group": "all", "hash": "x", "extra_vars": {}})
    assert run_playbook(str(project["playbook"]), str(project["inventory"])).rc != 0
