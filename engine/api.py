"""The one door into Switchyard for the console and the command line.

Commands write through one transaction each (with their events); queries read pages
from the store. Screens call these methods and listen to ``Engine.bus``; nothing
above the engine touches the database.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from switchyard.engine import views
from switchyard.engine.errors import Conflict, NotFound, SwitchyardError, check_page
from switchyard.engine.kernel import eventlog
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.boundary import store_boundary
from switchyard.engine.kernel.clock import Clock, SystemClock
from switchyard.engine.kernel.nodes import NodeView, new_node_id, view
from switchyard.engine.kernel.tx import Tx, transaction
from switchyard.engine.monitor.api import MonitorApi
from switchyard.engine.node import file_guard
from switchyard.engine.node.timers import TimersApi
from switchyard.engine.ops.api import OperationsApi
from switchyard.engine.ops.secrets import SecretBox, check_key, check_value
from switchyard.engine.people import os_identity
from switchyard.engine.people.api import PeopleApi
from switchyard.engine.people.os_identity import OsIdentity
from switchyard.engine.people.rules import (
    admin,
    anyone,
    guarded,
    launch_schedule,
    licence,
    on_instance,
    rule,
    unchecked,
)
from switchyard.engine.process.api import ProcessApi
from switchyard.engine.runs.cancelling import CancelApi
from switchyard.engine.runs.runner import read_log
from switchyard.engine.schedules.firing import instance_row
from switchyard.engine.schedules.spec import ScheduleSpec, check_name, secret_refs
from switchyard.engine.schedules.triggers import Trigger, TriggerError, dst_note
from switchyard.engine.schedules.view import first_fire, schedule_view
from switchyard.engine.views import (
    FirePreview,
    InstanceView,
    LaneView,
    QueueEntry,
    ScheduleView,
    SecretView,
    instance_view,
)
from switchyard.engine.workitems.api import WorkItemApi
from switchyard.store import filemodes
from switchyard.store.db import Store, default_data_dir, default_url, normalise_url
from switchyard.store.models import (
    ACTIVE_STATUSES,
    QUEUED,
    TERMINAL_STATUSES,
)
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import lanes as lane_q
from switchyard.store.queries import nodes as node_q
from switchyard.store.queries import processes as proc_q
from switchyard.store.queries import schedules as sched_q
from switchyard.store.queries import secrets as secret_q

DEFAULT_LANE = "default"


MAX_CONCURRENCY = 10_000
MAX_LANE_NAME = 100  # the lanes.name column


def check_concurrency(concurrency: int) -> None:
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise SwitchyardError(
            "concurrency", f"must be between 1 and {MAX_CONCURRENCY}, got {concurrency}"
        )


def resolve_data_dir(store: Store, data_dir: Path | None) -> Path:
    """Logs and the secret key live beside a SQLite file, else in the XDG data dir."""
    if data_dir:
        return data_dir
    if os.environ.get("SWITCHYARD_DATA"):
        return Path(os.environ["SWITCHYARD_DATA"])
    if store.sqlite_path is not None:
        return store.sqlite_path.parent
    return default_data_dir()


@store_boundary  # store failures leave as engine errors: engine/kernel/boundary.py
@guarded  # every public operation is checked: engine/people/rules.py
class Engine(PeopleApi, ProcessApi, WorkItemApi, MonitorApi, CancelApi, OperationsApi, TimersApi):
    def __init__(
        self,
        store: Store,
        *,
        data_dir: Path,
        clock: Clock | None = None,
        user: str | None = None,
        as_user: str | None = None,
        person: OsIdentity | None = None,
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self.clock: Clock = clock or SystemClock()
        self.bus = ev.EventBus()
        self.node_id = new_node_id()
        # who is asking: the real uid's login, or the person sudo / the SSH forced command
        # names for the store's owner (engine/people/os_identity.py); never the environment
        if person is None:
            login = user or os_identity.os_login()
            person = OsIdentity(login, login)
        self.person = person
        self.login = person.login
        self.user = as_user or self.login  # whom this engine acts as (--as: admins only)
        self._identity_checked = False
        self.secret_box = SecretBox.for_data_dir(data_dir)
        self.feed: ev.EventFeed | None = None

    @classmethod
    @unchecked("makes the engine; checks the identity itself (first start, unknown login, --as)")
    async def open(
        cls,
        url: str | None = None,
        *,
        data_dir: Path | None = None,
        clock: Clock | None = None,
        user: str | None = None,
        as_user: str | None = None,
        create: bool = True,
        allow_shared_mode: bool = False,
        ssh_user: str | None = None,
    ) -> Engine:
        """Open the store as ``user`` (default: whom the OS says is asking, see
        os_identity.resolve), acting as ``as_user`` if given (admins only). On a store
        without users, the login becomes its first admin.

        ``create``: make the store when there is none (else NoStore, nothing written).
        A store, its folder, the data dir or the secret key that group or others may read
        or write, or that another uid owns (root included), is refused (SharedModeError)
        unless ``allow_shared_mode``."""
        filemodes.private_umask()
        store = Store(normalise_url(url or os.environ.get("SWITCHYARD_DB") or default_url()))
        data = resolve_data_dir(store, data_dir)
        try:
            person = None
            if user is None:
                owner = file_guard.store_owner(store, data, create=create)
                person = os_identity.resolve(store_owner=owner, ssh_user=ssh_user)
            if not allow_shared_mode:
                key_file = SecretBox.for_data_dir(data).key_file
                file_guard.check_owner(store, data, key_file)
                file_guard.check_modes(store, data, key_file)
            await store.open(create=create)
        except BaseException:
            await store.close()
            raise
        engine = cls(store, data_dir=data, clock=clock, user=user, as_user=as_user, person=person)
        try:
            async with engine.tx() as tx:
                await lane_q.ensure(tx.conn, DEFAULT_LANE, tx.now)
                await engine._first_start(tx)
            await engine._check_identity()
        except BaseException:
            await store.close()
            raise
        return engine

    def tx(self) -> AbstractAsyncContextManager[Tx]:
        """One write transaction; events emitted on it are published after the commit."""
        return transaction(self.store, self.bus, self.node_id, self.clock.now())

    @unchecked("this engine's own change feed")
    async def start_feed(self, interval: float = 0.25) -> None:
        if self.feed is None:
            self.feed = ev.EventFeed(self.store, self.bus, self.node_id, interval)
            await self.feed.start()

    @unchecked("closes this engine's own connections")
    async def close(self) -> None:
        if self.feed:
            await self.feed.stop()
            self.feed = None
        await self.store.close()

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

    # ------------------------------------------------------------ schedules
    async def _check_references(self, tx: Tx, row: dict[str, Any], *, name: str) -> None:
        if not await lane_q.get(tx.conn, row["lane"]):
            raise SwitchyardError(
                "lane", f"unknown lane '{row['lane']}' (add it: switchyard lane add {row['lane']})"
            )
        if row["after"] and not await sched_q.get_by_name(tx.conn, row["after"]):
            raise SwitchyardError("after", f"unknown schedule '{row['after']}'")
        if row.get("process") and not await proc_q.latest(tx.conn, row["process"]):
            raise SwitchyardError(
                "process",
                f"unknown process '{row['process']}' (publish it: switchyard process publish)",
            )
        for key in secret_refs(row["env"]):
            if await secret_q.get(tx.conn, key) is None:
                raise SwitchyardError(
                    "env", f"unknown secret '{key}' (set it: switchyard secret set {key})"
                )

    @rule(licence("designer", "add schedules"))
    async def add_schedule(self, spec: ScheduleSpec) -> ScheduleView:
        now = self.clock.now()
        trigger, row = spec.to_row(now)
        async with self.tx() as tx:
            if await sched_q.get_by_name(tx.conn, spec.name):
                raise Conflict("name", f"schedule '{spec.name}' exists already")
            await self._check_references(tx, row, name=spec.name)
            row.update(next_fire_at=first_fire(trigger, now), created_at=now, updated_at=now)
            schedule_id = await sched_q.insert(tx.conn, row)
            tx.emit(ev.SCHEDULE_CHANGED, schedule_id, name=spec.name)
        return await self.schedule(spec.name)

    @rule(licence("designer", "edit schedules"))
    async def update_schedule(self, name: str, spec: ScheduleSpec) -> ScheduleView:
        now = self.clock.now()
        trigger, row = spec.to_row(now)
        async with self.tx() as tx:
            current = await self._schedule_row(tx, name)
            if spec.name != name and await sched_q.get_by_name(tx.conn, spec.name):
                raise Conflict("name", f"schedule '{spec.name}' exists already")
            await self._check_references(tx, row, name=spec.name)
            if current["trigger"].get("anchor") and trigger.kind == "every":
                row["trigger"]["anchor"] = current["trigger"]["anchor"]
                trigger = Trigger.from_fields(row["trigger"])
            row.update(next_fire_at=first_fire(trigger, now), updated_at=now)
            await sched_q.update_fields(tx.conn, current["id"], row)
            tx.emit(ev.SCHEDULE_CHANGED, current["id"], name=spec.name)
        return await self.schedule(spec.name)

    async def _schedule_row(self, tx: Tx, name: str) -> dict[str, Any]:
        row = await sched_q.get_by_name(tx.conn, name)
        if row is None:
            raise NotFound("schedule", f"unknown schedule '{name}'")
        return row

    @rule(anyone)
    async def schedules(self) -> list[ScheduleView]:
        async with self.store.read() as conn:
            rows = await sched_q.list_all(conn)
            last = await inst_q.last_result(conn, [r["id"] for r in rows])
        return [schedule_view(r, last.get(r["id"])) for r in rows]

    @rule(anyone)
    async def schedule(self, name: str) -> ScheduleView:
        async with self.store.read() as conn:
            row = await sched_q.get_by_name(conn, name)
            if row is None:
                raise NotFound("schedule", f"unknown schedule '{name}'")
            last = await inst_q.last_result(conn, [row["id"]])
        return schedule_view(row, last.get(row["id"]))

    @rule(anyone)
    async def schedule_spec(self, name: str) -> ScheduleSpec:
        """The editable form of a stored schedule (for the console's edit form)."""
        async with self.store.read() as conn:
            row = await sched_q.get_by_name(conn, name)
        if row is None:
            raise NotFound("schedule", f"unknown schedule '{name}'")
        from switchyard.engine.schedules.view import spec_from_row

        return spec_from_row(row)

    @rule(licence("designer", "pause or resume schedules"))
    async def set_paused(self, name: str, paused: bool) -> ScheduleView:
        async with self.tx() as tx:
            row = await self._schedule_row(tx, name)
            values: dict[str, Any] = {"paused": paused, "updated_at": tx.now}
            if not paused:  # fires skipped while paused were skipped on purpose: not misfires
                values["next_fire_at"] = first_fire(Trigger.from_fields(row["trigger"]), tx.now)
            await sched_q.update_fields(tx.conn, row["id"], values)
            tx.emit(ev.SCHEDULE_CHANGED, row["id"], name=name, paused=paused)
        return await self.schedule(name)

    @rule(licence("designer", "remove schedules"))
    async def remove_schedule(self, name: str) -> None:
        async with self.tx() as tx:
            row = await self._schedule_row(tx, name)
            chained = await sched_q.chained_after(tx.conn, name)
            if chained:
                names = ", ".join(sorted(c["name"] for c in chained))
                raise Conflict("schedule", f"'{name}' is chained to by {names}; change those first")
            await sched_q.remove(tx.conn, row["id"])
            tx.emit(ev.SCHEDULE_REMOVED, row["id"], name=name)

    def preview(
        self, trigger: Trigger, count: int = 10, start: datetime | None = None
    ) -> list[FirePreview]:
        start = start or self.clock.now()
        zone = ZoneInfo(trigger.tz)
        return [
            FirePreview(at, at.astimezone(zone), dst_note(at, trigger.tz, trigger.cron))
            for at in trigger.fires(start, count)
        ]

    def preview_spec(self, spec: ScheduleSpec, count: int = 10) -> list[FirePreview]:
        """Next fires of a schedule being typed; raises SwitchyardError naming the bad field."""
        return self.preview(spec.trigger(self.clock.now()), count)

    def check_spec(self, spec: ScheduleSpec) -> None:
        """Check every field of a spec without touching the store (pure; for as-you-type
        validation). Raises SwitchyardError naming the first bad field. References (lane,
        after, secrets) are checked by add_schedule/update_schedule."""
        spec.to_row(self.clock.now())

    @rule(anyone)
    async def next_fires(
        self, name: str, count: int = 10, start: datetime | None = None
    ) -> list[FirePreview]:
        if count < 1 or count > 10_000:
            raise SwitchyardError("count", f"must be between 1 and 10000, got {count}")
        async with self.store.read() as conn:
            row = await sched_q.get_by_name(conn, name)
        if row is None:
            raise NotFound("schedule", f"unknown schedule '{name}'")
        try:
            trigger = Trigger.from_fields(row["trigger"])
        except TriggerError as exc:  # pragma: no cover - stored rows were validated
            raise SwitchyardError(exc.field, exc.message) from exc
        return self.preview(trigger, count, start)

    # ------------------------------------------------------------ instances
    @rule(launch_schedule, arg="schedule")
    async def start(self, schedule: str) -> int:
        """Run a schedule now (queued on its lane like any fire); returns the instance id."""
        async with self.tx() as tx:
            row = await self._schedule_row(tx, schedule)
            values = instance_row(
                row, now=tx.now, fire_at=tx.now, origin="manual", originator=self.user
            )
            instance_id = await inst_q.insert_one(tx.conn, values)
            assert instance_id is not None
            tx.emit(
                ev.INSTANCES_CHANGED,
                instance_id,
                ids=[instance_id],
                status=QUEUED,
                lane=row["lane"],
            )
        return instance_id

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
        statuses = [s.strip() for s in status.split(",")] if status else None
        for s in statuses or []:
            if s not in (*ACTIVE_STATUSES, *TERMINAL_STATUSES):
                known = ", ".join((*ACTIVE_STATUSES, *TERMINAL_STATUSES))
                raise SwitchyardError("status", f"unknown status '{s}' (one of {known})")
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
        await self.instance(instance_id)
        lines, _ = await asyncio.to_thread(read_log, self.log_path(instance_id))  # off the loop
        return await self._mask_lines(instance_id, lines)

    @rule(on_instance("view", "read the log of"), arg="instance_id")
    async def follow_log(self, instance_id: int, *, poll: float = 0.2) -> AsyncIterator[list[str]]:
        """The log so far, then new lines as they come, until the instance has ended."""
        path = self.log_path(instance_id)
        offset = 0
        while True:
            status = (await self.instance(instance_id)).status
            # off the event loop: a console shares it with the screens
            lines, offset = await asyncio.to_thread(read_log, path, offset)
            if lines:
                yield await self._mask_lines(instance_id, lines)
            if status in TERMINAL_STATUSES:
                lines, offset = await asyncio.to_thread(read_log, path, offset)
                if lines:
                    yield await self._mask_lines(instance_id, lines)
                return
            await asyncio.sleep(poll)

    # -------------------------------------------------------------- secrets
    @rule(admin("set secrets"))
    async def set_secret(self, key: str, value: str) -> None:
        check_key(key)
        check_value(value)
        token = self.secret_box.encrypt(value)
        async with self.tx() as tx:
            existed = await secret_q.get(tx.conn, key) is not None
            await secret_q.put(tx.conn, key, token, tx.now)
            tx.emit(ev.SECRET_CHANGED, key)  # never the value
            verb = "changed" if existed else "added"
            await eventlog.record(
                tx, eventlog.SECRET_CHANGED, f"secret {key} {verb}", name=key, change=verb
            )

    @rule(admin("list secrets"))
    async def secrets(self) -> list[SecretView]:
        async with self.store.read() as conn:
            return [SecretView(k, t) for k, t in await secret_q.list_keys(conn)]

    @unchecked("internal: the runner's environments and log masking, never shown")
    async def secret_values(self) -> dict[str, str]:
        """Every secret, decrypted: for the runner's environment and its log masking."""
        async with self.store.read() as conn:
            tokens = await secret_q.all_ciphertexts(conn)
        return {k: self.secret_box.decrypt(k, t) for k, t in tokens.items()}

    # ---------------------------------------------------------------- nodes
    @rule(anyone)
    async def nodes(self) -> list[NodeView]:
        now = self.clock.now()
        async with self.store.read() as conn:
            rows = await node_q.running(conn)
        return [view(r, now) for r in rows]

    @rule(anyone)
    async def live_serve_node(self) -> NodeView | None:
        """A live `serve` node on this store, if any (the console is then a pure console)."""
        for node in await self.nodes():
            if node.alive and node.mode == "serve" and node.id != self.node_id:
                return node
        return None


__all__ = ["Engine", "ScheduleSpec", "SwitchyardError", "timedelta"]
