"""The event log: node start and stop, restores with counts (and no flood from
housekeeping), instances restored in error, ownership changes, refusals, secret changes
(never the value), parameter changes; read newest first by kind and time, by those who
hold the monitor licence or the admin right."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.errors import Refused, SwitchyardError
from switchyard.engine.kernel import eventlog
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.kernel.nodes import HOST
from switchyard.engine.kernel.tx import Tx
from switchyard.engine.node import recovery
from switchyard.engine.node.runtime import Runtime
from switchyard.engine.schedules.firing import instance_row as new_instance_row
from switchyard.engine.views import to_json
from switchyard.store.models import ERROR, QUEUED, RUNNING
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import nodes as node_q
from switchyard.store.queries import people as people_q

from engine.helpers import instance_row, schedule_row, spec

OpenEngine = Callable[..., Awaitable[Engine]]
PROCESS = """
process: expense
start: go
states:
  go:
    actions:
      - end_process: done
"""


async def kinds(engine: Engine, kind: str | None = None) -> list[str]:
    return [e.kind for e in await engine.event_log(kind)]


async def test_a_node_logs_its_start_restore_and_stop(engine: Engine) -> None:
    rt = Runtime(engine, kill_grace=1.0)
    await rt.start()
    try:
        started = await engine.event_log()
    finally:
        await rt.stop(grace=1.0)
    node = engine.node_id
    # newest first: restore ran once at start (logged even with nothing to restore)
    assert [e.kind for e in started] == [
        eventlog.RESTORE_FINISHED,
        eventlog.RESTORE_STARTED,
        eventlog.NODE_STARTED,
    ]
    assert started[0].message == "restore finished: nothing to restore"
    first = started[-1]
    assert first.message == f"node {node} started (serve)"
    assert (first.node_id, first.login) == (node, engine.login)
    assert first.detail["mode"] == "serve" and first.detail["host"] == HOST
    stopped = (await engine.event_log(kind="node"))[0]
    assert stopped.kind == eventlog.NODE_STOPPED
    assert stopped.message == f"node {node} stopped (serve)"
    assert stopped.detail["mode"] == "serve"


async def test_restores_log_counts_and_housekeeping_does_not_flood(
    engine: Engine, tmp_path: Path
) -> None:
    now = engine.clock.now()
    async with engine.tx() as tx:
        await node_q.register(
            tx.conn,
            {
                "id": "n-dead",
                "mode": "serve",
                "host": HOST,
                "pid": 1,
                "proc_start_time": 1.0,
                "started_at": now - timedelta(hours=2),
                "heartbeat_at": now - timedelta(hours=1),
            },
        )
    # a command run (restored in error) and two process instances (requeued)
    await engine.add_schedule(spec("job", ["sleep", "60"]))
    values = new_instance_row(
        await schedule_row(engine, "job"), now=now, fire_at=now, origin="manual"
    )
    values.update(status=RUNNING, node_id="n-dead", host="elsewhere", started_at=now)
    async with engine.tx() as tx:
        command_id = await inst_q.insert_one(tx.conn, values)
    path = tmp_path / "expense.yaml"
    path.write_text(textwrap.dedent(PROCESS).lstrip(), encoding="utf-8")
    await engine.publish([path])
    process_ids = [await engine.start_process("expense") for _ in range(2)]
    async with engine.tx() as tx:
        for pid in process_ids:
            await inst_q.set_fields(
                tx.conn, pid, {"status": RUNNING, "node_id": "n-dead", "started_at": now}
            )

    assert await recovery.restore(engine) == 3
    assert (await instance_row(engine, command_id))["status"] == ERROR
    assert {(await instance_row(engine, i))["status"] for i in process_ids} == {QUEUED}
    entries = await engine.event_log()
    assert [e.kind for e in entries] == [
        eventlog.RESTORE_FINISHED,
        eventlog.OWNERSHIP_CHANGED,
        eventlog.RESTORED_IN_ERROR,
        eventlog.RESTORE_STARTED,
    ]
    finished, owner, in_error, started = entries
    assert started.message == "restore started: dead node(s) n-dead; 3 instance(s) to restore"
    assert in_error.message == (
        f"instance {command_id} restored in error: node n-dead stopped while it ran"
    )
    assert in_error.detail["instance_id"] == command_id
    assert recovery.RESTORED in in_error.detail["reason"]
    assert owner.message == f"2 instance(s) of dead node n-dead requeued by {engine.node_id}"
    assert owner.detail["from_node"] == "n-dead" and owner.detail["count"] == 2
    assert sorted(owner.detail["instance_ids"]) == sorted(process_ids)
    assert finished.message == (
        "restore finished: 2 instance(s) requeued, 1 restored in error; "
        "1 dead node(s) marked stopped"
    )
    assert (finished.detail["requeued"], finished.detail["restored_in_error"]) == (2, 1)
    # housekeeping runs restore every few seconds: nothing found, nothing logged
    for _ in range(3):
        assert await recovery.restore(engine) == 0
    assert len(await engine.event_log()) == 4


async def test_a_refusal_is_logged_with_who_and_what_was_missing(
    engine: Engine, open_engine: OpenEngine
) -> None:
    await engine.add_user("dave")
    dave = await open_engine(user="dave")
    with pytest.raises(Refused):
        await dave.set_param("depth_threshold", 12)
    with pytest.raises(Refused) as caught:
        await dave.event_log()  # a direct licence may not read it
    assert str(caught.value) == (
        "dave needs the monitor licence or the admin right to read the event log"
    )
    refused = await engine.event_log(kind=eventlog.REFUSED)
    assert [e.detail["operation"] for e in refused] == ["event_log", "set_param"]
    entry = refused[1]
    assert entry.login == "dave"
    assert entry.message == "dave needs the admin right to change server parameters"
    assert entry.detail["needs"] == "admin"
    async with engine.store.read() as conn:  # the audit row, in the same commit
        audit = await people_q.list_audit(conn, limit=10)
    assert [a["detail"]["operation"] for a in audit if a["action"] == "refused"] == [
        "event_log",
        "set_param",
    ]


async def test_a_monitor_reads_the_event_log(engine: Engine, open_engine: OpenEngine) -> None:
    await engine.add_user("bob", licence="monitor")
    bob = await open_engine(user="bob")
    await engine.set_param("depth_threshold", 12)
    assert [e.kind for e in await bob.event_log()] == [eventlog.PARAM_CHANGED]


async def test_a_secret_change_names_the_secret_never_its_value(engine: Engine) -> None:
    await engine.set_secret("API_TOKEN", "hunter2-very-secret")
    await engine.set_secret("API_TOKEN", "another-secret-value")
    entries = await engine.event_log(kind="secret")
    assert [e.message for e in entries] == ["secret API_TOKEN changed", "secret API_TOKEN added"]
    assert entries[0].detail == {"name": "API_TOKEN", "change": "changed"}
    assert entries[0].login == engine.user
    dumped = json.dumps(to_json(entries))
    assert "hunter2" not in dumped and "another-secret" not in dumped


async def test_a_parameter_change_logs_old_and_new(engine: Engine) -> None:
    await engine.set_param("depth_threshold", "12")
    await engine.set_param("handler_response_timeout", "5m")
    second, first = await engine.event_log(kind="param.changed")
    assert first.message == "parameter depth_threshold changed: 10 -> 12"
    assert first.detail == {"name": "depth_threshold", "old": 10, "new": 12}
    assert (first.login, first.node_id) == (engine.user, engine.node_id)
    assert second.message == "parameter handler_response_timeout changed: 30s -> 300s"


async def test_kinds_families_times_and_pages(engine: Engine, clock: FixedClock) -> None:
    start = clock.now()
    await engine.set_param("depth_threshold", 11)
    clock.at = start + timedelta(hours=1)
    await engine.set_secret("KEY", "value-long")
    clock.at = start + timedelta(hours=2)
    await engine.set_param("depth_threshold", 12)
    # the monitor (written elsewhere) records cancelled filters through the same helper
    async with engine.tx() as tx:
        assert isinstance(tx, Tx)
        await eventlog.record(
            tx, eventlog.FILTER_CANCELLED, "filter matches 6000 instances", matched=6000
        )
    assert await kinds(engine, "param") == ["param.changed", "param.changed"]
    assert await kinds(engine, "param.changed,secret.changed") == [
        "param.changed",
        "secret.changed",
        "param.changed",
    ]
    assert await kinds(engine, "filter.cancelled") == ["filter.cancelled"]
    hour = await engine.event_log(
        since=start + timedelta(minutes=30), until=start + timedelta(minutes=90)
    )
    assert [e.kind for e in hour] == ["secret.changed"]
    newest = await engine.event_log(limit=2)
    older = await engine.event_log(limit=2, before_id=newest[-1].id)
    assert [e.kind for e in newest + older] == [
        "filter.cancelled",
        "param.changed",
        "secret.changed",
        "param.changed",
    ]
    with pytest.raises(SwitchyardError) as caught:
        await engine.event_log(kind="nodes")
    assert caught.value.field == "kind" and "node.started" in str(caught.value)
    with pytest.raises(SwitchyardError):
        await engine.event_log(limit=0)
