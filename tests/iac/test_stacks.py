"""The stacks in stacks/: their typed config, and their programs run under Pulumi's mocks."""

from __future__ import annotations

import runpy
from pathlib import Path

import pulumi
import pytest
import yaml

pytestmark = pytest.mark.iac
ROOT = Path(__file__).resolve().parents[2]
STACKS = ROOT / "stacks"


@pytest.mark.parametrize("stack", ["site", "rack"])
def test_every_setting_is_typed_and_described(stack: str) -> None:
    project = yaml.safe_load((STACKS / stack / "Pulumi.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    for key, spec in project["config"].items():
        assert spec["type"] in ("string", "boolean", "integer", "array") and spec["description"], key
    for stack_file in (STACKS / stack).glob("Pulumi.*.yaml"):
        for key in (yaml.safe_load(stack_file.read_text()).get("config") or {}):
            namespace, _, name = key.partition(":")
            assert namespace != project["name"] or name in project["config"], (stack_file.name, key)


@pytest.mark.parametrize("stack", ["site", "rack"])
def test_the_runtime_is_the_uv_venv_make_setup_builds(stack: str) -> None:
    """``toolchain: pip`` would run ``python -m pip list`` in a venv uv made, which has no pip."""
    options = yaml.safe_load((STACKS / stack / "Pulumi.yaml").read_text())["runtime"]["options"]
    assert options == {"toolchain": "uv", "virtualenv": "../../.venv"}
    venv = (STACKS / stack / options["virtualenv"]).resolve()
    assert "uv = " in (venv / "pyvenv.cfg").read_text()  # made by uv (make setup)


def run_stack(build, stack: str, name: str, config: dict[str, str]):  # noqa: ANN001, ANN201
    project = yaml.safe_load((STACKS / stack / "Pulumi.yaml").read_text())["name"]

    def program() -> None:
        for key, value in config.items():
            pulumi.runtime.set_config(key if ":" in key else f"{project}:{key}", value)
        runpy.run_path(str(STACKS / stack / "__main__.py"), run_name="__main__")

    try:
        return build(program, project=project, stack=name)
    finally:
        pulumi.runtime.set_all_config({})


def test_rack_stack_manages_its_rack(build, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("ANYRACK_BMC_PASSWORD", "x")
    rec = run_stack(build, "rack", "r01", {"siteFile": "../../inventory/examples/hgx-rack/site.yaml",
                                           "factsDir": "../../inventory/examples/hgx-rack/facts",
                                           "ansible": "true", "biosAttributes": '["SriovGlobalEnable=Enabled"]',
                                           "bmc-password:bmc-factory": "y"})
    types = [r.type for r in rec.registered]
    assert types.count("anyrack:metal:GpuNode") == 10 and types.count("anyrack:ansible:AnsibleRun") == 1
    assert rec.by_name("rack-r01-gpu005-user").secret_keys >= {"password", "user_password"}
    assert any(r.name == "rack-r01-gpu001-bios" for r in rec.registered)
    run = next(r for r in rec.registered if r.name.endswith("-run"))
    # a rack stack brings its compute nodes into the running cluster: add_node.yml, unlimited (it touches
    # only anyrack_new_nodes and the controllers; slurm.conf learns the rack's nodes)
    assert run.name == "rack-r01-ansible-01-add_node-run" and run.inputs["group"] == "all"
    assert run.inputs["extra_vars"]["anyrack_new_nodes"] == ",".join(f"gpu{i:03d}" for i in range(1, 9))


def test_site_stack_on_the_lab(build, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("ANYRACK_LAB_BMC_PASSWORD", "x")
    config = yaml.safe_load((STACKS / "site/Pulumi.lab.yaml").read_text())["config"]
    rec = run_stack(build, "site", "lab", {k: str(v).lower() if isinstance(v, bool) else str(v)
                                           for k, v in config.items()})
    nodes = [r for r in rec.registered if r.type == "anyrack:metal:GpuNode"]
    assert nodes and not any(r.type == "anyrack:ansible:AnsibleRun" for r in rec.registered)
    boot = next(r for r in rec.registered if r.name.endswith("-boot"))
    assert boot.inputs["ca_file"] == "~/.local/state/anyrack/lab/ca.pem"  # the same for every operator
    assert boot.inputs["url"].startswith("redfish+https://127.")
