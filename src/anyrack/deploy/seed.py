"""A cloud-init NoCloud seed for one node: its identity without mounting the written root filesystem.

Three files, as cloud-init's NoCloud datasource reads them from a filesystem labelled ``cidata`` (a
small seed partition or disk, or an ISO): ``meta-data`` (instance id, host name), ``user-data``
(``#cloud-config``: host name and FQDN, the admin user with public keys only and passwordless sudo,
password logins off) and ``network-config`` (version 2: the boot NIC matched by MAC, static address
on the management network, its gateway and MTU). Debian, Ubuntu and EL cloud images all read them.

Not yet used by the ramdisk (it still writes the host name into partition 1 as ext4): docs/deploy.md.
"""

from __future__ import annotations

import ipaddress
import json

from anyrack.errors import InputError
from anyrack.site.model import Node, Site

FILES = ("meta-data", "user-data", "network-config")


def _yaml(doc: dict) -> str:
    """JSON is YAML: every value quoted, nothing a YAML 1.1 reader could take for a bool or a number."""
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def nocloud_seed(site: Site, node: Node, ssh_keys: list[str], *, user: str = "anyrack",
                 instance: str = "1") -> dict[str, str]:
    """The seed files of ``node``: file name → text.

    :param instance: part of ``instance-id``; a new value makes cloud-init run its once-per-instance
        modules again (use the deploy's time or attempt).
    :raises InputError: no boot MAC, no public key, or a private key among ``ssh_keys``.
    """
    if not node.boot_mac:
        raise InputError(detail=f"{node.name}: no boot_mac: the seed's network-config matches the NIC by it")
    if not ssh_keys:
        raise InputError(detail=f"{node.name}: no SSH public key for {user}: the node would be unreachable")
    for key in ssh_keys:
        if "PRIVATE KEY" in key or not key.startswith(("ssh-", "ecdsa-", "sk-")):
            raise InputError(detail=f"{node.name}: an SSH key for the seed is not a public key (ssh-…, ecdsa-…)")
    net = site.networks.management
    prefix = ipaddress.ip_network(net.cidr).prefixlen
    fqdn = f"{node.name}.{site.domain}" if site.domain else node.name
    ethernet: dict = {"match": {"macaddress": node.boot_mac.lower()}, "set-name": "boot0",
                      "addresses": [f"{node.addresses.management}/{prefix}"], "mtu": net.mtu}
    if net.gateway:
        ethernet["routes"] = [{"to": "default", "via": net.gateway}]
    user_data = {"hostname": node.name, "fqdn": fqdn, "prefer_fqdn_over_hostname": False,
                 "manage_etc_hosts": True, "ssh_pwauth": False, "disable_root": True,
                 "users": [{"name": user, "lock_passwd": True, "shell": "/bin/bash",
                            "sudo": "ALL=(ALL) NOPASSWD:ALL", "ssh_authorized_keys": list(ssh_keys)}]}
    return {
        "meta-data": _yaml({"instance-id": f"anyrack-{node.name}-{instance}", "local-hostname": node.name}),
        "user-data": "#cloud-config\n" + _yaml(user_data),
        "network-config": _yaml({"version": 2, "ethernets": {"boot0": ethernet}}),
    }
