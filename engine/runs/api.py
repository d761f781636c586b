"""Lanes and instances, as the facade offers them (mixed into ``Engine``): add a lane or
change its concurrency (running nodes apply it at their next claim), start a command
schedule now, list and page instances and the queue (only what the caller may view),
read or follow a run's log (masked)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from switchyard.engine import views
from switchyard.engine.errors import Conflict, NotFound, SwitchyardError, check_page
from switchyard.engine.kernel import events as ev
from switchyard.engine.people.guard import Guard
from switchyard.engine.people.rules import (
    admin,
    anyone,
    on_instance,
    rule,
)
from switchyard.engine.runs.runner import read_log
from switchyard.engine.runs.status_filter import parse_statuses
from switchyard.engine.schedules.spec import check_name
from switchyard.engine.views import (
    InstanceView,
    LaneView,
    QueueEntry,
    instance_view,
)
from switchyard.store.models import (
    QUEUED,
    TERMINAL_STATUSES,
)
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import lanes as lane_q
from switchyard.store.queries import log_chunks as chunk_q

DEFAULT_LANE = "default"


MAX_CONCURRENCY = 10_000
MAX_LANE_NAME = 100  # the lanes.name column


def check_concurrency(concurrency: int) -> None:
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise SwitchyardError(
            "concurrency", f"must be between 1 and {MAX_CONCURRENCY}, got {concurrency}"
        )


class RunsApi(Guard):
    def log_path(self, instance_id: int) -> Path:
        return self.data_dir / "logs" / f"{instance_id}.log"

    # ---------------------------------------------------------------- lanes
    @rule(admin("add lanes"))
    async def add_lane(self, name: str, concurrency: int = 1) -> LaneView:
        check_name(name, "name")
        if len(name) > MAX_LANE_NAME:
            raise SwitchyardError("name", f"a lane name has at most {MAX_LANE_NAME} characters")
        check_concurrency(concurrency)
        async with self.tx() as tx:
            if await lane_q.get(tx.conn, name):
                raise Conflict("name", f"lane '{name}' exists already")
            await lane_q.add(tx.conn, name, concurrency, tx.now)
            tx.emit(ev.LANE_CHANGED, name, concurrency=concurrency)
        return LaneView(name, concurrency, 0, 0)

    @rule(admin("change lanes"))
    async def set_lane_concurrency(self, name: str, concurrency: int) -> None:
        check_concurrency(concurrency)
        async with self.tx() as tx:
            if not await lane_q.set_concurrency(tx.conn, name, concurrency):
                raise NotFound("lane", f"unknown lane '{name}'")
            tx.emit(ev.LANE_CHANGED, name, concurrency=concurrency)

    @rule(anyone)
    async def lanes(self) -> list[LaneView]:
        async with self.store.read() as conn:
            rows = await lane_q.list_with_counts(conn)
        return [
            LaneView(r["name"], r["concurrency"], int(r["running"]), int(r["queued"])) for r in rows
        ]

    # ------------------------------------------------------------ instances
    @rule(anyone)  # filtered in the query: only what the caller may view
    async def instances(
        self,
        *,
        status: str | None = None,
        schedule: str | None = None,
        lane: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[InstanceView]:
        check_page(limit)
        statuses = parse_statuses(status)
        async with self.store.read() as conn:
            rows = await inst_q.search(
                conn,
                where=await self._visible(conn),  # only what the caller may view
                statuses=statuses,
                schedule=schedule,
                lane=lane,
                limit=limit,
                before_id=before_id,
            )
            maskers = await self._maskers(rows, conn)  # secured values out of reasons
        return [m.view(instance_view(r)) for m, r in zip(maskers, rows, strict=True)]

    @rule(on_instance("view", "view"), arg="instance_id")
    async def instance(self, instance_id: int) -> InstanceView:
        async with self.store.read() as conn:
            row = await inst_q.get(conn, instance_id)
        if row is None:
            raise NotFound("id", f"unknown instance {instance_id}")
        return (await self._masker(row)).view(instance_view(row))

    @rule(anyone)  # likewise
    async def queue(self, *, limit: int = 200, offset: int = 0) -> tuple[list[QueueEntry], int]:
        """A page of the queue (running first per lane, then waiting in order) and its size."""
        visible = await self._visible()  # only what the caller may view
        async with self.store.read() as conn:
            rows = await inst_q.queue_page(conn, limit=limit, offset=offset, where=visible)
            total = await inst_q.queue_total(conn, where=visible)
        entries: list[QueueEntry] = []
        positions: dict[str, int] = {}
        maskers = dict(zip((id(r) for r in rows), await self._maskers(rows), strict=True))

        def instance_view(row: dict[str, Any]) -> InstanceView:
            return maskers[id(row)].view(views.instance_view(row))

        for r in rows:
            if r["status"] == QUEUED:
                if r["lane"] not in positions:
                    async with self.store.read() as conn:
                        positions[r["lane"]] = await inst_q.queued_position(conn, r) - 1
                positions[r["lane"]] += 1
                entries.append(QueueEntry(instance_view(r), positions[r["lane"]]))
            else:
                entries.append(QueueEntry(instance_view(r), None))
        return entries, total

    @rule(on_instance("view", "read the log of"), arg="instance_id")
    async def log(self, instance_id: int) -> list[str]:
        """The log so far: the store's chunks (written by whichever node ran it), else the
        local file (a log the store does not hold: written before it kept logs)."""
        await self.instance(instance_id)
        stored, _ = await self._stored_lines(instance_id)
        if stored is not None:
            return await self._mask_lines(instance_id, stored)
        lines, _ = await asyncio.to_thread(read_log, self.log_path(instance_id))  # off the loop
        return await self._mask_lines(instance_id, lines)

    @rule(on_instance("view", "read the log of"), arg="instance_id")
    async def follow_log(self, instance_id: int, *, poll: float = 0.2) -> AsyncIterator[list[str]]:
        """The log so far, then new lines as they come, until the instance has ended.

        Follows the store's chunks (so it works from any host); a node writes them at most
        a quarter of a second after the lines, and before it commits the instance's end.
        An instance that ended without a chunk in the store shows its local file."""
        seq = 0
        while True:
            status = (await self.instance(instance_id)).status
            lines, seq = await self._stored_lines(instance_id, seq)
            if lines:
                yield await self._mask_lines(instance_id, lines)
            if status in TERMINAL_STATUSES:
                lines, seq = await self._stored_lines(instance_id, seq)
                if lines:
                    yield await self._mask_lines(instance_id, lines)
                elif lines is None:  # nothing in the store: the file, if it is here
                    found, _ = await asyncio.to_thread(read_log, self.log_path(instance_id))
                    if found:
                        yield await self._mask_lines(instance_id, found)
                return
            await asyncio.sleep(poll)

    async def _stored_lines(self, instance_id: int, after: int = 0) -> tuple[list[str] | None, int]:
        """Lines of the chunks after seq ``after``, and the last seq read; None for the
        lines when the store holds no chunk of the instance at all."""
        lines: list[str] = []
        seq = after
        async with self.store.read() as conn:
            while rows := await chunk_q.since(conn, instance_id, seq):
                for text in (text for _, text in rows):
                    lines += text.split("\n")
                seq = rows[-1][0]
        if not lines and after == 0:
            return None, 0
        return lines, seq
