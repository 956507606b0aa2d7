"""A site file for emulated BMCs, so the lab goes through the same discover → inventory path as a rack.

The nodes' management addresses are placeholders in a documentation-only range of the site
(nothing contacts them during discovery); their BMCs are the emulator's listing entries.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import yaml

from anyrack.lab.emulator.listing import BmcEntry

RACK_NODES = 40


def node_name(index: int) -> str:
    """The name ``lab_site`` gives the node of listing entry ``index``."""
    return "ctl1" if index == 0 else f"node{index:04d}"


def lab_site(entries: Sequence[BmcEntry], *, name: str = "emulated", password_env: str = "ANYRACK_LAB_BMC_PASSWORD",
             management_cidr: str = "10.99.0.0/16", insecure: bool = False) -> str:
    """Site YAML: node 1 is the controller, the rest computes, ``RACK_NODES`` per rack, one shared credential.

    Every entry must share one user name and password (``LabOptions.password``): the site names one
    credential, whose password the caller puts in ``password_env``.
    """
    users = {e.username for e in entries}
    if len(users) > 1:
        raise ValueError("the emulated BMCs use different user names; give LabOptions one password and user")
    hosts = ipaddress.ip_network(management_cidr).hosts()
    racks = (len(entries) + RACK_NODES - 1) // RACK_NODES
    nodes = []
    for index, entry in enumerate(entries):
        nodes.append({
            "name": node_name(index),
            "rack": f"r{index // RACK_NODES + 1:02d}",
            "u": index % RACK_NODES + 1,
            "sku": "emulated",
            "role": "controller" if index == 0 else "compute",
            "bmc": {"url": f"redfish+{entry.url}", "insecure": insecure} if insecure else f"redfish+{entry.url}",
            "addresses": {"management": str(next(hosts))},
        })
    doc = {
        "version": 1, "site": name, "description": "emulated BMCs served by anyrack lab bmc serve",
        "defaults": {"bmc_credential": "lab-bmc"},
        "credentials": {"lab-bmc": {"username": users.pop() if users else "admin", "password": {"env": password_env}}},
        "networks": {"bmc": {"cidr": "127.0.0.0/8"}, "management": {"cidr": management_cidr}},
        "racks": [{"name": f"r{i + 1:02d}", "height": 42} for i in range(max(racks, 1))],
        "skus": {"emulated": {"cpu": "emulated", "memory_gib": 1}},
        "nodes": nodes,
    }
    return yaml.safe_dump(doc, sort_keys=False, width=200)
