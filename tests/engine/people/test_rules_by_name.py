"""A rule reads the argument it names, bound by name through the operation's signature:
reordering the parameters cannot make it check another value, and naming a parameter the
operation does not have (or leaving a rule without one) fails when the code is imported.

The engine tests run a guarded subclass of the real ``Engine`` on the real store: bob may
launch ``allowed`` only, and the operations take ``name`` in second place."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.errors import Refused
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.people.rules import (
    admin,
    anyone,
    guarded,
    launch,
    on_instance,
    rule,
    rule_of,
    unchecked,
)

OpenEngine = Callable[..., Awaitable[Engine]]

SIMPLE = """
process: {name}
start: go
states:
  go:
    actions:
      - end_process: done
"""


@guarded
class Reordered(Engine):
    """Operations whose checked argument is not the first one."""

    @rule(launch, arg="name")
    async def launch_in(self, lane: str, name: str) -> str:
        return f"{name} in {lane}"

    @rule(launch, arg="name")
    async def launch_default(self, lane: str = "default", name: str = "allowed") -> str:
        return name

    @rule(launch, arg="name")
    async def launch_stream(self, lane: str, name: str) -> AsyncIterator[str]:
        yield name


@pytest.fixture
async def bob(
    open_engine: OpenEngine, db_url: str, data_dir: Path, clock: FixedClock, tmp_path: Path
) -> AsyncIterator[Reordered]:
    root = await open_engine()
    paths = []
    for name in ("allowed", "forbidden"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(SIMPLE.format(name=name)).lstrip(), encoding="utf-8")
        paths.append(path)
    await root.publish(paths)
    await root.add_user("bob", licence="direct")
    await root.grant("allowed", "bob", launch=True)
    engine = await Reordered.open(db_url, data_dir=data_dir, clock=clock, user="bob")
    assert isinstance(engine, Reordered)
    yield engine
    await engine.close()


REFUSED = "bob may not start forbidden: needs the launch right on it"


async def test_the_named_argument_is_checked_whatever_its_place(
    bob: Reordered, open_engine: OpenEngine
) -> None:
    # positionally, "allowed" comes first: reading args[0] would let this through
    with pytest.raises(Refused) as caught:
        await bob.launch_in("allowed", "forbidden")
    assert str(caught.value) == REFUSED
    assert await bob.launch_in("forbidden", "allowed") == "allowed in forbidden"
    assert await bob.launch_in(name="allowed", lane="forbidden") == "allowed in forbidden"
    with pytest.raises(Refused, match="may not start forbidden"):
        await bob.launch_in(name="forbidden", lane="allowed")
    # the refusal is written against the value checked, under the operation's name
    root = await open_engine()
    [row] = [r for r in await root.audit(limit=5) if r.action == "refused"][:1]
    assert row.target == "forbidden"
    assert row.detail["operation"] == "launch_in"


async def test_a_default_is_checked_when_the_argument_is_left_out(bob: Reordered) -> None:
    assert await bob.launch_default() == "allowed"
    assert await bob.launch_default("forbidden") == "allowed"  # that was the lane
    with pytest.raises(Refused, match="may not start forbidden"):
        await bob.launch_default(name="forbidden")


async def test_a_stream_checks_the_named_argument_too(bob: Reordered) -> None:
    assert [x async for x in bob.launch_stream("forbidden", "allowed")] == ["allowed"]
    with pytest.raises(Refused, match="may not start forbidden"):
        [x async for x in bob.launch_stream("allowed", "forbidden")]


async def test_a_call_that_does_not_fit_fails_before_any_check(bob: Reordered) -> None:
    with pytest.raises(TypeError):
        await bob.launch_in("allowed")  # type: ignore[call-arg]


# ------------------------------------------------- mistakes caught at import time
def test_a_wrong_argument_name_is_rejected_when_the_method_is_defined() -> None:
    with pytest.raises(TypeError) as caught:

        class Api:
            @rule(launch, arg="nme")
            async def start_process(self, name: str, lane: str) -> None: ...

    message = str(caught.value)
    assert "Api.start_process" in message
    assert "'nme'" in message
    assert "name, lane" in message  # the parameters it does have


def test_self_is_not_an_argument_to_check() -> None:
    with pytest.raises(TypeError, match="no parameter 'self'"):

        class Api:
            @rule(on_instance("view", "view"), arg="self")
            async def instance(self, instance_id: int) -> None: ...


def test_a_rule_that_reads_a_value_must_be_told_which() -> None:
    with pytest.raises(TypeError, match=r"Api\.start_process: name the argument"):

        class Api:
            @rule(launch)
            async def start_process(self, name: str) -> None: ...


def test_a_rule_that_reads_no_value_takes_no_argument() -> None:
    with pytest.raises(TypeError, match="this rule reads no argument"):

        class Api:
            @rule(admin("add users"), arg="login")
            async def add_user(self, login: str) -> None: ...


def test_only_async_operations_carry_a_rule() -> None:
    with pytest.raises(TypeError, match="only an async operation"):

        class Api:
            @rule(anyone)
            def users(self) -> None: ...


def test_a_class_method_is_no_operation() -> None:
    with pytest.raises(TypeError, match="a class or static method is no operation"):

        class Api:
            @rule(anyone)
            @classmethod
            async def open(cls) -> None: ...


def test_unchecked_needs_a_reason() -> None:
    with pytest.raises(TypeError, match="reason"):
        unchecked(" ")


def test_an_operation_without_a_rule_stops_guarded() -> None:
    class Api:
        @rule(anyone)
        async def users(self) -> None: ...

        async def groups(self) -> None: ...

        async def _helper(self) -> None: ...  # private: not an operation

    with pytest.raises(TypeError, match=r"Api: give these operations a @rule .*: groups$"):
        guarded(Api)


def test_an_override_keeps_its_base_rule_and_must_keep_its_argument() -> None:
    class Base:
        @rule(launch, arg="name")
        async def start_process(self, name: str) -> None: ...

    class Same(Base):
        async def start_process(self, name: str, lane: str = "default") -> None: ...

    guarded(Same)
    found = rule_of(Same, "start_process")
    assert found is not None and found.arg == "name"

    class Renamed(Base):
        async def start_process(self, process: str) -> None: ...  # type: ignore[override]

    with pytest.raises(TypeError, match=r"Renamed\.start_process: it has no parameter 'name'"):
        guarded(Renamed)
