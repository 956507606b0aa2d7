"""Slurm node definitions in the generated inventory, and slurm.conf / gres.conf as the controller role
renders them from it (its templates, rendered here with plain Jinja as Ansible would)."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import pytest
import yaml

from anyrack.inventory import generate_inventory
from anyrack.site.model import GpuSpec
from anyrack.site.slurm import gpu_type

ROOT = Path(__file__).resolve().parents[3]
HGX = ROOT / "inventory/examples/hgx-rack/site.yaml"
HGX_FACTS = ROOT / "inventory/examples/hgx-rack/facts"
TEMPLATES = ROOT / "roles/slurm_controller/templates/etc/slurm"


def render(name: str, nodes: list[dict], **extra: object) -> list[str]:
    """The role's template ``name`` for ``nodes``, as lines without comments."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), trim_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["bool"] = bool  # Ansible's filter; the values here are real booleans
    values = {"ansible_managed": "managed", "slurm_controller_nodes": nodes, "slurm_controller_partitions": [],
              "slurm_controller_gres_gpu": True, "slurm_controller_gres_device_files": True,
              "__slurm_controller_options": {}, "__slurm_controller_gres_nvml": False,
              "__slurm_controller_gpu_nodes": [n for n in nodes if n["gpus"] > 0], **extra}
    text = env.get_template(f"{name}.j2").render(**values)
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def big_site(tmp_path: Path, racks: int = 3, per_rack: int = 32, sku_extra: str = "") -> Path:
    """A site of ``racks`` racks of ``per_rack`` 8-GPU nodes (gpu0001...) and one controller."""
    nodes = ["  - {name: ctl01, rack: r01, u: 1, sku: svc, role: controller, bmc: 'redfish+https://10.10.0.1',"
             " addresses: {management: 10.32.0.1}}"]
    for i in range(racks * per_rack):
        nodes.append(f"  - {{name: gpu{i + 1:04d}, rack: r{i // per_rack + 1:02d}, u: {i % per_rack + 2}, sku: hgx,"
                     f" role: compute, bmc: 'redfish+https://10.10.{i // 250 + 1}.{i % 250 + 2}',"
                     f" addresses: {{management: 10.{32 + i // 250}.1.{i % 250 + 2}}}}}")
    text = (
        "version: 1\nsite: big\ncredentials:\n  bmc: {username: u, password: {env: P}}\n"
        "defaults: {bmc_credential: bmc}\n"
        "networks:\n  bmc: {cidr: 10.10.0.0/16}\n  management: {cidr: 10.32.0.0/11}\n"
        f"racks: [{', '.join(f'{{name: r{r + 1:02d}, height: 60}}' for r in range(racks))}]\n"
        "skus:\n  svc: {cpu: 32-core, memory_gib: 256}\n"
        "  hgx:\n    cpu: 2x 56-core Xeon\n    cpu_topology: {sockets: 2, cores_per_socket: 56, threads_per_core: 2}\n"
        f"    memory_gib: 2048\n    gpu: {{model: NVIDIA H200, count: 8{sku_extra}}}\n"
        "nodes:\n" + "\n".join(nodes) + "\n"
    )
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


def test_hgx_rack_nodes_come_from_the_sku_and_skip_the_quarantined_node(tmp_path: Path) -> None:
    generate_inventory(HGX, HGX_FACTS, tmp_path / "gen")
    nodes = yaml.safe_load((tmp_path / "gen/group_vars/all.yml").read_text())["anyrack_slurm"]["nodes"]
    # gpu005 came back with 7 GPUs: quarantined, so not in role_compute and not in slurm.conf
    assert render("slurm.conf", nodes) == [
        "GresTypes=gpu",
        "NodeName=gpu[001-004,006-008] Sockets=2 CoresPerSocket=56 ThreadsPerCore=1 RealMemory=1992294 "
        "Features=h100,sku_hgx_h100_8,rack_r01 Gres=gpu:h100:8 State=UNKNOWN",
    ]
    # no NVML plugin: one line per socket's GPUs, each with the cores of its socket
    assert render("gres.conf", nodes) == [
        "NodeName=gpu[001-004,006-008] Name=gpu Type=h100 File=/dev/nvidia[0-3] Cores=0-55",
        "NodeName=gpu[001-004,006-008] Name=gpu Type=h100 File=/dev/nvidia[4-7] Cores=56-111",
    ]
    assert render("gres.conf", nodes, __slurm_controller_gres_nvml=True) == [
        "NodeName=gpu[001-004,006-008] AutoDetect=nvml Name=gpu Type=h100 Count=8"]
    host = yaml.safe_load((tmp_path / "gen/host_vars/gpu001.yml").read_text())
    assert host["anyrack_slurm_node"]["gpus"] == 8 and "anyrack_slurm_node" not in yaml.safe_load(
        (tmp_path / "gen/host_vars/ctl01.yml").read_text())


