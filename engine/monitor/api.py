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

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.errors import NotFound, SwitchyardError, check_page
from switchyard.engine.instances.waiting import shown_waiting
from switchyard.engine.kernel import eventlog
from switchyard.engine.kernel.eventlog import FILTER_CANCELLED
from switchyard.engine.monitor.filters import MonitorFilter
from switchyard.engine.people.guard import Guard
from switchyard.engine.people.masking import Masker, in_spec, secured_variables
from switchyard.engine.people.rules import anyone, licence, rule
from switchyard.engine.views import InstanceView, instance_view
from switchyard.store.queries import monitor as mon_q
from switchyard.store.queries import people as people_q
from switchyard.store.queries import processes as proc_q
from switchyard.store.queries import saved_filters as saved_q


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
class MonitorRow:
    instance: InstanceView
    version: int | None
    state: str | None
    waiting_on: str | None
    originator: str | None
    updated_at: datetime | None
    variables: dict[str, Any]  # masked for the caller

    def to_json(self) -> dict[str, Any]:
        from switchyard.engine.views import to_json

        return {
            **to_json(self.instance),
            "version": self.version,
            "state": self.state,
            "waiting_on": self.waiting_on,
            "originator": self.originator,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "variables": self.variables,
        }


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

    async def _check_conditions(self, conn: AsyncConnection, flt: MonitorFilter) -> None:
        """A condition on a variable the caller may not see would let them probe its
        value: refused, naming the variable and its security spec."""
        tests = flt.tests()
        if not tests:
            return
        me = await self._me()
        for name, secured in (await self._secured_by_process(conn)).items():
            if flt.processes and name not in flt.processes:
                continue
            for test in tests:
                for spec_name in sorted(secured.get(test.name, ())):
                    spec = (await people_q.get_secspecs(conn, [spec_name])).get(spec_name)
                    if not in_spec(me, spec):
                        await self._refuse(
                            "view",
                            f"{me.login} may not filter on {test.name}: it is secured by "
                            f"{spec_name} in {name}",
                            operation="monitor",
                            target=name,
                        )

    async def _secured_by_process(self, conn: AsyncConnection) -> dict[str, dict[str, set[str]]]:
        """Process -> its secured variables -> their specs, over every version (an older
        version's instances keep the values its spec secured), cached until a definition is
        published (the newest definition id changes)."""
        newest = await proc_q.newest_id(conn)
        cached = getattr(self, "_secured_cache", None)
        if cached is None or cached[0] != newest:
            found: dict[str, dict[str, set[str]]] = {}
            for name, doc in await proc_q.all_docs(conn):
                for var, spec in secured_variables(doc).items():
                    found.setdefault(name, {}).setdefault(var, set()).add(spec)
            cached = (newest, found)
            self._secured_cache = cached
        return cached[1]

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

    @rule(licence("monitor", "use the monitor"))  # rows filtered to what the caller may view
    async def monitor(
        self, flt: MonitorFilter, *, limit: int = 100, offset: int = 0
    ) -> MonitorPage:
        """A page of the process instances matching ``flt`` that the caller may view,
        most recently updated first. Raises FilterTooBroad over the cap."""
        check_page(limit, offset)
        if flt.empty:
            raise SwitchyardError(
                "filter", "set a filter first: the monitor shows nothing until then"
            )
        async with self.store.read() as conn:
            await self._check_conditions(conn, flt)
            clause = self._monitor_where(flt, await self._visible(conn))
            cap = await self._cap(conn)
            raw = await mon_q.page(conn, clause, limit=limit, offset=offset)
            if offset == 0 and len(raw) < limit:
                total = len(raw)  # all of them are on this page: nothing to count
            else:
                total = await mon_q.count_upto(conn, clause, cap)
                if total > cap:
                    total = await mon_q.count(conn, clause)
            rows = await self._rows(conn, raw) if total <= cap else []
        if total > cap:
            await self._filter_cancelled(flt, total, cap)
            raise FilterTooBroad(total, cap)
        return MonitorPage(rows, total, cap, flt)

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

    async def _rows(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[MonitorRow]:
        """Rows as the caller may see them: hidden variables ****. Which are hidden depends
        on the definition (immutable once published: cached) and the caller's specs."""
        me = await self._me()
        secured = {}
        for key in {r["definition_id"] for r in rows if r.get("definition_id")}:
            secured[key] = await self._definition_secured(conn, int(key))
        names = sorted({spec for s in secured.values() for spec in s.values()})
        specs = await people_q.get_secspecs(conn, names) if names else {}
        hidden = {
            key: frozenset(v for v, spec in found.items() if not in_spec(me, specs.get(spec)))
            for key, found in secured.items()
        }
        out = []
        for row in rows:
            stored = row.get("variables") or {}
            masker = Masker.hiding(hidden.get(row.get("definition_id"), frozenset()), stored)
            out.append(
                MonitorRow(
                    instance=masker.view(instance_view(row)),
                    version=row.get("process_version"),
                    state=row.get("current_state"),
                    waiting_on=shown_waiting(row["status"], row.get("waiting_on")),
                    originator=row.get("originator"),
                    updated_at=row.get("updated_at"),
                    variables=masker.variables(
                        {k: v for k, v in stored.items() if not k.startswith("__")}
                    ),
                )
            )
        return out

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
