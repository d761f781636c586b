"""``sql``: run one statement on a named connection, with bound parameters only.

Normalised args (from ``definitions``)::

    {"connection": name, "query": str, "params": {name: value}, "into": var | None,
     "one": bool}

Decisions:

- The query text is NOT a template: values only ever travel as bound parameters
  (``:name`` in the query, ``params`` rendered against the scope), so a variable can never
  change the statement.
- The statement runs in its own transaction (committed on success, rolled back on error).
- Rows become a list of dicts. Values are made JSON-friendly: datetime/date/time -> ISO
  string, timedelta -> seconds, Decimal -> int or float when exact (else str), UUID -> str,
  bytes -> UTF-8 text or base64. ``one: true`` stores the first row (or None).
  A statement without rows (INSERT/UPDATE/DDL) stores its rowcount.
- One ``AsyncEngine`` per URL (and event loop) is cached; ``dispose_all()`` closes them
  at shutdown.
- Errors carry the driver's message, never the SQL parameters. Connection-level problems
  (and timeouts) are retryable; errors in the statement itself are not.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import time
import uuid
import weakref
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from switchyard.engine.actions.base import (
    ActionContext,
    ActionFailed,
    Done,
    RanToItsEnd,
    log_done,
)
from switchyard.engine.people.masking import TextMasker as Masker

# Pools hold connections bound to one event loop, so engines are cached per loop.
_engines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AsyncEngine]] = (
    weakref.WeakKeyDictionary()
)

CANCEL_GRACE = 2.0  # seconds to wait for a timed-out statement to stop

# Driver messages (OperationalError) that mean the statement is wrong, not the connection.
_STATEMENT_PROBLEMS = (
    "syntax error",
    "no such table",
    "no such column",
    "does not exist",
    "already exists",
    "incomplete input",
    "unrecognized token",
    "datatype mismatch",
    "constraint failed",
    "readonly database",
)


def engine_for(url: str) -> AsyncEngine:
    """The cached engine for ``url`` on the running loop (created on first use)."""
    per_loop = _engines.setdefault(asyncio.get_running_loop(), {})
    engine = per_loop.get(url)
    if engine is None:
        engine = create_async_engine(url, pool_pre_ping=True)
        per_loop[url] = engine
    return engine


async def dispose_all() -> None:
    """Close every cached engine of the running loop (and forget those of dead loops)."""
    loop = asyncio.get_running_loop()
    mine = _engines.pop(loop, {})
    for other in list(_engines):
        if other.is_closed():
            _engines.pop(other, None)
    for engine in mine.values():
        await engine.dispose()


def jsonable(value: Any) -> Any:
    """A column value as something the variable store can keep as JSON."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")


def _driver_message(exc: sa_exc.SQLAlchemyError, query: str = "") -> str:
    """The driver's own message: SQLAlchemy's text adds ``[SQL: ...] [parameters: ...]``.

    Drivers quote the values they were given ("invalid input for query argument $1:
    'ATTACK…'", PostgreSQL's ``DETAIL: Key (iban)=(…)``), and a parameter may be a secured
    value or a part of one the masker cannot know: the DETAIL is dropped and a quoted part
    the query does not hold is cut (names of columns, tables, constraints stay)."""
    orig = getattr(exc, "orig", None)
    message = str(orig) if orig is not None else (str(exc.args[0]) if exc.args else "")
    message = re.split(r"\n\[SQL:|\nDETAIL:", message)[0].strip()
    message = _QUOTED.sub(lambda m: m.group(0) if m.group(0)[1:-1] in query else "…", message)
    return message.strip() or type(orig or exc).__name__


def _retryable(exc: sa_exc.SQLAlchemyError, message: str) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        lowered = message.lower()
        return not any(problem in lowered for problem in _STATEMENT_PROBLEMS)
    return False


def _verb(query: str) -> str:
    words = query.split(None, 1)
    return words[0].upper() if words else "?"


