"""The command line's light read path: ``lane list``, ``instances`` (without monitor
filters) and ``schedule next`` answered without the ``Engine`` facade (issue 14).

Importing engine/api.py and building the store's SQLModel tables is ~0.5 s, longer than
such a command may take. ``Reader`` does what ``Engine.open`` and the guarded operation do
for these three reads, with the store's light queries (store/queries/reads.py, Core tables
of the few columns read) and the engine's own rights and masking code:

- the same opening: process umask, the store URL and data dir, the owner and mode checks
  of the store's files, the data dir and the secret key, the person asking (the real uid,
  or whom sudo / the SSH forced command names for the store's owner: os_identity), and
  ``Store.open`` (the schema version check, same errors and exit codes);
- the same rights: the person must be a Switchyard user (the rule of these operations is
  ``anyone``); ``instances`` shows only what they may view (``Guard._visible``) with
  secured values masked out of reasons, commands and actions (``Guard._maskers``).

It writes nothing. Whatever the engine would answer with a write is left to it:
``NeedsEngine`` tells the caller to run the same command through ``Engine`` when the
person is not a user (a refusal is audited; on a store without users the first login
becomes its admin), when acting as someone else (``--as``, audited), or when the default
lane is missing (``Engine.open`` adds it). A store to migrate is migrated by
``Store.open`` itself, as on the full path. tests/e2e/test_cli_reads.py checks that both
paths give the same output for the same store, and that this one refuses and masks.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.errors import NotFound, SwitchyardError, check_page
from switchyard.engine.kernel.boundary import store_boundary
from switchyard.engine.kernel.clock import Clock, SystemClock
from switchyard.engine.node import file_guard
from switchyard.engine.ops.secrets import SecretBox
from switchyard.engine.people import os_identity
from switchyard.engine.people.identity import Identity, identity_from
from switchyard.engine.people.masking import Masker
from switchyard.engine.people.os_identity import OsIdentity
from switchyard.engine.runs.status_filter import parse_statuses
from switchyard.engine.schedules.triggers import Trigger, TriggerError, dst_note, instant_in_zone
from switchyard.engine.views import FirePreview, InstanceView, LaneView, instance_view
from switchyard.store import filemodes
from switchyard.store.core import ALL_PROCESSES
from switchyard.store.db import Store, default_data_dir, default_url, normalise_url
from switchyard.store.queries import reads as q

DEFAULT_LANE = "default"  # engine/runs/api.py's, which Engine.open makes sure exists


class NeedsEngine(Exception):
    """This read must go through ``Engine`` (it would write: see the module docstring)."""


def resolve_data_dir(store: Store, data_dir: Path | None) -> Path:
    """Logs and the secret key live beside a SQLite file, else in the XDG data dir."""
    if data_dir:
        return data_dir
    if os.environ.get("SWITCHYARD_DATA"):
        return Path(os.environ["SWITCHYARD_DATA"])
    if store.sqlite_path is not None:
        return store.sqlite_path.parent
    return default_data_dir()


def checked_store(
    url: str | None,
    data_dir: Path | None,
    *,
    create: bool,
    allow_shared_mode: bool,
    ssh_user: str | None,
    find_person: bool = True,
) -> tuple[Store, Path, OsIdentity | None]:
    """The opening checks ``Engine.open`` and ``Reader.open`` share (one copy, so the two
    cannot drift apart): the process umask, the store URL and data dir, the person asking
    (the real uid, or whom sudo / the SSH forced command names for the store's owner) when
    ``find_person``, and, unless ``allow_shared_mode``, the owner and mode checks of the
    store's files, the data dir and the secret key. The store is not opened yet; on an
    error it is closed (nothing was connected)."""
    filemodes.private_umask()
    store = Store(normalise_url(url or os.environ.get("SWITCHYARD_DB") or default_url()))
    data = resolve_data_dir(store, data_dir)
    person = None
    if find_person:
        owner = file_guard.store_owner(store, data, create=create)
        person = os_identity.resolve(store_owner=owner, ssh_user=ssh_user)
    if not allow_shared_mode:
        key_file = SecretBox.for_data_dir(data).key_file
        file_guard.check_owner(store, data, key_file)
        file_guard.check_modes(store, data, key_file)
    return store, data, person


@store_boundary  # store failures leave as engine errors, as from Engine
class Reader:
    """An open store and the identity of the person reading it (checked at open)."""

    def __init__(self, store: Store, me: Identity, clock: Clock | None = None) -> None:
        self.store = store
        self.me = me
        self.clock: Clock = clock or SystemClock()

    @classmethod
    async def open(
        cls,
        url: str | None = None,
        *,
        as_user: str | None = None,
        allow_shared_mode: bool = False,
        ssh_user: str | None = None,
    ) -> Reader:
        """Open an existing store for reading as the person asking (``Engine.open`` with
        ``create=False``, without its writes). Raises NeedsEngine (see the module)."""
        if as_user is not None:
            raise NeedsEngine("--as is audited")
        store, _, found = checked_store(
            url, None, create=False, allow_shared_mode=allow_shared_mode, ssh_user=ssh_user
        )
        assert found is not None  # find_person: always looked up here
        person = found
        try:
            await store.open(create=False)
            async with store.read() as conn:
                row, groups = await q.user_and_groups(conn, person.login)
                lane = await q.has_lane(conn, DEFAULT_LANE)
            if row is None or not lane:
                raise NeedsEngine("not a user, or a store without users or default lane")
        except BaseException:
            await store.close()
            raise
        return cls(store, _identity(row, groups, person))

    async def close(self) -> None:
        await self.store.close()

    # --------------------------------------------------------------------- reads
    async def lanes(self) -> list[LaneView]:
        """Engine.lanes: every lane with its running and queued counts."""
        async with self.store.read() as conn:
            rows = await q.lanes_with_counts(conn)
        return [
            LaneView(r["name"], r["concurrency"], int(r["running"]), int(r["queued"])) for r in rows
        ]

    async def instances(
        self,
        *,
        status: str | None = None,
        schedule: str | None = None,
        lane: str | None = None,
        limit: int = 100,
    ) -> list[InstanceView]:
        """Engine.instances' first page: only what the person may view, masked."""
        check_page(limit)
        statuses = parse_statuses(status)
        async with self.store.read() as conn:
            rows = await q.search_instances(
                conn,
                where=await self._visible(conn),
                statuses=statuses,
                schedule=schedule,
                lane=lane,
                limit=limit,
            )
            maskers = await self._maskers(conn, rows)
        return [m.view(instance_view(r)) for m, r in zip(maskers, rows, strict=True)]

    async def next_fires(
        self, name: str, count: int = 10, start: datetime | None = None
    ) -> list[FirePreview]:
        """Engine.next_fires: a schedule's next fire times, DST shifts noted."""
        if count < 1 or count > 10_000:
            raise SwitchyardError("count", f"must be between 1 and 10000, got {count}")
        async with self.store.read() as conn:
            fields = await q.schedule_trigger(conn, name)
        if fields is None:
            raise NotFound("schedule", f"unknown schedule '{name}'")
        try:
            trigger = Trigger.from_fields(fields)
        except TriggerError as exc:  # pragma: no cover - stored rows were validated
            raise SwitchyardError(exc.field, exc.message) from exc
        if start is not None:  # without an offset: wall time in the schedule's zone
            start = instant_in_zone(start, trigger.tz)
        start = start or self.clock.now()
        zone = ZoneInfo(trigger.tz)
        return [
            FirePreview(at, at.astimezone(zone), dst_note(at, trigger.tz, trigger.cron))
            for at in trigger.fires(start, count)
        ]

    # -------------------------------------------------- rights (as people/guard.py)
    async def _visible(self, conn: AsyncConnection) -> ColumnElement[bool] | None:
        """Guard._visible: the instances the person may see (None: all of them)."""
        me = self.me
        if me.admin:
            return None
        rows = await q.all_rights_of(conn, me.login, me.groups)
        names = sorted({r["process"] for r in rows if r["view"] or r["manage"]})
        everything = ALL_PROCESSES in names
        return q.visible_instances(
            me.login,
            all_processes=everything,
            processes=names,
            schedules=names,
            command_runs=everything or me.has_licence("monitor"),
        )

    async def _maskers(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[Masker]:
        """Guard._maskers: one masker per row, each definition and spec read once."""
        ids = sorted({int(r["definition_id"]) for r in rows if r["definition_id"] is not None})
        if not ids:
            return [Masker() for _ in rows]
        docs = await q.definition_docs(conn, ids)
        wanted = {
            s.get("security") for d in docs.values() for s in (d.get("variables") or {}).values()
        }
        specs = await q.secspecs_named(conn, sorted(n for n in wanted if n))
        return [
            Masker()
            if r["definition_id"] is None
            else Masker.build(
                self.me, docs.get(int(r["definition_id"]), {}), specs, dict(r["variables"] or {})
            )
            for r in rows
        ]


def _identity(row: dict[str, Any], groups: list[str], person: OsIdentity) -> Identity:
    """As Guard._load_identity: how the person came (sudo, ssh) goes with the identity."""
    delegated = person.delegated
    return identity_from(
        row,
        groups,
        None,
        via=person.via.value if delegated else None,
        os_login=person.os_login if delegated else None,
    )
