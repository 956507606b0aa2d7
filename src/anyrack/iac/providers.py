"""Dynamic providers: each a thin adapter around one ``anyrack.bmc`` verb.

Pulumi pickles provider objects, so they hold nothing: every method opens its own BMC session
(``asyncio.run``: providers run in a thread without an event loop) and closes it before returning.
Create and update use the secret ``password`` input; read and delete get only the stored outputs,
which never hold a password, so they reconnect through ``credential_ref`` (``{env: VAR}`` or
``{file: PATH}``, resolved by :func:`anyrack.secrets.resolve` at that moment).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from anyrack.bmc import connect
from anyrack.bmc.api import Controller
from anyrack.errors import AnyrackError, BmcAuthFailed, BmcError
from anyrack.secrets import resolve
from anyrack.site.model import SecretRef

T = TypeVar("T")
SECRET_INPUTS = ("password", "user_password")
CONNECTION = ("node", "url", "system", "username", "credential_ref", "ca_file", "insecure", "allow_http", "profile")


def in_stack(path: str) -> str:
    """A path input (relative to the stack's directory, or ``~/…``) as a path to open here: the engine gives
    plugins the project's directory as ``PULUMI_ROOT_DIRECTORY``; the working directory otherwise."""
    expanded = os.path.expanduser(path)
    return os.path.join(os.environ.get("PULUMI_ROOT_DIRECTORY") or os.getcwd(), expanded)


def public(props: dict[str, Any]) -> dict[str, Any]:
    """``props`` without the secret inputs: what may be stored as outputs."""
    return {k: v for k, v in props.items() if k not in SECRET_INPUTS and k != "__provider"}


def password_of(props: dict[str, Any], ref_key: str = "credential_ref", secret_key: str = "password") -> str:
    """The secret input if present (create, update), else the stored reference resolved now."""
    if props.get(secret_key):
        return str(props[secret_key])
    ref = props.get(ref_key)
    if not ref:
        raise BmcError(node=props.get("node", "?"), detail=f"no {ref_key} in the state to reconnect with; "
                                                            "give the credential as {env: VAR} or {file: PATH}")
    return resolve(SecretRef(**ref), where=str(props.get("node", "?")))


def connector(props: dict[str, Any], username: str | None = None, password: str | None = None) -> Callable[[], Any]:
    """A function that returns a new (not yet entered) controller of the node's BMC."""
    node = str(props.get("node") or "?")
    secret = password if password is not None else password_of(props)
    return lambda: connect(props["url"], username or props["username"], secret, node=node,
                           ca_file=in_stack(ca) if (ca := props.get("ca_file")) else None,
                           insecure=bool(props.get("insecure")), system=props.get("system"),
                           allow_http=bool(props.get("allow_http")),
                           profile=props.get("profile"), timeout=float(props.get("timeout") or 30),
                           retries=int(props.get("retries", 4)))


def on_bmc(props: dict[str, Any], verb: Callable[[Controller], Awaitable[T]], *, username: str | None = None,
           password: str | None = None) -> T:
    """Open a session to the node's BMC, run ``verb`` on it, close it; errors name the node."""
    node = str(props.get("node") or "?")

    async def go() -> T:
        async with connector(props, username, password)() as bmc:
            return await verb(bmc)

    try:
        return asyncio.run(go())
    except AnyrackError:
        raise
    except Exception as err:  # anything unexpected still names the node and keeps the message
        raise BmcError(node=node, detail=f"{type(err).__name__}: {err}") from err


DEPLOY_TIMES = ("pxe_timeout", "write_timeout", "boot_timeout", "power_timeout", "poll_s", "ssh_poll_s")
TOKENS = ("rotate", "redeploy")
"""Explicit request inputs: a new non-empty value asks for the action once; clearing it asks nothing."""


def diff_inputs(olds: dict[str, Any], news: dict[str, Any], compared: Iterable[str],
                replaced: Iterable[str], drift: Iterable[str] = ()) -> DiffResult:
    """Changed inputs among ``compared``; those in ``replaced`` force replacement. Only inputs count (an
    output the new inputs do not carry is never a change); ``drift`` names extra changes that ``read``
    found (e.g. a password changed behind Pulumi's back)."""
    changed = [k for k in compared if olds.get(k) != news.get(k)
               and not (k in TOKENS and not news.get(k))]
    replaces = [k for k in changed if k in set(replaced)]
    changed += [k for k in drift if k not in changed]
    return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=bool(replaces))


