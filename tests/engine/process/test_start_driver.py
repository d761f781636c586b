"""SQLite: a start with everything cached runs as one function on the driver's thread
(engine/process/start_driver.py), past SQLAlchemy. It must store exactly what the
SQLAlchemy path stores: the instance row, its indexed variables and its event, byte for
byte as SQLite holds them; and it must be the path taken (no statement through
SQLAlchemy), else the comparison proves nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from engine.helpers import instance_rows
from engine.process.helpers import publish
from engine.process.test_start_many import PAY, statements
from switchyard.engine.api import Engine
from switchyard.engine.errors import SwitchyardError

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

VARS = {"who": "ann", "amount": "12.50", "note": "ünïcode"}


def stored(engine: Engine, instance_id: int) -> dict[str, Any]:
    """The rows of one instance as SQLite holds them (raw: text as stored), ids left out."""
    path = engine.store.sqlite_path
    assert path is not None
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        inst = dict(db.execute("SELECT * FROM instances WHERE id = ?", (instance_id,)).fetchone())
        index = [
            dict(r)
            for r in db.execute(
                "SELECT * FROM instance_vars WHERE instance_id = ? ORDER BY name", (instance_id,)
            )
        ]
        event = dict(
            db.execute(
                "SELECT * FROM events WHERE entity_id = ? AND kind = 'instances.changed'",
                (str(instance_id),),
            ).fetchone()
        )
    inst.pop("id")
    for r in index:
        r.pop("instance_id")
        r.pop("id", None)
    event.pop("id")
    event.pop("entity_id")
    event["data"] = event["data"].replace(str(instance_id), "ID")
    return {"instance": inst, "vars": index, "event": event}


async def test_the_driver_path_stores_the_rows_sqlalchemy_stores(
    engine: Engine, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, PAY)
    with statements(engine) as seen:
        first = await engine.start_process("pay", VARS)  # nothing cached: SQLAlchemy
    assert seen, "the first start reads through SQLAlchemy"
    with statements(engine) as seen:
        second = await engine.start_process("pay", VARS)
    assert seen == [], f"the cached start went through SQLAlchemy: {seen}"
    old, new = await asyncio.gather(
        asyncio.to_thread(stored, engine, first), asyncio.to_thread(stored, engine, second)
    )
    assert old == new
    assert new["vars"], "indexed variables written"


async def test_the_driver_path_leaves_problems_to_the_ordinary_path(
    engine: Engine, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, PAY)
    await engine.start_process("pay", VARS)
    with pytest.raises(SwitchyardError, match="unknown lane 'nope'"):
        await engine.start_process("pay", VARS, lane="nope")
    with pytest.raises(SwitchyardError, match="amount"):
        await engine.start_process("pay", {"who": "x", "amount": "lots"})
    assert len(await instance_rows(engine)) == 1
