"""The component tree of the example HGX rack under Pulumi's mocks (no Pulumi CLI, no BMC)."""

from __future__ import annotations

from pathlib import Path

import pytest

from anyrack.iac import Deployment, GpuCluster, Play

pytestmark = pytest.mark.iac
ROOT = Path(__file__).resolve().parents[2]
HGX = ROOT / "inventory/examples/hgx-rack/site.yaml"
DYNAMIC = "pulumi-python:dynamic:Resource"
NODES = ["ctl01", "login01"] + [f"gpu{i:03d}" for i in range(1, 9)]
REDFISH = [n for n in NODES if n != "gpu007"]  # gpu007's BMC is IPMI: no user, BIOS or media steps
PARTS = ("user", "bios", "boot", "deploy", "power")
PLAYS = [Play("playbooks/site.yml"), Play("playbooks/burnin.yml", group="compute")]


@pytest.fixture
def hgx(build, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("ANYRACK_BMC_PASSWORD", "rotated-secret")
    deployment = Deployment(bios={"SriovGlobalEnable": "Enabled"}, os_method="pxe")
    return build(lambda: GpuCluster("hgx", HGX, deployment, plays=PLAYS,
                                    passwords={"bmc-factory": "factory-secret"}))


def test_resource_count_and_types(hgx) -> None:  # noqa: ANN001
    types = [r.type for r in hgx.registered]
    assert types.count("anyrack:metal:GpuCluster") == 1
    assert types.count("anyrack:metal:GpuNode") == len(NODES)
    assert types.count("anyrack:ansible:AnsibleRun") == len(PLAYS)
    # per Redfish node: user, bios, boot, deploy, power (IPMI: boot, deploy, power); then inventory and
    # fabric files; one run per play
    steps = 5 * len(REDFISH) + 3 * (len(NODES) - len(REDFISH))
    assert types.count(DYNAMIC) == steps + 2 + len(PLAYS)
    assert len(hgx.registered) == 1 + len(NODES) + steps + 2 + 2 * len(PLAYS)
    assert not any(r.name.startswith(("hgx-gpu007-user", "hgx-gpu007-bios")) for r in hgx.registered)
    assert {r.name for r in hgx.registered if r.type == "anyrack:metal:GpuNode"} == {f"hgx-{n}" for n in NODES}


def test_every_child_has_its_component_as_parent(hgx) -> None:  # noqa: ANN001
    cluster = hgx.by_name("hgx")
    for node in NODES:
        component = hgx.by_name(f"hgx-{node}")
        assert component.parent == cluster.urn
        for part in PARTS if node in REDFISH else PARTS[2:]:
            assert hgx.by_name(f"hgx-{node}-{part}").parent == component.urn
    for name in ("hgx-inventory", "hgx-fabric", "hgx-ansible-01-site", "hgx-ansible-02-burnin"):
        assert hgx.by_name(name).parent == cluster.urn
    assert hgx.by_name("hgx-ansible-01-site-run").parent == hgx.by_name("hgx-ansible-01-site").urn


def test_node_steps_depend_on_the_one_before(hgx) -> None:  # noqa: ANN001
    for node in NODES:
        steps = [hgx.by_name(f"hgx-{node}-{p}") for p in (PARTS if node in REDFISH else PARTS[2:])]
        for before, after in zip(steps, steps[1:], strict=False):
            assert before.urn in after.dependencies, (node, after.name)
    order = [r.name for r in hgx.registered]
    assert order.index("hgx-gpu001-boot") < order.index("hgx-gpu001-power")


def test_ansible_runs_after_every_node_is_up_and_in_order(hgx) -> None:  # noqa: ANN001
    first = hgx.by_name("hgx-ansible-01-site")
    powers = {hgx.by_name(f"hgx-{n}-power").urn for n in NODES}
    assert powers <= set(first.dependencies)
    assert hgx.by_name("hgx-inventory").urn in first.dependencies
    first_run, run = hgx.by_name("hgx-ansible-01-site-run"), hgx.by_name("hgx-ansible-02-burnin-run")
    assert powers <= set(first_run.dependencies)  # the playbook run itself waits, not only its component
    assert first_run.urn in run.dependencies and not powers & set(run.dependencies)
    assert run.inputs["group"] == "compute" and len(run.inputs["hash"]) == 64


def test_credentials_are_secret_inputs_and_never_plain(hgx) -> None:  # noqa: ANN001
    for r in hgx.registered:
        if r.name.endswith(tuple(f"-{p}" for p in PARTS)):
            assert "password" in r.secret_keys, r.name
            assert "rotated-secret" not in str(r.inputs) and "factory-secret" not in str(r.inputs)
    user = hgx.by_name("hgx-gpu005-user")
    assert user.secret_keys - {"__provider"} == {"password", "user_password"}  # the pickled provider is too
    assert user.inputs["username"] == "root" and user.inputs["user"] == "anyrack"
    assert user.inputs["credential_ref"] == {"vault": "bmc_factory_password"}
    # after the rotation every step logs in as the managed user
    assert hgx.by_name("hgx-gpu005-power").inputs["username"] == "anyrack"


def test_racks_filter_and_no_plays(build, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("ANYRACK_BMC_PASSWORD", "x")
    rec = build(lambda: GpuCluster("r", HGX, racks=["nope"], passwords={"bmc-factory": "y"}))
    assert [r.type for r in rec.registered].count("anyrack:metal:GpuNode") == 0
    assert not any(r.type == "anyrack:ansible:AnsibleRun" for r in rec.registered)


def test_a_missing_password_names_where_to_set_it(build, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("ANYRACK_BMC_PASSWORD", raising=False)
    with pytest.raises(Exception, match="ANYRACK_BMC_PASSWORD"):
        build(lambda: GpuCluster("r", HGX, passwords={"bmc-factory": "y"}))


def test_an_iso_deploy_on_an_ipmi_node_is_refused(build, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("ANYRACK_BMC_PASSWORD", "x")
    with pytest.raises(Exception, match="gpu007: an ISO deploy needs virtual media"):
        build(lambda: GpuCluster("r", HGX, Deployment(os_method="iso", os_image="http://x/os.iso"),
                                 passwords={"bmc-factory": "y"}))