class BmcProvider(ResourceProvider):
    """Common shape: ``apply`` does the write and returns the values read back; ``observe`` reads."""

    kind = "bmc"
    compared: tuple[str, ...] = ("node", "url", "system", "username", "credential_ref", "profile")
    replaced: tuple[str, ...] = ("node", "url", "system")

    def apply(self, props: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def observe(self, props: dict[str, Any]) -> dict[str, Any]:
        return {}

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"{props['node']}/{self.kind}", outs={**public(props), **self.apply(props)})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs={**public(props), **self.observe(props)})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_inputs(olds, news, self.compared, self.replaced)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs={**public(news), **self.apply(news)})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


class BmcUserProvider(BmcProvider):
    """Create a local BMC user (logging in with the current credential); set its password again only when
    ``rotate`` gets a new value (the password itself is secret and never in the state, so a diff cannot see
    it change). A refresh that could not log in as the user (``verified: false``) is drift: the next up
    sets the password again. Delete leaves the user."""

    kind = "user"
    compared = (*BmcProvider.compared, "user", "user_role", "user_credential_ref", "rotate")
    replaced = ("node", "user")

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        drift = ["verified"] if olds.get("verified") is False else []
        return diff_inputs(olds, news, self.compared, self.replaced, drift)

    def apply(self, props: dict[str, Any]) -> dict[str, Any]:
        on_bmc(props, lambda bmc: bmc.set_user(props["user"], str(props["user_password"]),
                                               props.get("user_role") or "Administrator"))
        return {"verified": True}

    def observe(self, props: dict[str, Any]) -> dict[str, Any]:
        """Log in as the managed user: a password changed behind Pulumi's back reads as unverified."""
        secret = password_of(props, "user_credential_ref", "user_password")
        try:
            on_bmc(props, lambda bmc: bmc.power_state(), username=props["user"], password=secret)
        except BmcAuthFailed:
            return {"verified": False}
        return {"verified": True}


class BiosSettingsProvider(BmcProvider):
    """Stage BIOS attributes (applied at the next reset). Delete leaves the settings as they are."""

    kind = "bios"
    compared = (*BmcProvider.compared, "attributes")

    def apply(self, props: dict[str, Any]) -> dict[str, Any]:
        state = on_bmc(props, lambda bmc: bmc.set_bios(dict(props["attributes"])))
        return self._view(props, state.current, state.pending)

    def observe(self, props: dict[str, Any]) -> dict[str, Any]:
        state = on_bmc(props, lambda bmc: bmc.bios())
        return self._view(props, state.current, state.pending)

    @staticmethod
    def _view(props: dict[str, Any], current: dict, pending: dict) -> dict[str, Any]:
        wanted = props.get("attributes") or {}
        return {"attributes": {k: pending.get(k, current.get(k)) for k in wanted},
                "pending": sorted(k for k in wanted if k in pending)}


class BootOverrideProvider(BmcProvider):
    """The next (or every) boot's device. A one-time override the node has used up is not drift."""

    kind = "boot"
    compared = (*BmcProvider.compared, "target", "persistent", "mode")

    def apply(self, props: dict[str, Any]) -> dict[str, Any]:
        got = on_bmc(props, lambda bmc: bmc.set_boot_override(props["target"], bool(props.get("persistent")),
                                                              props.get("mode")))
        return {"target": got.target, "persistent": got.persistent, "consumed": False}

    def observe(self, props: dict[str, Any]) -> dict[str, Any]:
        got = on_bmc(props, lambda bmc: bmc.boot_override())
        if got.target == "none" and not props.get("persistent") and props.get("target") != "none":
            return {"consumed": True}
        return {"target": got.target, "persistent": got.persistent, "consumed": False}

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        on_bmc(props, lambda bmc: bmc.set_boot_override("none"))


class VirtualMediaProvider(BmcProvider):
    """An ISO image in the BMC's virtual CD; delete ejects it."""

    kind = "media"
    compared = (*BmcProvider.compared, "image")

    def apply(self, props: dict[str, Any]) -> dict[str, Any]:
        got = on_bmc(props, lambda bmc: bmc.insert_media(props["image"]))
        return {"image": got.image if got.inserted else None, "slot": got.slot}

    def observe(self, props: dict[str, Any]) -> dict[str, Any]:
        got = on_bmc(props, lambda bmc: bmc.media_status())
        return {"image": got.image if got.inserted else None, "slot": got.slot}

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        on_bmc(props, lambda bmc: bmc.eject_media())


