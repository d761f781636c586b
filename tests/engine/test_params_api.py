"""Server parameters through the engine: listed with defaults and rules, validated (unknown
name, wrong type, below the minimum: an error naming the parameter and its rule, nothing
changed), admins only, and taken by a running node without a restart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.errors import Refused, SwitchyardError
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.node.runtime import Runtime

from engine.helpers import until

OpenEngine = Callable[..., Awaitable[Engine]]
DEFAULTS = {
    "block_launch_during_restore": False,
    "depth_threshold": 10,
    "handler_response_timeout": 30.0,
    "max_monitored_flows": 5000,
    "load_balance_threshold": 5000,
    "max_steps_per_instance": 100_000,
    "max_variables_bytes": 1024 * 1024,
    "node_heartbeat_interval": 5.0,
    "node_dead_timeout": 30.0,
}


async def values(engine: Engine) -> dict[str, object]:
    return {p.name: p.value for p in await engine.params()}


async def test_every_parameter_is_listed_with_its_default_and_rule(engine: Engine) -> None:
    views = {p.name: p for p in await engine.params()}
    assert {n: v.value for n, v in views.items()} == DEFAULTS
    assert {n: v.default for n, v in views.items()} == DEFAULTS
    assert all(v.updated_at is None for v in views.values())
    assert views["max_monitored_flows"].rule.startswith("integer >= 100: ")
    assert views["handler_response_timeout"].rule.startswith("number of seconds >= 0: ")
    assert "0 = unlimited" in views["handler_response_timeout"].rule
    assert views["block_launch_during_restore"].rule.startswith("boolean: ")


async def test_a_valid_change_is_stored_typed_and_announced(
    engine: Engine, clock: FixedClock
) -> None:
    async with engine.bus.subscribe() as queue:
        view = await engine.set_param("depth_threshold", "12")
        event = await queue.get()
    assert (view.name, view.value, view.updated_at) == ("depth_threshold", 12, clock.now())
    assert (event.kind, event.entity_id, event.data) == (
        ev.PARAM_CHANGED,
        "depth_threshold",
        {"old": 10, "new": 12},
    )
    await engine.set_param("handler_response_timeout", "5m")
    await engine.set_param("block_launch_during_restore", "yes")
    await engine.set_param("max_monitored_flows", 100)  # the minimum itself is allowed
    assert await values(engine) == {
        **DEFAULTS,
        "depth_threshold": 12,
        "handler_response_timeout": 300.0,
        "block_launch_during_restore": True,
        "max_monitored_flows": 100,
    }
    await engine.set_param("handler_response_timeout", "0")  # 0 = unlimited
    assert (await values(engine))["handler_response_timeout"] == 0.0


@pytest.mark.parametrize(
    ("name", "value", "field", "words"),
    [
        ("max_flows", "10", "name", ["unknown parameter 'max_flows'", "max_monitored_flows"]),
        ("depth_threshold", "deep", "depth_threshold", ["'deep' is not an integer", ">= 1"]),
        ("depth_threshold", "2.5", "depth_threshold", ["not an integer"]),
        ("block_launch_during_restore", "maybe", "block_launch_during_restore", ["boolean"]),
        ("handler_response_timeout", "soon", "handler_response_timeout", ["seconds"]),
        ("handler_response_timeout", "-1", "handler_response_timeout", ["below the minimum 0"]),
        ("max_monitored_flows", 99, "max_monitored_flows", ["99 is below the minimum 100"]),
        ("load_balance_threshold", "0", "load_balance_threshold", ["integer >= 1"]),
        ("node_heartbeat_interval", "0.1", "node_heartbeat_interval", ["below the minimum 0.2"]),
        ("node_dead_timeout", "2h", "node_dead_timeout", ["above the maximum 3600"]),
    ],
)
async def test_a_bad_value_is_named_with_its_rule_and_changes_nothing(
    engine: Engine, name: str, value: object, field: str, words: list[str]
) -> None:
    async with engine.bus.subscribe() as queue:
        with pytest.raises(SwitchyardError) as caught:
            await engine.set_param(name, value)
        assert queue.empty()
    assert caught.value.field == field
    assert caught.value.exit_code == (3 if field == "name" else 2)  # unknown: 3
    for word in words:
        assert word in str(caught.value)
    assert await values(engine) == DEFAULTS
    assert all(p.updated_at is None for p in await engine.params())
    assert await engine.event_log(kind="param") == []


async def test_setting_the_same_value_again_changes_nothing(engine: Engine) -> None:
    await engine.set_param("depth_threshold", 12)
    await engine.set_param("depth_threshold", "12")
    assert len(await engine.event_log(kind="param.changed")) == 1


async def test_only_admins_change_parameters_but_anyone_lists_them(
    engine: Engine, open_engine: OpenEngine
) -> None:
    await engine.add_user("bob", licence="monitor")
    bob = await open_engine(user="bob")
    with pytest.raises(Refused) as caught:
        await bob.set_param("depth_threshold", 12)
    assert str(caught.value) == "bob needs the admin right to change server parameters"
    assert caught.value.exit_code == 4
    assert await values(bob) == DEFAULTS


async def test_a_running_node_takes_a_changed_parameter_without_restart(
    engine: Engine, open_engine: OpenEngine, runtime: Callable[..., Awaitable[Runtime]]
) -> None:
    rt = await runtime(engine)
    assert rt.host is not None and rt.host.params["depth_threshold"] == 10
    await engine.set_param("depth_threshold", 3)  # on this node's own engine
    await until(lambda: rt.host is not None and rt.host.params["depth_threshold"] == 3)
    other = await open_engine()  # another process: the change arrives through the feed
    await other.set_param("handler_response_timeout", "45s")
    await until(
        lambda: rt.host is not None and rt.host.params["handler_response_timeout"] == 45.0,
        what="the node to re-read its parameters",
    )
    assert rt.started


async def test_the_dead_timeout_must_cover_two_heartbeats(engine: Engine) -> None:
    await engine.set_param("node_heartbeat_interval", "10")
    with pytest.raises(SwitchyardError) as caught:
        await engine.set_param("node_dead_timeout", "15")
    assert caught.value.field == "node_dead_timeout"
    assert "must be at least twice node_heartbeat_interval (10s)" in caught.value.message
    with pytest.raises(SwitchyardError):
        await engine.set_param("node_heartbeat_interval", "20")
    assert (await values(engine))["node_dead_timeout"] == 30.0
    await engine.set_param("node_dead_timeout", "20")
