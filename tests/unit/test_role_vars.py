"""Distribution vars files of the roles: every platform a role claims picks a file, and every file defines every
internal variable (``__<role>_*``) the role's tasks, handlers and templates take from vars/.

Only Debian 12 runs here, so the Rocky/RHEL 9 and Ubuntu files are checked by reading them: the names a role uses
minus the names it defines itself (set_fact, register, task vars, include_vars name, vars/main.yml) must all be in
each family file. The pick is checked twice: by rendering the role's own first_found candidates, and by Ansible
running the role's include_vars task against faked facts for each platform.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
ROLES = ("base", "munge", "slurm_node", "rdma_network", "slurm_controller", "slurm_dbd", "nvidia_driver",
         "cuda_toolkit", "fabric_manager", "dcgm", "nvidia_container_toolkit", "pxe_server")
# the facts Ansible gathers on each platform the roles' meta/main.yml promises, and the family file it must get
PLATFORMS = {
    "debian12": ({"distribution": "Debian", "distribution_major_version": "12", "os_family": "Debian"}, "Debian"),
    "ubuntu22": ({"distribution": "Ubuntu", "distribution_major_version": "22", "os_family": "Debian"}, "Debian"),
    "ubuntu24": ({"distribution": "Ubuntu", "distribution_major_version": "24", "os_family": "Debian"}, "Debian"),
    "rocky9": ({"distribution": "Rocky", "distribution_major_version": "9", "os_family": "RedHat"}, "RedHat"),
    "rhel9": ({"distribution": "RedHat", "distribution_major_version": "9", "os_family": "RedHat"}, "RedHat"),
}
# meta/main.yml's galaxy platforms -> the PLATFORMS entries that stand for them
META_PLATFORMS = {("Debian", "bookworm"): ["debian12"], ("Ubuntu", "jammy"): ["ubuntu22"],
                  ("Ubuntu", "noble"): ["ubuntu24"], ("EL", "9"): ["rocky9", "rhel9"]}
# the candidates, most specific first, that each role's include_vars hands to first_found
CANDIDATES = ["{{ ansible_facts.distribution }}-{{ ansible_facts.distribution_major_version }}.yml",
              "{{ ansible_facts.distribution }}.yml", "{{ ansible_facts.os_family }}.yml"]
INCLUDE_VARS = ("ansible.builtin.include_vars", "include_vars")


def _load(path: Path) -> object:
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def _walk_tasks(items: object):
    """Every task of a task or handler list, blocks included."""
    for item in items or []:
        if not isinstance(item, dict):
            continue
        yield item
        for key in ("block", "rescue", "always"):
            yield from _walk_tasks(item.get(key))


def _strings(node: object):
    """Every string in a parsed YAML tree, keys included (comments are gone by now)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _task_files(role: Path) -> list[Path]:
    return sorted(p for d in ("tasks", "handlers") for p in (role / d).rglob("*.y*ml"))


def family_files(role: Path) -> dict[str, dict]:
    """vars/<name>.yml other than main.yml: what include_vars picks per distribution or family."""
    return {p.stem: _load(p) or {} for p in sorted((role / "vars").glob("*.yml")) if p.stem != "main"}


def family_var_problems(role: Path) -> list[str]:
    """What is wrong with a role's family vars files, as readable lines; empty when they are complete."""
    name = re.compile(rf"\b__{re.escape(role.name)}_\w+")
    used: set[str] = set()
    defined = set(_load(role / "vars/main.yml") or {}) | set(_load(role / "defaults/main.yml") or {})
    for path in _task_files(role):
        tasks = _load(path)
        used |= {m for s in _strings(tasks) for m in name.findall(s)}
        for task in _walk_tasks(tasks):
            defined |= set(task.get("vars") or {})
            defined |= {task["register"]} if "register" in task else set()
            defined |= {(task.get("loop_control") or {}).get("loop_var")} - {None}
            for action in ("ansible.builtin.set_fact", "set_fact"):
                defined |= set(task.get(action) or {}) - {"cacheable"}
            for action in INCLUDE_VARS:
                if isinstance(task.get(action), dict) and "name" in task[action]:
                    defined.add(task[action]["name"])
    for path in sorted(p for p in (role / "templates").rglob("*") if p.is_file()):
        used |= set(name.findall(re.sub(r"\{#.*?#\}", "", path.read_text(), flags=re.S)))
    needed = used - defined
    families = family_files(role)
    problems = [] if families else [f"{role.name}: no vars/<family>.yml files"]
    for family, values in families.items():
        where = f"{role.name}/vars/{family}.yml"
        problems += [f"{where} lacks {var}, which the role uses" for var in sorted(needed - set(values))]
        problems += [f"{where} defines {var}, which nothing in the role uses" for var in sorted(set(values) - used)]
        problems += [f"{where} defines {var}, which the role also sets itself" for var in sorted(set(values) & defined)]
        problems += [f"{where} defines {var} without the __{role.name}_ prefix"
                     for var in sorted(values) if not name.fullmatch(var)]
    return problems


