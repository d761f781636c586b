"""The process monitor: instances matching a filter, a page at a time, only those the
caller may view, secured variables masked; the ``max_monitored_flows`` cap; saved
filters. Mixed into ``Engine`` (rules in engine/people/rules.py).

The monitor shows nothing until a filter is set: it scales because people filter. A
filter matching more than ``max_monitored_flows`` instances is cancelled with a message
saying how many it matched and what the limit is, and an event-log entry.

Variable conditions read the indexed copy of variables (``instance_vars``), written at
an instance's rest points: when it is started, waits, ends or is retried. A running
instance is seen with the values of its last rest point.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.errors import NotFound, SwitchyardError, check_page
from switchyard.engine.kernel import eventlog
from switchyard.engine.kernel.eventlog import FILTER_CANCELLED
from switchyard.engine.monitor.context import MonitorContext, MonitorCursor
from switchyard.engine.monitor.filters import MonitorFilter
from switchyard.engine.monitor.rows import MonitorRow as MonitorRow  # (re-exported)
from switchyard.engine.monitor.rows import page_rows
from switchyard.engine.people.guard import Guard
from switchyard.engine.people.masking import in_spec, secured_variables
from switchyard.engine.people.rules import (
    ON_CACHED_IDENTITY,
    StaleIdentity,
    anyone,
    licence,
    rule,
)
from switchyard.store.queries import monitor as mon_q
from switchyard.store.queries import params as params_q
from switchyard.store.queries import people as people_q
from switchyard.store.queries import processes as proc_q
from switchyard.store.queries import saved_filters as saved_q

_TOKEN = "_changes"  # the change token's column on a page's rows
_STATEMENTS = 64  # page statements kept per context (filters x page kinds)
_NO_TOKEN = object()  # the identity in use is not the cached one: nothing is cached


class FilterTooBroad(SwitchyardError):
    """More instances match than ``max_monitored_flows``; nothing is returned."""

    def __init__(self, matched: int, limit: int) -> None:
        super().__init__(
            "filter",
            f"filter matches {matched} instances; the limit is {limit} — narrow your filter",
        )
        self.matched = matched
        self.limit = limit

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class MonitorPage:
    rows: list[MonitorRow]
    total: int
    limit: int  # max_monitored_flows when it was counted
    filter: MonitorFilter = field(default_factory=MonitorFilter)


class MonitorApi(Guard):
    async def _cap(self, conn: AsyncConnection) -> int:
        from switchyard.engine.ops import params

        return int((await params.load(conn)).get("max_monitored_flows", 5000))

    async def _context(self, conn: AsyncConnection) -> MonitorContext:
        """The caller's monitor context, cached under the change token read with their
        identity (``_cached_identity``); read afresh (three statements) when it moved."""
        me = await self._me()
        snapshot = self._cached_identity()
        token = snapshot[0] if snapshot is not None and snapshot[1] == me else _NO_TOKEN
        cached: MonitorContext | None = self.__dict__.get("_monitor_context")
        if cached is not None and cached.fits(token, me):
            return cached
        visible, seen = await self._visibility(conn)
        context = MonitorContext(
            token=token,
            me=me,
            visible=visible,
            seen=seen,
            cap=await self._cap(conn),
            specs={s["name"]: s for s in await people_q.list_secspecs(conn)},
        )
        if token is not _NO_TOKEN:
            self._monitor_context = context
        return context

    async def _current(self, conn: AsyncConnection, context: MonitorContext) -> None:
        """On the cached identity: raise StaleIdentity unless the token is still the one
        ``context`` was read under (before acting on it: refusing, cancelling)."""
        if ON_CACHED_IDENTITY.get() and await params_q.changes(conn) != context.token:
            raise StaleIdentity()

    async def _check_conditions(
        self, conn: AsyncConnection, flt: MonitorFilter, context: MonitorContext
    ) -> None:
        """A condition on a variable the caller may not see would let them probe its
        value: refused, naming the variable and its security spec."""
        tests = flt.tests()
        if not tests:
            return
        me = context.me
        for name, secured in (await self._secured_by_process(conn, context)).items():
            if flt.processes and name not in flt.processes:
                continue
            for test in tests:
                for spec_name in sorted(secured.get(test.name, ())):
                    if not in_spec(me, context.specs.get(spec_name)):
                        await self._current(conn, context)
                        await self._refuse(
                            "view",
                            f"{me.login} may not filter on {test.name}: it is secured by "
                            f"{spec_name} in {name}",
                            operation="monitor",
                            target=name,
                        )

    async def _secured_by_process(
        self, conn: AsyncConnection, context: MonitorContext
    ) -> dict[str, dict[str, set[str]]]:
        """Process -> its secured variables -> their specs, over every version (an older
        version's instances keep the values its spec secured), kept in the context (a
        definition published replaces the change token)."""
        if context.secured is None:
            found: dict[str, dict[str, set[str]]] = {}
            for name, doc in await proc_q.all_docs(conn):
                for var, spec in secured_variables(doc).items():
                    found.setdefault(name, {}).setdefault(var, set()).add(spec)
            context.secured = found
        return context.secured

    def _monitor_where(self, flt: MonitorFilter, visible: Any) -> Any:
        return mon_q.where(
            processes=flt.processes,
            version=flt.version,
            statuses=flt.statuses,
            state=flt.state,
            originator=flt.originator,
            node=flt.node,
            lane=flt.lane,
            started_from=flt.started_from,
            started_to=flt.started_to,
            updated_from=flt.updated_from,
            updated_to=flt.updated_to,
            waiting_on=flt.waiting_on,
            variables=flt.tests(),
            visible=visible,
        )

    def _where_for(self, flt: MonitorFilter, context: MonitorContext) -> Any:
        return self._monitor_where(flt, context.visible_for(flt.processes))

    def _statement(
        self,
        conn: AsyncConnection,
        context: MonitorContext,
        key: tuple[Any, ...],
        build: Callable[[], Select[Any]],
    ) -> mon_q.DriverPage:
        """A statement of this context, built and compiled once (the filter and the
        caller's rights are in it; the offset and cursor are parameters)."""
        stmt = context.statements.get(key)
        if stmt is None:
            if len(context.statements) >= _STATEMENTS:
                context.statements.clear()
            stmt = context.statements[key] = mon_q.compile_page(build(), conn.dialect)
        return stmt

    def _page_statement(
        self,
        conn: AsyncConnection,
        flt: MonitorFilter,
        context: MonitorContext,
        limit: int,
        by_offset: bool,
        cursor: str | None,
    ) -> mon_q.DriverPage:
        """A page from the top or at an offset is read alone (counted past it: see
        ``_counted_past``), a page past a cursor with its count in the same statement
        (the rows before the cursor are not known)."""
        return self._statement(
            conn,
            context,
            # a dataclass: equal filters, equal repr
            ("page", repr(flt), limit, by_offset, cursor),
            lambda: mon_q.page_statement(
                self._where_for(flt, context),
                cap=context.cap,
                limit=limit,
                by_offset=by_offset,
                cursor=cursor,
                extra=[params_q.changes_token().label(_TOKEN)],
                counted=cursor is not None,
            ),
        )

    async def _counted_past(
        self,
        conn: AsyncConnection,
        flt: MonitorFilter,
        context: MonitorContext,
        limit: int,
        last: tuple[datetime, int],
    ) -> int:
        """How many match past ``last`` (a full page's last row), up to the cap; on the
        page's connection, so in the page's snapshot (``store.read(snapshot=True)``).
        Its change token is checked as the page's is (the same, in one snapshot)."""
        stmt = self._statement(
            conn,
            context,
            ("past", repr(flt), limit),
            lambda: mon_q.count_past_statement(
                self._where_for(flt, context),
                cap=context.cap,
                limit=limit,
                extra=[params_q.changes_token()],
            ),
        )
        counted, token = await mon_q.run_count(conn, stmt, last)
        self._check_token(token, context)
        return int(counted)

    def _check_token(self, token: object, context: MonitorContext) -> None:
        """A statement read the change token ``token``: if it moved since ``context`` was
        read, the guard reruns the call on a fresh identity (on the cached one), or the
        context is dropped for the next call (it changed during this call)."""
        if token != context.token:
            if ON_CACHED_IDENTITY.get():
                raise StaleIdentity()  # the guard reads the identity again, then reruns
            self.__dict__.pop("_monitor_context", None)

    @rule(licence("monitor", "use the monitor"), revalidates=True)  # rows: what the caller may view
    async def monitor(
        self,
        flt: MonitorFilter,
        *,
        limit: int = 100,
        offset: int = 0,
        after: MonitorCursor | None = None,
        before: MonitorCursor | None = None,
    ) -> MonitorPage:
        """A page of the process instances matching ``flt`` that the caller may view,
        most recently updated first: at ``offset``, or past a row's cursor (``after``: the
        next page, ``before``: the previous one; keyset paging, as fast deep as on top).
        Raises FilterTooBroad over the cap."""
        check_page(limit, offset)
        if (after is not None) + (before is not None) + bool(offset) > 1:
            raise SwitchyardError("offset", "give one of offset, after and before")
        if flt.empty:
            raise SwitchyardError(
                "filter", "set a filter first: the monitor shows nothing until then"
            )
        async with self.store.read(snapshot=True) as conn:  # the page and its count agree
            context = await self._context(conn)
            await self._check_conditions(conn, flt, context)
            cap = context.cap
            cursor = after or before
            kind = "after" if after is not None else "before" if before is not None else None
            stmt = self._page_statement(conn, flt, context, limit, bool(offset), kind)
            keys, raw = await mon_q.run_page(
                conn,
                stmt,
                offset=offset,
                cursor=cursor.key() if cursor else None,
            )
            at = {k: i for i, k in enumerate(keys)}
            self._check_token(raw[0][at[_TOKEN]] if raw else await params_q.changes(conn), context)
            if cursor is not None and raw:
                total = int(raw[0][at[mon_q.COUNTED]])
            elif cursor is None and len(raw) == limit and (last_at := self._last_at(raw, at)):
                past = await self._counted_past(  # matches up to its last row, and past it
                    conn, flt, context, limit, (last_at, int(raw[-1][at["id"]]))
                )
                total = offset + limit + past
            elif cursor is None and len(raw) < limit and (raw or offset == 0):
                total = offset + len(raw)  # a short page: every match is up to it
            else:  # past the end (how many there are now), or a full page ending on a row
                # without updated_at (every write sets it; a hand-made row): count them all
                total = await mon_q.count_upto(conn, self._where_for(flt, context), cap)
            if total > cap:  # for the message: how many it matched
                total = await mon_q.count(conn, self._where_for(flt, context))
            rows = await self._rows(conn, keys, raw, context) if total <= cap else []
        if total > cap:
            await self._filter_cancelled(flt, total, cap)
            raise FilterTooBroad(total, cap)
        return MonitorPage(rows, total, cap, flt)

    @staticmethod
    def _last_at(raw: Sequence[Sequence[Any]], at: dict[str, int]) -> datetime | None:
        """The page's last (oldest) row's updated_at, where the count past it starts."""
        return mon_q.time_of(raw[-1][at["updated_at"]])

    @rule(licence("monitor", "use the monitor"))
    async def monitor_ids(self, flt: MonitorFilter) -> list[int]:
        """Every instance id the filter matches (for bulk retry/cancel): under the cap."""
        page = await self.monitor(flt, limit=1)
        async with self.store.read() as conn:
            clause = self._monitor_where(flt, await self._visible(conn))
            return await mon_q.ids(conn, clause, page.limit)

    async def _filter_cancelled(self, flt: MonitorFilter, matched: int, cap: int) -> None:
        message = f"filter cancelled: {flt.describe()} matches {matched}; the limit is {cap}"
        async with self.tx() as tx:
            await eventlog.record(
                tx, FILTER_CANCELLED, message, login=self.user, matched=matched, limit=cap
            )

    async def _rows(
        self,
        conn: AsyncConnection,
        keys: list[str],
        raw: list[Sequence[Any]],
        context: MonitorContext,
    ) -> list[MonitorRow]:
        """Rows as the caller may see them: hidden variables ****. Which are hidden depends
        on the definition (immutable once published: cached) and the caller's specs (in the
        context)."""
        hidden = context.hidden
        for key in {r[16] for r in raw if r[16] is not None}:  # definition_id
            if key not in hidden:
                found = await self._definition_secured(conn, int(key))
                hidden[key] = frozenset(
                    v
                    for v, spec in found.items()
                    if not in_spec(context.me, context.specs.get(spec))
                )
        return page_rows(keys, raw, hidden)

    async def _definition_secured(
        self, conn: AsyncConnection, definition_id: int
    ) -> dict[str, str]:
        cache: dict[int, dict[str, str]] = self.__dict__.setdefault("_secured_by_id", {})
        if definition_id not in cache:
            definition = await proc_q.get_by_id(conn, definition_id)
            cache[definition_id] = secured_variables((definition or {}).get("doc"))
        return cache[definition_id]

    # ---------------------------------------------------------- saved filters
    @rule(licence("monitor", "save monitor filters"))
    async def save_filter(self, name: str, flt: MonitorFilter) -> None:
        """Save (or replace) a filter under ``name`` for the caller."""
        if not name.strip() or len(name) > 100:
            raise SwitchyardError("name", "a filter name is 1 to 100 characters")
        async with self.tx() as tx:
            await saved_q.save(tx.conn, self.user, name.strip(), flt.to_dict(), tx.now)

    @rule(anyone)
    async def saved_filters(self) -> dict[str, MonitorFilter]:
        async with self.store.read() as conn:
            rows = await saved_q.list_for(conn, self.user)
        return {r["name"]: MonitorFilter.from_dict(r["filter"]) for r in rows}

    @rule(anyone)
    async def delete_filter(self, name: str) -> None:
        async with self.tx() as tx:
            if not await saved_q.delete_one(tx.conn, self.user, name):
                raise NotFound("filter", f"no saved filter '{name}'")
