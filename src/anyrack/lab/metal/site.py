"""The metal lab's site file and playbook variables, written by ``anyrack lab metal prepare``.

The site file lists every VM like a real rack's node: its BMC (sushy-tools on 127.0.0.1), boot MAC and
address on the provisioning network. The first installed VM is the controller and PXE server; the
bare-metal VMs are computes. ``lab-vars.yml`` carries what only the lab knows: the PXE server's image
(the box's kernel, initramfs and disk image) and the deploy callback. (The box's own sources.list
already points at the lab's apt cache, so base_apt_mirror stays unset.)
"""

from __future__ import annotations

from pathlib import Path

import yaml

from anyrack.lab.hostimage import LAB_USER
from anyrack.lab.metal.box import Box
from anyrack.lab.metal.plan import CALLBACK_PORT, HTTP_PORT, MetalPlan

SITE = "site.yaml"
VARS = "lab-vars.yml"


def site_text(plan: MetalPlan, password_file: Path) -> str:
    nodes = []
    for i, vm in enumerate(plan.machines):
        node = {"name": vm.name, "rack": "metal", "u": i + 1, "sku": "lab-vm",
                "role": "compute" if vm.kind == "metal" else ("controller" if i == 0 else "login"),
                "bmc": {"url": f"redfish+https://127.0.0.1:{vm.redfish_port}", "insecure": True},
                "addresses": {"management": vm.address}, "boot_mac": vm.mac}
        nodes.append(node)
    computes = [vm.name for vm in plan.metal()]
    doc = {
        "version": 1, "site": "metal", "description": "anyrack metal lab (written by `anyrack lab metal prepare`)",
        "domain": "metal.anyrack.test",
        "defaults": {"bmc_credential": "lab-bmc"},
        "credentials": {"lab-bmc": {"username": "admin", "password": {"file": str(password_file)}}},
        "networks": {"bmc": {"cidr": "127.0.0.0/8"},
                     "management": {"cidr": plan.cidr, "gateway": plan.gateway}},
        "racks": [{"name": "metal", "height": 42}],
        "skus": {"lab-vm": {"cpu": "QEMU vCPU", "memory_gib": 1}},
        "nodes": nodes,
        "slurm": {"cluster_name": "metal", "partitions": (
            [{"name": "batch", "nodes": ",".join(computes), "default": True}] if computes else [])},
    }
    return yaml.safe_dump(doc, sort_keys=False, width=200)


def vars_text(plan: MetalPlan, box: Box, key: Path) -> str:
    pxe = plan.installed()[0]
    doc = {
        "ansible_user": LAB_USER,
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_ssh_private_key_file": str(key),
        "pxe_server_address": pxe.address,
        "pxe_server_prefix": plan.prefix,
        "pxe_server_http_port": HTTP_PORT,
        "pxe_server_callback": f"http://{plan.gateway}:{CALLBACK_PORT}",
        # each bare-metal VM's ISO too: `anyrack deploy --via virtual-media` hands its URL to sushy-tools
        "pxe_server_virtual_media": True,
        "pxe_server_image": {"name": "debian12", "kernel": str(box.kernel), "initrd": str(box.initrd),
                             "disk": str(box.disk_gz), "sha256": box.sha256},
    }
    return "# written by `anyrack lab metal prepare`\n" + yaml.safe_dump(doc, sort_keys=False, width=200)