def _include_vars_task(role: Path) -> dict:
    tasks = list(_walk_tasks(_load(role / "tasks/main.yml")))
    found = [t for t in tasks if any("first_found" in str(t.get(a, "")) for a in INCLUDE_VARS)]
    assert len(found) == 1, f"{role.name}: expected one include_vars with first_found, found {len(found)}"
    return found[0]


def _candidates(role: Path) -> list[str]:
    """The role's first_found file candidates, as written in its include_vars task."""
    task = _include_vars_task(role)
    lookup = next(task[a] for a in INCLUDE_VARS if a in task)
    terms = task.get("vars", {}).get(re.search(r"first_found',\s*(\w+)", lookup).group(1))
    assert terms["paths"] == ["{{ role_path }}/vars"], terms
    return [" ".join(c.split()) for c in terms["files"]]


def picked_file(role: Path, facts: dict[str, str]) -> Path | None:
    """The vars file first_found gives the role on a host with these facts (None: no candidate exists)."""
    for candidate in _candidates(role):
        path = role / "vars" / jinja2.Template(candidate).render(ansible_facts=facts)
        if path.is_file():
            return path
    return None


@pytest.mark.parametrize("role_name", ROLES)
def test_every_family_file_defines_what_the_role_uses(role_name: str) -> None:
    assert family_var_problems(ROOT / "roles" / role_name) == []


@pytest.mark.parametrize("role_name", ROLES)
def test_the_role_picks_vars_by_distribution_version_then_distribution_then_family(role_name: str) -> None:
    assert _candidates(ROOT / "roles" / role_name) == CANDIDATES


@pytest.mark.parametrize("role_name", ROLES)
def test_every_platform_the_role_claims_gets_a_complete_vars_file(role_name: str) -> None:
    role = ROOT / "roles" / role_name
    claimed = [(p["name"], str(v)) for p in _load(role / "meta/main.yml")["galaxy_info"]["platforms"]
               for v in p["versions"]]
    unknown = [c for c in claimed if c not in META_PLATFORMS]
    assert unknown == [], f"add the facts of {unknown} to PLATFORMS and META_PLATFORMS"
    families = family_files(role)
    union = set().union(*families.values())
    for platform in (p for c in claimed for p in META_PLATFORMS[c]):
        facts, family = PLATFORMS[platform]
        picked = picked_file(role, facts)
        assert picked is not None, f"{role_name}: no vars file for {platform}"
        # a distribution-specific file replaces the family file, so it must be just as complete
        assert picked.stem in (family, facts["distribution"],
                               f"{facts['distribution']}-{facts['distribution_major_version']}"), picked
        values = _load(picked) or {}
        assert set(values) == union, f"{picked.relative_to(ROOT)} differs from its siblings: {set(values) ^ union}"
        assert all(v not in (None, "") for v in values.values()), picked


def test_every_role_that_loads_distribution_vars_is_checked() -> None:
    loading = {role.name for role in (ROOT / "roles").iterdir() if role.is_dir() and (
        family_files(role) or any(a in str(_load(f)) for f in _task_files(role) for a in INCLUDE_VARS))}
    assert loading <= set(ROLES), f"add {sorted(loading - set(ROLES))} to ROLES"


