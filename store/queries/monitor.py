"""Monitor queries: instances matching a filter, newest update first, a page at a time;
and a bounded count for the ``max_monitored_flows`` cap.

Variable conditions are lookups in ``instance_vars`` (indexed by name and value),
never a scan of the JSON variables column. The first page of a (process, status)
filter walks the (process, status, updated_at) index backwards and stops at the page.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import Instance, InstanceVar, table_of

instances = table_of(Instance)
ivars = table_of(InstanceVar)

WAITING_KINDS = {
    "work item": "workitem:%",
    "timer": "timer%",
    "child": "child:%",
    "condition": "condition%",
}


COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass(frozen=True)
class VarTest:
    """``name op value``: op is one of = != > >= < <= contains exists."""

    name: str
    op: str
    value: str | float | None = None


def var_clause(test: VarTest) -> ColumnElement[bool]:
    """An equality is an ``IN`` on the (name, value) index (few ids, then sorted); other
    tests are correlated ``EXISTS`` lookups by (instance, name) on the rows the other
    parts of the filter find through the instances index."""
    match = [ivars.c.name == test.name]
    value = test.value
    if test.op == "exists":
        pass
    elif test.op == "contains":
        pattern = (
            "%" + str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        match.append(ivars.c.text.like(pattern, escape="\\"))
    else:  # numbers compare as numbers, anything else as text
        column = ivars.c.num if isinstance(value, float) else ivars.c.text
        match.append(COMPARE[test.op](column, value))
    if test.op == "=":  # usually selective: start from the (name, value) index
        return instances.c.id.in_(select(ivars.c.instance_id).where(and_(*match)))
    # ranges, contains, exists: usually broad; checked per instance found by the others
    match.append(ivars.c.instance_id == instances.c.id)
    return exists(select(ivars.c.instance_id).where(and_(*match)))


def where(
    *,
    processes: Sequence[str] | None = None,
    version: int | None = None,
    statuses: Sequence[str] | None = None,
    state: str | None = None,
    originator: str | None = None,
    node: str | None = None,
    lane: str | None = None,
    started_from: datetime | None = None,
    started_to: datetime | None = None,
    updated_from: datetime | None = None,
    updated_to: datetime | None = None,
    waiting_on: str | None = None,
    variables: Sequence[VarTest] = (),
    visible: ColumnElement[bool] | None = None,
) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = [instances.c.definition_id.is_not(None)]
    if processes:
        clauses.append(instances.c.process.in_(list(processes)))
    if version is not None:
        clauses.append(instances.c.process_version == version)
    if statuses:
        clauses.append(instances.c.status.in_(list(statuses)))
    if state:
        clauses.append(instances.c.current_state == state)
    if originator:
        clauses.append(instances.c.originator == originator)
    if node:
        clauses.append(instances.c.node_id == node)
    if lane:
        clauses.append(instances.c.lane == lane)
    if started_from is not None:
        clauses.append(instances.c.started_at >= started_from)
    if started_to is not None:
        clauses.append(instances.c.started_at < started_to)
    if updated_from is not None:
        clauses.append(instances.c.updated_at >= updated_from)
    if updated_to is not None:
        clauses.append(instances.c.updated_at < updated_to)
    if waiting_on:
        clauses.append(instances.c.status == "waiting")
        clauses.append(instances.c.waiting_on.like(WAITING_KINDS[waiting_on]))
    clauses.extend(var_clause(t) for t in variables)
    if visible is not None:
        clauses.append(visible)
    return and_(*clauses)


async def count_upto(conn: AsyncConnection, clause: ColumnElement[bool], cap: int) -> int:
    """How many match, counting no further than ``cap`` + 1 (cheap when it is too many)."""
    inner = select(instances.c.id).where(clause).limit(cap + 1).subquery()
    return int((await conn.execute(select(func.count()).select_from(inner))).scalar_one())


async def count(conn: AsyncConnection, clause: ColumnElement[bool]) -> int:
    stmt = select(func.count()).select_from(instances).where(clause)
    return int((await conn.execute(stmt)).scalar_one())


async def page(
    conn: AsyncConnection, clause: ColumnElement[bool], *, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    stmt = (
        select(instances)
        .where(clause)
        .order_by(instances.c.updated_at.desc(), instances.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def ids(conn: AsyncConnection, clause: ColumnElement[bool], limit: int) -> list[int]:
    stmt = select(instances.c.id).where(clause).order_by(instances.c.id).limit(limit)
    return [int(i) for i in (await conn.execute(stmt)).scalars()]
