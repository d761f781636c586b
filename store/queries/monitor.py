"""Monitor queries: instances matching a filter, newest update first, a page at a time;
and a bounded count for the ``max_monitored_flows`` cap.

Variable conditions are lookups in ``instance_vars`` (indexed by name and value),
never a scan of the JSON variables column. The first page of a (process, status)
filter walks the (process, status, updated_at) index backwards and stops at the page.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.store.models import Instance, InstanceVar, table_of

instances = table_of(Instance)
ivars = table_of(InstanceVar)

#: What a monitor row shows (engine/views.py ``instance_view`` and the monitor's row): a
#: page reads only these (not ``env``, the log path, the process group ...), its times and
#: JSON as the driver gives them, decoded by ``decode`` (cheaper than the column types'
#: processors: ``datetime.fromisoformat`` and one ``json.loads`` per value).
_SHOWN_NAMES = (
    "id", "schedule_name", "process", "lane", "status", "reason", "origin", "fire_at",
    "queued_at", "started_at", "ended_at", "exit_code", "node_id", "command",
    "current_state", "current_action", "definition_id", "process_version", "waiting_on",
    "originator", "updated_at", "variables",
)  # fmt: skip
_TIMES = ("fire_at", "queued_at", "started_at", "ended_at", "updated_at")
_JSON = ("command", "variables")
SHOWN_NAMES = _SHOWN_NAMES
SHOWN = tuple(
    type_coerce(instances.c[n], Text).label(n) if n in _TIMES + _JSON else instances.c[n]
    for n in _SHOWN_NAMES
)


def decode(row: dict[str, Any]) -> dict[str, Any]:
    """A row read with ``SHOWN``, its times aware UTC datetimes and its JSON decoded (as
    the column types would: store/models.py ``UTCDateTime``), in place."""
    for name in _TIMES:
        row[name] = time_of(row[name])
    for name in _JSON:
        row[name] = json_of(row[name])
    return row


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


def _keyset(after: tuple[Any, Any] | None, before: tuple[Any, Any] | None) -> Any:
    """Rows past a cursor (updated_at, id) in the page order, newest first: ``after`` the
    older ones, ``before`` the newer ones. Written as a range on ``updated_at`` (so the
    (process, status, updated_at) and (status, updated_at) indexes seek to the cursor
    instead of stepping over every row before it) refined by the id for equal times.
    A process instance always has ``updated_at`` (set when it is started)."""
    u = instances.c.updated_at
    if after is not None:
        at, key = after
        return and_(u <= at, or_(u < at, instances.c.id < key))
    if before is not None:
        at, key = before
        return and_(u >= at, or_(u > at, instances.c.id > key))
    return None


def _page_select(
    clause: ColumnElement[bool],
    *,
    limit: int,
    offset: int,
    after: tuple[datetime, int] | None,
    before: tuple[datetime, int] | None,
    extra: Sequence[Any],
    columns: Sequence[Any] | None,
) -> Any:
    keyset = _keyset(after, before)
    order = (
        (instances.c.updated_at.asc(), instances.c.id.asc())
        if before is not None
        else (instances.c.updated_at.desc(), instances.c.id.desc())
    )
    stmt = (
        select(*(instances.c if columns is None else columns), *extra)
        .where(clause if keyset is None else and_(clause, keyset))
        .order_by(*order)
        .limit(limit)
    )
    return stmt.offset(offset) if offset else stmt


async def page(
    conn: AsyncConnection,
    clause: ColumnElement[bool],
    *,
    limit: int = 100,
    offset: int = 0,
    after: tuple[datetime, int] | None = None,
    before: tuple[datetime, int] | None = None,
    extra: Sequence[Any] = (),
    columns: Sequence[Any] | None = None,
) -> list[dict[str, Any]]:
    """A page, newest update first: at ``offset``, or the ``limit`` rows past a cursor
    (``after``: older, ``before``: newer; at most one of them). ``extra``: scalar
    subqueries read in the same statement (one snapshot), as labelled columns of each row;
    ``columns``: which columns of ``instances`` (all of them by default; ``SHOWN``)."""
    stmt = _page_select(
        clause,
        limit=limit,
        offset=offset,
        after=after,
        before=before,
        extra=extra,
        columns=columns,
    )
    rows = [dict(r) for r in (await conn.execute(stmt)).mappings()]
    return rows if before is None else rows[::-1]


COUNTED = "_counted"  # the bounded count's column on a page's rows (see page_statement)
_AT, _KEY, _OFFSET = "cursor_at", "cursor_id", "page_offset"


def page_statement(
    clause: ColumnElement[bool],
    *,
    cap: int,
    limit: int,
    by_offset: bool = False,
    cursor: str | None = None,
    extra: Sequence[Any] = (),
    columns: Sequence[Any] = SHOWN,
    counted: bool = True,
) -> Select[Any]:
    """A page, built once and run with ``run_page`` for any offset (``by_offset``) or
    cursor (``cursor``: "after" or "before").

    ``counted``: with the cap check in the same statement: each row carries, as
    ``COUNTED``, how many match (no further than ``cap`` + 1, as ``count_upto``); no row,
    no count (the caller counts if it needs to). Else the page alone: a page from the top
    or at an offset is counted past its last row (``count_past_statement``), which tests
    only the candidates the page did not reach."""
    at = bindparam(_AT, type_=instances.c.updated_at.type)
    key = bindparam(_KEY, type_=Integer)
    bound = (at, key)
    keyset = _keyset(bound if cursor == "after" else None, bound if cursor == "before" else None)
    order = (
        (instances.c.updated_at.asc(), instances.c.id.asc())
        if cursor == "before"
        else (instances.c.updated_at.desc(), instances.c.id.desc())
    )
    inner = (
        select(*columns, *extra)
        .where(clause if keyset is None else and_(clause, keyset))
        .order_by(*order)
        .limit(limit)
    )
    if by_offset:
        inner = inner.offset(bindparam(_OFFSET, type_=Integer))
    if not counted:
        return inner
    bounded = select(instances.c.id).where(clause).limit(cap + 1).subquery("matches")
    how_many = select(func.count()).select_from(bounded).scalar_subquery()
    # no ORDER BY out here (a sort of the page in SQL): run_page puts the rows in order
    return select(inner.subquery("page"), how_many.label(COUNTED))


def count_past_statement(
    clause: ColumnElement[bool], *, cap: int, limit: int, extra: Sequence[Any] = ()
) -> Select[Any]:
    """How many match past a cursor (older than a full page's last row), counting no
    further than ``cap`` + 1 - ``limit``; run with ``run_page`` and that row's cursor. The
    rest of the cap check of a first (or offset) page read without its count: the page
    holds ``offset`` + ``limit`` matches up to its last row, so the total is that plus
    this; it tests only the candidates the page did not reach (a page of a variable
    condition stops about half way through the candidates; a count of all of them tests
    each again). ``extra``: scalar subqueries read in the same statement.

    Two counts, older than the row and as old with a lower id, each an index range
    (one count of ``_keyset`` would test its OR on every row: +35 % on 60,000 matches).
    Either one reaching the bound makes the sum reach it: over the cap all the same."""
    at = bindparam(_AT, type_=instances.c.updated_at.type)
    key = bindparam(_KEY, type_=Integer)
    u = instances.c.updated_at
    bound = max(cap + 1 - limit, 0)

    def counted(*past: ColumnElement[bool]) -> Any:
        rows = select(instances.c.id).where(and_(clause, *past)).limit(bound).subquery()
        return select(func.count()).select_from(rows).scalar_subquery()

    both = counted(u < at) + counted(u == at, instances.c.id < key)
    return select(both, *extra)


@dataclass(frozen=True)
class DriverPage:
    """A ``page_statement`` compiled once for a dialect, to run through the driver
    (``exec_driver_sql``: no statement compiling, caching or parameter processing per
    call; ~0.1 ms of a 100-row page): its SQL, its parameters in the driver's order, the
    values fixed in it (the filter's, processed as the column types would), and the
    processors of the ones given per call (offset, cursor)."""

    sql: str
    order: tuple[str, ...]  # parameter names in the SQL's order (positional styles)
    positional: bool
    fixed: dict[str, Any]
    processors: dict[str, Callable[[Any], Any]]

    def arguments(self, given: dict[str, Any]) -> Any:
        values = dict(self.fixed)
        for name, value in given.items():
            process = self.processors.get(name)
            values[name] = value if process is None or value is None else process(value)
        if self.positional:
            return tuple(values[n] for n in self.order)
        return values


def compile_page(stmt: Select[Any], dialect: Any) -> DriverPage:
    """``stmt`` (a ``page_statement``) as a DriverPage for ``dialect`` (the store's)."""
    compiled = stmt.compile(dialect=dialect)
    per_call = {n: v for n, v in {_OFFSET: 0, _AT: None, _KEY: 0}.items() if n in compiled.binds}
    state = compiled.construct_expanded_state(per_call)  # IN lists rendered as their items
    processors: dict[str, Callable[[Any], Any]] = dict(compiled._bind_processors)  # type: ignore[arg-type]
    fixed = {
        name: value if value is None or processors.get(name) is None else processors[name](value)
        for name, value in state.parameters.items()
        if name not in per_call
    }
    return DriverPage(
        sql=state.statement,
        order=tuple(state.positiontup or ()),
        positional=bool(compiled.positional),
        fixed=fixed,
        processors={n: p for n, p in processors.items() if n in per_call},
    )


async def run_page(
    conn: AsyncConnection,
    stmt: DriverPage,
    *,
    offset: int = 0,
    cursor: tuple[datetime, int] | None = None,
) -> tuple[list[str], list[Sequence[Any]]]:
    """Run a ``page_statement`` (as ``compile_page`` made it): its column names and its
    rows newest first (sorted here: cheaper than a second sort in SQL), as the driver
    gives them (``SHOWN``'s columns first, in order: see ``decode``, ``time_of``),
    whichever way the statement sought (a "before" page reads oldest first from the
    cursor)."""
    result = await _run(conn, stmt, offset, cursor)
    keys = list(result.keys())
    rows: list[Sequence[Any]] = list(result.all())
    at, key = keys.index("updated_at"), keys.index("id")
    # newest first; a process instance always has updated_at (None would sort last)
    rows.sort(key=lambda r: (r[at] is not None, r[at] or "", r[key]), reverse=True)
    return keys, rows


async def _run(
    conn: AsyncConnection, stmt: DriverPage, offset: int, cursor: tuple[datetime, int] | None
) -> Any:
    given: dict[str, Any] = {_OFFSET: offset, _AT: None, _KEY: 0}
    if cursor is not None:
        given[_AT], given[_KEY] = cursor
    return await conn.exec_driver_sql(stmt.sql, stmt.arguments(given))


async def run_count(
    conn: AsyncConnection, stmt: DriverPage, cursor: tuple[datetime, int]
) -> Sequence[Any]:
    """Run a ``count_past_statement`` (as ``compile_page`` made it) past ``cursor``: its
    one row (the count, then the ``extra`` columns)."""
    row: Sequence[Any] = (await _run(conn, stmt, 0, cursor)).one()
    return row


def time_of(value: Any) -> datetime | None:
    """A ``SHOWN`` time as the column type gives it: an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite: naive UTC text
        return datetime.fromisoformat(value + "+00:00")
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC)


def json_of(value: Any) -> Any:
    """A ``SHOWN`` JSON value, decoded (an empty list or object without the parser)."""
    if isinstance(value, str | bytes):
        return [] if value == "[]" else {} if value == "{}" else json.loads(value)
    return value


async def ids(conn: AsyncConnection, clause: ColumnElement[bool], limit: int) -> list[int]:
    stmt = select(instances.c.id).where(clause).order_by(instances.c.id).limit(limit)
    return [int(i) for i in (await conn.execute(stmt)).scalars()]
