"""An engine-shaped harness: a stack program's registrations driven through the dynamic provider server.

What the Pulumi engine does on ``pulumi preview`` / ``pulumi up`` for dynamic resources, without the CLI:

1. the program runs under Pulumi's Python runtime (``pulumi.runtime.set_mocks`` with a monitor that
   records every ``RegisterResource`` request as sent: secrets wrapped, the pickled ``__provider``);
2. ``python -m pulumi.dynamic`` (what the engine's ``pulumi-resource-pulumi-python`` plugin runs) is
   started in the stack's directory; its gRPC port is read from its stdout;
3. ``Configure`` first; the server answers ``acceptSecrets: false``, so, like the engine, secrets are sent
   as plain values and every output whose input of the same name was secret is stored as a secret;
4. per resource ``Check(olds=old inputs, news)`` then ``Diff(olds=old outputs, news=checked inputs)``
   (unknowns kept, as in a preview); ``up`` then calls ``Create``/``Update``, replaces (delete before or
   after create, as Diff says), refuses to replace or delete a protected resource, and ``Delete``s what the
   program no longer registers; ``refresh`` calls ``Read(properties=old outputs, inputs=old inputs)``;
5. the state is kept as the engine's checkpoint keeps it (inputs, outputs, protect, dependencies), with
   secret values replaced by an opaque ciphertext: :meth:`Engine.checkpoint` is what a backend would hold.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pulumi
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import proto
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import provider_pb2_grpc

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
PROVIDER_KEY = "__provider"
DYNAMIC = "pulumi-python:dynamic:Resource"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def reveal(props: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """Plain values and the names of the top-level keys that were secret (the engine's marshalling for a
    provider that does not accept secrets)."""
    secret = {k for k, v in props.items() if is_secret(v)}
    return {k: (v["value"] if k in secret else v) for k, v in props.items()}, secret


def conceal(props: dict[str, Any], secret: set[str]) -> dict[str, Any]:
    """``props`` with the keys in ``secret`` wrapped as secrets again (the engine's ``annotateSecrets``)."""
    return {k: ({SIG_KEY: SECRET_SIG, "value": v} if k in secret and not is_secret(v) else v)
            for k, v in props.items()}


def to_struct(props: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(props, struct_pb2.Struct())


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(struct)


@dataclass
class Registration:
    """One ``RegisterResource`` request as the program sent it."""

    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    dependencies: list[str]
    props: dict[str, Any]
    protect: bool = False


class RecordingMonitor(MockMonitor):
    """Pulumi's mock monitor that also keeps every registration as sent."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.outputs: dict[str, dict[str, Any]] = {}
        """``register_outputs`` / ``pulumi.export`` per URN (the stack's exports under its own URN)."""

    def RegisterResourceOutputs(self, request):  # noqa: ANN001, ANN201, N802 - the gRPC method name
        self.outputs[request.urn] = from_struct(request.outputs)
        return super().RegisterResourceOutputs(request)

    def RegisterResource(self, request):  # noqa: ANN001, ANN201, N802 - the gRPC method name
        reply = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(Registration(
                request.type, request.name, reply.urn, request.parent, bool(request.custom),
                list(request.dependencies), from_struct(request.object), bool(request.protect)))
        return reply


class EchoMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


def run_program(program: Callable[[], object], project: str, stack: str, preview: bool = False,
                exports: dict[str, Any] | None = None) -> list[Registration]:
    """Run ``program`` under Pulumi's runtime with mocks; every registration it made, in order (and into
    ``exports``, if given, every registered output by URN: what the stack shows as outputs)."""
    monitor = RecordingMonitor(EchoMocks())
    pulumi.runtime.set_mocks(EchoMocks(), project=project, stack=stack, preview=preview, monitor=monitor)

    @pulumi.runtime.test
    def go() -> None:
        program()

    go()
    if exports is not None:
        exports.update(monitor.outputs)
    return monitor.registrations


@dataclass
class StateEntry:
    type: str
    urn: str
    id: str
    custom: bool
    parent: str
    dependencies: list[str]
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    protect: bool = False


@dataclass
class Step:
    urn: str
    op: str
    """``create``, ``update``, ``replace``, ``same``, ``delete`` or ``read``."""
    diffs: list[str] = field(default_factory=list)
    replaces: list[str] = field(default_factory=list)


class ProtectedError(RuntimeError):
    pass


class Engine:
    """The engine's view of one stack: its state, and the dynamic provider server it talks to."""

    def __init__(self, cwd: Path, project: str = "anyrack", parallel: int = 8) -> None:
        self.cwd, self.project, self.parallel = Path(cwd), project, parallel
        self.state: dict[str, StateEntry] = {}
        self.calls: dict[str, int] = {}
        self._server: subprocess.Popen | None = None
        self._stub: provider_pb2_grpc.ResourceProviderStub | None = None
        self.accept_secrets = False

    # -- the provider process -------------------------------------------------------------------------
    def start(self) -> None:
        env = {**os.environ, "PULUMI_PROJECT": self.project, "PULUMI_ROOT_DIRECTORY": str(self.cwd)}
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server; closed in stop()
        self._server = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.dynamic"], cwd=self.cwd, env=env,
                                        stdout=subprocess.PIPE, stderr=self._log)
        port = self._server.stdout.readline().decode().strip()
        if not port.isdigit():
            raise RuntimeError(f"pulumi.dynamic did not print its port: {port!r} {self.server_log()[-2000:]}")
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self._stub = provider_pb2_grpc.ResourceProviderStub(self._channel)
        reply = self._call("Configure", proto.ConfigureRequest(args=to_struct({}), acceptSecrets=True,
                                                               acceptResources=True))
        self.accept_secrets = reply.acceptSecrets

    def server_log(self) -> str:
        """What the provider server wrote to stderr so far (the engine shows it as diagnostics)."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        if self._server is not None:
            self._channel.close()
            self._server.kill()
            self._server.wait()
            self._server.stdout.close()
            self._server = None

    def close(self) -> None:
        self.stop()
        self._log.close()

    def _call(self, method: str, request: Any) -> Any:
        self.calls[method] = self.calls.get(method, 0) + 1
        return getattr(self._stub, method)(request)

    def _send(self, props: dict[str, Any]) -> tuple[struct_pb2.Struct, set[str]]:
        plain, secret = (props, set()) if self.accept_secrets else reveal(props)
        return to_struct(plain), secret

    # -- one resource -----------------------------------------------------------------------------------
    def _check(self, reg: Registration, old: StateEntry | None) -> tuple[dict[str, Any], set[str]]:
        news, secret = self._send(reg.props)
        olds, _ = self._send(old.inputs if old else {})
        reply = self._call("Check", proto.CheckRequest(urn=reg.urn, olds=olds, news=news))
        if reply.failures:
            raise RuntimeError(f"{reg.name}: check failed: {[(f.property, f.reason) for f in reply.failures]}")
        return from_struct(reply.inputs), secret

    def _diff(self, reg: Registration, old: StateEntry, checked: dict[str, Any]) -> Step:
        olds, _ = self._send(old.outputs)
        old_inputs, _ = self._send(old.inputs)
        reply = self._call("Diff", proto.DiffRequest(id=old.id, urn=reg.urn, olds=olds, news=to_struct(checked),
                                                     old_inputs=old_inputs))
        if reply.replaces:
            return Step(reg.urn, "replace", list(reply.diffs), list(reply.replaces))
        if reply.changes == proto.DiffResponse.DIFF_NONE:
            return Step(reg.urn, "same")
        return Step(reg.urn, "update", list(reply.diffs))

    def plan_one(self, reg: Registration) -> tuple[Step, dict[str, Any], set[str]]:
        """Check, then Diff against the state: what ``preview`` shows for ``reg``."""
        old = self.state.get(reg.urn)
        if not reg.custom:
            return Step(reg.urn, "same" if old else "create"), reg.props, set()
        checked, secret = self._check(reg, old)
        if old is None:
            return Step(reg.urn, "create"), checked, secret
        return self._diff(reg, old, checked), checked, secret

    def _apply(self, reg: Registration, step: Step, checked: dict[str, Any], secret: set[str]) -> None:
        old = self.state.get(reg.urn)
        if step.op in ("replace",) and reg.protect:
            raise ProtectedError(f"unable to replace resource {reg.urn!r} as it is currently marked for protection")
        if not reg.custom:
            self.state[reg.urn] = StateEntry(reg.type, reg.urn, "", False, reg.parent, reg.dependencies,
                                             reg.props, {}, reg.protect)
            return
        news = to_struct(checked)
        if step.op in ("create", "replace"):
            if step.op == "replace":
                self._delete(old)
            reply = self._call("Create", proto.CreateRequest(urn=reg.urn, properties=news))
            id_, outs = reply.id, from_struct(reply.properties)
        elif step.op == "update":
            olds, _ = self._send(old.outputs)
            reply = self._call("Update", proto.UpdateRequest(id=old.id, urn=reg.urn, olds=olds, news=news))
            id_, outs = old.id, from_struct(reply.properties)
        else:
            id_, outs = old.id, old.outputs
        self.state[reg.urn] = StateEntry(reg.type, reg.urn, id_, True, reg.parent, reg.dependencies,
                                         conceal(checked, secret), conceal(outs, secret), reg.protect)

    def _delete(self, old: StateEntry) -> None:
        if old.custom:
            props, _ = self._send(old.outputs)
            inputs, _ = self._send(old.inputs)
            self._call("Delete", proto.DeleteRequest(id=old.id, urn=old.urn, properties=props, old_inputs=inputs))

    # -- whole operations ---------------------------------------------------------------------------------
    def _waves(self, regs: list[Registration]) -> Iterator[list[Registration]]:
        """Registrations in dependency order, each wave runnable in parallel (parents count as dependencies)."""
        level: dict[str, int] = {}
        for reg in regs:  # registration order is already a topological order
            before = [level.get(u, -1) for u in [*reg.dependencies, reg.parent] if u]
            level[reg.urn] = 1 + max(before, default=-1)
        for n in range(max(level.values(), default=-1) + 1):
            yield [r for r in regs if level[r.urn] == n]

    def preview(self, regs: list[Registration]) -> list[Step]:
        """Check + Diff for every registration (nothing created); deletes for what is no longer registered."""
        with ThreadPoolExecutor(self.parallel) as pool:
            steps = [s for s, _c, _s in pool.map(self.plan_one, regs)]
        return steps + self._deletes(regs)

    def up(self, regs: list[Registration]) -> list[Step]:
        """Preview's steps, applied wave by wave; then deletes in reverse order."""
        steps: list[Step] = []

        def one(reg: Registration) -> Step:
            step, checked, secret = self.plan_one(reg)
            self._apply(reg, step, checked, secret)
            return step

        with ThreadPoolExecutor(self.parallel) as pool:
            for wave in self._waves(regs):
                steps += list(pool.map(one, wave))
        gone = self._deletes(regs)
        for step in gone:
            old = self.state[step.urn]
            if old.protect:
                raise ProtectedError(f"unable to delete resource {old.urn!r} as it is currently marked for protection")
            self._delete(old)
            del self.state[step.urn]
        return steps + gone

    def _deletes(self, regs: list[Registration]) -> list[Step]:
        wanted = {r.urn for r in regs}
        return [Step(urn, "delete") for urn in reversed(list(self.state)) if urn not in wanted]

    def refresh(self, targets: tuple[str, ...] = ()) -> list[Step]:
        """``pulumi refresh [--target URN …]``: Read each custom resource (those whose name ends with one of
        ``targets``, if given); the state takes what Read returned."""
        steps: list[Step] = []
        for entry in [e for e in self.state.values() if e.custom and (not targets or e.urn.endswith(targets))]:
            props, secret = self._send(entry.outputs)
            inputs, _ = self._send(entry.inputs)
            reply = self._call("Read", proto.ReadRequest(id=entry.id, urn=entry.urn, properties=props, inputs=inputs))
            outs = from_struct(reply.properties)
            steps.append(Step(entry.urn, "read", sorted(k for k in outs if outs[k] != reveal(entry.outputs)[0].get(k))))
            entry.outputs = conceal(outs, secret | reveal(entry.inputs)[1])
            if reply.HasField("inputs"):
                entry.inputs = conceal(from_struct(reply.inputs), reveal(entry.inputs)[1])
        return steps

    def destroy(self) -> None:
        for urn in reversed(list(self.state)):
            old = self.state[urn]
            if old.protect:
                raise ProtectedError(f"unable to delete resource {urn!r} as it is currently marked for protection")
            self._delete(old)
            del self.state[urn]

    def checkpoint(self) -> str:
        """The state as a backend stores it: secrets replaced by an opaque ciphertext (never the value)."""

        def encrypt(props: dict[str, Any]) -> dict[str, Any]:
            return {k: ({SIG_KEY: SECRET_SIG, "ciphertext": hashlib.sha256(json.dumps(v["value"]).encode()
                                                                             + b"harness-key").hexdigest()}
                        if is_secret(v) else v) for k, v in props.items()}

        return json.dumps({"version": 3, "checkpoint": {"latest": {"resources": [
            {"urn": e.urn, "custom": e.custom, "id": e.id, "type": e.type, "parent": e.parent,
             "dependencies": e.dependencies, "protect": e.protect,
             "inputs": encrypt(e.inputs),
             "outputs": encrypt(e.outputs)}
            for e in self.state.values()]}}}, indent=1, sort_keys=True)


def changes(steps: list[Step]) -> list[Step]:
    """The steps that would change something."""
    return [s for s in steps if s.op not in ("same", "read")]


@contextmanager
def engine(cwd: Path, project: str = "anyrack", parallel: int = 8) -> Iterator[Engine]:
    e = Engine(cwd, project, parallel)
    e.start()
    try:
        yield e
    finally:
        e.close()
