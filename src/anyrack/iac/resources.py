"""Dynamic resources over :mod:`anyrack.iac.providers`: one per BMC verb, taking a :class:`BmcTarget`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pulumi
from pulumi.dynamic import Resource

from anyrack.iac import providers
from anyrack.site.model import Credential, Node, Site


@dataclass(frozen=True)
class BmcTarget:
    """How a provider reaches one node's BMC. ``password`` becomes a secret input; only
    ``credential_ref`` (where the password lives, never the password) is stored in outputs."""

    node: str
    url: str
    username: str
    password: str | pulumi.Output[str]
    credential_ref: dict[str, str] | None = None
    ca_file: str | None = None
    insecure: bool = False
    profile: str | None = None
    system: str | None = None
    """The node's ComputerSystem id on a BMC that manages several hosts."""
    allow_http: bool = False
    """The site file allows this BMC's plain redfish+http."""

    def inputs(self) -> dict[str, Any]:
        return {"node": self.node, "url": self.url, "username": self.username,
                "password": pulumi.Output.secret(self.password), "credential_ref": self.credential_ref,
                "ca_file": self.ca_file, "insecure": self.insecure, "profile": self.profile, "system": self.system,
                "allow_http": self.allow_http}

    def as_user(self, username: str, password: str | pulumi.Output[str],
                credential_ref: dict[str, str] | None) -> BmcTarget:
        """The same BMC reached as another user (after a rotation)."""
        return replace(self, username=username, password=password, credential_ref=credential_ref)


def credential_ref(credential: Credential) -> dict[str, str]:
    """The credential's password reference as plain data (``{"env": "VAR"}``)."""
    return credential.password.model_dump(exclude_none=True)


def target_of(site: Site, node: Node, password: str | pulumi.Output[str], ca_file: str | None = None) -> BmcTarget:
    """The BMC target of ``node`` logging in with its own credential and the given password."""
    _name, cred = site.credential_of(node)
    return BmcTarget(node.name, node.bmc.url, cred.username, password, credential_ref(cred), ca_file,
                     node.bmc.insecure, node.bmc.profile, node.bmc.system, node.bmc.allow_http)


class BmcUser(Resource):
    """A local BMC user created through ``bmc`` (verified by logging in as it); its password is set again
    when ``rotate`` gets a new value."""

    verified: pulumi.Output[bool]

    def __init__(self, name: str, bmc: BmcTarget, user: str, user_password: str | pulumi.Output[str],
                 user_credential_ref: dict[str, str] | None = None, role: str = "Administrator",
                 rotate: str | None = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(providers.BmcUserProvider(), name,
                         {**bmc.inputs(), "user": user, "user_password": pulumi.Output.secret(user_password),
                          "user_credential_ref": user_credential_ref, "user_role": role, "rotate": rotate,
                          "verified": None}, opts)


class BiosSettings(Resource):
    """BIOS attributes staged on the BMC (applied at the next reset)."""

    attributes: pulumi.Output[dict]
    pending: pulumi.Output[list]

    def __init__(self, name: str, bmc: BmcTarget, attributes: dict[str, object],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(providers.BiosSettingsProvider(), name,
                         {**bmc.inputs(), "attributes": attributes, "pending": None}, opts)


class BootOverride(Resource):
    """The boot device of the next (or every) boot."""

    target: pulumi.Output[str]
    persistent: pulumi.Output[bool]
    consumed: pulumi.Output[bool]

    def __init__(self, name: str, bmc: BmcTarget, target: str, persistent: bool = False, mode: str | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(providers.BootOverrideProvider(), name,
                         {**bmc.inputs(), "target": target, "persistent": persistent, "mode": mode,
                          "consumed": None}, opts)


class VirtualMedia(Resource):
    """An ISO image inserted in the BMC's virtual CD."""

    image: pulumi.Output[str]
    slot: pulumi.Output[str]

    def __init__(self, name: str, bmc: BmcTarget, image: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(providers.VirtualMediaProvider(), name, {**bmc.inputs(), "image": image, "slot": None},
                         opts)


class PowerState(Resource):
    """The node powered on or off; deleting it powers off only when ``off_on_delete``."""

    state: pulumi.Output[str]

    def __init__(self, name: str, bmc: BmcTarget, state: str = "on", off_on_delete: bool = False,
                 wait: float = 60, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(providers.PowerStateProvider(), name,
                         {**bmc.inputs(), "state": state, "off_on_delete": off_on_delete, "wait": wait}, opts)


class OsDeploy(Resource):
    """An OS install: ``pxe``, or ``iso`` from ``image``; reinstalled only when ``redeploy`` gets a new value.
    With ``install`` (``callback`` ADDRESS:PORT, the node's ``address``, ``boot_mac``, ``rack``, ``ssh_user``,
    ``ssh_key``, ``ssh_port``, timeouts) the whole deploy runs and is waited for, as ``anyrack deploy`` does;
    without, the install is only started (booting from the preceding override)."""

    started: pulumi.Output[bool]
    power: pulumi.Output[str]

    def __init__(self, name: str, bmc: BmcTarget, method: str = "pxe", image: str | None = None, wait: float = 60,
                 redeploy: str | None = None, opts: pulumi.ResourceOptions | None = None,
                 install: dict[str, Any] | None = None) -> None:
        if method not in ("pxe", "iso") or (method == "iso") != bool(image):
            raise ValueError(f"{bmc.node}: OsDeploy needs method 'pxe' (no image) or 'iso' with an image URL")
        super().__init__(providers.OsDeployProvider(), name,
                         {**bmc.inputs(), "method": method, "image": image, "wait": wait, "redeploy": redeploy,
                          "install": install, "started": None, "power": None, "installed": None, "stages": None},
                         opts)
