"""Component resources: a site as a tree of nodes, generated files and Ansible runs.

``GpuCluster`` → ``GpuNode`` per node (user rotation → BIOS → boot override → OS deploy → power,
each depending on the one before), the fabric plan and inventory files, then ``AnsibleRun``s in
order, the first after every node is up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pulumi

from anyrack.errors import InputError
from anyrack.fabric import plan as plan_fabric
from anyrack.fabric import render as render_fabric
from anyrack.facts import load_facts_dir
from anyrack.iac.ansible import PlaybookRun
from anyrack.iac.files import GeneratedFiles, files_hash
from anyrack.iac.resources import (
    BiosSettings,
    BmcTarget,
    BmcUser,
    BootOverride,
    OsDeploy,
    PowerState,
    credential_ref,
    target_of,
)
from anyrack.inventory import default_out, generate_inventory
from anyrack.inventory.generate import group_name
from anyrack.secrets import resolve
from anyrack.site.model import Node, Site

Secret = str | pulumi.Output[str]


@dataclass(frozen=True)
class Deployment:
    """What every node gets: the managed BMC user, BIOS attributes, how the OS is installed, final power."""

    bmc_user: str | None = None
    """Credential name of the user to create/rotate on every BMC; default: the site's default credential."""
    bios: Mapping[str, object] = field(default_factory=dict)
    os_method: str = "pxe"
    os_image: str | None = None
    power: str = "on"
    ca_file: str | None = None
    wait: float = 60
    redeploy: Mapping[str, str] = field(default_factory=dict)
    """Node → token: a new token reinstalls that node (replaces its OsDeploy) once; see docs/pulumi.md."""
    rotate: str | None = None
    """A new value sets the managed BMC user's password again on every node (a rotation)."""
    protect: bool = True
    """Create OsDeploy resources with ``protect`` (a node listed in ``redeploy`` is left unprotected)."""
    install: Mapping[str, object] | None = None
    """Run the whole deploy in OsDeploy and wait for SSH (``callback`` ADDRESS:PORT, ``ssh_user``, ``ssh_key``,
    ``ssh_port``, timeouts; each node's address, boot MAC and rack come from the site); None: only start it."""
    deploy_batch: int = 32
    """At most this many OS deploys (power resets) run at once: deploy N waits for deploy N - batch."""


@dataclass(frozen=True)
class Play:
    """One playbook applied to one inventory group."""

    playbook: str
    group: str = "all"
    roles: Sequence[str] = ()
    private_key: str | None = None
    """The SSH key Ansible logs in with (ansible-playbook --private-key)."""
    vars_files: Sequence[str] = ()
    """Extra variables files (ansible-playbook -e @FILE); their content is part of the run's hash."""
    secret_vars: Mapping[str, Secret] = field(default_factory=dict)
    """Variables given as Pulumi secrets (``slurm_dbd_db_password``, ``munge_key`` in base64)."""


def password_for(site: Site, credential: str, passwords: Mapping[str, Secret]) -> Secret:
    """The password of ``credential``: from ``passwords`` (e.g. Pulumi config secrets), else its reference."""
    if credential in passwords:
        return passwords[credential]
    return resolve(site.credentials[credential].password, where=f"credential {credential}")


