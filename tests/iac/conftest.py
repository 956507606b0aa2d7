"""Pulumi mocks that record every registration: type, name, parent, dependencies and secret inputs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pulumi
import pytest
from google.protobuf import json_format
from pulumi.runtime.mocks import MockMonitor

SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SIG_KEY = "4dabf18193072939515e22adb298388d"


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    parent: str
    dependencies: list[str]
    inputs: dict
    secret_keys: set[str] = field(default_factory=set)


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


class Recorder(MockMonitor):
    def __init__(self) -> None:
        super().__init__(Mocks())
        self.registered: list[Registered] = []

    def RegisterResource(self, request):  # noqa: ANN001, ANN201, N802 - the gRPC method name
        reply = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            raw = json_format.MessageToDict(request.object)
            secrets = {k for k, v in raw.items() if isinstance(v, dict) and v.get(SIG_KEY) == SECRET_SIG}
            inputs = {k: v for k, v in raw.items() if k not in secrets}
            self.registered.append(Registered(request.type, request.name, reply.urn, request.parent,
                                              list(request.dependencies), inputs, secrets))
        return reply

    def by_name(self, name: str) -> Registered:
        return next(r for r in self.registered if r.name == name)


@pytest.fixture
def build() -> Callable[[Callable[[], object]], Recorder]:
    """Run ``program`` under Pulumi's mocks; return what it registered."""

    def run(program: Callable[[], object], project: str = "anyrack", stack: str = "test") -> Recorder:
        monitor = Recorder()
        pulumi.runtime.set_mocks(Mocks(), project=project, stack=stack, preview=False, monitor=monitor)

        @pulumi.runtime.test
        def go() -> None:
            program()

        go()
        return monitor

    return run


@pytest.fixture(autouse=True)
def event_loop_for_pulumi() -> Iterator[None]:
    """Pulumi's mocks use the thread's current event loop; a test run elsewhere with asyncio.run()
    (the bmc tier, in one pytest process) leaves none set. Give each iac test its own."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()
