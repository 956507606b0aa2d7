"""Role rdma_network: shape, defaults against the argument spec, a playbook syntax check, and its
validate step refusing a missing plan. Host tests of the role come with the nspawn lab.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from anyrack.fabric import load_plan, render

from .conftest import HGX, HGX_FACTS, ROOT

ROLE = ROOT / "roles/rdma_network"
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "ANSIBLE_ROLES_PATH": str(ROOT / "roles"), "ANSIBLE_CONFIG": str(tmp_path / "none.cfg"),
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"), "ANSIBLE_HOME": str(tmp_path / "home"),
            "ANSIBLE_NOCOWS": "1", "PATH": f"{PLAYBOOK.parent}:{os.environ.get('PATH', '')}"}


def _playbook(tmp_path: Path, plan_dir: str) -> tuple[Path, Path]:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"gpu001": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    play = tmp_path / "play.yml"
    play.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False,
                                     "vars": {"rdma_network_plan_dir": plan_dir},
                                     "roles": ["rdma_network"]}]))
    return inventory, play


def test_role_has_the_usual_shape() -> None:
    for rel in ("defaults/main.yml", "meta/argument_specs.yml", "meta/main.yml", "tasks/main.yml",
                "handlers/main.yml", "vars/Debian.yml", "vars/RedHat.yml"):
        assert (ROLE / rel).is_file(), rel
    for template in ROLE.joinpath("templates").rglob("*.j2"):  # template paths repeat the destination path
        assert str(template.relative_to(ROLE / "templates")).startswith(("etc/", "usr/")), template


def test_defaults_and_argument_spec_list_the_same_variables() -> None:
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    spec = yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert sorted(defaults) == sorted(spec)
    assert all(name.startswith("rdma_network_") for name in defaults)
    assert all(option.get("description") and option.get("type") for option in spec.values())


def test_playbook_with_the_role_passes_syntax_check(tmp_path: Path) -> None:
    inventory, play = _playbook(tmp_path, str(tmp_path / "plan"))
    done = subprocess.run([str(PLAYBOOK), "-i", str(inventory), "--syntax-check", str(play)], capture_output=True,
                          text=True, env=_env(tmp_path), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_role_refuses_to_run_without_a_plan(tmp_path: Path) -> None:
    inventory, play = _playbook(tmp_path, "")
    done = subprocess.run([str(PLAYBOOK), "-i", str(inventory), str(play)], capture_output=True, text=True,
                          env=_env(tmp_path), timeout=120)
    assert done.returncode != 0
    assert "rdma_network_plan_dir is not set: run `anyrack fabric plan SITE --out DIR`" in done.stdout


def test_role_reads_the_plan_written_for_its_host(tmp_path: Path) -> None:
    """The files the role copies are where the plan writes them (hosts/<node>/etc/...)."""
    files = render(load_plan(HGX, HGX_FACTS)[1])
    tasks = "\n".join(p.read_text() for p in (ROLE / "tasks").glob("*.yml"))
    for rel in ("etc/systemd/network/20-anyrack-rail0.network", "etc/netplan/60-anyrack-rails.yaml",
                "etc/nccl.conf", "rdma_network.yml"):
        assert f"hosts/gpu001/{rel}" in files
        assert rel.rsplit("/", 1)[0] in tasks or rel in tasks, rel
    plan_vars = yaml.safe_load(files["hosts/gpu001/rdma_network.yml"])
    script = (ROLE / "templates/usr/local/sbin/anyrack-rdma-setup.j2").read_text()
    for key in ("pfc_priority", "dscp", "cnp_dscp", "cnp_priority", "traffic_class"):
        assert key in plan_vars["lossless"] and f"lossless.{key}" in script


def test_role_templates_render_from_a_plan(tmp_path: Path) -> None:
    """The sysctl file and the RDMA setup script, rendered by Ansible from a real plan, are what they claim."""
    plan_dir = tmp_path / "plan"
    for rel, text in render(load_plan(HGX, HGX_FACTS)[1]).items():
        (plan_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (plan_dir / rel).write_text(text)
    out = tmp_path / "out"
    out.mkdir()
    inventory, _ = _playbook(tmp_path, str(plan_dir))
    templates = [{"ansible.builtin.template": {"src": str(ROLE / "templates" / rel) + ".j2",
                                               "dest": str(out / Path(rel).name), "mode": "0644"}}
                 for rel in ("etc/sysctl.d/90-anyrack-rdma.conf", "usr/local/sbin/anyrack-rdma-setup")]
    tasks = [
        {"ansible.builtin.include_vars": str(ROLE / "defaults/main.yml")},
        {"ansible.builtin.include_vars": str(ROLE / "vars/main.yml")},
        {"ansible.builtin.include_vars": {"file": str(plan_dir / "hosts/gpu001/rdma_network.yml"),
                                          "name": "__rdma_network_plan"}},
        {"ansible.builtin.set_fact": {
            "__rdma_network_interfaces": "{{ __rdma_network_plan.rails | map(attribute='interface') | list }}"}},
        *templates,
    ]
    play = tmp_path / "render.yml"
    play.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": tasks}]))
    done = subprocess.run([str(PLAYBOOK), "-i", str(inventory), "-e", '{"rdma_network_sysctl": {"rp_filter": 0}}',
                           str(play)], capture_output=True, text=True, env=_env(tmp_path), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    sysctl = (out / "90-anyrack-rdma.conf").read_text()
    assert "net.ipv4.conf.rail7.arp_ignore = 1" in sysctl and "net.ipv4.conf.rail0.rp_filter = 0" in sysctl
    script = (out / "anyrack-rdma-setup").read_text()
    assert subprocess.run(["sh", "-n", str(out / "anyrack-rdma-setup")]).returncode == 0
    assert "prio-pfc all:off 3:on" in script and "dscp-prio 26:3 48:6" in script and "echo 104 >" in script
    assert script.count("\nrail rail") == 8