def test_nodes_of_one_sku_are_one_line_per_rack(tmp_path: Path) -> None:
    generate_inventory(big_site(tmp_path), out=tmp_path / "gen")
    nodes = yaml.safe_load((tmp_path / "gen/group_vars/all.yml").read_text())["anyrack_slurm"]["nodes"]
    lines = render("slurm.conf", nodes)
    assert lines[1:] == [
        f"NodeName=gpu[{a:04d}-{a + 31:04d}] Sockets=2 CoresPerSocket=56 ThreadsPerCore=2 RealMemory=1992294 "
        f"Features=h200,sku_hgx,rack_r{r:02d} Gres=gpu:h200:8 State=UNKNOWN" for r, a in ((1, 1), (2, 33), (3, 65))]


def test_explicit_type_and_gpu_affinity_from_the_sku(tmp_path: Path) -> None:
    cores = ', cores: ["0-27", "0-27", "28-55", "28-55", "56-83", "56-83", "84-111", "84-111"], slurm_type: h200nvl'
    generate_inventory(big_site(tmp_path, racks=1, per_rack=2, sku_extra=cores), out=tmp_path / "gen")
    nodes = yaml.safe_load((tmp_path / "gen/group_vars/all.yml").read_text())["anyrack_slurm"]["nodes"]
    assert render("gres.conf", nodes) == [
        f"NodeName=gpu[0001-0002] Name=gpu Type=h200nvl File=/dev/nvidia[{a}-{a + 1}] Cores={c}"
        for a, c in ((0, "0-27"), (2, "28-55"), (4, "56-83"), (6, "84-111"))]
    assert render("slurm.conf", nodes)[1].endswith("Gres=gpu:h200nvl:8 State=UNKNOWN")


def test_a_node_whose_bmc_hides_gpus_keeps_the_skus_count(tmp_path: Path) -> None:
    """IPMI cannot list GPUs (gpus_complete false): the SKU says 8, so the node joins its 8-GPU neighbour."""
    site = big_site(tmp_path, racks=1, per_rack=2)
    facts = tmp_path / "facts"
    facts.mkdir()
    for name, gpus, complete in (("gpu0001", 8, True), ("gpu0002", 0, False)):
        (facts / f"{name}.json").write_text(json.dumps({
            "schema": "anyrack.facts/v1", "node": name, "collected_at": "2026-12-07T00:00:00Z",
            "gpus": [{"model": "NVIDIA H200"}] * gpus, "gpus_complete": complete}))
    generate_inventory(site, facts, tmp_path / "gen")
    nodes = yaml.safe_load((tmp_path / "gen/group_vars/all.yml").read_text())["anyrack_slurm"]["nodes"]
    assert [(n["name"], n["gpus"]) for n in nodes] == [("gpu[0001-0002]", 8)]


@pytest.mark.parametrize(("model", "expected"), [
    ("H100", "h100"), ("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA H100 PCIe", "h100"), ("B200", "b200"),
    ("NVIDIA GH200 480GB", "gh200"), ("A100-SXM4-80GB", "a100"), ("NVIDIA L40S", "l40s"),
    ("AMD Instinct MI250X", "mi250x"), ("MI300X", "mi300x"), ("RTX 6000 Ada", None), ("NVIDIA Tesla", None)])
def test_gpu_type_from_the_model(model: str, expected: str | None) -> None:
    assert gpu_type(GpuSpec(model=model, count=1)) == expected


def test_a_compute_sku_without_a_cpu_layout_is_warned_about(tmp_path: Path) -> None:
    site = big_site(tmp_path, racks=1, per_rack=1)
    layout = "    cpu: 2x 56-core Xeon\n    cpu_topology: {sockets: 2, cores_per_socket: 56, threads_per_core: 2}\n"
    site.write_text(site.read_text().replace(layout, "    cpu: Xeon\n"))
    result = generate_inventory(site, out=tmp_path / "gen")
    assert [w.split(": slurm.conf")[0] for w in result.warnings] == [
        "skus.hgx.cpu: cannot read a CPU layout from 'Xeon'"]
    nodes = yaml.safe_load((tmp_path / "gen/group_vars/all.yml").read_text())["anyrack_slurm"]["nodes"]
    assert render("slurm.conf", nodes)[1].startswith("NodeName=gpu0001 RealMemory=1992294 Features=h200,")
