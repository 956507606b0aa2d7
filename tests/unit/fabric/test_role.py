"""Role rdma_network: shape, defaults against the argument spec, a playbook syntax check, and its
validate step refusing a missing plan. Host tests of the role come with the nspawn lab.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from anyrack.fabric import load_plan, plan, render

from .conftest import HGX, HGX_FACTS, ROOT, build_site, env_lines, generated_site, host_files

ROLE = ROOT / "roles/rdma_network"
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "ANSIBLE_ROLES_PATH": str(ROOT / "roles"), "ANSIBLE_CONFIG": str(tmp_path / "none.cfg"),
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"), "ANSIBLE_HOME": str(tmp_path / "home"),
            "ANSIBLE_NOCOWS": "1", "PATH": f"{PLAYBOOK.parent}:{os.environ.get('PATH', '')}"}


def _playbook(tmp_path: Path, plan_dir: str, node: str = "gpu001") -> tuple[Path, Path]:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {node: {
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
    """The role reads hosts/<node>.yml and installs each file it holds where its key says."""
    files = render(load_plan(HGX, HGX_FACTS)[1])
    tasks = "\n".join(p.read_text() for p in (ROLE / "tasks").glob("*.yml"))
    role_vars = (ROLE / "vars/main.yml").read_text()
    assert "hosts/{{ inventory_hostname }}.yml" in tasks
    for path in host_files(files, "gpu001"):
        assert path in tasks or path in role_vars or path.startswith("/etc/systemd/network/"), path
    assert "select('match', '/etc/systemd/network/')" in role_vars
    plan_vars = yaml.safe_load(files["hosts/gpu001.yml"])
    script = (ROLE / "templates/usr/local/sbin/anyrack-rdma-setup.j2").read_text()
    for key in ("pfc_priority", "dscp", "cnp_dscp", "cnp_priority", "traffic_class"):
        assert key in plan_vars["lossless"] and f"lossless.{key}" in script


def _role_templates(tmp_path: Path, files: dict[str, str], node: str) -> dict[str, str]:
    """The role's sysctl file and RDMA setup script, rendered by Ansible from ``files`` (a rendered plan)."""
    plan_dir = tmp_path / "plan"
    for rel, text in files.items():
        (plan_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (plan_dir / rel).write_text(text)
    out = tmp_path / "out"
    out.mkdir()
    inventory, _ = _playbook(tmp_path, str(plan_dir), node)
    names = ("etc/sysctl.d/90-anyrack-rdma.conf", "usr/local/sbin/anyrack-rdma-setup")
    templates = [{"ansible.builtin.template": {"src": str(ROLE / "templates" / rel) + ".j2",
                                               "dest": str(out / Path(rel).name), "mode": "0644"}} for rel in names]
    tasks = [
        {"ansible.builtin.include_vars": str(ROLE / "defaults/main.yml")},
        {"ansible.builtin.include_vars": str(ROLE / "vars/main.yml")},
        {"ansible.builtin.include_vars": {"file": str(plan_dir / f"hosts/{node}.yml"),
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
    assert subprocess.run(["sh", "-n", str(out / "anyrack-rdma-setup")]).returncode == 0
    return {Path(rel).name: (out / Path(rel).name).read_text() for rel in names}


def test_role_templates_render_from_a_plan(tmp_path: Path) -> None:
    """The sysctl file and the RDMA setup script, rendered by Ansible from a real plan, are what they claim."""
    out = _role_templates(tmp_path, render(load_plan(HGX, HGX_FACTS)[1]), "gpu001")
    sysctl = out["90-anyrack-rdma.conf"]
    assert "net.ipv4.conf.rail7.arp_ignore = 1" in sysctl and "net.ipv4.conf.rail0.rp_filter = 0" in sysctl
    script = out["anyrack-rdma-setup"]
    assert "prio-pfc all:off 3:on" in script and "dscp-prio 26:3 48:6" in script and "echo 104 >" in script
    assert script.count("\nrail rail") == 8


def test_host_qos_agrees_with_the_switches(tmp_path: Path) -> None:
    """The lossless class is one setting: the host's dcb PFC/DSCP commands and RDMA-CM ToS (rendered by the
    role) and NCCL_IB_TC match the SONiC config of the host's own leaf, for non-default values."""
    data = generated_site(32, rails=2, port_prefix="Ethernet", port_start=0, port_step=4, mtu=9100,
                          roce_pfc_priority=5, roce_dscp=24, roce_cnp_dscp=46, roce_cnp_priority=7)
    files = render(plan(build_site(data)))
    script = _role_templates(tmp_path, files, "n0003")["anyrack-rdma-setup"]
    nccl = env_lines(host_files(files, "n0003")["/etc/nccl.conf"])
    leaf_db = json.loads(files["switches/leaf-su01-r1/config_db.json"])
    port = yaml.safe_load(files["hosts/n0003.yml"])["rails"][1]["leaf_port"]
    pfc = leaf_db["PORT_QOS_MAP"][port]["pfc_enable"]
    dscp_to_tc = leaf_db["DSCP_TO_TC_MAP"]["ANYRACK"]
    data_dscp = int(nccl["NCCL_IB_TC"]) >> 2
    assert pfc == "5" and f"prio-pfc all:off {pfc}:on" in script
    assert dscp_to_tc[str(data_dscp)] == pfc and f"dscp-prio {data_dscp}:{pfc} 46:{dscp_to_tc['46']}" in script
    assert f"echo {nccl['NCCL_IB_TC']} >" in script and leaf_db["PORT"][port]["mtu"] == "9100"