class GpuNode(pulumi.ComponentResource):
    """One server: BMC user rotation → BIOS settings → boot override → OS deploy → power state."""

    def __init__(self, name: str, site: Site, node: Node, deployment: Deployment,
                 passwords: Mapping[str, Secret] | None = None, opts: pulumi.ResourceOptions | None = None,
                 deploy_after: Sequence[pulumi.Resource] = ()) -> None:
        super().__init__("anyrack:metal:GpuNode", name, None, opts)
        passwords = passwords or {}
        login_name, _ = site.credential_of(node)
        login = target_of(site, node, password_for(site, login_name, passwords), deployment.ca_file)
        # IPMI has no user accounts, BIOS attributes or virtual media verbs: those steps are left out.
        ipmi = node.bmc.url.startswith("ipmi://")
        if ipmi and deployment.os_method == "iso":
            raise InputError(detail=f"{node.name}: an ISO deploy needs virtual media, which IPMI does not have; "
                                    "use os_method pxe or a Redfish BMC URL")
        last: list[pulumi.Resource] = []
        bmc: BmcTarget = login
        self.user: BmcUser | None = None
        self.bios: BiosSettings | None = None
        if not ipmi:
            managed = deployment.bmc_user or site.defaults.bmc_credential or login_name
            cred = site.credentials[managed]
            user_password = password_for(site, managed, passwords)
            self.user = BmcUser(f"{name}-user", login, cred.username, user_password, credential_ref(cred),
                                rotate=deployment.rotate, opts=pulumi.ResourceOptions(parent=self))
            bmc, last = login.as_user(cred.username, user_password, credential_ref(cred)), [self.user]
        if deployment.bios and not ipmi:
            self.bios = BiosSettings(f"{name}-bios", bmc, dict(deployment.bios),
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=last))
            last = [self.bios]
        elif deployment.bios:
            pulumi.log.warn(f"{node.name}: IPMI cannot set BIOS attributes; skipped", resource=self)
        self.boot = BootOverride(f"{name}-boot", bmc, "pxe" if deployment.os_method == "pxe" else "cd",
                                 opts=pulumi.ResourceOptions(parent=self, depends_on=last))
        token = deployment.redeploy.get(node.name)
        hint = site.root_device_of(node)
        install = ({**deployment.install, "address": node.addresses.management, "boot_mac": node.boot_mac,
                    "rack": node.rack, "root_device": hint.given() if hint else None} if deployment.install else None)
        self.deploy = OsDeploy(f"{name}-deploy", bmc, deployment.os_method, deployment.os_image, deployment.wait,
                               redeploy=token, install=install,
                               opts=pulumi.ResourceOptions(parent=self, depends_on=[self.boot, *deploy_after],
                                                           protect=deployment.protect and not token))
        self.power = PowerState(f"{name}-power", bmc, deployment.power, wait=deployment.wait,
                                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.deploy]))
        self.register_outputs({"bmc": node.bmc.url, "power": self.power.state})


class AnsibleRun(pulumi.ComponentResource):
    """A playbook applied to a group; re-run when the playbook, roles or inventory change."""

    def __init__(self, name: str, play: Play, inventory: str, inventory_hash: str | None = None,
                 after: Sequence[pulumi.Resource] = (), opts: pulumi.ResourceOptions | None = None,
                 base: Path | str | None = None, new_nodes: Sequence[str] = ()) -> None:
        super().__init__("anyrack:ansible:AnsibleRun", name, None, opts)
        extra = {"anyrack_inventory_hash": inventory_hash} if inventory_hash else {}
        if new_nodes:  # a rack stack: the nodes add_node.yml brings into the running cluster
            extra["anyrack_new_nodes"] = ",".join(new_nodes)
        self.run = PlaybookRun(f"{name}-run", play.playbook, inventory, play.group, list(play.roles), extra or None,
                               opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)), base=base,
                               private_key=play.private_key, vars_files=list(play.vars_files),
                               secret_vars=play.secret_vars)
        self.changed, self.failed = self.run.changed, self.run.failed
        self.register_outputs({"changed": self.changed, "failed": self.failed, "hash": self.run.hash})


def rack_limit(group: str, racks: Sequence[str]) -> str:
    """The hosts a rack stack's play runs on. A play for one group (``compute``) runs on the racks' part of
    it; a whole-cluster play (``all``) is not limited: a rack stack runs ``add_node.yml``, which touches
    only ``anyrack_new_nodes`` (the racks' compute nodes) and the controllers, but reads every compute
    node's facts, because slurm.conf describes them all (a limited run would describe the other racks'
    nodes with default CPUs and memory)."""
    if not racks or group == "all":
        return group
    return f"{group}:&" + ":".join(group_name("rack", r) for r in racks)