def test_the_check_catches_a_family_file_that_misses_a_variable(tmp_path: Path) -> None:
    role = tmp_path / "demo"
    (role / "tasks").mkdir(parents=True)
    (role / "vars").mkdir()
    (role / "templates").mkdir()
    (role / "tasks/main.yml").write_text(yaml.safe_dump([
        {"name": "Install", "ansible.builtin.package": {"name": "{{ __demo_packages }}"}, "register": "__demo_out"},
        {"name": "Write", "ansible.builtin.template": {"src": "x.j2", "dest": "{{ __demo_conf }}"},
         "vars": {"__demo_local": 1}, "when": "__demo_local and __demo_out is changed"},
    ]))
    (role / "templates/x.j2").write_text("{# __demo_commented #}{{ __demo_mode }}\n")
    (role / "vars/Debian.yml").write_text("__demo_packages: [a]\n__demo_conf: /etc/a\n__demo_mode: '0644'\n")
    (role / "vars/RedHat.yml").write_text("__demo_packages: [a]\n__demo_mode: '0644'\nstray: 1\n")
    assert family_var_problems(role) == [
        "demo/vars/RedHat.yml lacks __demo_conf, which the role uses",
        "demo/vars/RedHat.yml defines stray, which nothing in the role uses",
        "demo/vars/RedHat.yml defines stray without the __demo_ prefix",
    ]


@pytest.mark.skipif(not PLAYBOOK.is_file(), reason="ansible-playbook is not installed in this environment")
def test_ansible_resolves_each_roles_vars_on_every_platform(tmp_path: Path) -> None:
    """The roles' own include_vars tasks, run by Ansible on hosts whose facts claim each platform."""
    (tmp_path / "library").mkdir()
    (tmp_path / "library/fake_facts.py").write_text(
        "from ansible.module_utils.basic import AnsibleModule\n"
        "module = AnsibleModule(argument_spec={'facts': {'type': 'dict', 'required': True}})\n"
        "module.exit_json(changed=False, ansible_facts=module.params['facts'])\n")
    out = tmp_path / "out"
    out.mkdir()
    for name in ROLES:
        probe = tmp_path / "roles" / f"probe_{name}"
        (probe / "tasks").mkdir(parents=True)
        (probe / "vars").symlink_to(ROOT / "roles" / name / "vars")
        wanted = sorted(set().union(*family_files(ROOT / "roles" / name).values()))
        (probe / "tasks/main.yml").write_text(yaml.safe_dump([
            {**_include_vars_task(ROOT / "roles" / name), "register": "probe_loaded"},
            {"name": "Record what was loaded", "ansible.builtin.set_fact": {
                "probe_results": "{{ probe_results | default({}) | combine({"
                                 f"'{name}': {{'files': probe_loaded.ansible_included_var_files, "
                                 f"'values': dict({wanted!r} | zip(query('ansible.builtin.vars', *{wanted!r})))}}"
                                 "}) }}"}},
        ], sort_keys=False))
    inventory = {"all": {"hosts": {h: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                       "probe_facts": facts} for h, (facts, _) in PLATFORMS.items()}}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{
        "name": "Load each role's vars as on every platform", "hosts": "all", "gather_facts": False,
        "tasks": [{"name": "Claim the platform", "fake_facts": {"facts": "{{ probe_facts }}"}},
                  *({"name": f"Load {n}", "ansible.builtin.include_role": {"name": f"probe_{n}"}} for n in ROLES),
                  # one module run for all hosts: set_fact and include_vars run on the controller, copy does not
                  {"name": "Write what every host loaded", "run_once": True, "ansible.builtin.copy": {
                      "dest": str(out / "loaded.json"), "mode": "0644",
                      "content": "{{ dict(ansible_play_hosts | zip(ansible_play_hosts"
                                 " | map('extract', hostvars, 'probe_results'))) | to_json }}"}}],
    }], sort_keys=False))
    env = {**os.environ, "ANSIBLE_ROLES_PATH": str(tmp_path / "roles"), "ANSIBLE_LIBRARY": str(tmp_path / "library"),
           "ANSIBLE_CONFIG": str(tmp_path / "none.cfg"), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
           "ANSIBLE_HOME": str(tmp_path / "home"), "ANSIBLE_NOCOWS": "1", "ANSIBLE_FORCE_COLOR": "0",
           "PATH": f"{PLAYBOOK.parent}:{os.environ.get('PATH', '')}"}
    done = subprocess.run([str(PLAYBOOK), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    results = json.loads((out / "loaded.json").read_text())
    assert sorted(results) == sorted(PLATFORMS)
    for host, (facts, _family) in PLATFORMS.items():
        for name in ROLES:
            loaded = results[host][name]
            expected = picked_file(ROOT / "roles" / name, facts)
            assert [Path(f).name for f in loaded["files"]] == [expected.name], (host, name, loaded["files"])
            assert loaded["values"] == _load(expected), (host, name)
