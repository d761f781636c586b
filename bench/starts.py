"""Starting process instances through the engine API: single starts and batches
(``Engine.start_many``) against today's single-start path, in the same run.

Run: ``.venv/bin/python bench/starts.py`` (``--quick``: fewer starts, < 1 min;
``--postgres``: on a throw-away PostgreSQL server it starts itself, bench/pg.py).

One store (SQLite, or PostgreSQL with ``--postgres``) made by the real engine (migrations), one published process with three
variables (two of them indexed). Three contenders, in rounds so that a load change hits
each alike, on the same store:

- ``old single``: the single-start path as it was before issue 14 (a copy below: identity
  in two queries, parameters read twice, definition and lane in two queries, the new
  instance's index rows deleted before they are inserted: 12 statements and a commit);
- ``single``: ``Engine.start_process``: on the guard's cached identity, with the parameters
  and the definition cached under the store's change token; on SQLite one function on the
  driver's thread (token and lane checked, instance, index rows, event, commit: one
  hand-off instead of ~31), else 5 statements and a commit;
- ``batch``: ``Engine.start_many`` with batches of ``--batch`` rows (one transaction each).

Goals (issue 14): >= 2,000 starts/s in batches, single starts >= 4x the old path. It prints
numbers; it asserts nothing. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from pg import store_url
from switchyard.engine.api import Engine
from switchyard.engine.definitions import values
from switchyard.engine.errors import Conflict, NotFound, SwitchyardError
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.nodes import is_alive
from switchyard.engine.ops import params as server_params
from switchyard.store.models import QUEUED
from switchyard.store.queries import instance_vars as var_q
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import lanes as lane_q
from switchyard.store.queries import nodes as node_q
from switchyard.store.queries import people as people_q
from switchyard.store.queries import processes as proc_q

DEFINITION = """
process: pay
variables:
  who: {type: string, required: true}
  amount: {type: decimal, required: true}
  note: {type: string, default: none}
start: s
states:
  s:
    actions:
      - wait: {for: 1h}
"""


# ------------------------------------------------ the old path (before issue 14), kept
async def old_start(engine: Engine, name: str, variables: dict[str, Any]) -> int:
    """``start_process`` as it was: the guard's identity read, then its transaction."""
    async with engine.store.read() as conn:  # Guard._load_identity
        row = await people_q.get_user(conn, engine.user)
        if row:
            await people_q.groups_of(conn, engine.user)
    async with engine.tx() as tx:
        params = await server_params.load(tx.conn)  # _check_launch_allowed
        if params["block_launch_during_restore"]:
            for node in await node_q.running(tx.conn):
                if node.get("restoring") and is_alive(node, engine.clock.now()):
                    raise Conflict("start", "restoring")
        definition = await proc_q.latest(tx.conn, name)
        if definition is None:
            raise NotFound("process", f"unknown process '{name}'")
        doc = definition["doc"]
        try:
            start_vars = values.initial(doc.get("variables") or {}, variables)
        except values.ValueProblem as exc:
            raise SwitchyardError("var", str(exc)) from exc
        new = {
            "process": definition["name"],
            "definition_id": definition["id"],
            "process_version": definition["version"],
            "lane": doc.get("lane") or "default",
            "status": QUEUED,
            "origin": "manual",
            "originator": engine.user,
            "queued_at": tx.now,
            "fire_at": tx.now,
            "updated_at": tx.now,
            "variables": values.to_json(start_vars),
            "command": [],
            "env": {},
            "current_state": doc["start"],
        }
        if not await lane_q.get(tx.conn, new["lane"]):
            raise SwitchyardError("lane", f"unknown lane '{new['lane']}'")
        limit = int((await server_params.load(tx.conn))["max_variables_bytes"])
        values.check_size(new["variables"], limit)
        instance_id = await inst_q.insert_one(tx.conn, new)
        assert instance_id is not None
        await var_q.replace(tx.conn, instance_id, new["variables"])
        tx.emit(ev.INSTANCES_CHANGED, instance_id, ids=[instance_id], status=QUEUED, lane="default")
    return instance_id


# ----------------------------------------------------------------------- the run
def row(n: int) -> dict[str, Any]:
    return {"who": f"person {n}", "amount": f"{n % 5000}.25"}


async def main(
    singles: int, batches: int, batch: int, rounds: int, postgres: bool = False
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="sy-starts-") as name,
        store_url(postgres, Path(name)) as url,
    ):
        tmp = Path(name)
        engine = await Engine.open(url, data_dir=tmp / "data")
        try:
            source = tmp / "pay.yaml"
            source.write_text(textwrap.dedent(DEFINITION).lstrip())
            await engine.publish([source])
            for n in range(20):  # warm-up: statement caches, pages
                await old_start(engine, "pay", row(n))
                await engine.start_process("pay", row(n))
            await engine.start_many("pay", [row(n) for n in range(batch)])
            spent = {"old single": 0.0, "single": 0.0, "batch": 0.0}
            done = {"old single": 0, "single": 0, "batch": 0}
            for _ in range(rounds):
                started = time.perf_counter()
                for n in range(singles):
                    await old_start(engine, "pay", row(n))
                spent["old single"] += time.perf_counter() - started
                done["old single"] += singles
                started = time.perf_counter()
                for n in range(singles):
                    await engine.start_process("pay", row(n))
                spent["single"] += time.perf_counter() - started
                done["single"] += singles
                started = time.perf_counter()
                for _ in range(batches):
                    await engine.start_many("pay", [row(n) for n in range(batch)])
                spent["batch"] += time.perf_counter() - started
                done["batch"] += batches * batch
        finally:
            await engine.close()
    rates = {label: done[label] / spent[label] for label in spent}
    old = rates["old single"]
    print(f"{'PostgreSQL' if postgres else 'SQLite'} store")
    print(f"{rounds} rounds; load average (1 min) at the end: {os.getloadavg()[0]:.1f}")
    print(f"{'path':12} {'starts':>8} {'seconds':>8} {'starts/s':>9} {'x old':>6}  goal")
    goals = {"single": ">= 4x old", "batch": ">= 2,000/s"}
    for label, rate in rates.items():
        print(
            f"{label:12} {done[label]:8,} {spent[label]:8.2f} {rate:9,.0f} {rate / old:6.2f}"
            f"  {goals.get(label, '')}"
        )
    return {
        "batch_starts_per_s": round(rates["batch"], 1),
        "single_starts_per_s": round(rates["single"], 1),
        "old_single_starts_per_s": round(old, 1),
        "ratio_single_to_old": round(rates["single"] / old, 3),
        "ratio_batch_to_old": round(rates["batch"] / old, 3),
        "store": "postgresql" if postgres else "sqlite",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer starts (< 1 min)")
    parser.add_argument("--batch", type=int, default=1000, help="rows per start_many call")
    parser.add_argument(
        "--postgres", action="store_true", help="on a throw-away PostgreSQL server (bench/pg.py)"
    )
    args = parser.parse_args()
    if args.quick:
        result = asyncio.run(main(200, 2, args.batch, 2, args.postgres))
    else:
        result = asyncio.run(main(500, 5, args.batch, 3, args.postgres))
    print(json.dumps(result))
