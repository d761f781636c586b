"""Issue 11 §7: a restore's counts say what happened. `serve` printed "restored 11
instance(s) in error" while the event log said "8 requeued, 3 restored in error": the
requeued process instances were added to the in-error count."""

from __future__ import annotations

import logging
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.kernel import eventlog
from switchyard.engine.node import recovery
from switchyard.engine.schedules.firing import instance_row as new_instance_row
from switchyard.engine.schedules.spec import ScheduleSpec
from switchyard.store.models import ERROR, QUEUED, RUNNING
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import nodes as node_q
from switchyard.store.queries import schedules as schedule_q

PROCESS = """
process: expense
start: go
states:
  go:
    actions:
      - end_process: done
"""
DEAD = "n-dead"
COMMANDS = 3
PROCESSES = 8


async def test_restore_counts_requeued_and_in_error_apart_on_stderr_and_in_the_log(
    db_url: str, data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = await Engine.open(db_url, data_dir=data_dir)
    try:
        now = engine.clock.now()
        async with engine.tx() as tx:
            await node_q.register(
                tx.conn,
                {
                    "id": DEAD,
                    "mode": "serve",
                    "host": "elsewhere",
                    "pid": 1,
                    "proc_start_time": 1.0,
                    "started_at": now - timedelta(hours=2),
                    "heartbeat_at": now - timedelta(hours=1),
                },
            )
        await engine.add_schedule(ScheduleSpec(name="job", command=["true"], on_demand=True))
        async with engine.store.read() as conn:
            schedule = await schedule_q.get_by_name(conn, "job")
        assert schedule is not None
        async with engine.tx() as tx:
            for _ in range(COMMANDS):
                row = new_instance_row(schedule, now=now, fire_at=now, origin="manual")
                row.update(status=RUNNING, node_id=DEAD, host="elsewhere", started_at=now)
                await inst_q.insert_one(tx.conn, row)
        path = tmp_path / "expense.yaml"
        path.write_text(textwrap.dedent(PROCESS).lstrip(), encoding="utf-8")
        await engine.publish([path])
        process_ids = [await engine.start_process("expense") for _ in range(PROCESSES)]
        async with engine.tx() as tx:
            for pid in process_ids:
                await inst_q.set_fields(
                    tx.conn, pid, {"status": RUNNING, "node_id": DEAD, "started_at": now}
                )

        with caplog.at_level(logging.WARNING, logger=recovery.__name__):
            assert await recovery.restore(engine) == COMMANDS + PROCESSES

        said = [r.getMessage() for r in caplog.records if r.name == recovery.__name__]
        assert said == [f"restore: {PROCESSES} instance(s) requeued, {COMMANDS} restored in error"]
        finished = (await engine.event_log(eventlog.RESTORE_FINISHED))[0]
        assert finished.message.startswith(
            f"restore finished: {PROCESSES} instance(s) requeued, {COMMANDS} restored in error"
        )
        rows = [await engine.instance(i) for i in process_ids]
        assert {r.status for r in rows} == {QUEUED}
        errors = [v for v in await engine.instances(schedule="job", limit=100)]
        assert [v.status for v in errors] == [ERROR] * COMMANDS
    finally:
        await engine.close()