class GpuCluster(pulumi.ComponentResource):
    """A site (or some of its racks): every node, the fabric plan and inventory files, the Ansible runs in order."""

    def __init__(self, name: str, site_path: Path | str, deployment: Deployment | None = None,
                 racks: Sequence[str] = (), plays: Sequence[Play] = (), passwords: Mapping[str, Secret] | None = None,
                 facts_dir: Path | str | None = None, opts: pulumi.ResourceOptions | None = None,
                 base: Path | str | None = None) -> None:
        super().__init__("anyrack:metal:GpuCluster", name, None, opts)
        base = Path(base or Path.cwd()).resolve()  # the stack's directory: the engine's working directory

        def rel(path: Path | str) -> str:
            """A path as a resource input: relative to the stack, so two checkouts see no diff."""
            return os.path.relpath(Path(path).resolve(), base)

        site_path = Path(site_path)
        facts = Path(facts_dir) if facts_dir else None
        generated = generate_inventory(site_path, facts, write=False)
        site, deployment = generated.site, deployment or Deployment()
        if deployment.ca_file and not deployment.ca_file.startswith("~"):  # ~/… is the same for every operator
            deployment = replace(deployment, ca_file=rel(deployment.ca_file))
        chosen = [n for n in site.nodes if not racks or n.rack in racks]
        self.node_names = [n.name for n in chosen]
        self.nodes: list[GpuNode] = []
        batch = max(1, deployment.deploy_batch)
        for i, n in enumerate(chosen):
            before = [self.nodes[i - batch].deploy] if i >= batch else []
            self.nodes.append(GpuNode(f"{name}-{n.name}", site, n, deployment, passwords,
                                      opts=pulumi.ResourceOptions(parent=self), deploy_after=before))
        inventory_dir = default_out(site_path)
        facts_in = rel(facts) if facts else None
        self.inventory = GeneratedFiles(f"{name}-inventory", rel(inventory_dir), "inventory", rel(site_path), facts_in,
                                        generated.files, opts=pulumi.ResourceOptions(parent=self))
        self.fabric: GeneratedFiles | None = None
        if site.networks.fabric is not None:
            found = load_facts_dir(facts, {n.name for n in site.nodes})[0] if facts else None
            self.fabric = GeneratedFiles(f"{name}-fabric", rel(site_path.parent / "fabric"), "fabric",
                                         rel(site_path), facts_in, render_fabric(plan_fabric(site, found)),
                                         opts=pulumi.ResourceOptions(parent=self))
        after: list[pulumi.Resource] = [n.power for n in self.nodes] + [self.inventory]
        after += [self.fabric] if self.fabric else []
        self.runs: list[AnsibleRun] = []
        for i, play in enumerate(plays):
            play = replace(play, playbook=rel(play.playbook), roles=tuple(rel(r) for r in play.roles),  # noqa: PLW2901
                           group=rack_limit(play.group, racks), vars_files=tuple(rel(f) for f in play.vars_files),
                           private_key=rel(play.private_key) if play.private_key else None)
            run = AnsibleRun(f"{name}-ansible-{i + 1:02d}-{Path(play.playbook).stem}", play, rel(inventory_dir),
                             files_hash(generated.files), after,
                             opts=pulumi.ResourceOptions(parent=self, depends_on=after), base=base,
                             new_nodes=[n.name for n in chosen if racks and n.role == "compute"])
            self.runs.append(run)
            after = [run]
        self.power = {n.name: gpu.power.state for n, gpu in zip(chosen, self.nodes, strict=True)}
        self.register_outputs({"nodes": self.node_names, "inventory": rel(inventory_dir),
                               "fabric_files": self.fabric.count if self.fabric else 0})