class SqlAction:
    kind: ClassVar[str] = "sql"
    side_effects: ClassVar[bool] = True

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Done:
        name = str(args.get("connection") or "")
        url = ctx.connections.get(name)
        if not url:
            raise ActionFailed(f"unknown SQL connection '{name}'", retryable=False)
        query = str(args.get("query") or "")
        if not query.strip():
            raise ActionFailed("sql: empty query", retryable=False)
        params = {str(k): ctx.render(v) for k, v in (args.get("params") or {}).items()}
        into = args.get("into")
        one = bool(args.get("one", False))
        timeout = ctx.effective_timeout()
        masker = Masker(ctx.secrets.values())
        shown = f"sql {name}: {_verb(query)}"

        started = time.monotonic()
        try:
            result, note = await self._run(url, query, params, one, timeout)
        except ActionFailed as exc:
            await ctx.log([masker.mask(f"{shown} -> failed")])
            message = masker.mask(f"SQL on '{name}' failed: {exc.message}")
            raise ActionFailed(message, retryable=exc.retryable) from exc.__cause__
        except _Finished as finished:  # stopped just as the statement had committed
            result, note = finished.outcome
            raise RanToItsEnd(Done(updates={into: result} if into else {}, note=note)) from None
        elapsed = time.monotonic() - started
        done = Done(updates={into: result} if into else {}, note=note)
        return await log_done(ctx, [masker.mask(f"{shown} -> {note} in {elapsed:.3f}s")], done)

    @staticmethod
    async def _run(
        url: str, query: str, params: dict[str, Any], one: bool, budget: float | None
    ) -> tuple[Any, str]:
        try:
            engine = engine_for(url)
        except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError, ValueError) as exc:
            raise ActionFailed(f"bad connection URL: {exc}", retryable=False) from exc
        # The statement runs in its own task so that a timeout does not wait for the rollback
        # of a query still running in the driver: the driver is interrupted where it can be
        # (SQLite), the task cancelled (asyncpg cancels server-side) and left behind after
        # CANCEL_GRACE seconds at most.
        conns: list[AsyncConnection] = []
        task = asyncio.create_task(_statement(engine, query, params, one, conns))
        try:
            finished, _ = await asyncio.wait({task}, timeout=budget)
        except asyncio.CancelledError:
            if task.done() and not task.cancelled() and task.exception() is None:
                raise _Finished(task.result()) from None
            await _abandon(task, conns)
            raise
        if task in finished:
            return task.result()
        await _abandon(task, conns)
        limit = "" if budget is None else f" after {budget:g}s"
        raise ActionFailed(f"timed out{limit}")


async def _statement(
    engine: AsyncEngine, query: str, params: dict[str, Any], one: bool, conns: list[AsyncConnection]
) -> tuple[Any, str]:
    try:
        async with engine.begin() as conn:
            conns.append(conn)
            result = await conn.execute(text(query), params)
            if not result.returns_rows:
                count = result.rowcount
                return count, f"{count} row(s) affected"
            keys = list(result.keys())
            if one:
                row = result.first()
                if row is None:
                    return None, "no row"
                return {k: jsonable(v) for k, v in zip(keys, row, strict=True)}, "1 row"
            rows = [
                {k: jsonable(v) for k, v in zip(keys, r, strict=True)} for r in result.fetchall()
            ]
            return rows, f"{len(rows)} row(s)"
    except sa_exc.SQLAlchemyError as exc:
        message = _driver_message(exc, query)
        raise ActionFailed(message, retryable=_retryable(exc, message)) from exc
    except OSError as exc:
        raise ActionFailed(str(exc) or type(exc).__name__) from exc


class _Finished(asyncio.CancelledError):
    """``_run`` stopped after its statement had run (and committed): its outcome."""

    def __init__(self, outcome: tuple[Any, str]) -> None:
        super().__init__("stopped after the statement had run")
        self.outcome = outcome


async def _abandon(task: asyncio.Task[Any], conns: list[AsyncConnection]) -> None:
    for conn in conns:
        with contextlib.suppress(Exception):
            driver = (await conn.get_raw_connection()).driver_connection
            interrupt = getattr(driver, "interrupt", None)  # aiosqlite
            if interrupt is not None:
                await interrupt()
    task.cancel()
    await asyncio.wait({task}, timeout=CANCEL_GRACE)
    # Retrieve the outcome (now or when it finally ends) so it is never reported as lost.
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
