"""Live log lines travel on the bus's own log channel: a burst of output can never push a
control event (INSTANCES_CHANGED, CANCEL_REQUESTED) out of a slow subscriber's queue; a
slow log subscriber loses only log batches, and is told how many."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from switchyard.engine.api import Engine
from switchyard.engine.kernel import events as ev
from switchyard.engine.node.runtime import Runtime

from engine.helpers import spec, wait_status

BURST = 10_000

StartRuntime = Callable[..., Awaitable[Runtime]]


def log_line(n: int) -> ev.EngineEvent:
    return ev.EngineEvent(ev.INSTANCE_LOG, "1", {"lines": [f"line {n}"]})


async def test_a_slow_subscriber_keeps_every_control_event_through_a_burst_of_log_lines() -> None:
    bus = ev.EventBus()
    async with bus.subscribe() as control, bus.subscribe_logs() as logs:
        sent = []
        for n in range(BURST):  # nobody reads meanwhile: both subscribers are slow
            bus.publish(log_line(n))
            if n % 100 == 0:
                kind = ev.INSTANCES_CHANGED if n % 200 == 0 else ev.CANCEL_REQUESTED
                event = ev.EngineEvent(kind, str(n), {"ids": [n]})
                bus.publish(event)
                sent.append(event)
        received = [control.get_nowait() for _ in range(control.qsize())]
        assert received == sent  # every one, in order, and no log line among them
        assert {e.kind for e in received} == {ev.INSTANCES_CHANGED, ev.CANCEL_REQUESTED}

        kept = [logs.get_nowait() for _ in range(logs.qsize())]
        assert all(e.kind == ev.INSTANCE_LOG for e in kept)
        assert kept[-1].data["lines"] == [f"line {BURST - 1}"]  # the newest are kept
        assert logs.dropped == BURST - len(kept) > 0  # and it knows what it missed


async def test_a_node_publishes_output_on_the_log_channel_only(
    engine: Engine, runtime: StartRuntime
) -> None:
    await engine.add_schedule(spec("chatty", ["seq", "1", "3000"]))
    await runtime(engine)
    async with engine.bus.subscribe() as control, engine.bus.subscribe_logs() as logs:
        instance_id = await engine.start("chatty")
        await wait_status(engine, instance_id, "completed")
        events = [control.get_nowait() for _ in range(control.qsize())]
        lines = [
            line
            for e in (logs.get_nowait() for _ in range(logs.qsize()))
            for line in e.data["lines"]
        ]
    assert not [e for e in events if e.kind == ev.INSTANCE_LOG]
    assert [e.entity_id for e in events if e.kind == ev.INSTANCES_CHANGED].count(
        str(instance_id)
    ) >= 2  # queued -> running -> completed
    assert lines == [str(n) for n in range(1, 3001)]
