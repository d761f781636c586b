"""Starting process instances: one (``ProcessApi.start_process``) or a batch
(``ProcessApi.start_many``), in as few statements as the checks allow.

A start reads, in its one write transaction: the server parameters (once: the launch
block during a restore and the variables size limit), the definition together with its
lane (one statement: the lane named by the caller, else the definition's, else
``default``, joined), then writes the instance rows (one multi-row ``INSERT ...
RETURNING``), their indexed variables (one ``executemany``; a new instance has none to
delete) and the event rows. A batch validates every row against the one definition
before writing anything: the first bad row refuses the whole batch, naming the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.definitions import values
from switchyard.engine.errors import Conflict, NotFound, SwitchyardError
from switchyard.engine.kernel.nodes import is_alive
from switchyard.store.models import QUEUED, Instance, Lane, ProcessDefinition, table_of
from switchyard.store.queries import instance_vars as var_q
from switchyard.store.queries import lanes as lane_q
from switchyard.store.queries import nodes as node_q

instances = table_of(Instance)
definitions = table_of(ProcessDefinition)
lanes = table_of(Lane)
INSERT_RETURNING_ID = insert(instances).returning(instances.c.id)


class RowRefused(SwitchyardError):
    """A row of a batch start is refused; nothing of the batch was written. ``index`` is
    the row's 0-based position in the list given, ``problem`` what is wrong with it."""

    def __init__(self, index: int, problem: str) -> None:
        super().__init__(f"row {index + 1}", problem)
        self.index = index
        self.problem = problem


async def check_launch_allowed(
    conn: AsyncConnection, params: dict[str, Any], now: datetime
) -> None:
    """Conflict while a node restores instances and ``block_launch_during_restore`` is on."""
    if not params["block_launch_during_restore"]:
        return
    for node in await node_q.running(conn):
        if node.get("restoring") and is_alive(node, now):
            raise Conflict(
                "start",
                f"node {node['id']} is restoring instances after a restart; new starts "
                "are blocked until it finishes (block_launch_during_restore); try again",
            )


async def definition_and_lane(
    conn: AsyncConnection, name: str, version: int | None, lane: str | None
) -> tuple[dict[str, Any], str]:
    """The definition to start (latest, or ``version``) and the lane its instances go to,
    in one statement; NotFound for an unknown process, SwitchyardError for an unknown lane."""
    wanted = func.coalesce(literal(lane or None), definitions.c.doc["lane"].as_string(), "default")
    stmt = (
        select(definitions, lanes.c.name.label("_lane_found"))
        .select_from(definitions.outerjoin(lanes, lanes.c.name == wanted))
        .where(definitions.c.name == name)
    )
    if version is None:
        stmt = stmt.order_by(definitions.c.version.desc()).limit(1)
    else:
        stmt = stmt.where(definitions.c.version == version)
    found = (await conn.execute(stmt)).mappings().first()
    if found is None:
        what = f"process '{name}'" + (f" version {version}" if version is not None else "")
        raise NotFound("process", f"unknown {what} (publish it: switchyard process publish)")
    row = dict(found)
    hit = row.pop("_lane_found")
    target = lane or row["doc"].get("lane") or "default"
    if hit != target and not await lane_q.get(conn, target):  # the SQL's lane is the rule's
        raise SwitchyardError("lane", f"unknown lane '{target}'")
    return row, target


def instance_row(
    definition: dict[str, Any],
    given: dict[str, Any],
    *,
    lane: str,
    now: datetime,
    origin: str,
    originator: str | None,
    where: str = "var",
) -> dict[str, Any]:
    """The ``instances`` row of a new, queued instance of ``definition`` (ValueProblem for
    variables that do not fit the definition, each named)."""
    doc = definition["doc"]
    start_vars = values.initial(doc.get("variables") or {}, given, where=where)
    return {
        "process": definition["name"],
        "definition_id": definition["id"],
        "process_version": definition["version"],
        "lane": lane,
        "status": QUEUED,
        "origin": origin,
        "originator": originator,
        "queued_at": now,
        "fire_at": now,
        "updated_at": now,
        "variables": values.to_json(start_vars),
        "command": [],
        "env": {},
        "current_state": doc["start"],
    }


def check_size(doc: dict[str, Any], limit: int, field: str = "var") -> None:
    """SwitchyardError (nothing written) when ``doc`` is over max_variables_bytes."""
    try:
        values.check_size(doc, limit)
    except values.TooLarge:
        raise SwitchyardError(
            field, f"the variables are over the max_variables_bytes limit of {limit:,} bytes"
        ) from None


def batch_rows(
    definition: dict[str, Any],
    given: Sequence[dict[str, Any]],
    *,
    lane: str,
    now: datetime,
    origin: str,
    originator: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Every row of a batch, checked against the one definition; RowRefused for the first
    row that does not fit (its variables, their size, or not an object at all)."""
    rows: list[dict[str, Any]] = []
    for index, variables in enumerate(given):
        if not isinstance(variables, dict):
            raise RowRefused(
                index, f"expected an object of variables, got {type(variables).__name__}"
            )
        try:
            row = instance_row(
                definition,
                variables,
                lane=lane,
                now=now,
                origin=origin,
                originator=originator,
                where="",
            )
            values.check_size(row["variables"], limit)
        except values.ValueProblem as exc:
            raise RowRefused(index, str(exc)) from None
        except values.TooLarge:
            raise RowRefused(
                index, f"the variables are over the max_variables_bytes limit of {limit:,} bytes"
            ) from None
        rows.append(row)
    return rows


async def insert_instances(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert new instance rows and their indexed variables; their ids, in order."""
    stmt = INSERT_RETURNING_ID
    if len(rows) == 1:
        ids = [int((await conn.execute(stmt, rows[0])).scalar_one())]
    else:
        # SQLAlchemy's "insertmanyvalues": the statement compiled once, sent as multi-row
        # INSERT ... VALUES (...), (...) RETURNING id in pages, in the rows' order. Each
        # page numbers its rows in VALUES order on both backends (SQLite's rowid,
        # PostgreSQL's serial) and a later page gets higher ids; RETURNING's own order is
        # not promised, so the ids are sorted.
        ids = sorted(int(i) for i in (await conn.execute(stmt, rows)).scalars())
    await var_q.add_new(conn, [(i, row["variables"]) for i, row in zip(ids, rows, strict=True)])
    return ids