class PowerStateProvider(BmcProvider):
    """The node powered ``on`` or ``off``; delete powers off only with ``off_on_delete``."""

    kind = "power"
    compared = (*BmcProvider.compared, "state")

    def apply(self, props: dict[str, Any]) -> dict[str, Any]:
        got = on_bmc(props, lambda bmc: bmc.power(props["state"], wait=float(props.get("wait") or 60)))
        return {"state": got.lower()}

    def observe(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"state": on_bmc(props, lambda bmc: bmc.power_state()).lower()}

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if props.get("off_on_delete"):
            on_bmc(props, lambda bmc: bmc.power("off", wait=float(props.get("wait") or 60)))


class OsDeployProvider(BmcProvider):
    """An OS install. With ``install`` (the callback address, the node's address, SSH, timeouts) it is the
    same deploy as ``anyrack deploy`` (:func:`anyrack.deploy.run.deploy_one`: boot override, power, the
    ramdisk's callback, the write, boot from disk, SSH) and create returns only when the node answers on
    SSH as itself, else fails naming the stage. Without ``install`` it only starts one: insert the ISO
    (``method: iso``), then power on or reset the node so it boots from the override set before it.
    A reinstall (a replacement) happens only when ``redeploy`` gets a new value: a new image or method is
    recorded by an update that touches nothing, and ``installed`` keeps what the node was really installed
    with."""

    kind = "deploy"
    compared = (*BmcProvider.compared, "method", "image", "redeploy")
    replaced = ("node", "redeploy")

    def create(self, props: dict[str, Any]) -> CreateResult:
        created = super().create(props)
        created.outs["installed"] = {"method": props["method"], "image": props.get("image")}
        return created

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        kept = {k: olds.get(k) for k in ("started", "power", "installed")}
        return UpdateResult(outs={**public(news), **kept})

    def apply(self, props: dict[str, Any]) -> dict[str, Any]:
        if props.get("install"):
            return self._install(props)
        wait = float(props.get("wait") or 60)

        async def start(bmc: Controller) -> dict[str, Any]:
            if props["method"] == "iso":
                await bmc.insert_media(props["image"])
            action = "reset" if await bmc.power_state() == "On" else "on"
            state = await bmc.power(action, wait=wait)
            return {"started": True, "power": state.lower()}

        return on_bmc(props, start)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if props.get("method") == "iso" and not props.get("install"):
            on_bmc(props, lambda bmc: bmc.eject_media())

    @staticmethod
    def _install(props: dict[str, Any]) -> dict[str, Any]:
        """The whole deploy, waited for; a redeploy (a new ``redeploy`` token) forces a running node off."""
        from anyrack.deploy.run import DeployOptions, deploy_one
        from anyrack.site.model import Node

        got, name = dict(props["install"]), str(props["node"])
        host, _, port = str(got["callback"]).rpartition(":")
        node = Node(name=name, rack=got.get("rack") or "pulumi", u=1, sku="pulumi", role="compute",
                    bmc={"url": props["url"], "insecure": bool(props.get("insecure"))},
                    addresses={"management": got["address"]}, boot_mac=got.get("boot_mac"),
                    root_device=got.get("root_device"))
        opts = DeployOptions(
            via="virtual-media" if props["method"] == "iso" else "pxe", media_url=props.get("image"),
            force=bool(props.get("redeploy") or got.get("force")), ca_file=in_stack(ca) if (ca := props.get("ca_file"))
            else None, ssh_user=got.get("ssh_user") or "root", ssh_port=int(got.get("ssh_port") or 22),
            ssh_key=in_stack(key) if (key := got.get("ssh_key")) else None,
            **{k: float(got[k]) for k in DEPLOY_TIMES if k in got})
        lines: list[str] = []
        result = asyncio.run(deploy_one(node, connector(props), (host, int(port)), opts, lines.append))
        if not result.ok:
            raise BmcError(node=name, detail=f"deploy failed at {result.stage}: {result.detail}")
        return {"started": True, "power": "on", "stages": result.stages}
